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
  /** Index of the entry in the written stream (0-based). */
  nth: number;
}

/** A chunk handed out for flushing. */
export interface Dequeued {
  chunk: Chunk;
  /** When it was dequeued, or (delayed commit) when the plugin's tryWrite returned; epoch ms. */
  at: number;
  /** tryWrite returned: the chunk now waits for the plugin's commit or rollback. */
  awaitingCommit: boolean;
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
  readonly dequeued = new Map<string, Dequeued>();
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
    let nth = 0;
    for (; off < packed.length; nth++) {
      const end = skipValue(packed, off);
      if (end < 0) throw new Error('packed entries end in the middle of an entry');
      const size = end - off;
      if (size > chunkLimitSize) {
        if (sliceRecords > 0) await this.append(chunk, packed.subarray(sliceStart, off), sliceRecords);
        oversized.push({ entry: packed.subarray(off, end), size, nth });
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

  /**
   * Staged → queued. The storage moves first (file: rename), so a failed move leaves the chunk
   * staged and counted, never in neither place; bytes move between the counters in one step.
   */
  private async enqueueLocked(chunk: Chunk): Promise<void> {
    await chunk.enqueue();
    const key = metadataKey(chunk.metadata);
    if (this.stage.get(key) === chunk) this.stage.delete(key);
    this.stageBytes -= chunk.bytes;
    this.queue.push(chunk);
    this.queueBytes += chunk.bytes;
    this.onEnqueue();
  }

  /** Takes the head of the queue for flushing. */
  dequeue(nowMs = Date.now()): Chunk | null {
    const c = this.queue.shift();
    if (!c) return null;
    this.queueBytes -= c.bytes;
    this.dequeued.set(c.hexId, { chunk: c, at: nowMs, awaitingCommit: false });
    return c;
  }

  /** Takes every queued chunk (retries exhausted: they all leave for the secondary or a backup). */
  dequeueAll(nowMs = Date.now()): Chunk[] {
    const out: Chunk[] = [];
    for (let c = this.dequeue(nowMs); c; c = this.dequeue(nowMs)) out.push(c);
    return out;
  }

  /** Puts a dequeued chunk back at the head of the queue (rollback), or at the tail. */
  takeback(chunk: Chunk, toTail = false): boolean {
    if (!this.dequeued.delete(chunk.hexId)) return false;
    if (toTail) this.queue.push(chunk);
    else this.queue.unshift(chunk);
    this.queueBytes += chunk.bytes;
    this.onEnqueue();
    return true;
  }

  /**
   * Deletes a dequeued (or queued) chunk for good. False, and nothing done, when the chunk is in
   * neither place (already purged, or never handed out): a second commit cannot purge twice.
   */
  async purge(chunk: Chunk): Promise<boolean> {
    if (!this.dequeued.delete(chunk.hexId)) {
      const i = this.queue.indexOf(chunk);
      if (i < 0) return false;
      this.queue.splice(i, 1);
      this.queueBytes -= chunk.bytes;
    }
    try {
      await chunk.purge();
    } finally {
      this.onFree();
    }
    return true;
  }
}
