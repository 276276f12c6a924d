/**
 * Validation of a chunk data file at resume, reading it in bounded blocks: counts the complete
 * `[time, record]` entries (inside gzip members when compressed) and says what follows the last
 * complete one — nothing, a torn tail (an incomplete entry or member, or zeros the filesystem left
 * after a crash; safe to truncate) or corruption (the chunk cannot be trusted).
 */
import type { FileHandle } from 'node:fs/promises';
import { createInflateRaw, crc32 } from 'node:zlib';
import { DEFAULT_MAX_LENGTH, ValueScanner } from '../protocol/msgpack-scan.js';

const BLOCK_BYTES = 1024 * 1024;
/** Longest gzip member header we accept (FEXTRA/FNAME/FCOMMENT included). */
const MAX_GZIP_HEADER = 64 * 1024;

export type TailKind = 'none' | 'incomplete' | 'zeros' | 'corrupt';

export interface ScanResult {
  /** Length of the prefix made of complete entries (members when compressed). */
  validBytes: number;
  /** Entries in that prefix; null when entries are not msgpack (custom formats). */
  records: number | null;
  /** What follows `validBytes`. */
  tail: TailKind;
}

function allZero(buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * 1: a 2-element array starts at `p` (the shape of every entry); 0: more bytes needed; -1: not an entry.
 * Zeros and garbage fail here, which is how a zero-filled tail is told apart from entries.
 */
function entryHeader(buf: Buffer, p: number): 1 | 0 | -1 {
  const b = buf[p];
  if (b === 0x92) return 1;
  if (b === 0xdc) return p + 3 > buf.length ? 0 : buf.readUInt16BE(p + 1) === 2 ? 1 : -1;
  if (b === 0xdd) return p + 5 > buf.length ? 0 : buf.readUInt32BE(p + 1) === 2 ? 1 : -1;
  return -1;
}

/** Counts complete entries in a stream of msgpack bytes pushed in pieces, keeping only a partial header. */
export class EntryScanner {
  entries = 0;
  /** Stream offset just after the last complete entry. */
  end = 0;
  private bad = false;
  private nonZero = false;
  private inEntry = false;
  private offset = 0; // stream offset of the first byte of `carry` (or of the next push)
  private carry: Buffer | null = null;
  private readonly vs = new ValueScanner();

  push(chunk: Buffer): void {
    if (this.bad) {
      if (!this.nonZero && !allZero(chunk, 0)) this.nonZero = true;
      return;
    }
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = null;
    let p = 0;
    for (;;) {
      if (!this.inEntry) {
        if (p >= buf.length) break;
        const h = entryHeader(buf, p);
        if (h === 0) return this.keep(buf, p);
        if (h < 0) {
          this.bad = true;
          this.nonZero = !allZero(buf, p);
          return;
        }
        this.vs.reset(p);
        this.inEntry = true;
      }
      let done: boolean;
      try {
        done = this.vs.scan(buf, buf.length, DEFAULT_MAX_LENGTH, true);
      } catch {
        this.bad = true; // never-valid msgpack inside an entry that started like one
        this.nonZero = true;
        return;
      }
      if (!done) {
        const at = this.vs.pos;
        this.vs.rebase(-at);
        return this.keep(buf, at);
      }
      this.entries++;
      p = this.vs.pos;
      this.end = this.offset + p;
      this.inEntry = false;
    }
    this.offset += buf.length;
  }

  private keep(buf: Buffer, from: number): void {
    if (from < buf.length) this.carry = Buffer.from(buf.subarray(from));
    this.offset += from;
  }

  get tail(): TailKind {
    if (this.bad) return this.nonZero ? 'corrupt' : 'zeros';
    return this.inEntry || this.carry ? 'incomplete' : 'none';
  }
}

/** A window over the file, refilled block by block. */
class BlockReader {
  private buf = Buffer.alloc(0);
  private start = 0;
  constructor(private readonly fh: FileHandle, readonly size: number) {}

  /** The bytes from `off` that are in memory, reading when fewer than `min` (or nothing) are. */
  async at(off: number, min = 1): Promise<Buffer> {
    const have = this.start + this.buf.length - off;
    if (off < this.start || have < Math.min(min, this.size - off) || have <= 0) {
      const len = Math.max(0, Math.min(Math.max(BLOCK_BYTES, min), this.size - off));
      const b = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await this.fh.read(b, got, len - got, off + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      this.buf = b.subarray(0, got);
      this.start = off;
    }
    return this.buf.subarray(off - this.start);
  }

  async zeroFrom(off: number): Promise<boolean> {
    for (let p = off; p < this.size; ) {
      const v = await this.at(p);
      if (v.length === 0) return true;
      if (!allZero(v, 0)) return false;
      p += v.length;
    }
    return true;
  }
}

export interface ScanOptions {
  compressed: boolean;
  /** False for custom formats (out_file text): the bytes are taken as they are. */
  msgpack: boolean;
}

/** Scans a data file of `size` bytes. Read errors are thrown to the caller. */
export async function scanChunkFile(fh: FileHandle, size: number, opts: ScanOptions): Promise<ScanResult> {
  const reader = new BlockReader(fh, size);
  if (opts.compressed) return scanMembers(reader, opts.msgpack);
  if (!opts.msgpack) return { validBytes: size, records: null, tail: 'none' };
  const scanner = new EntryScanner();
  for (let p = 0; p < size; ) {
    const v = await reader.at(p);
    if (v.length === 0) break;
    scanner.push(v);
    p += v.length;
  }
  return { validBytes: scanner.end, records: scanner.entries, tail: scanner.tail };
}

/** Length of the gzip member header at the start of `v`; 0 when `v` ends inside it; -1 when not gzip. */
function gzipHeaderLength(v: Buffer): number {
  if (v.length < 10) return v.length >= 1 && v[0] !== 0x1f ? -1 : v.length >= 2 && v[1] !== 0x8b ? -1 : 0;
  if (v[0] !== 0x1f || v[1] !== 0x8b || v[2] !== 8) return -1;
  const flags = v[3]!;
  let p = 10;
  if (flags & 4) {
    if (p + 2 > v.length) return 0;
    p += 2 + v.readUInt16LE(p);
  }
  for (const bit of [8, 16]) {
    if (!(flags & bit)) continue;
    const z = v.indexOf(0, p);
    if (z < 0) return 0;
    p = z + 1;
  }
  if (flags & 2) p += 2;
  return p <= v.length ? p : 0;
}

type MemberResult = { ok: true; end: number; records: number } | { ok: false; tail: TailKind };

async function scanMembers(reader: BlockReader, msgpack: boolean): Promise<ScanResult> {
  let off = 0;
  let records = 0;
  while (off < reader.size) {
    const r = await scanMember(reader, off, msgpack);
    if (!r.ok) return { validBytes: off, records: msgpack ? records : null, tail: r.tail };
    records += r.records;
    off = r.end;
  }
  return { validBytes: off, records: msgpack ? records : null, tail: 'none' };
}

async function scanMember(reader: BlockReader, off: number, msgpack: boolean): Promise<MemberResult> {
  let head = await reader.at(off, 10);
  let hl = gzipHeaderLength(head);
  if (hl === 0 && head.length < reader.size - off) {
    head = await reader.at(off, MAX_GZIP_HEADER);
    hl = gzipHeaderLength(head);
  }
  if (hl < 0) return { ok: false, tail: (await reader.zeroFrom(off)) ? 'zeros' : 'corrupt' };
  if (hl === 0) return { ok: false, tail: off + head.length >= reader.size ? 'incomplete' : 'corrupt' };

  const inflate = createInflateRaw();
  const scanner = msgpack ? new EntryScanner() : null;
  let crc = 0;
  let outBytes = 0;
  let failure: (Error & { code?: string }) | null = null;
  let ended = false;
  inflate.on('data', (d: Buffer) => {
    crc = crc32(d, crc);
    outBytes += d.length;
    scanner?.push(d);
  });
  inflate.on('error', (e) => (failure = e));
  inflate.on('end', () => (ended = true));
  const body = off + hl;
  let fed = 0;
  while (!ended && !failure && body + fed < reader.size) {
    const v = await reader.at(body + fed);
    if (v.length === 0) break;
    fed += v.length;
    await new Promise<void>((resolve) => inflate.write(v, () => resolve()));
    if (inflate.bytesWritten < fed) break; // the deflate stream ended inside this piece
  }
  if (!failure) {
    // Wait for the last output; at the end of the file, zlib then says whether the stream was complete.
    await new Promise<void>((resolve) => {
      if (ended) return resolve();
      inflate.once('end', resolve);
      inflate.once('error', () => resolve());
      inflate.end();
    });
  }
  const consumed = inflate.bytesWritten;
  inflate.destroy();
  const err = failure as (Error & { code?: string }) | null;
  if (err && !ended) return { ok: false, tail: err.code === 'Z_BUF_ERROR' ? 'incomplete' : 'corrupt' };
  const trailerAt = body + consumed;
  if (trailerAt + 8 > reader.size) return { ok: false, tail: 'incomplete' };
  const trailer = await reader.at(trailerAt, 8);
  if (trailer.readUInt32LE(0) !== crc >>> 0 || trailer.readUInt32LE(4) !== outBytes % 0x100000000) {
    return { ok: false, tail: 'corrupt' };
  }
  if (scanner && scanner.tail !== 'none') return { ok: false, tail: 'corrupt' };
  return { ok: true, end: trailerAt + 8, records: scanner ? scanner.entries : 0 };
}
