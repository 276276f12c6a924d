/** The safe evaluator: a table of expressions and what they evaluate to, with Ruby's semantics. */
import { describe, expect, it } from 'vitest';
import { RecordError } from '../../../src/core/errors.js';
import { EventTime } from '../../../src/core/event-time.js';
import { WholeFloat } from '../../../src/core/float.js';
import { compileExpr, compileTemplate, RTime, toData, type Scope } from '../../../src/expr/index.js';
import { REventTime } from '../../../src/expr/values.js';

const VARS = ['record', 'tag', 'time', 'tag_parts', 'tag_prefix', 'tag_suffix', 'hostname'];
const SEC = 1700000000; // 2023-11-14 22:13:20 UTC

function scope(extra: Record<string, unknown> = {}): Scope {
  const record = {
    message: '  Hello World  ', user: 'Alice', n: 10, m: 3, neg: -7, f: 2.5, s: '42abc', empty: '', zero: 0, no: false,
    tags: ['a', 'b', 'c'], nested: { k8s: { labels: { app: 'web' } }, list: [{ id: 7 }] },
    count: 3, bytes: 87, tag: 'nginx.access', path: '/api/v1/users', csv: 'a,b,,c,,', ts: '1700000000.5',
  };
  return {
    vars: {
      record, tag: 'quantico.fluentd.messages.bytes', tag_parts: ['quantico', 'fluentd', 'messages', 'bytes'],
      tag_prefix: ['quantico', 'quantico.fluentd', 'quantico.fluentd.messages', 'quantico.fluentd.messages.bytes'],
      tag_suffix: ['quantico.fluentd.messages.bytes', 'fluentd.messages.bytes', 'messages.bytes', 'bytes'],
      time: new RTime(SEC, 123456789, 'local'), hostname: 'web-1', ...extra,
    },
    hostname: 'web-1',
    env: { POD_NAME: 'pod-7', EMPTY: '' },
    nowMs: () => 1_800_000_000_000,
  };
}

function run(src: string, s = scope()): unknown {
  return toData(compileExpr(src, VARS).run(s));
}

