/**
 * What out_forward puts on the wire for one chunk (spec §4.7): one PackedForward (or
 * CompressedPackedForward) message built around the chunk's bytes, never re-encoding its events:
 *
 *   0x93 | tag (str) | 0xDB uint32BE length, body | {size, compressed[, chunk]}
 *
 * The body is a str32 as Fluentd sends it. `chunk` is Fluentd's id: base64 of the chunk's 16-byte
 * unique id plus "\n" (Ruby's Base64.encode64), so a chunk keeps its id across retries.
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { ChunkView } from '../../../buffer/buffered-output.js';
import { encode } from '../../../protocol/msgpack.js';

export type Compression = 'text' | 'gzip' | 'zstd';

const gzip = promisify(zlib.gzip);
type ZstdFn = (buf: Buffer) => Buffer;
const zstdCompressSync = (zlib as unknown as { zstdCompressSync?: ZstdFn }).zstdCompressSync;

/** True when this Node can compress with zstd. */
export const zstdAvailable = typeof zstdCompressSync === 'function';

export interface Message {
  /** Written in order, uncopied: header, body, option map. */
  parts: Buffer[];
  bytes: number;
  /** The `chunk` option (null without require_ack_response). */
  ackId: string | null;
}

export function ackIdOf(chunkId: Buffer): string {
  return `${chunkId.toString('base64')}\n`;
}

/** The body: the stored gzip members as they are, or the entries compressed now, or plain entries. */
async function body(chunk: ChunkView, compress: Compression): Promise<Buffer> {
  if (compress === 'gzip') return chunk.compressed ? chunk.readStored() : gzip(await chunk.read());
  const entries = await chunk.read();
  return compress === 'zstd' ? zstdCompressSync!(entries) : entries;
}

export async function buildMessage(chunk: ChunkView, compress: Compression, withAck: boolean): Promise<Message> {
  const blob = await body(chunk, compress);
  const tag = encode(chunk.metadata.tag ?? '');
  const head = Buffer.allocUnsafe(1 + tag.length + 5);
  head[0] = 0x93;
  tag.copy(head, 1);
  head[1 + tag.length] = 0xdb;
  head.writeUInt32BE(blob.length, 2 + tag.length);
  const ackId = withAck ? ackIdOf(chunk.id) : null;
  const option: Record<string, unknown> = { size: chunk.records, compressed: compress };
  if (ackId !== null) option.chunk = ackId;
  const tail = encode(option);
  return { parts: [head, blob, tail], bytes: head.length + blob.length + tail.length, ackId };
}
