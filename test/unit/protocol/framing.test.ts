import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { EventStream } from '../../../src/core/event-stream.js';
import { EventTime } from '../../../src/core/event-time.js';
import { ProtocolError } from '../../../src/core/errors.js';
import {
  type DecoderOptions, type EventRequest, ForwardDecoder, ForwardProtocolError, type ForwardRequest, buildAck,
} from '../../../src/protocol/framing.js';
import { decode, decodeAll, encode } from '../../../src/protocol/msgpack.js';
import { packedStr32 } from '../../helpers/packed.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const NOW = new EventTime(1_700_000_000, 123_456_789);
const T = 1_750_000_000;

function decoder(opts: DecoderOptions = {}): ForwardDecoder {
  return new ForwardDecoder({ now: () => NOW, ...opts });
}

function all(d: ForwardDecoder): ForwardRequest[] {
  const out: ForwardRequest[] = [];
  for (let r = d.next(); r !== null; r = d.next()) out.push(r);
  return out;
}

function one(bytes: Buffer, opts: DecoderOptions = {}): EventRequest {
  const d = decoder(opts);
  d.push(bytes);
  const rs = all(d);
  expect(rs).toHaveLength(1);
  expect(d.buffered).toBe(0);
  return rs[0] as EventRequest;
}

/** Decodes the entries of a request the way the pipeline will. */
function events(r: EventRequest): Array<[unknown, unknown]> {
  return EventStream.fromPacked(r.entries, r.count).events().map((e) => [e.time, e.record]);
}

const packedEntries = (...evs: Array<[unknown, unknown]>) => Buffer.concat(evs.map((e) => encode(e)));

