/**
 * filter_parser through the real agent: the Docker log-driver case, each parser, time handling,
 * types, the record-shaping options, what goes to @ERROR (Fluentd's messages) and config errors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventStream } from '../../../src/core/event-stream.js';
import { EventTime } from '../../../src/core/event-time.js';
import { WholeFloat } from '../../../src/core/float.js';
import { buildFromText, captured } from '../../helpers/agent.js';
import { configProblems, driver, type Driver } from '../../helpers/driver.js';
import { packedStream } from '../../helpers/packed.js';
import { waitFor } from '../../helpers/wait.js';

let d: Driver | null = null;
afterEach(async () => {
  await d?.close();
  d = null;
});

const T0 = 1_700_000_000;

async function run(body: string, records: Record<string, unknown>[], extra = ''): Promise<Driver> {
  d = await driver(`<filter app.**>\n  @type parser\n${body}\n</filter>\n${extra}`);
  await d.feed('app.x', records, T0);
  return d;
}

const sec = (t: unknown) => (t instanceof EventTime ? t.sec : t);

describe('parser filter', () => {
  it('parses the Docker log field as JSON, keeps the other fields, drops log, keeps 2.0 a Float', async () => {
    const r = await run(`  key_name log\n  reserve_data true\n  remove_key_name_field true\n  <parse>\n    @type json\n  </parse>`, [
      { container_id: 'abc', container_name: '/web', source: 'stdout', log: '{"level":"info","n":2.0,"time":"2024-01-02T03:04:05Z"}' },
    ]);
    expect(r.emitted.map((e) => e.record)).toEqual([{ container_id: 'abc', container_name: '/web', source: 'stdout', level: 'info', n: new WholeFloat(2) }]);
    expect(r.emitted[0]!.record.n).toBeInstanceOf(WholeFloat);
    // json's time_type defaults to float, so Fluentd reads "2024-01-02T…" as 2024 seconds
    expect(sec(r.emitted[0]!.time)).toBe(2024);
    expect(r.errors).toEqual([]);
  });

  it('json with time_format takes the event time from the field; packed input is decoded', async () => {
    d = await driver(`<filter app.**>\n  @type parser\n  key_name log\n  <parse>\n    @type json\n    time_format %Y-%m-%dT%H:%M:%S.%N%z\n  </parse>\n</filter>`);
    await d.agent.emit('app.x', packedStream([{ log: '{"a":1,"time":"2024-01-02T03:04:05.123456789+09:00"}' }]));
    expect(d.emitted.map((e) => e.record)).toEqual([{ a: 1 }]);
    expect(d.emitted[0]!.time).toEqual(new EventTime(Date.UTC(2024, 0, 1, 18, 4, 5) / 1000, 123456789));
  });

  it('regexp with named groups and time_format reads an nginx access line (Fluentd docs example)', async () => {
    const r = await run(`  key_name message
  <parse>
    @type regexp
    expression /^(?<remote>[^ ]*) (?<host>[^ ]*) (?<user>[^ ]*) \\[(?<time>[^\\]]*)\\] "(?<method>\\S+)(?: +(?<path>[^\\"]*?)(?: +\\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\\"]*)" "(?<agent>[^\\"]*)")?$/
    time_format %d/%b/%Y:%H:%M:%S %z
    types code:integer,size:integer
  </parse>`, [{ message: '192.168.0.1 - - [05/Feb/2018:12:00:00 +0900] "GET /index.html HTTP/1.1" 200 777 "-" "curl/8.0"' }]);
    expect(r.emitted.map((e) => e.record)).toEqual([{ remote: '192.168.0.1', host: '-', user: '-', method: 'GET', path: '/index.html', code: 200, size: 777, referer: '-', agent: 'curl/8.0' }]);
    expect(sec(r.emitted[0]!.time)).toBe(Date.UTC(2018, 1, 5, 3, 0, 0) / 1000);
  });

  it('none puts the value under message_key; the event time becomes now unless reserve_time', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await run(`  key_name log\n  <parse>\n    @type none\n    message_key msg\n  </parse>`, [{ log: 'plain text', other: 1 }]);
    expect(r.emitted.map((e) => e.record)).toEqual([{ msg: 'plain text' }]);
    expect(sec(r.emitted[0]!.time)).toBeGreaterThanOrEqual(before);
    await d!.close();
    const kept = await run(`  key_name log\n  reserve_time true\n  <parse>\n    @type none\n  </parse>`, [{ log: 'plain text' }]);
    expect(kept.emitted.map((e) => [e.time, e.record])).toEqual([[T0, { message: 'plain text' }]]);
  });

  it('ltsv with its time field and types', async () => {
    const r = await run(`  key_name log\n  <parse>\n    @type ltsv\n    time_type unixtime\n    types n:integer,ok:bool,tags:array\n  </parse>`, [
      { log: 'time:1600000000\tn:42\tok:yes\ttags:a,b\tnote:x:y' },
    ]);
    expect(r.emitted.map((e) => [sec(e.time), e.record])).toEqual([[1600000000, { n: 42, ok: true, tags: ['a', 'b'], note: 'x:y' }]]);
  });

  it('csv with quotes, null_value_pattern, and a custom delimiter; tsv keeps the rest in the last key', async () => {
    const r = await run(`  key_name log\n  <parse>\n    @type csv\n    keys host,req_id,user,msg\n    null_value_pattern ^-$\n    types req_id:float\n  </parse>`, [
      { log: '192.168.0.1,111,-,"say ""hi"", ok"' },
    ]);
    expect(r.emitted.map((e) => e.record)).toEqual([{ host: '192.168.0.1', req_id: new WholeFloat(111), user: null, msg: 'say "hi", ok' }]);
    await d!.close();
    const t = await run(`  key_name log\n  <parse>\n    @type tsv\n    keys a,b\n    delimiter |\n  </parse>`, [{ log: '1|2|3' }]);
    expect(t.emitted.map((e) => e.record)).toEqual([{ a: '1', b: '2|3' }]);
  });

  it('types: time with a format, string, and json values keep their types otherwise', async () => {
    const r = await run(`  key_name log\n  <parse>\n    @type json\n    types at:time:%d/%b/%Y:%H:%M:%S %z,id:string,f:integer\n  </parse>`, [
      { log: '{"at":"05/Feb/2018:12:00:00 +0900","id":7,"f":"3.9","x":1.5}' },
    ]);
    expect(r.emitted.map((e) => e.record)).toEqual([{ at: new EventTime(Date.UTC(2018, 1, 5, 3) / 1000, 0), id: '7', f: 3, x: 1.5 }]);
  });

  it('hash_value_field nests, inject_key_prefix renames, reserve_data merges over the original', async () => {
    const r = await run(`  key_name log\n  reserve_data true\n  hash_value_field parsed\n  inject_key_prefix p_\n  <parse>\n    @type json\n  </parse>`, [
      { log: '{"a":1,"b":"x"}', keep: true },
    ]);
    expect(r.emitted.map((e) => e.record)).toEqual([{ log: '{"a":1,"b":"x"}', keep: true, parsed: { p_a: 1, p_b: 'x' } }]);
  });

  it('a value that does not parse goes to @ERROR with Fluentd\'s message and is dropped', async () => {
    const r = await run(`  key_name log\n  <parse>\n    @type regexp\n    expression /^(?<a>\\d+)$/\n  </parse>`, [{ log: 'abc' }, { log: '12' }]);
    expect(r.emitted.map((e) => e.record)).toEqual([{ a: '12' }]);
    expect(r.errors.map((e) => e.record)).toEqual([{ log: 'abc' }]);
    expect(r.logs()).toContain("pattern not matched with data 'abc'");
  });

  it('invalid JSON is "pattern not matched" too; with reserve_data the original passes unchanged', async () => {
    const r = await run(`  key_name log\n  reserve_data true\n  remove_key_name_field true\n  <parse>\n    @type json\n  </parse>`, [{ log: '{not json', k: 1 }]);
    expect(r.emitted.map((e) => [e.time, e.record])).toEqual([[T0, { log: '{not json', k: 1 }]]);
    expect(r.errors.map((e) => e.record)).toEqual([{ log: '{not json', k: 1 }]);
    expect(r.logs()).toContain("pattern not matched with data '{not json'");
  });

  it('without emit_invalid_record_to_error an invalid value is dropped silently', async () => {
    const r = await run(`  key_name log\n  emit_invalid_record_to_error false\n  <parse>\n    @type json\n  </parse>`, [{ log: 'nope' }, { other: 1 }]);
    expect(r.emitted).toEqual([]);
    expect(r.errors).toEqual([]);
  });

  it('a bad time field is a parser error: to @ERROR, dropped even with reserve_data', async () => {
    const r = await run(`  key_name log\n  reserve_data true\n  <parse>\n    @type json\n  </parse>`, [{ log: '{"time":[],"f1":"v1"}' }]);
    expect(r.emitted).toEqual([]);
    expect(r.errors.map((e) => e.record)).toEqual([{ log: '{"time":[],"f1":"v1"}' }]);
    expect(r.logs()).toContain('value must be a string or a number');
  });

  it('a missing key_name: "log does not exist" to a <label @ERROR> (test_capture), dropped without reserve_data', async () => {
    const r = buildFromText(`<filter app.**>\n  @type parser\n  key_name log\n  <parse>\n    @type json\n  </parse>\n</filter>
<match app.**>\n  @type test_capture\n  @id fp_out\n</match>
<label @ERROR>\n  <match **>\n    @type test_capture\n    @id fp_err\n  </match>\n</label>`);
    expect(r.problems).toEqual([]);
    const agent = r.agent!;
    await agent.start();
    try {
      await agent.emit('app.x', EventStream.fromEvents([{ time: T0, record: { message: 'x' } }]));
      await waitFor(() => (captured.get('fp_err')?.length ?? 0) > 0, 2000);
      expect(captured.get('fp_out') ?? []).toEqual([]);
      expect(captured.get('fp_err')!.map((e) => [e.tag, e.time, e.record])).toEqual([['app.x', T0, { message: 'x' }]]);
      expect(r.logs()).toContain('log does not exist');
    } finally {
      await agent.stop();
      captured.delete('fp_out');
      captured.delete('fp_err');
    }
    const kept = await run(`  key_name log\n  reserve_data true\n  hash_value_field parsed\n  <parse>\n    @type json\n  </parse>`, [{ message: 'x' }]);
    expect(kept.emitted.map((e) => e.record)).toEqual([{ message: 'x', parsed: {} }]);
    expect(kept.errors.map((e) => e.record)).toEqual([{ message: 'x' }]);
  });

  it('key_name is a record_accessor path; remove_key_name_field leaves the input record untouched', async () => {
    const input = { k: { log: 'a=1' }, z: 1 };
    const r = await run(`  key_name $.k.log\n  reserve_data true\n  remove_key_name_field true\n  <parse>\n    @type regexp\n    expression /^a=(?<a>.*)$/\n  </parse>`, [input]);
    expect(r.emitted.map((e) => e.record)).toEqual([{ k: {}, z: 1, a: '1' }]);
    expect(input).toEqual({ k: { log: 'a=1' }, z: 1 });
  });

  it('invalid configs are errors with file:line', () => {
    const cases: Array<[string, RegExp]> = [
      ['key_name log\n<parse>\n  @type regexp\n  expression /^(\\d+)$/\n</parse>', /driver\.conf:1 .*driver\.conf:6 <parse> expression: no named captures/],
      ['key_name log\n<parse>\n  @type regexp\n  expression /^(?<a>[/\n</parse>', /driver\.conf:6 <parse> expression: Invalid regular expression/],
      ['key_name log\n<parse>\n  @type apache9\n</parse>', /driver\.conf:5 .*@type: /],
      ['key_name log\n<parse>\n  @type csv\n</parse>', /driver\.conf:4 <parse> keys: 'keys' parameter is required for @type csv/],
      ['key_name log\n<parse>\n  @type json\n  types a:nope\n</parse>', /driver\.conf:6 <parse> types: unknown value conversion for key:'a', type:'nope'/],
      ['key_name log\n<parse>\n  @type json\n  time_type string\n  utc true\n</parse>', /<parse> time_format: specifying timezone requires time format/],
      ['<parse>\n  @type json\n</parse>', /key_name: is required/],
      ['key_name log', /a <parse> section is required/],
    ];
    for (const [body, expected] of cases) {
      const { problems } = configProblems(`<filter app.**>\n@type parser\n${body}\n</filter>`);
      expect(problems.join('\n'), body).toMatch(expected);
    }
  });
});