/** [expression, expected record value]. */
const CASES: Array<[string, unknown]> = [
  // variables and indexing
  ['record["user"]', 'Alice'],
  ["record['user']", 'Alice'],
  ['record["missing"]', null],
  ['tag', 'quantico.fluentd.messages.bytes'],
  ['tag_parts[3]', 'bytes'],
  ['tag_parts[-1]', 'bytes'],
  ['tag_parts[-4]', 'quantico'],
  ['tag_parts[9]', null],
  ['tag_prefix[1]', 'quantico.fluentd'],
  ['tag_suffix[-2]', 'messages.bytes'],
  ['record[tag_parts[3]]', 87],
  ['record[tag_parts[-1]]', 87],
  ['record["tags"][0]', 'a'],
  ['record["tags"][-1]', 'c'],
  ['record["tags"][0, 2]', ['a', 'b']],
  ['record["tags"][1..-1]', ['b', 'c']],
  ['record["tags"][0...-1]', ['a', 'b']],
  ['tag_parts[1..-1].join(".")', 'fluentd.messages.bytes'],
  ['hostname', 'web-1'],
  ['Socket.gethostname', 'web-1'],
  // dig / hash methods
  ['record.dig("nested", "k8s", "labels", "app")', 'web'],
  ['record.dig("nested", "nope", "app")', null],
  ['record.dig("nested", "list", 0, "id")', 7],
  ['record["nested"]["k8s"]["labels"]["app"]', 'web'],
  ['record.fetch("user", "x")', 'Alice'],
  ['record.fetch("nope", "x")', 'x'],
  ['record.key?("user")', true],
  ['record.has_key?("nope")', false],
  ['record["nested"]["k8s"].keys', ['labels']],
  ['record["nested"]["k8s"]["labels"].values', ['web']],
  ['record["nested"]["k8s"]["labels"].to_json', '{"app":"web"}'],
  // strings
  ['record["user"].upcase', 'ALICE'],
  ['record["user"].downcase', 'alice'],
  ['record["message"].strip', 'Hello World'],
  ['record["message"].strip.length', 11],
  ['record["message"].size', 15],
  ['record["s"].to_i', 42],
  ['record["s"].to_f', new WholeFloat(42)], // a Float even when whole: re-encoded as float64, JSON 42.0
  ['record["user"].to_i', 0],
  ['"3.7".to_f', 3.7],
  ['record["n"].to_s', '10'],
  ['record["n"].to_s + "!"', '10!'],
  ['record["message"].strip.split(" ")', ['Hello', 'World']],
  ['record["message"].split', ['Hello', 'World']],
  ['record["message"].strip.split(" ")[0]', 'Hello'],
  ['record["csv"].split(",")', ['a', 'b', '', 'c']],
  ['record["csv"].split(",", -1)', ['a', 'b', '', 'c', '', '']],
  ['record["csv"].split(",", 2)', ['a', 'b,,c,,']],
  ['record["path"].split("/")', ['', 'api', 'v1', 'users']],
  ['"a1b22c".split(/\\d+/)', ['a', 'b', 'c']],
  ['"abc".split("")', ['a', 'b', 'c']],
  ['record["path"].gsub("/", "_")', '_api_v1_users'],
  ['record["path"].sub("/", "")', 'api/v1/users'],
  ['record["path"].gsub(/v(\\d)/, "version\\\\1")', '/api/version1/users'],
  ["record[\"path\"].gsub(/v(?<num>\\d)/, 'V\\k<num>')", '/api/V1/users'],
  ['tag.gsub(".", "-")', 'quantico-fluentd-messages-bytes'],
  ['record["path"].include?("v1")', true],
  ['record["path"].start_with?("/api")', true],
  ['record["path"].end_with?("users", "x")', true],
  ['record["path"].start_with?("api")', false],
  ['record["user"] + " " + record["tag"]', 'Alice nginx.access'],
  ['"ab" * 3', 'ababab'],
  ['record["user"][0]', 'A'],
  ['record["user"][1..2]', 'li'],
  ['record["user"][0, 3]', 'Ali'],
  ['record["user"][-3..]', 'ice'],
  ['"héllo".length', 5],
  ['"a-b".tr("-", "_")', 'a_b'],
  ['record["user"].capitalize', 'Alice'],
  ['"x\\ty"', 'x\ty'],
  ["'x\\ty'", 'x\\ty'],
  ['"n=#{record["n"]} u=#{record["user"].upcase}"', 'n=10 u=ALICE'],
  ['"#{record["missing"]}|#{record["tags"]}|#{record["f"]}"', '|["a", "b", "c"]|2.5'],
  ['record["path"] =~ /v1/', 5],
  ['record["path"] =~ /zzz/', null],
  // numbers: Ruby Integer/Float rules
  ['record["n"] / record["m"]', 3],
  ['record["neg"] / 2', -4],
  ['record["neg"] % 3', 2],
  ['record["n"] / 4.0', 2.5],
  ['record["f"] * 2', new WholeFloat(5)],
  ['(record["f"] * 2).to_s', '5.0'],
  ['record["n"].to_f.to_s', '10.0'],
  ['2 ** 10', 1024],
  ['-2 ** 2', -4],
  ['-2.abs', 2],
  ['10 - 2 * 3', 4],
  ['(10 - 2) * 3', 24],
  ['3.14159.round(2)', 3.14],
  ['2.5.round', 3],
  ['2.7.floor', 2],
  ['2.1.ceil', 3],
  ['1e20.to_s', '1.0e+20'],
  ['0.00001.to_s', '1.0e-05'],
  ['(time.to_f * 1000).to_i', 1700000000123],
  // comparison and logic, Ruby truthiness
  ['record["n"] > 5', true],
  ['record["n"] == 10.0', true],
  ['record["user"] == "Alice" && record["n"] >= 10', true],
  ['record["user"] != "Alice" || record["n"] < 0', false],
  ['!record["missing"]', true],
  ['!record["zero"]', false],
  ['record["empty"] || "default"', ''],
  ['record["missing"] || "default"', 'default'],
  ['record["no"] || "default"', 'default'],
  ['record["missing"] && record["missing"]["x"]', null],
  ['record["n"] > 5 ? "big" : "small"', 'big'],
  ['record["missing"].nil? ? "d" : record["missing"]', 'd'],
  ['record["user"] ? record["user"] : "x"', 'Alice'],
  ['not record["missing"]', true],
  ['record["missing"] or "or-default"', 'or-default'],
  ['record["missing"]&.upcase', null],
  ['record["user"].is_a?(String)', true],
  ['record["n"].is_a?(Integer)', true],
  ['record["f"].is_a?(Float)', true],
  ['record["nested"].is_a?(Hash)', true],
  // literals
  ['nil', null],
  ['true', true],
  ['[1, "two", nil, 4.5]', [1, 'two', null, 4.5]],
  ['{"a" => 1, b: [2, 3], "c": "d"}', { a: 1, b: [2, 3], c: 'd' }],
  ['[1, 2, 2, nil].compact.uniq', [1, 2]],
  ['record["tags"].first', 'a'],
  ['record["tags"].last(2)', ['b', 'c']],
  ['record["tags"].join', 'abc'],
  ['record["tags"].include?("b")', true],
  ['record["tags"].reverse', ['c', 'b', 'a']],
  ['[3, 1, 2].sort', [1, 2, 3]],
  ['record["tags"].size', 3],
  ['[].empty?', true],
  // Time
  ['time.to_i', SEC],
  ['time.utc.to_s', '2023-11-14 22:13:20 UTC'],
  ['time.utc.strftime("%Y-%m-%dT%H:%M:%S.%3N%z")', '2023-11-14T22:13:20.123+0000'],
  ['time.utc.strftime("%FT%T%:z")', '2023-11-14T22:13:20+00:00'],
  ['time.utc.strftime("%s%L")', '1700000000123'],
  ['time.utc.iso8601(3)', '2023-11-14T22:13:20.123Z'],
  ['time.getlocal("+05:30").strftime("%H:%M %z")', '03:43 +0530'],
  ['time.utc.year', 2023],
  ['time.utc.hour', 22],
  ['time.nsec', 123456789],
  ['Time.at(time).utc.to_s', '2023-11-14 22:13:20 UTC'],
  ['Time.at(record["ts"].to_f).utc.strftime("%H:%M:%S.%L")', '22:13:20.500'],
  ['Time.at(1700000000).utc.to_s', '2023-11-14 22:13:20 UTC'],
  ['Time.now.to_i', 1_800_000_000],
  ['(time + 60).utc.strftime("%M")', '14'],
  // ENV
  ['ENV["POD_NAME"]', 'pod-7'],
  ["ENV['NOPE']", null],
  ['ENV["NOPE"] || "none"', 'none'],
  ['ENV.fetch("NOPE", "fb")', 'fb'],
  ['ENV.key?("POD_NAME")', true],
  ['ENV["constructor"]', null],
  // chaining, parentheses
  ['(record["user"] + "_" + tag_parts[0]).upcase.gsub("_", "-")', 'ALICE-QUANTICO'],
  ['record["path"].split("/").last.upcase[0, 3]', 'USE'],
  ['record["nested"]["constructor"]', null],
  ['record["__proto__"]', null],
  ['record["toString"]', null],
];

