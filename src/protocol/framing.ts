/**
 * Incremental forward-protocol decoder (spec §1): bytes go in with `push`, requests come out of
 * `next` one at a time, records never decoded. Requests are framed with a resumable scanner (a
 * request arriving in many pieces is scanned once), kept in one growing buffer with read/write
 * offsets, and handed out as slices of it: bytes once handed out are never written again.
 *
 * A request larger than `chunkSizeLimit` is skipped without being held in memory and reported as
 * `oversized` (the caller drops it: no ack, connection stays open). Errors that must close the
 * connection throw ForwardProtocolError with a reason code. A connection whose first byte is `{` or
 * `[` is in JSON mode: values are framed by JsonScanner, parsed, and read like msgpack.
 */
import * as zlib from 'node:zlib';
import { EventTime } from '../core/event-time.js';
import { ProtocolError } from '../core/errors.js';
import { decode, encode } from './msgpack.js';
import { EMPTY, EntryNormalizer, type Normalized } from './entries.js';
import { JsonScanner } from './json-scan.js';
import { parseJsonKeepingFloats } from './json-parse.js';
import { zstdDecompress } from './zstd.js';
import {
  type Cursor, MsgType, ValueScanner, bytesEqual, newCursor, readArrayHeader, readBytes, readMapHeader, skipValue, typeOf,
} from './msgpack-scan.js';

export type ForwardMode = 'message' | 'forward' | 'packed' | 'compressed';

/** A request carrying events (possibly none left after normalisation). */
export interface EventRequest {
  mode: ForwardMode;
  /** The tag after the `tag` / `add_tag_prefix` rewrites. */
  tag: string;
  /** Concatenated msgpack `[time, record]` entries, ready for EventStream.fromPacked. */
  entries: Buffer;
  /** Number of entries in `entries`, counted by scanning. */
  count: number;
  option: Record<string, unknown> | null;
  /** Raw msgpack bytes of `option.chunk` when it is set: echo them in the ack. */
  chunk: Buffer | null;
  /** Size of the request on the wire. */
  bytes: number;
  /** Invalid events dropped (skip_invalid_event). */
  skipped: number;
  /** Events with a nil record, dropped silently. */
  dropped: number;
}

export type ForwardRequest =
  | EventRequest
  | { mode: 'nil'; bytes: number }
  | { mode: 'ignored'; reason: string; bytes: number }
  | { mode: 'oversized'; bytes: number };

export type RejectReason =
  | 'invalid_msgpack' | 'too_large' | 'invalid_tag' | 'invalid_option' | 'decompression' | 'decompression_limit' | 'invalid_json';

/** A protocol error that closes the connection; `reason` is the metric label. */
export class ForwardProtocolError extends ProtocolError {
  constructor(readonly reason: RejectReason, message: string) {
    super(message);
  }
}

export interface DecoderOptions {
  /** Drop events with invalid time/record/tag types (default true). */
  skipInvalidEvent?: boolean;
  /** Requests larger than this are skipped and reported as `oversized` (null: no limit). */
  chunkSizeLimit?: number | null;
  /** Cap on decompressed CompressedPackedForward data (default 256 MiB). */
  decompressionSizeLimit?: number;
  /** Without chunkSizeLimit, a request larger than this closes the connection (default 1 GiB). */
  maxRequestBytes?: number;
  /** Replace every incoming tag with this. */
  tag?: string | null;
  /** Prefix the tag with `<prefix>.` (after `tag`). */
  addTagPrefix?: string | null;
  /** Clock for nil/zero times. */
  now?: () => EventTime;
}

export const DEFAULT_DECOMPRESSION_LIMIT = 256 * 1024 * 1024;
const DEFAULT_MAX_REQUEST = 1024 * 1024 * 1024;
const PREALLOCATE_MAX = 16 * 1024 * 1024;

const NONE = 0;
const VALUE = 1;
const OVERSIZED = 2;


