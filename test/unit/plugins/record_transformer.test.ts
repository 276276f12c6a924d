/** record_transformer through the real agent: every parameter, spec §4 examples, errors. */
import { afterEach, describe, expect, it } from 'vitest';
import { EventTime } from '../../../src/core/event-time.js';
import { runCli, writeConfig } from '../../helpers/daemon.js';
import { configProblems, driver, filterDriver, type Driver } from '../../helpers/driver.js';

/** Ruby `Time#to_s` of `sec` in this process's zone: `2024-01-02 03:04:05 +0000`. */
function localTimeString(sec: number): string {
  const off = -new Date(sec * 1000).getTimezoneOffset();
  const iso = new Date((sec + off * 60) * 1000).toISOString();
  const a = Math.abs(off);
  const z = `${off >= 0 ? '+' : '-'}${String(Math.floor(a / 60)).padStart(2, '0')}${String(a % 60).padStart(2, '0')}`;
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} ${z}`;
}

const T0 = 1704164645; // 2024-01-02 03:04:05 UTC
let d: Driver | null = null;
afterEach(async () => {
  await d?.close();
  d = null;
});

async function transform(body: string, tag: string, records: Array<Record<string, unknown>>, time: number | EventTime = T0) {
  d = await filterDriver(`@type record_transformer\n${body}`);
  await d.feed(tag, records, time);
  return d;
}

describe('placeholders without enable_ruby (spec §4.2)', () => {
  const RECORD = { user_id: 1, status: 'ok', n: [1, 2] };
  const BODY = `<record>
    service \${tag_parts[1]}
    last \${tag_parts[-1]}
    uid \${record["user_id"]}
    msg id=\${record["user_id"]}
    arr \${record["n"]}
    miss \${record["nope"]}
    miss2 x\${record["nope"]}y
    t \${time}
    \${tag}_seen 1
    h {"host":"\${hostname}","n":1}
  </record>`;

  it('expands the spec table, keeping types for a whole-value placeholder', async () => {
    const dr = await transform(BODY, 'web.auth', [RECORD]);
    expect(dr.emitted).toHaveLength(1);
    expect(dr.emitted[0]!.record).toEqual({
      ...RECORD, service: 'auth', last: 'auth', uid: 1, msg: 'id=1', arr: [1, 2], miss: null, miss2: 'xy',
      t: localTimeString(T0), 'web.auth_seen': '1', h: { host: 'testhost', n: 1 },
    });
    expect(dr.emitted[0]!.tag).toBe('web.auth');
    expect(dr.emitted[0]!.time).toBe(T0);
    expect(dr.logs()).toContain('unknown placeholder found placeholder="${record[\\"nope\\"]}"');
  });

  it('auto_typecast false makes every value a string', async () => {
    const dr = await transform(`auto_typecast false\n${BODY}`, 'web.auth', [RECORD]);
    const r = dr.emitted[0]!.record;
    expect(r.uid).toBe('1');
    expect(r.arr).toBe('[1, 2]');
    expect(r.miss).toBe('');
  });

  it('tag_parts, tag_prefix and tag_suffix with positive and negative indexes', async () => {
    const dr = await transform(`<record>
      p0 \${tag_parts[0]}
      pm1 \${tag_parts[-1]}
      pm3 \${tag_parts[-3]}
      pre1 \${tag_prefix[1]}
      prem1 \${tag_prefix[-1]}
      suf1 \${tag_suffix[1]}
      sufm1 \${tag_suffix[-1]}
      out \${tag_parts[3]}
      tag \${tag}
    </record>`, 'debug.my.app', [{ tag: 'from record' }]);
    expect(dr.emitted[0]!.record).toEqual({
      p0: 'debug', pm1: 'app', pm3: 'debug', pre1: 'debug.my', prem1: 'debug.my.app', suf1: 'my.app', sufm1: 'app', out: null, tag: 'debug.my.app',
    });
  });

  it("accepts ${record['k']}; record[tag_parts[N]] needs enable_ruby (unknown: nil, warned once at start)", async () => {
    const dr = await transform(`<record>
      q \${record['user_id']}
      v \${record[tag_parts[1]]}
      legacy a__HOST__b
    </record>`, 'web.user_id', [{ user_id: 7 }]);
    expect(dr.emitted[0]!.record).toMatchObject({ q: 7, v: null, legacy: 'ab' });
    const warnings = dr.logs().split('\n').filter((l) => l.includes('unknown placeholder `${record[tag_parts[1]]}`'));
    expect(warnings).toHaveLength(1);
  });

  it('${time} is Ruby Time#to_s of the event time in the local zone, without sub-seconds', async () => {
    const dr = await transform('<record>\n t ${time}\n s at ${time}\n</record>', 'x', [{}], new EventTime(T0, 999_000_000));
    expect(dr.emitted[0]!.record).toEqual({ t: localTimeString(T0), s: `at ${localTimeString(T0)}` });
  });

  it('merges several <record> sections; JSON values are expanded inside; bad JSON stays a string', async () => {
    const dr = await transform(`<record>
      a 1
      j {"tag":"\${tag}","list":["\${tag_parts[0]}", 2, null],"\${tag_parts[1]}":true}
    </record>
    <record>
      a 2
      bad "{not json \${tag}"
    </record>`, 'svc.api', [{}]);
    expect(dr.emitted[0]!.record).toEqual({ a: '2', j: { tag: 'svc.api', list: ['svc', 2, null], api: true }, bad: '{not json svc.api' });
    expect(dr.logs()).toMatch(/failed to parse \{not json \$\{tag\} as json/);
  });
});

describe('record shaping: renew_record, keep_keys, remove_keys, renew_time_key (spec §4.1)', () => {
  it('renew_record starts empty and copies keep_keys first', async () => {
    const dr = await transform('renew_record true\nkeep_keys a,missing\n<record>\n x ${record["b"]}\n</record>', 't', [{ a: 1, b: 2, c: 3 }]);
    expect(dr.emitted[0]!.record).toEqual({ a: 1, x: 2 });
  });

  it('keep_keys without renew_record is a config error', () => {
    const r = configProblems('<filter **>\n @type record_transformer\n keep_keys a\n</filter>');
    expect(r.problems.join('\n')).toMatch(/keep_keys: `renew_record` must be true to use `keep_keys`/);
  });

  it('remove_keys runs after the merge, takes record accessors, and never changes the input', async () => {
    const input = { a: 1, keep: 'k', nested: { x: 1, y: 2 }, list: [10, 20] };
    const dr = await transform('remove_keys a,added,$.nested.x,$.list[0],$.no.such\n<record>\n added 1\n other 2\n</record>', 't', [input]);
    expect(dr.emitted[0]!.record).toEqual({ keep: 'k', nested: { y: 2 }, list: [20], other: '2' });
    expect(input).toEqual({ a: 1, keep: 'k', nested: { x: 1, y: 2 }, list: [10, 20] });
  });

  it('a malformed remove_keys accessor is a config error', () => {
    const r = configProblems('<filter **>\n @type record_transformer\n remove_keys $.a[x]\n</filter>');
    expect(r.problems.join('\n')).toMatch(/remove_keys: invalid record accessor '\$\.a\[x\]'/);
  });

  it('renew_time_key sets the event time from the new record (Ruby to_f: float seconds, text → epoch, nil → epoch)', async () => {
    const dr = await transform('renew_time_key ts', 't', [{ ts: '1700000000.25' }, { ts: 1700000001 }, { ts: 'soon' }, { ts: null }, { other: 1 }]);
    expect(dr.emitted.map((e) => e.time)).toEqual([
      new EventTime(1700000000, 250_000_000), new EventTime(1700000001, 0), new EventTime(0, 0), new EventTime(0, 0), T0,
    ]);
  });

  it('renew_time_key reads the key after the <record> merge; a value without to_f goes to @ERROR', async () => {
    const dr = await transform('renew_time_key ts\n<record>\n ts ${record["t"]}\n</record>', 't', [{ t: 1700000002 }, { t: { no: 1 } }]);
    expect(dr.emitted.map((e) => e.time)).toEqual([new EventTime(1700000002, 0)]);
    expect(dr.errors.map((e) => e.record)).toEqual([{ t: { no: 1 } }]);
    expect(dr.logs()).toContain("undefined method `to_f' for an instance of Hash");
  });
});

