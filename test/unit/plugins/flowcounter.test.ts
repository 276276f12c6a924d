/**
 * fluent-plugin-flowcounter through the real agent (spec §3): the exact summary records of each
 * aggregate/output_style, key order, Ruby msgpack byte counting for `count_keys *` (from packed
 * bytes, so floats and signed-int senders count as Ruby re-encodes them), field byte counting,
 * prefix removal, idle intervals, truncated rates and config errors. Intervals are `unit second`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventTime } from '../../../src/core/event-time.js';
import { numberOf, WholeFloat } from '../../../src/core/float.js';
import { rate } from '../../../src/plugins/out/flowcounter.js';
import { packedRecordsSize, valueSize } from '../../../src/plugins/out/flowcounter/record-size.js';
import { encode } from '../../../src/protocol/msgpack.js';
import { captured } from '../../helpers/agent.js';
import { configProblems, driver, type Driver } from '../../helpers/driver.js';
import { packedStream } from '../../helpers/packed.js';
import { waitFor } from '../../helpers/wait.js';

let d: Driver | null = null;
afterEach(async () => {
  await d?.close();
  d = null;
  captured.clear();
});

/** The flowcount events the test_capture output `fc` received. */
const fc = () => captured.get('fc') ?? [];

function conf(body: string): string {
  return `
<match flowcount>
  @type test_capture
  @id fc
</match>
<match **>
  @type flowcounter
  unit second
${body}
</match>
`;
}

async function summaries(n: number): Promise<Array<Record<string, unknown>>> {
  const got = await waitFor(() => (fc().length >= n ? fc() : null), 6000, `${n} flowcount events`);
  return got.map((e) => e.record);
}

/** The rate of `v` over some step between 1.0 and 1.6 s, as the plugin truncates it. */
function plausibleRate(value: unknown, v: number): boolean {
  const r = numberOf(value);
  if (r === null || Math.abs(Math.round(r * 100) - r * 100) > 1e-6) return false;
  // floor(v·100/step) = k  ⇔  step ∈ (v·100/(k+1), v·100/k]
  const k = Math.round(r * 100);
  const lo = (v * 100) / (k + 1);
  const hi = k === 0 ? Infinity : (v * 100) / k;
  return lo < 1.6 && hi >= 1.0;
}

describe('flowcounter output', () => {
  it('tagged + count_keys *: one record per tag, Ruby msgpack sizes, zeros for idle tags (spec §6 example)', async () => {
    d = await driver(conf('  aggregate tag\n  output_style tagged\n  count_keys *'));
    const start = Date.now() / 1000;
    await d.agent.emit('nginx.access', packedStream([1, 2, 3].map(() => ({ host: 'web1', message: 'GET / 200' }))));
    await d.agent.emit('haproxy', packedStream([{ message: 'x' }]));
    const [nginx, haproxy] = await summaries(2);
    expect(Object.keys(nginx!)).toEqual(['count', 'bytes', 'count_rate', 'bytes_rate', 'tag']);
    expect(nginx).toMatchObject({ count: 3, bytes: 87, tag: 'nginx.access' });
    expect(haproxy).toMatchObject({ count: 1, bytes: 11, tag: 'haproxy' });
    expect(plausibleRate(nginx!.count_rate, 3)).toBe(true);
    expect(plausibleRate(nginx!.bytes_rate, 87)).toBe(true);
    const time = fc()[0]!.time as EventTime;
    expect(time).toBeInstanceOf(EventTime);
    expect(time.sec).toBeGreaterThanOrEqual(Math.floor(start) + 1);
    const next = (await summaries(4)).slice(2);
    expect(next).toEqual([
      { count: 0, bytes: 0, count_rate: new WholeFloat(0), bytes_rate: new WholeFloat(0), tag: 'nginx.access' },
      { count: 0, bytes: 0, count_rate: new WholeFloat(0), bytes_rate: new WholeFloat(0), tag: 'haproxy' },
    ]);
    expect(fc().every((e) => e.tag === 'flowcount')).toBe(true);
  });

  it('joined + aggregate tag: name groups in first-seen order, then the rates; prefix removed; {} before any event', async () => {
    d = await driver(`
<match flowcount>
  @type test_capture
  @id fc
</match>
<match app app.**>
  @type flowcounter
  unit second
  count_keys message, host
  input_tag_remove_prefix app
  delimiter .
</match>
`);
    await d.feed('app.web', [{ message: 'héllo', host: 'a' }, { message: 'x' }]);
    await d.feed('app.db', [{ message: 12345, host: false }]);
    await d.feed('app', [{ other: 'y' }]);
    await d.feed('app.web', [{ host: 'bb' }]);
    const [r] = await summaries(1);
    expect(Object.keys(r!)).toEqual([
      'web.count', 'web.bytes', 'db.count', 'db.bytes', '.count', '.bytes',
      'web.count_rate', 'web.bytes_rate', 'db.count_rate', 'db.bytes_rate', '.count_rate', '.bytes_rate',
    ]);
    // héllo = 6 bytes, a = 1, x = 1, bb = 2; 12345 counts its to_s; false and missing count 0
    expect(r).toMatchObject({ 'web.count': 3, 'web.bytes': 10, 'db.count': 1, 'db.bytes': 5, '.count': 1, '.bytes': 0 });
    await d.close();
    captured.clear();

    d = await driver(conf('  aggregate tag'));
    const [empty] = await summaries(1);
    expect(empty).toEqual({});
  });

  it('aggregate all: {count, bytes, rates}, or {count, count_rate} without count_keys; emitted when idle too', async () => {
    d = await driver(conf('  aggregate all\n  count_keys *'));
    await d.agent.emit('a', packedStream([{ message: 'hello' }]));
    await d.agent.emit('b', packedStream([{ message: 'hello' }, { n: 200 }]));
    const [r] = await summaries(1);
    expect(Object.keys(r!)).toEqual(['count', 'bytes', 'count_rate', 'bytes_rate']);
    expect(r).toMatchObject({ count: 3, bytes: 15 + 15 + 5 });
    await d.close();
    captured.clear();

    d = await driver(conf('  aggregate all'));
    const [idle] = await summaries(1);
    expect(idle).toEqual({ count: 0, count_rate: new WholeFloat(0) }); // Ruby: {"count":0,"count_rate":0.0}
  });

  it('delete_idle true forgets tags after each interval', async () => {
    d = await driver(conf('  aggregate tag\n  output_style tagged\n  delete_idle true'));
    await d.feed('once', [{ a: 1 }]);
    const [r] = await summaries(1);
    expect(r).toMatchObject({ count: 1, tag: 'once' });
    expect(Object.keys(r!)).toEqual(['count', 'count_rate', 'tag']);
    await d.feed('later', [{ a: 1 }, { a: 2 }]);
    const all = await summaries(2);
    expect(all[1]).toMatchObject({ count: 2, tag: 'later' });
    expect(all.length).toBe(2);
  });

  it('rejects invalid combinations', () => {
    const problems = (body: string) => configProblems(`<match **>\n@type flowcounter\n${body}\n</match>`).problems.join('\n');
    expect(problems('aggregate all\noutput_style tagged')).toMatch(/aggregate must be 'tag' when output_style is 'tagged'/);
    expect(problems('unit second\ntimestamp_counting true')).toMatch(/timestamp_counting cannot be used with unit second/);
    expect(problems('unit day\ntimestamp_counting true')).toMatch(/timestamp_timezone: is required/);
    expect(problems('timestamp_timezone JST')).toMatch(/offset like -0700/);
    expect(problems('unit fortnight')).toMatch(/unit/);
    expect(problems('unit day\ntimestamp_counting true\ntimestamp_timezone -07:00')).toBe('');
  });
});