export class ForwardDecoder {
  private buf: Buffer = EMPTY;
  /** Start of the unread bytes (the current request, while one is being scanned). */
  private start = 0;
  /** End of the bytes written. */
  private end = 0;
  /** True when `buf` was allocated here and its tail may be written. */
  private owned = false;
  private scanner: ValueScanner | JsonScanner = new ValueScanner();
  /** JSON mode: decided by the first byte of the connection (`{` or `[`). */
  private json = false;
  private sniffed = false;
  private scanning = false;
  private discarding = false;
  private discarded = 0;
  /** Size the current request needs at least (to size the next allocation). */
  private hint = 0;
  private frameStart = 0;
  private frameEnd = 0;
  private frameBytes = 0;
  private readonly c: Cursor = newCursor();
  /** Offsets (and ends) of a request's first four elements, -1 when absent. */
  private readonly at = [-1, -1, -1, -1];
  private readonly to = [-1, -1, -1, -1];
  private lastTagRaw: Buffer | null = null;
  private lastTag: string | null = null;
  private readonly normalizer: EntryNormalizer;
  private readonly skipInvalid: boolean;
  private readonly limit: number | null;
  private readonly maxRequest: number;
  private readonly decompressionLimit: number;

  constructor(private readonly opts: DecoderOptions = {}) {
    this.skipInvalid = opts.skipInvalidEvent ?? true;
    this.limit = opts.chunkSizeLimit ?? null;
    this.maxRequest = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST;
    this.decompressionLimit = opts.decompressionSizeLimit ?? DEFAULT_DECOMPRESSION_LIMIT;
    this.normalizer = new EntryNormalizer({ skipInvalidEvent: this.skipInvalid, now: opts.now ?? (() => EventTime.now()) });
  }

  /** The connection's format: msgpack, or JSON when its first byte was `{` or `[` (answer in the same). */
  get format(): 'msgpack' | 'json' {
    return this.json ? 'json' : 'msgpack';
  }

  /** Bytes received and not yet consumed by a returned request. */
  get buffered(): number {
    return this.end - this.start;
  }

  push(chunk: Buffer): void {
    const len = chunk.length;
    if (len === 0) return;
    if (!this.sniffed) {
      this.sniffed = true;
      if (chunk[0] === 0x7b || chunk[0] === 0x5b) {
        this.json = true;
        this.scanner = new JsonScanner();
      }
    }
    const live = this.end - this.start;
    if (live === 0) {
      if (this.scanning) this.scanner.rebase(-this.start);
      this.buf = chunk;
      this.start = 0;
      this.end = len;
      this.owned = false;
      return;
    }
    if (this.owned && this.buf.length - this.end >= len) {
      chunk.copy(this.buf, this.end);
      this.end += len;
      return;
    }
    // Grow geometrically; preallocate the size a header announced only up to PREALLOCATE_MAX, so a
    // few bytes claiming a huge value cannot make us reserve it.
    const hinted = this.scanning && !this.discarding ? Math.min(this.hint, PREALLOCATE_MAX) : 0;
    const size = Math.max(live + len, live * 2, hinted, 4096);
    const nb = Buffer.allocUnsafe(size);
    this.buf.copy(nb, 0, this.start, this.end);
    chunk.copy(nb, live);
    if (this.scanning) this.scanner.rebase(-this.start);
    this.buf = nb;
    this.start = 0;
    this.end = live + len;
    this.owned = true;
  }

  /** The next complete request, or null when more bytes are needed. Throws ForwardProtocolError. */
  next(): ForwardRequest | null {
    const f = this.frame();
    if (f === NONE) return null;
    if (f === OVERSIZED) return { mode: 'oversized', bytes: this.frameBytes };
    try {
      return this.json ? this.interpretJson(this.frameStart, this.frameEnd) : this.interpret(this.buf, this.frameStart, this.frameEnd);
    } catch (e) {
      throw asForwardError(e);
    }
  }

  /** The raw bytes of the next complete msgpack value (handshake phase), or null. */
  nextRaw(): Buffer | null {
    const f = this.frame();
    if (f === NONE) return null;
    if (f === OVERSIZED) throw new ForwardProtocolError('too_large', `message of ${this.frameBytes} bytes exceeds chunk_size_limit`);
    return this.buf.subarray(this.frameStart, this.frameEnd);
  }