describe('ForwardDecoder modes', () => {
  it('Message mode without option (fluent-logger-python)', () => {
    const r = one(encode(['app.a', T, { msg: 'hi' }]));
    expect(r).toMatchObject({ mode: 'message', tag: 'app.a', count: 1, option: null, chunk: null, skipped: 0 });
    expect(events(r)).toEqual([[T, { msg: 'hi' }]]);
  });

  it('Message mode with a chunk option, echoed byte for byte', () => {
    const chunk = 'YWJjZGVmZ2hpamtsbW5vcA==\n';
    const msg = encode(['docker.x', new EventTime(T, 5), { log: 'l' }, { chunk }]);
    const r = one(msg);
    expect(r.mode).toBe('message');
    expect(r.option).toEqual({ chunk });
    expect(r.chunk).toEqual(encode(chunk));
    expect(events(r)).toEqual([[new EventTime(T, 5), { log: 'l' }]]);
    expect(decode(buildAck(r.chunk!))).toEqual({ ack: chunk });
    const binChunk = Buffer.from([1, 2, 3]);
    const r2 = one(encode(['t', T, { a: 1 }, { chunk: binChunk }]));
    expect(buildAck(r2.chunk!)).toEqual(Buffer.concat([hex('81 a3 61636b'), hex('c4 03 010203')]));
  });

  it('Message mode with int32 time and an empty option map (Docker)', () => {
    const msg = Buffer.concat([hex('94'), encode('docker.abc'), hex('d2'), Buffer.from([0x69, 0, 0, 1]), encode({ log: 'x' }), hex('80')]);
    const r = one(msg);
    expect(r.option).toEqual({});
    expect(r.chunk).toBeNull();
    expect(events(r)).toEqual([[0x69000001, { log: 'x' }]]);
  });

  it('Forward mode: entries are a zero-copy slice of the received bytes', () => {
    const msg = encode(['fw', [[T, { a: 1 }], [new EventTime(T, 9), { b: 2 }]], { chunk: 'c1' }]);
    const r = one(msg);
    expect(r.mode).toBe('forward');
    expect(r.count).toBe(2);
    expect(r.entries.buffer).toBe(msg.buffer);
    expect(r.entries.byteOffset).toBe(msg.byteOffset + 1 + 3 + 1);
    expect(events(r)).toEqual([[T, { a: 1 }], [new EventTime(T, 9), { b: 2 }]]);
  });

  it('PackedForward with str32 entries (out_forward) is zero-copy and counted by scanning', () => {
    const entries = packedEntries([new EventTime(T, 1), { a: 1 }], [T, { b: 'x' }], [new EventTime(T, 3), { c: [] }]);
    const msg = packedStr32('pk', entries, { size: 999, compressed: 'text', chunk: 'q' });
    const r = one(msg);
    expect(r).toMatchObject({ mode: 'packed', tag: 'pk', count: 3, bytes: msg.length });
    expect(r.entries.buffer).toBe(msg.buffer);
    expect(r.entries.equals(entries)).toBe(true);
    expect(r.chunk).toEqual(encode('q'));
  });

  it('PackedForward with bin entries (fluent-logger-node) and tiny str8/bin8 blobs', () => {
    const entries = packedEntries([T, { a: 1 }]);
    const r = one(encode(['pk', entries, { chunk: 'z', size: entries.length, compressed: 'text', eventEntryDataSize: entries.length }]));
    expect(r).toMatchObject({ mode: 'packed', count: 1 });
    expect(events(r)).toEqual([[T, { a: 1 }]]);
    const r2 = one(Buffer.concat([hex('92'), encode('pk'), hex('d9'), Buffer.from([entries.length]), entries]));
    expect(r2).toMatchObject({ mode: 'packed', count: 1, option: null });
    const r3 = one(encode(['pk', Buffer.alloc(0)]));
    expect(r3).toMatchObject({ mode: 'packed', count: 0 });
  });

  it('CompressedPackedForward with concatenated gzip members', () => {
    const a = packedEntries([T, { n: 1 }], [T, { n: 2 }]);
    const b = packedEntries([new EventTime(T, 7), { n: 3 }]);
    const blob = Buffer.concat([gzipSync(a), gzipSync(b)]);
    const r = one(packedStr32('gz', blob, { size: 3, compressed: 'gzip' }));
    expect(r).toMatchObject({ mode: 'compressed', count: 3 });
    expect(events(r)).toEqual([[T, { n: 1 }], [T, { n: 2 }], [new EventTime(T, 7), { n: 3 }]]);
  });

  it('enforces decompression_size_limit while inflating and refuses unknown compression', () => {
    const big = packedEntries(...Array.from({ length: 100 }, (_, i) => [T, { i, pad: 'x'.repeat(100) }] as [unknown, unknown]));
    const msg = encode(['gz', gzipSync(big), { compressed: 'gzip' }]);
    expect(one(msg, { decompressionSizeLimit: big.length }).count).toBe(100);
    const d = decoder({ decompressionSizeLimit: big.length - 1 });
    d.push(msg);
    expect(() => d.next()).toThrow(expect.objectContaining({ reason: 'decompression_limit' }));
    const d2 = decoder();
    d2.push(encode(['gz', big, { compressed: 'lz4' }]));
    expect(() => d2.next()).toThrow(ForwardProtocolError);
    const d3 = decoder();
    d3.push(encode(['gz', big, { compressed: 'gzip' }]));
    expect(() => d3.next()).toThrow(expect.objectContaining({ reason: 'decompression' }));
  });
});

