/**
 * Float fidelity: a whole msgpack float (`2.0`) decodes to a WholeFloat so it stays a Ruby Float —
 * JSON `2.0`, to_s "2.0", re-encoded as float64 — and every consumer of record values reads it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkKeys } from '../../../src/buffer/chunk-keys.js';
import { decodeMeta, encodeMeta } from '../../../src/buffer/file-meta.js';
import { EventStream } from '../../../src/core/event-stream.js';
import { EventTime } from '../../../src/core/event-time.js';
import { floatData, floatToS, numberOf, WholeFloat, wholeFloatJson } from '../../../src/core/float.js';
import { recordAccessor } from '../../../src/core/record-accessor.js';
import { compileExpr, toData } from '../../../src/expr/index.js';
import { deletePath, parseAccessor } from '../../../src/expr/record-accessor.js';
import { createFormatter, toJson, type FormatConfig } from '../../../src/format/formatter.js';
import { createInjector } from '../../../src/format/inject.js';
import { eventTime, extractRecords } from '../../../src/plugins/in/http/records.js';
import { formatRecord, type FormatOptions } from '../../../src/plugins/out/dogstatsd/format.js';
import { valueSize } from '../../../src/plugins/out/flowcounter/record-size.js';
import { createEncoder } from '../../../src/plugins/out/kinesis_firehose/encode.js';
import { decode, decodeAll, encode } from '../../../src/protocol/msgpack.js';
import { filterDriver, type Driver } from '../../helpers/driver.js';
import { packedStream } from '../../helpers/packed.js';

const f64 = (n: number): Buffer => { const b = Buffer.alloc(9); b[0] = 0xcb; b.writeDoubleBE(n, 1); return b; };
const f32 = (n: number): Buffer => { const b = Buffer.alloc(5); b[0] = 0xca; b.writeFloatBE(n, 1); return b; };
const str = (s: string): Buffer => Buffer.concat([Buffer.from([0xa0 + Buffer.byteLength(s)]), Buffer.from(s)]);
const map = (...pairs: Array<[string, Buffer]>): Buffer => Buffer.concat([Buffer.from([0x80 + pairs.length]), ...pairs.flatMap(([k, v]) => [str(k), v])]);
const W = (n: number) => new WholeFloat(n);

describe('WholeFloat', () => {
  it('is a number for arithmetic and comparisons, Ruby Float#to_s as text, the number for plain JSON', () => {
    const x = W(2);
    expect(+x * 3).toBe(6);
    expect((x as unknown as number) > 1).toBe(true);
    expect(`${x}`).toBe('2.0');
    expect(String(W(-3))).toBe('-3.0');
    expect(String(W(0))).toBe('0.0');
    expect(String(W(-0))).toBe('-0.0');
    expect(String(W(1e16))).toBe('1.0e+16');
    expect(String(W(123456789012345680000))).toBe('1.2345678901234568e+20');
    expect(String(W(9999999999999998))).toBe('9999999999999998.0');
    expect(JSON.stringify({ f: x })).toBe('{"f":2}');
    expect(numberOf(x)).toBe(2);
    expect(numberOf(7)).toBe(7);
    expect(numberOf('7')).toBeNull();
    expect(floatData(3)).toEqual(W(3));
    expect(floatData(3.5)).toBe(3.5);
    expect(floatToS(2.5)).toBe('2.5');
  });

  it('prints in JSON as Oj compat mode does: %.1f within a long long, to_s beyond, 0.0 for -0.0', () => {
    expect(wholeFloatJson(2)).toBe('2.0');
    expect(wholeFloatJson(-0)).toBe('0.0');
    expect(wholeFloatJson(1e16)).toBe('10000000000000000.0');
    expect(wholeFloatJson(2 ** 62)).toBe('4611686018427387904.0');
    expect(wholeFloatJson(-(2 ** 63))).toBe('-9223372036854775808.0');
    expect(wholeFloatJson(2 ** 63)).toBe('9.223372036854776e+18');
    expect(wholeFloatJson(1e20)).toBe('1.0e+20');
  });
});

describe('msgpack', () => {
  it('decodes a whole float32/float64 as a WholeFloat, a fractional one and an int as numbers', () => {
    expect(decode(f64(2))).toEqual(W(2));
    expect(decode(f64(2))).toBeInstanceOf(WholeFloat);
    expect(decode(f64(2.5))).toBe(2.5);
    expect(decode(Buffer.from([0x02]))).toBe(2);
    expect(decode(Buffer.from([0xcd, 0x01, 0x00]))).toBe(256);
    expect(decode(f32(2))).toEqual(W(2));
    expect(decode(f32(2.5))).toBe(2.5);
    expect(decode(f64(-0))).toEqual(W(-0));
    expect(Object.is((decode(f64(-0)) as WholeFloat).value, -0)).toBe(true);
    expect(decode(f64(Infinity))).toBe(Infinity);
    expect(decode(f64(1700000000))).toEqual(W(1700000000));
  });

  it('re-encodes a decoded map byte for byte: float64 (whole or not), ints, strings, nesting, EventTime', () => {
    const inner = Buffer.concat([Buffer.from([0x93]), f64(1), Buffer.from([0x01]), f64(-0)]);
    const bytes = map(
      ['i', Buffer.from([0x02])], ['f', f64(2)], ['g', f64(2.5)], ['n', f64(-3)], ['big', f64(1e16)],
      ['u', Buffer.from([0xcd, 0x01, 0x00])], ['neg', Buffer.from([0xd0, 0x80])], ['s', str('x')], ['a', inner],
      ['m', map(['z', f64(0)])], ['t', Buffer.from([0xd7, 0x00, 0x65, 0x53, 0xf1, 0x00, 0x00, 0x00, 0x00, 0x07])],
    );
    const value = decode(bytes) as Record<string, unknown>;
    expect(value).toMatchObject({ i: 2, f: W(2), g: 2.5, n: W(-3), u: 256, neg: -128, s: 'x', a: [W(1), 1, W(-0)], m: { z: W(0) } });
    expect(value.t).toEqual(new EventTime(1700000000, 7));
    expect(encode(value).equals(bytes)).toBe(true);
    // a whole stream of entries, as a filter re-packs it
    const entries = Buffer.concat([Buffer.from([0x92, 0x01]), bytes, Buffer.from([0x92, 0x02]), map(['f', f64(7)])]);
    expect(EventStream.fromEvents(EventStream.fromPacked(entries, 2).events()).packed().equals(entries)).toBe(true);
  });

  it('float32 comes back as float64 of the same value, as Fluentd (msgpack-ruby packs every Float as float64)', () => {
    const bytes = map(['f', f32(2)], ['g', f32(2.5)], ['i', Buffer.from([0x02])]);
    expect(encode(decode(bytes)).equals(map(['f', f64(2)], ['g', f64(2.5)], ['i', Buffer.from([0x02])]))).toBe(true);
  });

  it('encodes a WholeFloat anywhere as float64 and an integral JS number as an int', () => {
    expect(encode({ i: 2, f: W(2) }).equals(map(['i', Buffer.from([0x02])], ['f', f64(2)]))).toBe(true);
    expect(encode(W(5)).equals(f64(5))).toBe(true);
    expect(encode([W(1)])).toEqual(Buffer.concat([Buffer.from([0x91]), f64(1)]));
  });

  it('a whole float map key becomes its to_s', () => {
    const bytes = Buffer.concat([Buffer.from([0x82]), f64(2), str('a'), f64(2.5), str('b')]);
    expect(decode(bytes)).toEqual({ '2.0': 'a', '2.5': 'b' });
  });

  it('an entry whose time is a whole float (old Fluent Bit) gets its number as time', () => {
    const entries = Buffer.concat([Buffer.from([0x92]), f64(1700000000), map(['f', f64(1)]), Buffer.from([0x92]), f64(1700000000.5), map(['f', f64(1)])]);
    const events = EventStream.fromPacked(entries, 2).events();
    expect(events.map((e) => e.time)).toEqual([1700000000, 1700000000.5]);
    expect(events[0]!.record.f).toEqual(W(1));
  });
});

describe('JSON formatting', () => {
  const json = createFormatter({ '@type': 'json' } as FormatConfig);

  it('prints whole floats with .0 and leaves integers and fractions alone', () => {
    expect(json('t', 0, decode(map(['i', Buffer.from([0x02])], ['f', f64(2)], ['g', f64(2.5)])) as Record<string, unknown>)).toBe('{"i":2,"f":2.0,"g":2.5}\n');
    expect(toJson({ a: [W(1), 2, { b: W(-3) }], z: W(0), nz: W(-0), big: W(1e16), huge: W(1e20) }))
      .toBe('{"a":[1.0,2,{"b":-3.0}],"z":0.0,"nz":0.0,"big":10000000000000000.0,"huge":1.0e+20}');
    expect(toJson(W(4))).toBe('4.0');
    expect(toJson({ n: 1, s: 'x', b: new Uint8Array(Buffer.from('hé')) })).toBe('{"n":1,"s":"x","b":"hé"}');
  });

  it('text in the record is never taken for a float, even one shaped like the stand-in', () => {
    const r = { s: '@lf-float-00:2.0', t: '"@lf-float-', q: 'a"b', f: W(1) };
    expect(JSON.parse(toJson(r).replace('1.0', '1'))).toEqual({ ...r, f: 1 });
    expect(toJson(r)).toBe('{"s":"@lf-float-00:2.0","t":"\\"@lf-float-","q":"a\\"b","f":1.0}');
  });

  it('every formatter shows Ruby to_s of a float: out_file, stdout, ltsv, single_value, csv, hash', () => {
    const r = { f: W(2), g: 2.5, i: 2 };
    expect(createFormatter({ '@type': 'out_file', output_time: false, output_tag: false } as FormatConfig)('t', 0, r)).toBe('{"f":2.0,"g":2.5,"i":2}\n');
    expect(createFormatter({ '@type': 'stdout', time_format: 'T' } as FormatConfig)('t', 0, r)).toBe('T t: {"f":2.0,"g":2.5,"i":2}\n');
    expect(createFormatter({ '@type': 'ltsv' } as FormatConfig)('t', 0, r)).toBe('f:2.0\tg:2.5\ti:2\n');
    expect(createFormatter({ '@type': 'single_value', message_key: 'f' } as FormatConfig)('t', 0, r)).toBe('2.0\n');
    expect(createFormatter({ '@type': 'csv', fields: ['f', 'i'] } as FormatConfig)('t', 0, r)).toBe('"2.0","2"\n');
    expect(createFormatter({ '@type': 'hash' } as FormatConfig)('t', 0, r)).toBe('{"f":2.0,"g":2.5,"i":2}\n');
  });

  it('kinesis_firehose: formatted records and a data_key float', () => {
    const base = { dataKey: null, format: createFormatter(null), inject: createInjector(null, { hostname: 'h', workerId: 0 }), compression: null, appendNewLine: true, chompRecord: false } as const;
    const out = createEncoder(base)('t', 0, { f: W(2) });
    expect(out.ok && out.data.toString()).toBe('{"f":2.0}\n');
    const key = createEncoder({ ...base, dataKey: 'f' })('t', 0, { f: W(2) });
    expect(key.ok && key.data.toString()).toBe('2.0\n');
  });

  it('<inject> time_type float is a Float even at a whole second', () => {
    const inject = createInjector({ hostname_key: null, hostname: null, worker_id_key: null, tag_key: null, time_key: 'time', time_type: 'float', time_format: null, localtime: true, utc: false, timezone: null }, { hostname: 'h', workerId: 0 });
    expect(toJson(inject('t', new EventTime(1700000000, 0), {}))).toBe('{"time":1700000000.0}');
    expect(toJson(inject('t', new EventTime(1700000000, 500_000_000), {}))).toBe('{"time":1700000000.5}');
  });
});

describe('the evaluator reads a WholeFloat as a Ruby Float', () => {
  const run = (src: string, record: Record<string, unknown>) => toData(compileExpr(src, ['record']).run({ vars: { record }, hostname: 'h', env: {}, nowMs: () => 0 }));
  const r = { f: W(2), i: 2, s: 'x', list: [W(1), 3] };

  it.each([
    ['record["f"]', W(2)],
    ['record["f"] * 2', W(4)],
    ['record["f"] + 1', W(3)],
    ['record["f"] / 4', 0.5],
    ['record["f"] + 0.5', 2.5],
    ['-record["f"]', W(-2)],
    ['record["f"].to_i', 2],
    ['record["f"].to_f', W(2)],
    ['record["f"].round', 2],
    ['record["f"].to_s', '2.0'],
    ['record["f"].inspect', '2.0'],
    ['"v=#{record["f"]}"', 'v=2.0'],
    ['record["f"] == 2', true],
    ['record["f"] == record["i"]', true],
    ['record["f"] > 1', true],
    ['record["f"] <=> 3', -1],
    ['record["f"].is_a?(Float)', true],
    ['record["f"].is_a?(Integer)', false],
    ['record["f"].zero?', false],
    ['record["list"].sum', W(4)],
    ['record["list"].max', 3],
    ['record["list"].first', W(1)],
    ['record["list"].include?(1)', true],
    ['record.to_json', '{"f":2.0,"i":2,"s":"x","list":[1.0,3]}'],
    ['Time.at(record["f"]).to_i', 2],
  ] as Array<[string, unknown]>)('%s', (src, expected) => {
    expect(run(src, r)).toEqual(expected);
  });
});

describe('record plugins', () => {
  let d: Driver | null = null;
  afterEach(async () => {
    await d?.close();
    d = null;
  });

  it('record_transformer: arithmetic on a float field stays a Float and is re-encoded as float64', async () => {
    d = await filterDriver(`@type record_transformer
enable_ruby true
<record>
  double \${record["f"] * 2}
  half \${record["f"] / 4}
  text f=\${record["f"]}
  same \${record["f"]}
  count \${record["i"] + 1}
</record>`);
    await d.agent.emit('app.x', packedStream([decode(map(['f', f64(2)], ['i', Buffer.from([0x02])])) as Record<string, unknown>], 1700000000));
    const rec = d.emitted[0]!.record;
    expect(rec).toEqual({ f: W(2), i: 2, double: W(4), half: 0.5, text: 'f=2.0', same: W(2), count: 3 });
    expect(toJson(rec)).toBe('{"f":2.0,"i":2,"double":4.0,"half":0.5,"text":"f=2.0","same":2.0,"count":3}');
    expect(encode(rec).includes(f64(4))).toBe(true);
  });

  it('record_transformer without enable_ruby: a whole-value placeholder keeps the Float, text shows 2.0; renew_time_key reads it', async () => {
    d = await filterDriver(`@type record_transformer
renew_time_key t
<record>
  copy \${record["f"]}
  text v\${record["f"]}
</record>`);
    await d.agent.emit('app.x', packedStream([{ f: W(2), t: W(1700000100) }], 1700000000));
    expect(d.emitted[0]!.record).toEqual({ f: W(2), t: W(1700000100), copy: W(2), text: 'v2.0' });
    expect(d.emitted[0]!.time).toEqual(new EventTime(1700000100, 0));
  });

  it('grep matches a float field as Ruby to_s shows it ("2.0")', async () => {
    d = await filterDriver(`@type grep
<regexp>
  key f
  pattern /^2\\.0$/
</regexp>`);
    await d.agent.emit('app.x', packedStream([{ f: W(2), n: 1 }, { f: 2, n: 2 }, { f: 2.5, n: 3 }]));
    expect(d.emitted.map((e) => e.record.n)).toEqual([1]);
  });

  it('record_modifier sets Floats as Floats', async () => {
    d = await filterDriver(`@type record_modifier
<record>
  g \${record["f"] * 3}
</record>`);
    await d.agent.emit('app.x', packedStream([{ f: W(2) }]));
    expect(d.emitted[0]!.record).toEqual({ f: W(2), g: W(6) });
  });
});

describe('other consumers of record values', () => {
  it('record_accessor never walks into a float', () => {
    expect(recordAccessor('$.f.value')({ f: W(2) })).toBeUndefined();
    expect(recordAccessor('f')({ f: W(2) })).toEqual(W(2));
    const rec = { f: W(2) };
    deletePath(rec, parseAccessor('$.f.value'));
    expect(rec).toEqual({ f: W(2) });
  });

  it('dogstatsd: value and rate as Ruby to_s / numbers; a float is not a tags map', () => {
    const o: FormatOptions = { key: null, useTagAsKey: false, useTagAsKeyIfMissing: false, flatTags: false, metricType: null, valueKey: 'value', sampleRate: null, namespace: null, globalTags: [], random: () => 0 };
    expect(formatRecord('t', { key: 'k', type: 'gauge', value: W(5), sample_rate: W(1) }, o)).toEqual({ kind: 'line', text: 'k:5.0|g' });
    expect(formatRecord('t', { key: 'k', type: 'gauge', value: W(1e16) }, o)).toEqual({ kind: 'line', text: 'k:1.0e+16|g' });
    expect(formatRecord('t', { key: 'k', type: 'gauge', value: 1, tags: W(1) }, o)).toEqual({ kind: 'skip', reason: 'the tags field must be a map or an array' });
    expect(formatRecord('t', { key: 'k', type: 'gauge', value: 1, tags: { cpu: W(2) } }, o)).toEqual({ kind: 'line', text: 'k:1|g|#cpu:2.0' });
  });

  it('flowcounter count_keys *: a whole float is 9 bytes (spec: {"f":5.0} is 12 bytes)', () => {
    expect(valueSize({ f: W(5) })).toBe(12);
    expect(valueSize({ f: 5 })).toBe(4);
    expect(valueSize(decode(map(['f', f64(5)])))).toBe(12);
  });

  it('in_http: a float time field is a time; a bare float body is not a record', () => {
    const o = { parser: 'msgpack' as const, timeKey: 'time', keepTimeKey: false, messageKey: 'message' };
    const records = extractRecords(new Map(), Buffer.concat([f64(2), map(['time', f64(1700000000)], ['f', f64(2)])]), o);
    expect(records).toEqual([{ time: W(1700000000), f: W(2) }]);
    expect(eventTime(records[0]!, undefined, o)).toEqual(new EventTime(1700000000, 0));
    expect(records[0]).toEqual({ f: W(2) });
  });

  it('chunk keys and file buffer metadata show a float as to_s and read float counters', () => {
    const keys = new ChunkKeys(['f'], null, { useUtc: true, zone: null });
    const [part] = keys.partition('t', EventStream.fromEvents([{ time: 1, record: { f: W(2) } }]));
    expect(part!.metadata.variables).toEqual({ f: '2.0' });
    const meta = { metadata: { tag: 't', timekey: null, variables: null, seq: 0 }, id: Buffer.alloc(16, 1), records: 3, createdAt: 1700000000, modifiedAt: 1700000001, progress: null };
    const raw = encodeMeta(meta);
    const body = decodeAll(raw.subarray(6))[0] as Record<string, unknown>;
    const floaty = encode({ ...body, c: W(1700000000), m: W(1700000001), s: W(3), variables: { f: W(2) } });
    expect(decodeMeta(Buffer.concat([raw.subarray(0, 2), Buffer.from([0, 0, 0, floaty.length]), floaty]))).toMatchObject({ records: 3, createdAt: 1700000000, modifiedAt: 1700000001, metadata: { variables: { f: '2.0' } } });
  });
});
