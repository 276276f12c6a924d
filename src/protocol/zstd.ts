/**
 * zstd decompression for forward-protocol entries sent with `compressed: "zstd"` (Fluentd ≥ 1.19
 * out_forward `compress zstd`). Node's zlib when it has zstd (22.15+), else fzstd (pure JS). Either
 * way concatenated frames decode as one (Fluentd appends one frame per write) and the output limit
 * holds while decompressing: fzstd runs as a stream that is stopped as soon as the output passes
 * the limit, and a first frame that states a larger content size, or needs a window larger than the
 * reference decoder allows by default, is refused before anything is allocated for it.
 */
import * as zlib from 'node:zlib';
import { Decompress } from 'fzstd';

type ZstdFn = (buf: Buffer, opts: { maxOutputLength: number }) => Buffer;
const nativeZstd = (zlib as unknown as { zstdDecompressSync?: ZstdFn }).zstdDecompressSync;

/** Thrown when the output would pass the limit (the code Node's zlib uses for the same case). */
export class ZstdTooLarge extends Error {
  readonly code = 'ERR_BUFFER_TOO_LARGE';
}

const MAGIC = 0xfd2fb528;
/** The largest window the reference decoder accepts by default (window log 27): more is refused. */
export const MAX_WINDOW = 128 * 1024 * 1024;

export interface FrameHeader {
  /** Bytes the decoder must keep (a single-segment frame's window is its content size). */
  window: number;
  /** The decompressed size, when the frame states it. */
  contentSize: number | null;
}

/** The first frame's header (RFC 8878 §3.1.1.1), or null when `buf` does not start with one. */
export function frameHeader(buf: Uint8Array): FrameHeader | null {
  if (buf.length < 6 || new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0, true) !== MAGIC) return null;
  const fhd = buf[4]!;
  const singleSegment = (fhd & 0x20) !== 0;
  let at = 5;
  let window = 0;
  if (!singleSegment) {
    const wd = buf[at++]!;
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  at += [0, 1, 2, 4][fhd & 3]!; // dictionary id
  const fcsFlag = fhd >> 6;
  const width = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  let contentSize: number | null = null;
  if (width > 0) {
    if (buf.length < at + width) return null;
    let size = 0;
    for (let i = width - 1; i >= 0; i--) size = size * 256 + buf[at + i]!;
    contentSize = width === 2 ? size + 256 : size;
  }
  return { window: singleSegment ? contentSize ?? 0 : window, contentSize };
}

/** Decompresses every frame of `buf`; throws ZstdTooLarge past `limit` bytes, Error on bad data. */
export function zstdDecompress(buf: Buffer, limit: number): Buffer {
  const h = frameHeader(buf);
  if (h?.contentSize != null && h.contentSize > limit) throw new ZstdTooLarge(`the zstd frame holds ${h.contentSize} bytes`);
  if (h && h.window > MAX_WINDOW) throw new Error(`the zstd frame needs a ${h.window}-byte window (at most ${MAX_WINDOW})`);
  if (nativeZstd) return nativeZstd(buf, { maxOutputLength: limit });
  const parts: Buffer[] = [];
  let size = 0;
  const stream = new Decompress((data) => {
    size += data.length;
    if (size > limit) throw new ZstdTooLarge(`more than ${limit} bytes`);
    parts.push(Buffer.from(data)); // a copy: the stream reuses its window
  });
  stream.push(buf, true);
  return Buffer.concat(parts, size);
}
