/**
 * Allocation-free scanning of msgpack bytes: find where a value ends, read headers, spans and ints,
 * and classify event times, without decoding anything into objects. Every reader takes the buffer,
 * the offset of a value and the end of the readable bytes; results that do not fit in the return
 * value go into a caller-owned, reusable `Cursor`.
 *
 * Conventions: a reader returns the offset just after what it read, or -1 when the bytes end
 * before the value does (wait for more). Bytes that can never be valid msgpack (the never-used
 * byte 0xc1, a length above the caller's limit) throw ProtocolError.
 */
import { ProtocolError } from '../core/errors.js';

/** Lengths (str/bin/ext bytes, array/map items) above this are refused unless the caller says otherwise. */
export const DEFAULT_MAX_LENGTH = 1024 * 1024 * 1024;

/** Scratch results of a reader: a count or integer value in `n`, a payload span in `start`..`end`. */
export interface Cursor {
  n: number;
  start: number;
  end: number;
}

export function newCursor(): Cursor {
  return { n: 0, start: 0, end: 0 };
}

export const MsgType = {
  INT: 1,
  NIL: 2,
  BOOL: 3,
  FLOAT: 4,
  STR: 5,
  BIN: 6,
  ARRAY: 7,
  MAP: 8,
  EXT: 9,
  NEVER_USED: 10,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

/** The type of the value whose first byte is `b`. */
export function typeOf(b: number): MsgType {
  if (b <= 0x7f || b >= 0xe0) return MsgType.INT;
  if (b <= 0x8f) return MsgType.MAP;
  if (b <= 0x9f) return MsgType.ARRAY;
  if (b <= 0xbf) return MsgType.STR;
  switch (b) {
    case 0xc0: return MsgType.NIL;
    case 0xc1: return MsgType.NEVER_USED;
    case 0xc2: case 0xc3: return MsgType.BOOL;
    case 0xc4: case 0xc5: case 0xc6: return MsgType.BIN;
    case 0xca: case 0xcb: return MsgType.FLOAT;
    case 0xd9: case 0xda: case 0xdb: return MsgType.STR;
    case 0xdc: case 0xdd: return MsgType.ARRAY;
    case 0xde: case 0xdf: return MsgType.MAP;
    case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return MsgType.EXT;
    default: return MsgType.INT; // 0xcc..0xcf, 0xd0..0xd3
  }
}

// Results of readHeader (module scratch: the scanners are synchronous and never re-entered).
let hItems = 0; // child values that follow (2 per map entry)
let hPayload = 0; // raw bytes that follow the header

function u16(buf: Uint8Array, p: number): number {
  return (buf[p]! << 8) | buf[p + 1]!;
}
function u32(buf: Uint8Array, p: number): number {
  return ((buf[p]! << 24) >>> 0) + ((buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!);
}

function checkLength(len: number, max: number, what: string): number {
  if (len > max) throw new ProtocolError(`msgpack ${what} length ${len} exceeds the limit of ${max}`);
  return len;
}

/**
 * Reads the header of the value at `pos`. Returns its size (and sets hItems/hPayload), or minus the
 * header size when fewer bytes than that are available.
 */
function readHeader(buf: Uint8Array, pos: number, end: number, max: number): number {
  const b = buf[pos]!;
  hItems = 0;
  hPayload = 0;
  if (b <= 0x7f || b >= 0xe0) return 1;
  if (b <= 0x8f) { hItems = (b & 0x0f) * 2; return 1; }
  if (b <= 0x9f) { hItems = b & 0x0f; return 1; }
  if (b <= 0xbf) { hPayload = b & 0x1f; return 1; }
  switch (b) {
    case 0xc0: case 0xc2: case 0xc3: return 1;
    case 0xc1: throw new ProtocolError('invalid msgpack: never-used byte 0xc1');
    case 0xcc: case 0xd0: hPayload = 1; return 1;
    case 0xcd: case 0xd1: hPayload = 2; return 1;
    case 0xca: case 0xce: case 0xd2: hPayload = 4; return 1;
    case 0xcb: case 0xcf: case 0xd3: hPayload = 8; return 1;
    case 0xd4: hPayload = 2; return 1; // fixext1: type + 1
    case 0xd5: hPayload = 3; return 1;
    case 0xd6: hPayload = 5; return 1;
    case 0xd7: hPayload = 9; return 1;
    case 0xd8: hPayload = 17; return 1;
    case 0xc4: case 0xd9:
      if (pos + 2 > end) return -2;
      hPayload = buf[pos + 1]!;
      return 2;
    case 0xc5: case 0xda:
      if (pos + 3 > end) return -3;
      hPayload = checkLength(u16(buf, pos + 1), max, 'str/bin');
      return 3;
    case 0xc6: case 0xdb:
      if (pos + 5 > end) return -5;
      hPayload = checkLength(u32(buf, pos + 1), max, 'str/bin');
      return 5;
    case 0xc7:
      if (pos + 2 > end) return -2;
      hPayload = buf[pos + 1]! + 1; // type byte + data
      return 2;
    case 0xc8:
      if (pos + 3 > end) return -3;
      hPayload = checkLength(u16(buf, pos + 1), max, 'ext') + 1;
      return 3;
    case 0xc9:
      if (pos + 5 > end) return -5;
      hPayload = checkLength(u32(buf, pos + 1), max, 'ext') + 1;
      return 5;
    case 0xdc: case 0xde:
      if (pos + 3 > end) return -3;
      hItems = u16(buf, pos + 1) * (b === 0xde ? 2 : 1);
      return 3;
    default: // 0xdd, 0xdf
      if (pos + 5 > end) return -5;
      hItems = checkLength(u32(buf, pos + 1), max, b === 0xdd ? 'array' : 'map') * (b === 0xdf ? 2 : 1);
      return 5;
  }
}

/**
 * Returns the offset just after the value starting at `offset`, or -1 when `end` comes first.
 * Iterative (no recursion), so deep nesting cannot overflow the stack.
 */
export function skipValue(buf: Uint8Array, offset: number, end: number = buf.length, maxLength = DEFAULT_MAX_LENGTH): number {
  let pos = offset;
  let remaining = 1;
  while (remaining > 0) {
    if (pos >= end) return -1;
    const h = readHeader(buf, pos, end, maxLength);
    if (h < 0) return -1;
    pos += h + hPayload;
    if (pos > end) return -1;
    remaining += hItems - 1;
  }
  return pos;
}

/**
 * A resumable `skipValue`: remembers how far it got, so a value arriving in many pieces is scanned
 * once in total. In discard mode, payload bytes may be consumed past `end` (owed as `debt`) so the
 * caller can drop bytes before `pos` and never hold the whole value.
 */
export class ValueScanner {
  /** Offset of the next unscanned byte (the start of an item, or `end` while owing payload bytes). */
  pos = 0;
  /** A lower bound of the offset the value ends at, valid after `scan` returned false. */
  need = 0;
  private remaining = 0;
  private debt = 0;

  reset(offset: number): void {
    this.pos = offset;
    this.need = offset + 1;
    this.remaining = 1;
    this.debt = 0;
  }

  /** Moves every offset by `delta` (the caller moved its bytes). */
  rebase(delta: number): void {
    this.pos += delta;
    this.need += delta;
  }

  /** Scans up to `end`; true when the value is complete and ends at `pos`. */
  scan(buf: Uint8Array, end: number, maxLength: number, discard: boolean): boolean {
    if (this.debt > 0) {
      const take = Math.min(this.debt, end - this.pos);
      this.pos += take;
      this.debt -= take;
      if (this.debt > 0) {
        this.need = this.pos + this.debt;
        return false;
      }
    }
    let pos = this.pos;
    while (this.remaining > 0) {
      if (pos >= end) {
        this.pos = pos;
        this.need = pos + 1;
        return false;
      }
      const h = readHeader(buf, pos, end, maxLength);
      if (h < 0) {
        this.pos = pos;
        this.need = pos - h;
        return false;
      }
      const itemEnd = pos + h + hPayload;
      if (itemEnd > end) {
        this.need = itemEnd;
        if (!discard) {
          this.pos = pos;
          return false;
        }
        this.remaining += hItems - 1;
        this.debt = itemEnd - end;
        this.pos = end;
        return false;
      }
      pos = itemEnd;
      this.remaining += hItems - 1;
    }
    this.pos = pos;
    return true;
  }
}

function wrongType(what: string, b: number | undefined): ProtocolError {
  return new ProtocolError(`expected msgpack ${what}, got byte 0x${(b ?? 0).toString(16).padStart(2, '0')}`);
}

/** Reads an array header: `c.n` = element count. Throws when the value is not an array. */
export function readArrayHeader(buf: Uint8Array, off: number, end: number, c: Cursor): number {
  if (off >= end) return -1;
  const b = buf[off]!;
  if (typeOf(b) !== MsgType.ARRAY) throw wrongType('array', b);
  const h = readHeader(buf, off, end, Infinity);
  if (h < 0) return -1;
  c.n = hItems;
  return off + h;
}

/** Reads a map header: `c.n` = number of key/value pairs. Throws when the value is not a map. */
export function readMapHeader(buf: Uint8Array, off: number, end: number, c: Cursor): number {
  if (off >= end) return -1;
  const b = buf[off]!;
  if (typeOf(b) !== MsgType.MAP) throw wrongType('map', b);
  const h = readHeader(buf, off, end, Infinity);
  if (h < 0) return -1;
  c.n = hItems / 2;
  return off + h;
}

/**
 * Reads a str or bin value: `c.start`..`c.end` is its payload, `c.n` is 1 for str and 0 for bin.
 * Returns the end of the value. Throws when the value is neither.
 */
export function readBytes(buf: Uint8Array, off: number, end: number, c: Cursor, maxLength = DEFAULT_MAX_LENGTH): number {
  if (off >= end) return -1;
  const b = buf[off]!;
  const t = typeOf(b);
  if (t !== MsgType.STR && t !== MsgType.BIN) throw wrongType('str or bin', b);
  const h = readHeader(buf, off, end, maxLength);
  if (h < 0) return -1;
  const stop = off + h + hPayload;
  if (stop > end) return -1;
  c.start = off + h;
  c.end = stop;
  c.n = t === MsgType.STR ? 1 : 0;
  return stop;
}

/**
 * Reads an integer of any width and sign into `c.n` (64-bit values beyond 2^53 lose precision).
 * Throws when the value is not an integer.
 */
export function readInt(buf: Uint8Array, off: number, end: number, c: Cursor): number {
  if (off >= end) return -1;
  const b = buf[off]!;
  if (b <= 0x7f) { c.n = b; return off + 1; }
  if (b >= 0xe0) { c.n = b - 0x100; return off + 1; }
  const size = b === 0xcc || b === 0xd0 ? 1 : b === 0xcd || b === 0xd1 ? 2 : b === 0xce || b === 0xd2 ? 4 : b === 0xcf || b === 0xd3 ? 8 : 0;
  if (size === 0) throw wrongType('integer', b);
  if (off + 1 + size > end) return -1;
  const p = off + 1;
  switch (b) {
    case 0xcc: c.n = buf[p]!; break;
    case 0xcd: c.n = u16(buf, p); break;
    case 0xce: c.n = u32(buf, p); break;
    case 0xcf: c.n = u32(buf, p) * 0x100000000 + u32(buf, p + 4); break;
    case 0xd0: c.n = (buf[p]! << 24) >> 24; break;
    case 0xd1: c.n = (u16(buf, p) << 16) >> 16; break;
    case 0xd2: c.n = u32(buf, p) | 0; break;
    default: c.n = (u32(buf, p) | 0) * 0x100000000 + u32(buf, p + 4); break;
  }
  return p + size;
}

export const TimeKind = {
  /** A non-zero integer: `c.n` = seconds. */
  INT: 1,
  /** An EventTime (fixext8 `d7 00` or ext8 `c7 08 00`) with non-zero seconds: `c.n` = seconds, `c.start` = payload. */
  EVENT: 2,
  /** nil (or an empty `[time, meta]` array): replace with now. */
  NIL: 3,
  /** Integer 0 or an EventTime with 0 seconds: replace with now. */
  ZERO: 4,
  /** A float: invalid under skip_invalid_event. */
  FLOAT: 5,
  /** `[time, metadata]` (Fluent Bit): `c.start` = offset of the inner time. */
  ARRAY: 6,
  /** Anything else (str, map, bool, other ext types or sizes). */
  INVALID: 7,
} as const;
export type TimeKind = (typeof TimeKind)[keyof typeof TimeKind];

/** Classifies the time value at `off` (which must be complete). `c.end` = end of the value. */
export function classifyTime(buf: Uint8Array, off: number, end: number, c: Cursor): TimeKind {
  const b = buf[off]!;
  const stop = skipValue(buf, off, end);
  if (stop < 0) throw new ProtocolError('truncated event time');
  c.end = stop;
  switch (typeOf(b)) {
    case MsgType.INT:
      readInt(buf, off, end, c);
      return c.n === 0 ? TimeKind.ZERO : TimeKind.INT;
    case MsgType.NIL:
      return TimeKind.NIL;
    case MsgType.FLOAT:
      return TimeKind.FLOAT;
    case MsgType.ARRAY: {
      const p = readArrayHeader(buf, off, end, c);
      if (c.n === 0) return TimeKind.NIL;
      c.start = p;
      c.end = stop;
      return TimeKind.ARRAY;
    }
    case MsgType.EXT: {
      let payload = -1;
      if (b === 0xd7 && buf[off + 1] === 0x00) payload = off + 2;
      else if (b === 0xc7 && buf[off + 1] === 0x08 && buf[off + 2] === 0x00) payload = off + 3;
      if (payload < 0) return TimeKind.INVALID;
      c.start = payload;
      c.n = u32(buf, payload);
      return c.n === 0 ? TimeKind.ZERO : TimeKind.EVENT;
    }
    default:
      return TimeKind.INVALID;
  }
}

/** True when the bytes `start`..`end` of `buf` equal the ASCII string `s`. */
export function bytesEqual(buf: Uint8Array, start: number, end: number, s: string): boolean {
  if (end - start !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (buf[start + i] !== s.charCodeAt(i)) return false;
  return true;
}