describe('expressions', () => {
  for (const [src, expected] of CASES) {
    it(src, () => expect(run(src)).toEqual(expected));
  }

  it('time is shown in the local zone by default', () => {
    const off = -new Date(SEC * 1000).getTimezoneOffset();
    const local = new Date((SEC + off * 60) * 1000);
    const sign = off >= 0 ? '+' : '-';
    const z = `${sign}${String(Math.floor(Math.abs(off) / 60)).padStart(2, '0')}${String(Math.abs(off) % 60).padStart(2, '0')}`;
    const iso = local.toISOString();
    expect(run('time.to_s')).toBe(`${iso.slice(0, 10)} ${iso.slice(11, 19)} ${z}`);
    expect(run('time')).toBe(`${iso.slice(0, 10)} ${iso.slice(11, 19)} ${z}`); // a Time result becomes its to_s
  });

  it('record_modifier time (EventTime) acts as its Integer seconds', () => {
    const s = scope({ time: new REventTime(SEC, 5e8) });
    expect(run('time.to_s', s)).toBe(String(SEC));
    expect(run('time + 1', s)).toBe(SEC + 1);
    expect(run('time.to_f', s)).toBe(SEC + 0.5);
    expect(run('Time.at(time).utc.strftime("%L")', s)).toBe('500');
    expect(run('time', s)).toEqual(new EventTime(SEC, 5e8));
  });
});

