/**
 * Stage → queue → dequeued bookkeeping over a ChunkStorage, with the size and record limits.
 * A write larger than a chunk is split at entry boundaries (found by scanning, not decoding);
 * only a single entry larger than `chunk_limit_size` is refused. Writes and enqueues are
 * serialised so a chunk is never appended to while it is being enqueued.
 */
import { gzipSync } from 'node:zlib';
import { skipValue } from '../protocol/msgpack-scan.js';
import type { Chunk, ChunkMetadata, ChunkStorage } from './chunk.js';
import { metadataKey } from './chunk.js';

export interface BufferLimits {
  chunkLimitSize: number;
  chunkLimitRecords: number | null;
  totalLimitSize: number;
  chunkFullThreshold: number;
  compress: boolean;
}

/** An entry refused because it alone is over `chunk_limit_size`. */
export interface OversizedEntry {
  entry: Buffer;
  size: number;
}

export class BufferOverflowError extends Error {
  readonly code = 'LF_BUFFER_OVERFLOW';
  constructor(message: string) {
    super(message);
    this.name = 'BufferOverflowError';
  }
}

export class ChunkBuffer {
  readonly stage = new Map<string, Chunk>();
  readonly queue: Chunk[] = [];
  readonly dequeued = new Map<string, { chunk: Chunk; at: number }>();
  stageBytes = 0;
  queueBytes = 0;
  private lock: Promise<unknown> = Promise.resolve();
  /** Called after a chunk is enqueued (wakes the flushers). */
  onEnqueue: () => void = () => undefined;
  /** Called after bytes were freed (wakes blocked writers). */
  onFree: () => void = () => undefined;

  constructor(readonly storage: ChunkStorage, readonly limits: BufferLimits) {}

  /** Loads chunks left by an earlier run; they count against the limits. */
  async resume(): Promise<number> {
    const { staged, queued } = await this.storage.resume();
    for (const c of staged) {
      const key = metadataKey(c.metadata);
      if (this.stage.has(key) || this.isFull(c)) {
        await c.enqueue();
        this.queue.push(c);
        this.queueBytes += c.bytes;
      } else {
        this.stage.set(key, c);
        this.stageBytes += c.bytes;
      }
    }
    for (const c of queued) {
      this.queue.push(c);
      this.queueBytes += c.bytes;
    }
    this.queue.sort((a, b) => a.modifiedAt - b.modifiedAt);
    return staged.length + queued.length;
  }

  /** Bytes held: staged, queued and being flushed. */
  get totalBytes(): number {
    let inflight = 0;
    for (const d of this.dequeued.values()) inflight += d.chunk.bytes;
    return this.stageBytes + this.queueBytes + inflight;
  }

  /** True when no more data may be written. */
  get overLimit(): boolean {
    return this.totalBytes >= this.limits.totalLimitSize;
  }

  private isFull(c: Chunk): boolean {
    const t = this.limits.chunkFullThreshold;
    return c.bytes >= this.limits.chunkLimitSize * t || (this.limits.chunkLimitRecords !== null && c.records >= this.limits.chunkLimitRecords * t);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Appends packed entries for one metadata. Resolves once stored; returns the entries that were
   * refused for being larger than a chunk on their own.
   */
  write(metadata: ChunkMetadata, packed: Buffer, count: number): Promise<OversizedEntry[]> {
    return this.serial(() => this.writeLocked(metadata, packed, count));
  }

  private async writeLocked(metadata: ChunkMetadata, packed: Buffer, count: number): Promise<OversizedEntry[]> {
    const key = metadataKey(metadata);
    const { chunkLimitSize, chunkLimitRecords } = this.limits;
    let chunk = this.stage.get(key) ?? (await this.newStaged(key, metadata));
    const fits = (c: Chunk, bytes: number, records: number) =>
      c.bytes + bytes <= chunkLimitSize && (chunkLimitRecords === null || c.records + records <= chunkLimitRecords);
    if (fits(chunk, packed.length, count)) {
      await this.append(chunk, packed, count);
      if (this.isFull(chunk)) await this.enqueueLocked(chunk);
      return [];
    }
    // split at entry boundaries
    const oversized: OversizedEntry[] = [];
    let sliceStart = 0;
    let sliceRecords = 0;
    let off = 0;
    while (off < packed.length) {
      const end = skipValue(packed, off);
      if (end < 0) throw new Error('packed entries end in the middle of an entry');
      const size = end - off;
      if (size > chunkLimitSize) {
        if (sliceRecords > 0) await this.append(chunk, packed.subarray(sliceStart, off), sliceRecords);
        oversized.push({ entry: packed.subarray(off, end), size });
        off = end;
        sliceStart = off;
        sliceRecords = 0;
        continue;
      }
      if (!fits(chunk, off - sliceStart + size, sliceRecords + 1)) {
        if (sliceRecords > 0) await this.append(chunk, packed.subarray(sliceStart, off), sliceRecords);
        if (chunk.records > 0) {
          await this.enqueueLocked(chunk);
          chunk = await this.newStaged(key, metadata);
        }
        sliceStart = off;
        sliceRecords = 0;
      }
      sliceRecords++;
      off = end;
    }
    if (sliceRecords > 0) await this.append(chunk, packed.subarray(sliceStart, off), sliceRecords);
    if (this.isFull(chunk)) await this.enqueueLocked(chunk);
    return oversized;
  }

  private async newStaged(key: string, metadata: ChunkMetadata): Promise<Chunk> {
    const c = await this.storage.create(metadata);
    this.stage.set(key, c);
    return c;
  }

  private async append(chunk: Chunk, data: Buffer, records: number): Promise<void> {
    const stored = this.limits.compress ? gzipSync(data) : data;
    const before = chunk.bytes;
    await chunk.append(stored, records);
    this.stageBytes += chunk.bytes - before;
  }

  /** Staged → queued for every non-empty staged chunk that `pick` selects (all when omitted). */
  enqueueStaged(pick: (c: Chunk) => boolean = () => true): Promise<number> {
    return this.serial(async () => {
      let n = 0;
      for (const c of [...this.stage.values()]) {
        if (c.records > 0 && pick(c)) {
          await this.enqueueLocked(c);
          n++;
        }
      }
      return n;
    });
  }

  private async enqueueLocked(chunk: Chunk): Promise<void> {
    const key = metadataKey(chunk.metadata);
    if (this.stage.get(key) === chunk) this.stage.delete(key);
    this.stageBytes -= chunk.bytes;
    await chunk.enqueue();
    this.queue.push(chunk);
    this.queueBytes += chunk.bytes;
    this.onEnqueue();
  }

  /** Takes the head of the queue for flushing. */
  dequeue(): Chunk | null {
    const c = this.queue.shift();
    if (!c) return null;
    this.queueBytes -= c.bytes;
    this.dequeued.set(c.hexId, { chunk: c, at: Date.now() });
    return c;
  }

  /** Puts a dequeued chunk back at the head of the queue (rollback). */
  takeback(chunk: Chunk): boolean {
    if (!this.dequeued.delete(chunk.hexId)) return false;
    this.queue.unshift(chunk);
    this.queueBytes += chunk.bytes;
    return true;
  }

  /** Deletes a dequeued (or queued) chunk for good. */
  async purge(chunk: Chunk): Promise<void> {
    if (!this.dequeued.delete(chunk.hexId)) {
      const i = this.queue.indexOf(chunk);
      if (i >= 0) {
        this.queue.splice(i, 1);
        this.queueBytes -= chunk.bytes;
      }
    }
    await chunk.purge();
    this.onFree();
  }
}
