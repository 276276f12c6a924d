/**
 * The size of `record.to_msgpack` as Ruby's msgpack writes it (fluent-plugin-flowcounter's
 * `count_keys *`): smallest headers (str8 allowed), non-negative integers in the smallest uint form,
 * negative ones in the smallest int form, every float as float64. Computed straight from packed
 * entries without decoding, or from decoded values (an integral float decodes to a WholeFloat, so
 * float-ness is known there too).
 */
import { EventTime } from '../../../core/event-time.js';
import { WholeFloat } from '../../../core/float.js';

const uintSize = (v: number): number => (v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v < 4294967296 ? 5 : 9);
const negSize = (v: number): number => (v >= -32 ? 1 : v >= -128 ? 2 : v >= -32768 ? 3 : v >= -2147483648 ? 5 : 9);
const strHeader = (n: number): number => (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5);
const binHeader = (n: number): number => (n < 256 ? 2 : n < 65536 ? 3 : 5);
const containerHeader = (n: number): number => (n < 16 ? 1 : n < 65536 ? 3 : 5);
const extSize = (n: number): number => (n === 1 || n === 2 || n === 4 || n === 8 || n === 16 ? 2 + n : n < 256 ? 3 + n : n < 65536 ? 4 + n : 6 + n);

const u16 = (b: Uint8Array, p: number): number => (b[p]! << 8) | b[p + 1]!;
const u32 = (b: Uint8Array, p: number): number => ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
const i32 = (b: Uint8Array, p: number): number => (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;

// results of sizeAt (synchronous, never re-entered)
let nextPos = 0;

/** Ruby re-encoded size of the value at `pos`; sets `nextPos`. Iterative: deep nesting is fine. */
function sizeAt(b: Uint8Array, pos: number, end: number): number {
  let total = 0;
  let remaining = 1;
  while (remaining > 0 && pos < end) {
    remaining--;
    const t = b[pos]!;
    if (t <= 0x7f) { total += 1; pos += 1; continue; }
    if (t >= 0xe0) { total += 1; pos += 1; continue; }
    if (t <= 0x8f) { const n = t & 0x0f; total += containerHeader(n); remaining += 2 * n; pos += 1; continue; }
    if (t <= 0x9f) { const n = t & 0x0f; total += containerHeader(n); remaining += n; pos += 1; continue; }
    if (t <= 0xbf) { const n = t & 0x1f; total += strHeader(n) + n; pos += 1 + n; continue; }
    switch (t) {
      case 0xc0: case 0xc2: case 0xc3: total += 1; pos += 1; break;
      case 0xc4: { const n = b[pos + 1]!; total += binHeader(n) + n; pos += 2 + n; break; }
      case 0xc5: { const n = u16(b, pos + 1); total += binHeader(n) + n; pos += 3 + n; break; }
      case 0xc6: { const n = u32(b, pos + 1); total += binHeader(n) + n; pos += 5 + n; break; }
      case 0xc7: { const n = b[pos + 1]!; total += extSize(n); pos += 3 + n; break; }
      case 0xc8: { const n = u16(b, pos + 1); total += extSize(n); pos += 4 + n; break; }
      case 0xc9: { const n = u32(b, pos + 1); total += extSize(n); pos += 6 + n; break; }
      case 0xca: total += 9; pos += 5; break;
      case 0xcb: total += 9; pos += 9; break;
      case 0xcc: total += uintSize(b[pos + 1]!); pos += 2; break;
      case 0xcd: total += uintSize(u16(b, pos + 1)); pos += 3; break;
      case 0xce: total += uintSize(u32(b, pos + 1)); pos += 5; break;
      case 0xcf: total += u32(b, pos + 1) > 0 ? 9 : uintSize(u32(b, pos + 5)); pos += 9; break;
      case 0xd0: { const v = (b[pos + 1]! << 24) >> 24; total += v >= 0 ? uintSize(v) : negSize(v); pos += 2; break; }
      case 0xd1: { const v = (u16(b, pos + 1) << 16) >> 16; total += v >= 0 ? uintSize(v) : negSize(v); pos += 3; break; }
      case 0xd2: { const v = i32(b, pos + 1); total += v >= 0 ? uintSize(v) : negSize(v); pos += 5; break; }
      case 0xd3: {
        const hi = i32(b, pos + 1);
        const lo = u32(b, pos + 5);
        if (hi === 0) total += uintSize(lo);
        else if (hi === -1 && lo >= 0x80000000) total += negSize(lo - 4294967296);
        else total += 9;
        pos += 9;
        break;
      }
      case 0xd4: total += 3; pos += 3; break;
      case 0xd5: total += 4; pos += 4; break;
      case 0xd6: total += 6; pos += 6; break;
      case 0xd7: total += 10; pos += 10; break;
      case 0xd8: total += 18; pos += 18; break;
      case 0xd9: { const n = b[pos + 1]!; total += strHeader(n) + n; pos += 2 + n; break; }
      case 0xda: { const n = u16(b, pos + 1); total += strHeader(n) + n; pos += 3 + n; break; }
      case 0xdb: { const n = u32(b, pos + 1); total += strHeader(n) + n; pos += 5 + n; break; }
      case 0xdc: { const n = u16(b, pos + 1); total += containerHeader(n); remaining += n; pos += 3; break; }
      case 0xdd: { const n = u32(b, pos + 1); total += containerHeader(n); remaining += n; pos += 5; break; }
      case 0xde: { const n = u16(b, pos + 1); total += containerHeader(n); remaining += 2 * n; pos += 3; break; }
      case 0xdf: { const n = u32(b, pos + 1); total += containerHeader(n); remaining += 2 * n; pos += 5; break; }
      default: pos = end; // 0xc1 never appears in stored entries
    }
  }
  nextPos = pos;
  return total;
}

/** Sum over the packed `[time, record]` entries of each record's Ruby msgpack size. */
export function packedRecordsSize(buf: Uint8Array): number {
  let pos = 0;
  let total = 0;
  const end = buf.length;
  while (pos < end) {
    const t = buf[pos]!;
    let items: number;
    if (t >= 0x90 && t <= 0x9f) { items = t & 0x0f; pos += 1; }
    else if (t === 0xdc) { items = u16(buf, pos + 1); pos += 3; }
    else if (t === 0xdd) { items = u32(buf, pos + 1); pos += 5; }
    else { sizeAt(buf, pos, end); pos = nextPos; continue; } // not an entry: skip it
    for (let i = 0; i < items; i++) {
      const s = sizeAt(buf, pos, end);
      if (i === 1) total += s;
      pos = nextPos;
    }
  }
  return total;
}

/** Ruby msgpack size of a decoded value. */
export function valueSize(v: unknown): number {
  if (v === null || v === undefined || typeof v === 'boolean') return 1;
  if (typeof v === 'string') {
    const n = Buffer.byteLength(v, 'utf8');
    return strHeader(n) + n;
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) return 9; // a float, or an integer beyond 2^53 (uint64/int64 form)
    return v >= 0 ? uintSize(v) : negSize(v);
  }
  if (typeof v === 'bigint') return v >= 0n ? (v < 4294967296n ? uintSize(Number(v)) : 9) : (v >= -2147483648n ? negSize(Number(v)) : 9);
  if (v instanceof EventTime) return 10;
  if (v instanceof WholeFloat) return 9; // float64
  if (v instanceof Uint8Array) return binHeader(v.byteLength) + v.byteLength;
  if (Array.isArray(v)) {
    let s = containerHeader(v.length);
    for (const x of v) s += valueSize(x);
    return s;
  }
  if (typeof v === 'object') {
    let n = 0;
    let s = 0;
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue;
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined) continue; // the encoder drops undefined values
      n++;
      s += valueSize(k) + valueSize(x);
    }
    return containerHeader(n) + s;
  }
  return 1;
}
