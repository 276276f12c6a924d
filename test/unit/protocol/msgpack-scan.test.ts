import { describe, expect, it } from 'vitest';
import { EventTime } from '../../../src/core/event-time.js';
import { ProtocolError } from '../../../src/core/errors.js';
import { encode } from '../../../src/protocol/msgpack.js';
import {
  MsgType, TimeKind, ValueScanner, classifyTime, newCursor, readArrayHeader, readBytes, readInt, readMapHeader, skipValue, typeOf,
} from '../../../src/protocol/msgpack-scan.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** One sample of every msgpack format family. */
const samples: Array<[string, Buffer]> = [
  ['positive fixint', hex('7f')],
  ['negative fixint', hex('e0')],
  ['nil', hex('c0')],
  ['true', hex('c3')],
  ['uint8', hex('cc ff')],
  ['uint16', hex('cd ffff')],
  ['uint32', hex('ce ffffffff')],
  ['uint64', hex('cf 0000000100000000')],
  ['int8', hex('d0 80')],
  ['int16', hex('d1 8000')],
  ['int32', hex('d2 80000000')],
  ['int64', hex('d3 ffffffffffffffff')],
  ['float32', hex('ca 3fc00000')],
  ['float64', hex('cb 3ff8000000000000')],
  ['fixstr', hex('a3 616263')],
  ['str8', hex('d9 03 616263')],
  ['str16', hex('da 0003 616263')],
  ['str32', hex('db 00000003 616263')],
  ['bin8', hex('c4 02 0102')],
  ['bin16', hex('c5 0002 0102')],
  ['bin32', hex('c6 00000002 0102')],
  ['fixext1', hex('d4 01 aa')],
  ['fixext2', hex('d5 01 aabb')],
  ['fixext4', hex('d6 01 aabbccdd')],
  ['fixext8 EventTime', hex('d7 00 5f5e1000 00000001')],
  ['fixext16', hex('d8 01 00112233445566778899aabbccddeeff')],
  ['ext8', hex('c7 08 00 5f5e1000 00000001')],
  ['ext16', hex('c8 0002 05 aabb')],
  ['ext32', hex('c9 00000002 05 aabb')],
  ['fixarray', hex('93 01 a161 c0')],
  ['array16', hex('dc 0002 01 02')],
  ['array32', hex('dd 00000002 01 02')],
  ['fixmap', hex('82 a161 01 a162 92 01 02')],
  ['map16', hex('de 0001 a161 01')],
  ['map32', hex('df 00000001 a161 01')],
  ['empty containers', hex('92 90 80')],
];

describe('skipValue', () => {
  for (const [name, bytes] of samples) {
    it(`finds the end of ${name} and reports every strict prefix as incomplete`, () => {
      const padded = Buffer.concat([hex('ff'), bytes, hex('c0c0')]);
      expect(skipValue(padded, 1)).toBe(1 + bytes.length);
      for (let cut = 0; cut < bytes.length; cut++) expect(skipValue(bytes, 0, cut)).toBe(-1);
    });
  }

  it('agrees with a real encoder on a nested record', () => {
    const v = ['tag', [[new EventTime(1, 2), { a: 'x'.repeat(300), b: [1, 2.5, null, true], c: { d: Buffer.alloc(70000) } }]], { chunk: 'abc' }];
    const b = encode(v);
    expect(skipValue(b, 0)).toBe(b.length);
  });

  it('throws ProtocolError on the never-used byte 0xc1, also when nested', () => {
    expect(() => skipValue(hex('c1'), 0)).toThrow(ProtocolError);
    expect(() => skipValue(hex('92 01 c1'), 0)).toThrow(/0xc1/);
  });

  it('throws on absurd lengths before waiting for the bytes', () => {
    expect(() => skipValue(hex('db ffffffff'), 0)).toThrow(ProtocolError);
    expect(() => skipValue(hex('dd 7fffffff'), 0)).toThrow(/exceeds the limit/);
    expect(() => skipValue(hex('c6 00001000'), 0, 5, 100)).toThrow(ProtocolError);
    expect(skipValue(hex('c6 00001000'), 0, 5, 0x1000)).toBe(-1);
  });

  it('handles deep nesting without recursion', () => {
    const depth = 200_000;
    const b = Buffer.concat([Buffer.alloc(depth, 0x91), hex('c0')]);
    expect(skipValue(b, 0)).toBe(depth + 1);
    expect(skipValue(b, 0, depth)).toBe(-1);
  });
});

describe('ValueScanner', () => {
  it('resumes where it stopped when bytes arrive one at a time', () => {
    const b = encode(['t', [[1, { a: 'x'.repeat(40) }], [2, { b: 1 }]], { size: 2 }]);
    const s = new ValueScanner();
    s.reset(0);
    let end = 0;
    while (!s.scan(b, end, Infinity, false)) {
      expect(s.need).toBeGreaterThan(end);
      end++;
    }
    expect(end).toBe(b.length);
    expect(s.pos).toBe(b.length);
  });

  it('reports the full size of a long payload as soon as its header is in', () => {
    const b = Buffer.concat([hex('92 a1 74 db 00100000'), Buffer.alloc(0x100000)]);
    const s = new ValueScanner();
    s.reset(0);
    expect(s.scan(b, 10, Infinity, false)).toBe(false);
    expect(s.need).toBe(b.length);
  });

  it('in discard mode consumes payload past the end as debt', () => {
    const b = Buffer.concat([hex('92 a1 74 c5 0400'), Buffer.alloc(1024), hex('c0')]);
    const s = new ValueScanner();
    s.reset(0);
    expect(s.scan(b, 100, Infinity, true)).toBe(false);
    expect(s.pos).toBe(100);
    expect(s.scan(b, 500, Infinity, true)).toBe(false);
    expect(s.pos).toBe(500);
    expect(s.scan(b, b.length, Infinity, true)).toBe(true);
    expect(s.pos).toBe(b.length - 1);
  });
});