describe('ForwardDecoder normalisation', () => {
  it('keeps EventTime as fixext8 and as ext8 (c7 08 00)', () => {
    const ext8 = Buffer.concat([hex('92 c7 08 00'), Buffer.from([0x68, 0, 0, 0, 0, 0, 0, 9]), encode({ a: 1 })]);
    const entries = Buffer.concat([encode([new EventTime(T, 1), { f: 1 }]), ext8]);
    const msg = packedStr32('t', entries, {});
    const r = one(msg);
    expect(r.entries.buffer).toBe(msg.buffer);
    expect(events(r)).toEqual([[new EventTime(T, 1), { f: 1 }], [new EventTime(0x68000000, 9), { a: 1 }]]);
    const m = one(Buffer.concat([hex('93'), encode('t'), hex('c7 08 00'), Buffer.from([0x68, 0, 0, 0, 0, 0, 0, 9]), encode({ a: 1 })]));
    expect(events(m)).toEqual([[new EventTime(0x68000000, 9), { a: 1 }]]);
  });

  it('unwraps [time, metadata] in every mode, PackedForward included', () => {
    const meta = [new EventTime(T, 4), { otel: 1 }];
    expect(events(one(encode(['t', meta, { a: 1 }])))).toEqual([[new EventTime(T, 4), { a: 1 }]]);
    expect(events(one(encode(['t', [[meta, { a: 1 }], [T, { b: 2 }]]])))).toEqual([[new EventTime(T, 4), { a: 1 }], [T, { b: 2 }]]);
    const r = one(packedStr32('t', packedEntries([T, { b: 2 }], [meta, { a: 1 }], [[T, {}], { c: 3 }]), {}));
    expect(events(r)).toEqual([[T, { b: 2 }], [new EventTime(T, 4), { a: 1 }], [T, { c: 3 }]]);
  });

  it('replaces nil and zero times with now', () => {
    const r = one(encode(['t', [[null, { a: 1 }], [0, { b: 2 }], [new EventTime(0, 5), { c: 3 }], [[null, {}], { d: 4 }]]]));
    expect(events(r)).toEqual([[NOW, { a: 1 }], [NOW, { b: 2 }], [NOW, { c: 3 }], [NOW, { d: 4 }]]);
    expect(events(one(encode(['t', null, { m: 1 }])))).toEqual([[NOW, { m: 1 }]]);
    expect(events(one(encode(['t', 0, { m: 1 }, {}])))).toEqual([[NOW, { m: 1 }]]);
  });

  it('rebuilds only the entries that change and keeps the rest byte-identical', () => {
    const a = encode([T, { a: 'first' }]);
    const b = encode([0, { b: 'second' }]);
    const c = encode([T, { c: 'third' }]);
    const r = one(packedStr32('t', Buffer.concat([a, b, c]), {}));
    expect(r.count).toBe(3);
    const values = decodeAll(r.entries);
    expect(values).toEqual([[T, { a: 'first' }], [NOW, { b: 'second' }], [T, { c: 'third' }]]);
    expect(r.entries.subarray(0, a.length).equals(a)).toBe(true);
    expect(r.entries.subarray(r.entries.length - c.length).equals(c)).toBe(true);
  });

  it('drops invalid events under skip_invalid_event and counts them', () => {
    const evs = [[1.5, { float: 1 }], [T, 'not a map'], [T, { ok: 1 }], 'not an entry', ['str time', { x: 1 }], [T, null], [T]];
    const r = one(encode(['t', evs, { chunk: 'k' }]));
    expect(r).toMatchObject({ count: 1, skipped: 4, dropped: 2 });
    expect(events(r)).toEqual([[T, { ok: 1 }]]);
    const p = one(packedStr32('t', packedEntries(...(evs.filter(Array.isArray) as Array<[unknown, unknown]>)), {}));
    expect(p).toMatchObject({ count: 1, skipped: 3, dropped: 2 });
  });

  it('acks an invalid Message-mode event: the request comes back with no events but its option', () => {
    const r = one(encode(['t', 1.25, { a: 1 }, { chunk: 'poison' }]));
    expect(r).toMatchObject({ mode: 'message', count: 0, skipped: 1, option: { chunk: 'poison' } });
    expect(r.chunk).toEqual(encode('poison'));
    expect(one(encode(['t', T, [1, 2]])).skipped).toBe(1);
    expect(one(encode(['t', T, null])).dropped).toBe(1);
    expect(one(encode(['t', T])).dropped).toBe(1);
  });

  it('passes float times and non-map records with skip_invalid_event false', () => {
    const r = one(encode(['t', [[1.5, { a: 1 }], [T, 'str']]]), { skipInvalidEvent: false });
    expect(r.count).toBe(2);
    expect(events(r)).toEqual([[1.5, { a: 1 }], [T, 'str']]);
  });

  it('drops requests with a non-string tag, or closes with skip_invalid_event false', () => {
    const r = one(encode([42, [[T, { a: 1 }], [T, { b: 1 }]], { chunk: 'c' }]));
    expect(r).toMatchObject({ count: 0, skipped: 2, chunk: encode('c') });
    expect(one(encode([null, T, { a: 1 }])).skipped).toBe(1);
    const d = decoder({ skipInvalidEvent: false });
    d.push(encode([42, T, { a: 1 }]));
    expect(() => d.next()).toThrow(expect.objectContaining({ reason: 'invalid_tag' }));
    expect(one(encode([Buffer.from('bin.tag'), T, { a: 1 }])).tag).toBe('bin.tag');
  });

  it('applies tag then add_tag_prefix', () => {
    expect(one(encode(['in', T, { a: 1 }]), { tag: 'fixed' }).tag).toBe('fixed');
    expect(one(encode(['in', T, { a: 1 }]), { addTagPrefix: 'p' }).tag).toBe('p.in');
    expect(one(encode(['in', T, { a: 1 }]), { tag: 'fixed', addTagPrefix: 'p' }).tag).toBe('p.fixed');
    expect(one(encode([7, T, { a: 1 }]), { tag: 'fixed' })).toMatchObject({ tag: 'fixed', count: 1 });
  });
});