  private frame(): number {
    const lengthCap = this.limit !== null ? Infinity : this.maxRequest;
    for (;;) {
      if (!this.scanning) {
        if (this.start >= this.end) return NONE;
        this.scanner.reset(this.start);
        this.scanning = true;
        this.discarding = false;
        this.discarded = 0;
        this.hint = 0;
      }
      let done: boolean;
      try {
        done = this.scanner.scan(this.buf, this.end, lengthCap, this.discarding);
      } catch (e) {
        throw this.json ? new ForwardProtocolError('invalid_json', (e as Error).message) : asForwardError(e);
      }
      if (done) {
        this.scanning = false;
        const s = this.start;
        const e = this.scanner.pos;
        this.start = e;
        this.frameBytes = this.discarded + (e - s);
        if (this.discarding || (this.limit !== null && this.frameBytes > this.limit)) return OVERSIZED;
        this.frameStart = s;
        this.frameEnd = e;
        return VALUE;
      }
      if (this.discarding) {
        this.discarded += this.scanner.pos - this.start;
        this.start = this.scanner.pos;
        return NONE;
      }
      const size = this.scanner.need - this.start;
      if (this.limit !== null && size > this.limit) {
        this.discarding = true;
        continue;
      }
      if (size > this.maxRequest) {
        throw new ForwardProtocolError('too_large', `request of at least ${size} bytes exceeds the limit of ${this.maxRequest} bytes`);
      }
      this.hint = size;
      return NONE;
    }
  }

  /** JSON mode: the value is parsed, re-encoded and then read like msgpack. */
  private interpretJson(s: number, e: number): ForwardRequest {
    let value: unknown;
    try {
      value = parseJsonKeepingFloats(this.buf.toString('utf8', s, e));
    } catch (err) {
      throw new ForwardProtocolError('invalid_json', `invalid JSON: ${(err as Error).message}`);
    }
    const bytes = encode(value);
    const r = this.interpret(bytes, 0, bytes.length);
    r.bytes = e - s;
    return r;
  }

  private interpret(b: Buffer, s: number, e: number): ForwardRequest {
    const bytes = e - s;
    const first = b[s]!;
    if (first === 0xc0) return { mode: 'nil', bytes };
    if (typeOf(first) !== MsgType.ARRAY) return { mode: 'ignored', reason: 'incoming chunk is broken: not an array', bytes };
    const c = this.c;
    // Offsets of the first four elements (-1 when absent) and their ends.
    let p = readArrayHeader(b, s, e, c);
    const n = c.n;
    const at = this.at;
    const to = this.to;
    at.fill(-1);
    to.fill(-1);
    for (let i = 0; i < n && i < 4; i++) {
      at[i] = p;
      p = to[i] = skipValue(b, p, e);
    }
    const tag = at[0]! >= 0 ? this.readTag(b, at[0]!, to[0]!) : this.rewriteTag(null);
    if (tag === null && !this.skipInvalid) throw new ForwardProtocolError('invalid_tag', 'tag is not a string');
    const t1 = at[1]! >= 0 ? typeOf(b[at[1]!]!) : MsgType.NIL;
    let mode: ForwardMode = t1 === MsgType.STR || t1 === MsgType.BIN ? 'packed' : t1 === MsgType.ARRAY ? 'forward' : 'message';
    if (mode === 'forward' && n >= 3 && this.isTimeWithMetadata(b, at[1]!, to[1]!)) mode = 'message';
    const oi = mode === 'message' ? 3 : 2;
    const { option, chunk } = this.readOption(b, at[oi]!, to[oi]!);
    this.normalizer.beginRequest();
    let out: Normalized;
    let finalMode: ForwardMode = mode;
    if (mode === 'message') {
      out = this.normalizer.message(b, at[1]!, to[1]!, at[2]!, to[2]!);
    } else if (mode === 'forward') {
      const q = readArrayHeader(b, at[1]!, to[1]!, c);
      out = this.normalizer.entries(b, q, to[1]!);
    } else {
      readBytes(b, at[1]!, to[1]!, c, Infinity);
      let blob = b.subarray(c.start, c.end);
      const compressed = option?.compressed;
      if (compressed !== undefined && compressed !== null && compressed !== 'text') {
        finalMode = 'compressed';
        blob = this.decompress(blob, compressed);
      }
      out = this.normalizer.entries(blob, 0, blob.length);
    }
    if (tag === null) {
      return { mode: finalMode, tag: '', entries: EMPTY, count: 0, option, chunk, bytes, skipped: out.count + out.skipped, dropped: out.dropped };
    }
    return { mode: finalMode, tag, entries: out.entries, count: out.count, option, chunk, bytes, skipped: out.skipped, dropped: out.dropped };
  }