describe('readers', () => {
  const c = newCursor();

  it('classifies types by first byte', () => {
    expect(typeOf(0x93)).toBe(MsgType.ARRAY);
    expect(typeOf(0xdf)).toBe(MsgType.MAP);
    expect(typeOf(0xc4)).toBe(MsgType.BIN);
    expect(typeOf(0xdb)).toBe(MsgType.STR);
    expect(typeOf(0xd7)).toBe(MsgType.EXT);
    expect(typeOf(0xcb)).toBe(MsgType.FLOAT);
    expect(typeOf(0xd3)).toBe(MsgType.INT);
    expect(typeOf(0xc1)).toBe(MsgType.NEVER_USED);
  });

  it('reads array and map headers of every width', () => {
    expect(readArrayHeader(hex('93'), 0, 1, c)).toBe(1);
    expect(c.n).toBe(3);
    expect(readArrayHeader(hex('dc 0100'), 0, 3, c)).toBe(3);
    expect(c.n).toBe(256);
    expect(readArrayHeader(hex('dd 00010000'), 0, 5, c)).toBe(5);
    expect(c.n).toBe(65536);
    expect(readArrayHeader(hex('dd 0001'), 0, 3, c)).toBe(-1);
    expect(readMapHeader(hex('82'), 0, 1, c)).toBe(1);
    expect(c.n).toBe(2);
    expect(readMapHeader(hex('de 0003'), 0, 3, c)).toBe(3);
    expect(c.n).toBe(3);
    expect(readMapHeader(hex('df 00000004'), 0, 5, c)).toBe(5);
    expect(c.n).toBe(4);
    expect(() => readArrayHeader(hex('80'), 0, 1, c)).toThrow(ProtocolError);
    expect(() => readMapHeader(hex('90'), 0, 1, c)).toThrow(ProtocolError);
  });

  it('reads str and bin spans of every width', () => {
    for (const [name, b] of samples.filter(([n]) => /^(fixstr|str|bin)/.test(n))) {
      expect(readBytes(b, 0, b.length, c), name).toBe(b.length);
      expect(c.end - c.start, name).toBe(name.startsWith('bin') ? 2 : 3);
      expect(c.n, name).toBe(name.startsWith('bin') ? 0 : 1);
      expect(readBytes(b, 0, b.length - 1, c), name).toBe(-1);
    }
    expect(() => readBytes(hex('01'), 0, 1, c)).toThrow(ProtocolError);
  });

  it('reads integers of every width and sign', () => {
    const cases: Array<[string, number]> = [
      ['05', 5], ['ff', -1], ['cc ff', 255], ['cd 1234', 0x1234], ['ce 80000000', 0x80000000],
      ['cf 0000000100000002', 0x100000002], ['d0 ff', -1], ['d1 ff00', -256], ['d2 80000000', -0x80000000],
      ['d3 fffffffffffffffe', -2], ['d2 69a1b2c3', 0x69a1b2c3],
    ];
    for (const [h, v] of cases) {
      const b = hex(h);
      expect(readInt(b, 0, b.length, c), h).toBe(b.length);
      expect(c.n, h).toBe(v);
    }
    expect(readInt(hex('ce 0000'), 0, 3, c)).toBe(-1);
    expect(() => readInt(hex('a0'), 0, 1, c)).toThrow(ProtocolError);
  });

  it('classifies times', () => {
    const kind = (h: string) => {
      const b = hex(h);
      return classifyTime(b, 0, b.length, c);
    };
    expect(kind('ce 69000000')).toBe(TimeKind.INT);
    expect(c.n).toBe(0x69000000);
    expect(kind('d2 69000000')).toBe(TimeKind.INT);
    expect(kind('d7 00 69000000 00000005')).toBe(TimeKind.EVENT);
    expect(c.n).toBe(0x69000000);
    expect(c.start).toBe(2);
    expect(kind('c7 08 00 69000000 00000005')).toBe(TimeKind.EVENT);
    expect(c.start).toBe(3);
    expect(kind('c0')).toBe(TimeKind.NIL);
    expect(kind('00')).toBe(TimeKind.ZERO);
    expect(kind('d7 00 00000000 00000005')).toBe(TimeKind.ZERO);
    expect(kind('cb 41d9000000000000')).toBe(TimeKind.FLOAT);
    expect(kind('ca 4e000000')).toBe(TimeKind.FLOAT);
    expect(kind('92 ce 69000000 80')).toBe(TimeKind.ARRAY);
    expect(c.start).toBe(1);
    expect(kind('90')).toBe(TimeKind.NIL);
    expect(kind('d7 01 69000000 00000005')).toBe(TimeKind.INVALID);
    expect(kind('d6 00 69000000')).toBe(TimeKind.INVALID);
    expect(kind('a3 616263')).toBe(TimeKind.INVALID);
    expect(kind('80')).toBe(TimeKind.INVALID);
  });
});