describe('runtime failures throw RecordError with the reason', () => {
  const FAILS: Array<[string, RegExp]> = [
    ['record["missing"]["x"]', /undefined method `\[\]' for nil/],
    ['record["missing"].upcase', /undefined method `upcase' for nil/],
    ['record["n"].upcase', /undefined method `upcase' for an instance of Integer/],
    ['record["user"] + 1', /no implicit conversion of Integer into String/],
    ['1 + record["user"]', /String can't be coerced into Integer/],
    ['record["n"] / 0', /divided by 0/],
    ['record["user"] < 1', /comparison of String with Integer failed/],
    ['record.fetch("nope")', /key not found: "nope"/],
    ['ENV.fetch("NOPE")', /key not found: "NOPE"/],
    ['record["user"].dig("x")', /undefined method `dig' for an instance of String/],
    ['"x" * 100000000', /argument too big/],
    ['"x".ljust(100000000)', /argument too big/],
    ['record["user"].upcase(1)', /wrong number of arguments \(given 1, expected 0\)/],
  ];
  for (const [src, reason] of FAILS) {
    it(src, () => {
      const c = compileExpr(src, VARS);
      expect(() => c.run(scope())).toThrow(RecordError);
      expect(() => c.run(scope())).toThrow(reason);
    });
  }
});

describe('templates', () => {
  const T = (text: string, typecast = true, verbatim = false) =>
    compileTemplate(text, { variables: VARS, typecast, verbatimWithoutPlaceholder: verbatim }).expand(scope());

  it('a whole-value ${…} keeps its type; anything else is a string', () => {
    expect(T('${record["n"]}')).toBe(10);
    expect(T('${record["tags"]}')).toEqual(['a', 'b', 'c']);
    expect(T('${record["missing"]}')).toBe(null);
    expect(T('${record["n"]}', false)).toBe('10');
    expect(T('n=${record["n"]}')).toBe('n=10');
    expect(T('${record["n"]}${record["m"]}')).toBe('103');
    expect(T('${tag_parts[0]}.${record["user"]}')).toBe('quantico.Alice');
    expect(T('#{record["user"]}!')).toBe('Alice!');
    expect(T('${record["nested"]["k8s"]["labels"]}x')).toBe('{"app"=>"web"}x');
  });

  it('literal text is a double-quoted Ruby string, unless verbatim', () => {
    expect(T('a\\tb')).toBe('a\tb');
    expect(T('a\\tb', true, true)).toBe('a\\tb');
    expect(T('plain', true, true)).toBe('plain');
  });

  it('a failing expansion names the value', () => {
    const t = compileTemplate('x${record["missing"]["y"]}', { variables: VARS, typecast: true, verbatimWithoutPlaceholder: false });
    expect(() => t.expand(scope())).toThrow('failed to expand `x${record["missing"]["y"]}` : error = undefined method `[]\' for nil');
  });
});