describe('flowcounter arithmetic', () => {
  it('truncates rates to two decimals as Ruby does; a whole rate stays a Float (5.0)', () => {
    expect(rate(600, 60)).toEqual(new WholeFloat(10));
    expect(rate(100, 60)).toBe(1.66);
    expect(rate(1000, 60)).toBe(16.66);
    expect(rate(3, 1.0004)).toBe(2.99);
    expect(rate(87, 1.0004)).toBe(86.96);
    expect(rate(0, 1.3)).toEqual(new WholeFloat(0));
  });

  it('sizes packed records as Ruby re-encodes them: float64 always, smallest uint/int, str8', () => {
    const entry = (recordBytes: number[]) => Buffer.from([0x92, 0x01, ...recordBytes]);
    const f64five = [0x81, 0xa1, 0x66, 0xcb, 0x40, 0x14, 0, 0, 0, 0, 0, 0]; // {"f": 5.0}
    const f32five = [0x81, 0xa1, 0x66, 0xca, 0x40, 0xa0, 0, 0]; // {"f": 5.0} as float32
    const i16 = [0x81, 0xa1, 0x6e, 0xd1, 0x00, 0xc8]; // {"n": 200} as int16 (Go msgp style)
    const neg = [0x81, 0xa1, 0x6e, 0xd2, 0xff, 0xff, 0xff, 0x38]; // {"n": -200} as int32
    const str8 = [0x81, 0xa1, 0x73, 0xd9, 0x03, 0x61, 0x62, 0x63]; // {"s": "abc"} with a str8 header
    const u64 = [0x81, 0xa1, 0x6e, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0]; // {"n": 2^32}
    expect(packedRecordsSize(entry(f64five))).toBe(12);
    expect(packedRecordsSize(entry(f32five))).toBe(12);
    expect(packedRecordsSize(entry(i16))).toBe(5);
    expect(packedRecordsSize(entry(neg))).toBe(6);
    expect(packedRecordsSize(entry(str8))).toBe(7);
    expect(packedRecordsSize(entry(u64))).toBe(12);
    expect(packedRecordsSize(Buffer.concat([entry(f64five), entry(i16)]))).toBe(17);
    const withEventTime = Buffer.concat([Buffer.from([0x92, 0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 0]), Buffer.from([0x80])]);
    expect(packedRecordsSize(withEventTime)).toBe(1);
  });

  it('sizes decoded records the same way (an integral float counts as an integer there)', () => {
    const cases: Array<[Record<string, unknown>, number]> = [
      [{ message: 'hello' }, 15],
      [{ host: 'web1', message: 'GET / 200' }, 29],
      [{ n: 200 }, 5],
      [{ n: -1 }, 4],
      [{ n: -33 }, 5],
      [{ f: 0.5 }, 12],
      [{ a: [1, null, true] }, 1 + 2 + 4],
      [{ s: 'é'.repeat(20) }, 1 + 2 + 2 + 40],
      [{ t: new EventTime(1, 0) }, 1 + 2 + 10],
      [{ u: undefined, k: 'v' }, 1 + 2 + 2],
    ];
    for (const [record, size] of cases) {
      expect(valueSize(record), JSON.stringify(record)).toBe(size);
      expect(packedRecordsSize(encode([1, record])), JSON.stringify(record)).toBe(size);
    }
  });
});
