/**
 * in_http: reading a request body under `body_size_limit` (streamed: reading stops at the first
 * chunk over the limit, nothing more is kept) and undoing `Content-Encoding: gzip|deflate` under
 * `decompression_size_limit`.
 */
import type { IncomingMessage } from 'node:http';
import { constants as bufferConstants } from 'node:buffer';
import { promisify } from 'node:util';
import { gunzip, inflate, inflateRaw, type ZlibOptions } from 'node:zlib';

const gunzipAsync = promisify<Buffer, ZlibOptions, Buffer>(gunzip);
const inflateAsync = promisify<Buffer, ZlibOptions, Buffer>(inflate);
const inflateRawAsync = promisify<Buffer, ZlibOptions, Buffer>(inflateRaw);

export type BodyResult =
  | { kind: 'body'; body: Buffer }
  /** More than the limit arrived; the request is paused and its bytes dropped. */
  | { kind: 'too_large' }
  /** The connection went away before the body was complete. */
  | { kind: 'aborted' };

/** Collects the body of `req`, giving up as soon as it grows over `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: BodyResult) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > limit) {
        chunks.length = 0;
        req.pause();
        finish({ kind: 'too_large' });
        return;
      }
      size += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => finish({ kind: 'body', body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
    const onAbort = () => finish({ kind: 'aborted' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onAbort);
  });
}

/** The decoded body was larger than `decompression_size_limit`. */
export class DecompressedTooLarge extends Error {}

function tooLarge(e: unknown): boolean {
  return e instanceof RangeError || (e as { code?: string } | null)?.code === 'ERR_BUFFER_TOO_LARGE';
}

/**
 * Undoes `gzip` or `deflate` (zlib-wrapped, or raw as some clients send it); other encodings leave
 * the body as it is. Throws DecompressedTooLarge over `maxBytes`, and the zlib error on bad input.
 */
export async function decodeBody(body: Buffer, encoding: string, maxBytes: number): Promise<Buffer> {
  const enc = encoding.trim().toLowerCase();
  if (enc !== 'gzip' && enc !== 'x-gzip' && enc !== 'deflate') return body;
  const opts: ZlibOptions = { maxOutputLength: Math.max(1, Math.min(maxBytes, bufferConstants.MAX_LENGTH)) };
  try {
    if (enc !== 'deflate') return await gunzipAsync(body, opts);
    try {
      return await inflateAsync(body, opts);
    } catch (e) {
      if (tooLarge(e)) throw e;
      return await inflateRawAsync(body, opts);
    }
  } catch (e) {
    if (tooLarge(e)) throw new DecompressedTooLarge(`decompressed body is larger than ${maxBytes} bytes`);
    throw e;
  }
}
