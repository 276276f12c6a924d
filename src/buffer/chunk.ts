/**
 * A chunk: an append-only run of packed `[time, record]` entries (optionally as gzip members) sharing
 * one metadata (tag, timekey, record-key variables). Storage backends (memory, file) implement
 * `Chunk` and `ChunkStorage`; everything above them (limits, queue, flush, retry) is shared.
 */
import { randomBytes } from 'node:crypto';

export interface ChunkMetadata {
  /** Set when `tag` is a chunk key (or the output needs the tag, e.g. out_forward). */
  tag: string | null;
  /** Start of the time range when `time` is a chunk key, epoch seconds. */
  timekey: number | null;
  /** Values of record chunk keys. */
  variables: Record<string, string> | null;
  /** >0 for extra chunks created while splitting one large write. */
  seq: number;
}

export type ChunkState = 'staged' | 'queued';

/** Plugin progress kept with a chunk (e.g. which records Firehose already accepted); persisted in file buffers. */
export type ChunkProgress = Record<string, unknown>;

export interface Chunk {
  /** 16-byte unique id; the first 8 bytes grow with creation time. */
  readonly id: Buffer;
  readonly hexId: string;
  readonly metadata: ChunkMetadata;
  /** Epoch seconds. */
  readonly createdAt: number;
  modifiedAt: number;
  state: ChunkState;
  /** Stored bytes (compressed size when compressed). */
  bytes: number;
  records: number;
  progress: ChunkProgress | null;
  /**
   * Appends bytes holding `records` entries; resolves once the data is stored (file: the write has
   * returned) — only then may the events be acknowledged. All-or-nothing: on failure the chunk is
   * as before.
   */
  append(data: Buffer, records: number): Promise<void>;
  /** The stored bytes. */
  read(): Promise<Buffer>;
  /** staged → queued (file: rename). */
  enqueue(): Promise<void>;
  /** Saves `progress` (file: rewrites the metadata file atomically). */
  saveProgress(): Promise<void>;
  /** Deletes the chunk's data. */
  purge(): Promise<void>;
}

export interface ResumeResult {
  staged: Chunk[];
  queued: Chunk[];
}

export interface ChunkStorage {
  /** True when chunks survive a restart. */
  readonly persistent: boolean;
  create(metadata: ChunkMetadata): Promise<Chunk>;
  /** Chunks left by an earlier run (empty for memory). */
  resume(): Promise<ResumeResult>;
  close(): Promise<void>;
}

/**
 * A chunk id as Fluentd makes them: 8 bytes of `(microseconds << 12) | 12 random bits` big-endian,
 * then 8 random bytes. Lower-case hex is 32 characters and sorts roughly by creation time.
 */
export function newChunkId(nowMs = Date.now()): Buffer {
  const id = randomBytes(16);
  const micros = BigInt(Math.floor(nowMs * 1000));
  const rand12 = BigInt(id.readUInt16BE(0) & 0x0fff);
  id.writeBigUInt64BE(((micros << 12n) | rand12) & 0xffffffffffffffffn, 0);
  return id;
}

/** The key under which staged chunks are kept: one staged chunk per distinct metadata. */
export function metadataKey(m: ChunkMetadata): string {
  return JSON.stringify([m.tag, m.timekey, m.variables ? Object.entries(m.variables).sort() : null]);
}

export function emptyMetadata(): ChunkMetadata {
  return { tag: null, timekey: null, variables: null, seq: 0 };
}