  /**
   * A Message whose time is `[time, metadata]` looks like Forward mode by msg[1]'s type; tell them
   * apart by the first element: a Forward entry is an array, a time is an int or an ext.
   */
  private isTimeWithMetadata(b: Buffer, s: number, e: number): boolean {
    const p = readArrayHeader(b, s, e, this.c);
    if (this.c.n !== 2) return false;
    const t = typeOf(b[p]!);
    return t === MsgType.INT || t === MsgType.EXT;
  }

  /** The rewritten tag, cached for a run of requests with the same tag bytes. */
  private readTag(b: Buffer, s: number, e: number): string | null {
    const t = typeOf(b[s]!);
    if (t !== MsgType.STR && t !== MsgType.BIN) return this.rewriteTag(null);
    const c = this.c;
    readBytes(b, s, e, c, Infinity);
    const last = this.lastTagRaw;
    if (last !== null && last.length === c.end - c.start && b.compare(last, 0, last.length, c.start, c.end) === 0) return this.lastTag;
    this.lastTagRaw = Buffer.from(b.subarray(c.start, c.end));
    this.lastTag = this.rewriteTag(b.toString('utf8', c.start, c.end));
    return this.lastTag;
  }

  private rewriteTag(incoming: string | null): string | null {
    let tag = this.opts.tag ?? incoming;
    if (this.opts.addTagPrefix != null && tag !== null) tag = `${this.opts.addTagPrefix}.${tag}`;
    return tag;
  }

  private readOption(b: Buffer, s: number, e: number): { option: Record<string, unknown> | null; chunk: Buffer | null } {
    if (s < 0 || typeOf(b[s]!) !== MsgType.MAP) return { option: null, chunk: null };
    if (b[s] === 0x80) return { option: {}, chunk: null };
    const c = this.c;
    let chunk: Buffer | null = null;
    let p = readMapHeader(b, s, e, c);
    for (let i = c.n; i > 0; i--) {
      const k = p;
      const kEnd = skipValue(b, k, e);
      const vEnd = skipValue(b, kEnd, e);
      if (typeOf(b[k]!) === MsgType.STR && readBytes(b, k, kEnd, c) > 0 && bytesEqual(b, c.start, c.end, 'chunk')) {
        const v = b[kEnd]!;
        chunk = v === 0xc0 || v === 0xc2 ? null : b.subarray(kEnd, vEnd);
      }
      p = vEnd;
    }
    let option: unknown;
    try {
      option = decode(b.subarray(s, e));
    } catch (err) {
      throw new ForwardProtocolError('invalid_option', `option map cannot be decoded: ${(err as Error).message}`);
    }
    return { option: option as Record<string, unknown>, chunk };
  }

  private decompress(blob: Buffer, method: unknown): Buffer {
    if (blob.length === 0) return blob;
    const limit = this.decompressionLimit;
    let fn: ((buf: Buffer) => Buffer) | null = null;
    if (method === 'gzip') fn = (x) => zlib.gunzipSync(x, { maxOutputLength: limit });
    else if (method === 'zstd') fn = (x) => zstdDecompress(x, limit);
    if (fn === null) throw new ForwardProtocolError('decompression', `unsupported compression ${JSON.stringify(method)}`);
    try {
      return fn(blob);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') {
        throw new ForwardProtocolError('decompression_limit', `decompressed data exceeds decompression_size_limit (${limit} bytes)`);
      }
      throw new ForwardProtocolError('decompression', `${String(method)} decompression failed: ${(err as Error).message}`);
    }
  }
}

function asForwardError(e: unknown): unknown {
  if (e instanceof ForwardProtocolError || !(e instanceof ProtocolError)) return e;
  return new ForwardProtocolError(/exceeds the limit/.test(e.message) ? 'too_large' : 'invalid_msgpack', e.message);
}

/** The response to a request whose option carries `chunk`: `{"ack": <chunk>}`, chunk bytes echoed verbatim. */
export function buildAck(chunk: Buffer, format: 'msgpack' | 'json' = 'msgpack'): Buffer {
  if (format === 'json') return Buffer.from(JSON.stringify({ ack: decode(chunk) }));
  const out = Buffer.allocUnsafe(5 + chunk.length);
  out[0] = 0x81; // fixmap 1
  out[1] = 0xa3; // fixstr 3
  out.write('ack', 2, 'latin1');
  chunk.copy(out, 5);
  return out;
}