describe('enable_ruby (spec §4.3)', () => {
  it('runs the flow-metrics transformer of spec §6 step 3', async () => {
    d = await driver(`<filter quantico.fluentd.messages.*>
  @type record_transformer
  enable_ruby true
  remove_keys bytes,bytes_rate,count,count_rate,tag
  <record>
    value \${record[tag_parts[3]]}
    fluentd-tag \${record['tag']}
  </record>
</filter>`);
    const summary = { count: 3, bytes: 87, count_rate: 2.99, bytes_rate: 86.96, tag: 'nginx.access' };
    await d.feed('quantico.fluentd.messages.bytes', [summary]);
    await d.feed('quantico.fluentd.messages.count', [summary]);
    expect(d.emitted.map((e) => [e.tag, e.record])).toEqual([
      ['quantico.fluentd.messages.bytes', { value: 87, 'fluentd-tag': 'nginx.access' }],
      ['quantico.fluentd.messages.count', { value: 3, 'fluentd-tag': 'nginx.access' }],
    ]);
  });

  it('evaluates expressions over record, tag, time, hostname and ENV', async () => {
    process.env.LOGFERRY_TEST_POD = 'pod-1';
    const dr = await transform(`enable_ruby true
<record>
  app \${record.dig("k8s", "labels", "app") || "unknown"}
  up \${record["msg"].upcase}
  total \${record["a"] + record["b"]}
  ratio \${record["a"] / record["b"]}
  ts \${time.utc.strftime("%Y-%m-%dT%H:%M:%S.%3N")}
  ms \${(time.to_f * 1000).to_i}
  t \${time}
  where \${hostname}-\${ENV["LOGFERRY_TEST_POD"]}
  list \${[tag_parts.first, tag_suffix[1]]}
  s \${tag}:\${record["a"]}
  big \${record["a"] > 5 ? "yes" : "no"}
  \${tag_parts[0]}_key x
</record>`, 'app.web', [{ msg: 'hi', a: 7, b: 2 }], new EventTime(T0, 123_456_789));
    expect(dr.emitted[0]!.record).toEqual({
      msg: 'hi', a: 7, b: 2, app: 'unknown', up: 'HI', total: 9, ratio: 3, ts: '2024-01-02T03:04:05.123', ms: T0 * 1000 + 123,
      t: localTimeString(T0), where: 'testhost-pod-1', list: ['app', 'web'], s: 'app.web:7', big: 'yes', app_key: 'x',
    });
  });

  it('auto_typecast false turns results into strings', async () => {
    const dr = await transform('enable_ruby true\nauto_typecast false\n<record>\n n ${record["a"] * 2}\n</record>', 't', [{ a: 2 }]);
    expect(dr.emitted[0]!.record.n).toBe('4');
  });

  it('sends a record whose expression fails to @ERROR with the reason; the others go on', async () => {
    const dr = await transform('enable_ruby true\n<record>\n b ${record["a"]["b"]}\n</record>', 'app', [{ a: { b: 1 } }, { x: 1 }, { a: { b: 3 } }]);
    expect(dr.emitted.map((e) => e.record.b)).toEqual([1, 3]);
    expect(dr.errors).toHaveLength(1);
    expect(dr.errors[0]!.record).toEqual({ x: 1 });
    expect(dr.errors[0]!.tag).toBe('app');
    expect(dr.logs()).toContain("failed to expand `${record[\\\"a\\\"][\\\"b\\\"]}` : error = undefined method `[]' for nil");
  });

  it('an expression it cannot run is a config error naming the expression', () => {
    const r = configProblems(`<filter **>
  @type record_transformer
  enable_ruby true
  <record>
    ok \${record["a"]}
    bad \${system("ls")}
    worse x\${record.send("y")}
  </record>
</filter>`);
    const text = r.problems.join('\n');
    expect(r.problems).toHaveLength(2);
    expect(text).toContain('<record> bad');
    expect(text).toContain('`${system("ls")}`');
    expect(text).toContain("'system' is not allowed");
    expect(text).toContain('`x${record.send("y")}`');
    expect(text).toMatch(/driver\.conf:6/);
  });

  it('logferry --dry-run exits 1 and names the expression', async () => {
    const { path } = writeConfig(`<source>
  @type forward
  port 0
</source>
<filter **>
  @type record_transformer
  enable_ruby true
  <record>
    x \${\`id\`}
  </record>
</filter>
<match **>
  @type null
</match>
`);
    const r = await runCli(['--dry-run', '-c', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('${`id`}');
    expect(r.stderr).toContain('backticks');
  });
});
