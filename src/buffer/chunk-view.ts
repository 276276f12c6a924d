/** What a buffered plugin (and a `<secondary>`) sees of a chunk: read-only data plus its progress. */
import { gunzipSync } from 'node:zlib';
import { EventStream } from '../core/event-stream.js';
import type { Chunk, ChunkMetadata, ChunkProgress } from './chunk.js';
import type { ChunkKeys } from './chunk-keys.js';
import { expandPlaceholders } from './placeholders.js';

export interface ChunkView {
  readonly id: Buffer;
  readonly hexId: string;
  readonly metadata: ChunkMetadata;
  readonly records: number;
  /** Stored bytes (compressed size when `compressed`). */
  readonly bytes: number;
  readonly compressed: boolean;
  /** The stored bytes: gzip members when compressed. */
  readStored(): Promise<Buffer>;
  /** The packed `[time, record]` entries, decompressed. */
  read(): Promise<Buffer>;
  stream(): Promise<EventStream>;
  /** Plugin progress kept with the chunk across retries (and restarts, for file buffers). */
  progress: ChunkProgress | null;
  saveProgress(): Promise<void>;
  /** Expands `${tag}`, `${key}`, `%Y…` placeholders for this chunk. */
  expand(template: string): string;
}

export function chunkView(chunk: Chunk, compressed: boolean, keys: ChunkKeys): ChunkView {
  const read = async () => (compressed ? gunzipSync(await chunk.read()) : chunk.read());
  return {
    id: chunk.id, hexId: chunk.hexId, metadata: chunk.metadata, records: chunk.records, bytes: chunk.bytes, compressed,
    readStored: () => chunk.read(),
    read,
    stream: async () => EventStream.fromPacked(await read(), chunk.records),
    get progress() { return chunk.progress; },
    set progress(p) { chunk.progress = p; },
    saveProgress: () => chunk.saveProgress(),
    expand: (t) => expandPlaceholders(t, chunk.metadata, keys, chunk.hexId),
  };
}