describe('ForwardDecoder framing', () => {
  it('yields nil and ignores non-array values, keeping the stream going', () => {
    const d = decoder();
    d.push(Buffer.concat([hex('c0'), encode({ not: 'array' }), encode('str'), encode(['t', T, { a: 1 }])]));
    const rs = all(d);
    expect(rs.map((r) => r.mode)).toEqual(['nil', 'ignored', 'ignored', 'message']);
  });

  it('decodes the same requests whether bytes arrive all at once or one by one', () => {
    const stream = Buffer.concat([
      encode(['a', T, { i: 1 }]),
      encode(['b', [[T, { i: 2 }], [0, { i: 3 }]], { chunk: 'x' }]),
      packedStr32('c', packedEntries([new EventTime(T, 1), { i: 4 }]), { size: 1 }),
      encode(['d', gzipSync(packedEntries([T, { i: 5 }])), { compressed: 'gzip' }]),
      hex('c0'),
    ]);
    const whole = decoder();
    whole.push(stream);
    const expected = all(whole);
    expect(expected).toHaveLength(5);
    const d = decoder();
    const got: ForwardRequest[] = [];
    for (let i = 0; i < stream.length; i++) {
      d.push(stream.subarray(i, i + 1));
      got.push(...all(d));
    }
    expect(d.buffered).toBe(0);
    expect(got).toEqual(expected);
  });

  it('keeps entries handed out intact while later bytes arrive', () => {
    const d = decoder();
    const first = encode(['a', [[T, { i: 1 }]]]);
    const second = encode(['b', [[T, { i: 2 }]]]);
    d.push(first.subarray(0, 5));
    d.push(Buffer.concat([first.subarray(5), second.subarray(0, 3)]));
    const r1 = d.next() as EventRequest;
    const copy = Buffer.from(r1.entries);
    for (let i = 3; i < second.length; i++) d.push(second.subarray(i, i + 1));
    const r2 = d.next() as EventRequest;
    expect(r1.entries.equals(copy)).toBe(true);
    expect(events(r2)).toEqual([[T, { i: 2 }]]);
  });

  it('reports requests over chunk_size_limit as oversized and goes on', () => {
    const big = packedStr32('big', packedEntries(...Array.from({ length: 50 }, (_, i) => [T, { i }] as [unknown, unknown])), { chunk: 'b' });
    const small = encode(['small', T, { ok: 1 }, { chunk: 's' }]);
    const d = decoder({ chunkSizeLimit: 200 });
    d.push(Buffer.concat([big, small]));
    const rs = all(d);
    expect(rs[0]).toEqual({ mode: 'oversized', bytes: big.length });
    expect(rs[1]).toMatchObject({ mode: 'message', tag: 'small' });
  });

  it('skips an oversized request arriving in pieces without holding it in memory', () => {
    const body = Buffer.alloc(20 * 1024 * 1024, 0x01);
    const big = packedStr32('big', body, {});
    const small = encode(['small', T, { ok: 1 }]);
    const d = decoder({ chunkSizeLimit: 1024 * 1024 });
    const stream = Buffer.concat([big, small]);
    const got: ForwardRequest[] = [];
    let maxBuffered = 0;
    for (let i = 0; i < stream.length; i += 65536) {
      d.push(stream.subarray(i, i + 65536));
      got.push(...all(d));
      maxBuffered = Math.max(maxBuffered, d.buffered);
    }
    expect(got.map((r) => r.mode)).toEqual(['oversized', 'message']);
    expect(got[0]!.bytes).toBe(big.length);
    expect(maxBuffered).toBeLessThanOrEqual(65536);
  });

  it('closes on a request larger than the hard limit when no chunk_size_limit is set', () => {
    const d = decoder({ maxRequestBytes: 1000 });
    d.push(Buffer.concat([hex('93 a1 74 db 00010000'), Buffer.alloc(100)]));
    expect(() => d.next()).toThrow(expect.objectContaining({ reason: 'too_large' }));
  });

  it('throws ForwardProtocolError for invalid bytes, also inside packed entries', () => {
    const d = decoder();
    d.push(encode(['t', T, { a: 1 }]));
    d.push(hex('93 a1 74 c1'));
    expect(d.next()).toMatchObject({ mode: 'message' });
    expect(() => d.next()).toThrow(expect.objectContaining({ reason: 'invalid_msgpack' }));
    const d2 = decoder();
    d2.push(packedStr32('t', hex('92 01 c1'), {}));
    expect(() => d2.next()).toThrow(ForwardProtocolError);
    const d3 = decoder();
    d3.push(packedStr32('t', hex('92 01'), {}));
    expect(() => d3.next()).toThrow(ForwardProtocolError);
  });

  it('never throws anything but ForwardProtocolError on random bytes', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    let errors = 0;
    for (let round = 0; round < 500; round++) {
      const len = 1 + Math.floor(rand() * 200);
      const bytes = Buffer.alloc(len);
      for (let i = 0; i < len; i++) bytes[i] = Math.floor(rand() * 256);
      if (round % 2 === 0) bytes[0] = 0x93; // often look like a request
      const d = decoder({ maxRequestBytes: 1 << 20 });
      d.push(bytes);
      try {
        all(d);
      } catch (e) {
        expect(e).toBeInstanceOf(ForwardProtocolError);
        expect(e).toBeInstanceOf(ProtocolError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(0);
  });

  it('returns raw values for the handshake phase', () => {
    const d = decoder();
    const ping = encode(['PING', 'h', 's', 'd', '', '']);
    d.push(Buffer.concat([ping, encode(['t', T, { a: 1 }])]));
    expect(d.nextRaw()!.equals(ping)).toBe(true);
    expect(d.next()).toMatchObject({ mode: 'message' });
  });
});

describe('ForwardDecoder JSON mode', () => {
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));

  it('switches to JSON when the connection starts with [ or { and answers acks in JSON', () => {
    const d = decoder();
    d.push(Buffer.concat([json(['j.msg', T, { s: 'a ] } " \\ [' }, { chunk: 'c1' }]), Buffer.from('\n '), json(['j.fw', [[T, { n: 1 }], [0, { n: 2 }]]])]));
    expect(d.format).toBe('json');
    const [m, f] = all(d) as EventRequest[];
    expect(m).toMatchObject({ mode: 'message', tag: 'j.msg', count: 1 });
    expect(events(m!)).toEqual([[T, { s: 'a ] } " \\ [' }]]);
    expect(buildAck(m!.chunk!, 'json').toString()).toBe('{"ack":"c1"}');
    expect(f).toMatchObject({ mode: 'forward', tag: 'j.fw', count: 2 });
    expect(events(f!)).toEqual([[T, { n: 1 }], [NOW, { n: 2 }]]);
  });

  it('frames JSON arriving byte by byte and ignores top-level objects', () => {
    const stream = Buffer.concat([json({ not: 'a request' }), json(['t', T, { esc: '\\"]' }])]);
    const d = decoder();
    const got: ForwardRequest[] = [];
    for (let i = 0; i < stream.length; i++) {
      d.push(stream.subarray(i, i + 1));
      got.push(...all(d));
    }
    expect(got.map((r) => r.mode)).toEqual(['ignored', 'message']);
    expect(events(got[1] as EventRequest)).toEqual([[T, { esc: '\\"]' }]]);
  });

  it('closes on invalid JSON and skips oversized values', () => {
    const d = decoder();
    d.push(Buffer.from('["t", 1, {"a": nope}]'));
    expect(() => d.next()).toThrow(expect.objectContaining({ reason: 'invalid_json' }));
    const d2 = decoder();
    d2.push(Buffer.from('[1] 5'));
    expect(d2.next()).toMatchObject({ mode: 'message' });
    expect(() => d2.next()).toThrow(expect.objectContaining({ reason: 'invalid_json' }));
    const d3 = decoder({ chunkSizeLimit: 100 });
    const big = json(['big', T, { pad: 'x'.repeat(1000) }]);
    for (let i = 0; i < big.length; i += 64) d3.push(big.subarray(i, i + 64));
    d3.push(json(['ok', T, { a: 1 }]));
    expect(all(d3).map((r) => r.mode)).toEqual(['oversized', 'message']);
  });
});
