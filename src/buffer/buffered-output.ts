/**
 * BufferedOutput wraps every buffered plugin: it writes incoming streams into chunks, enqueues
 * them per flush mode, runs the flush workers, and is the only retry loop (backoff from
 * retry-state.ts; `<secondary>` or a backup file when retries are exhausted or the plugin throws
 * UnrecoverableError). A plugin supplies only `write(chunk)` (or `tryWrite` + a later commit).
 */
import { gunzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { EventStream } from '../core/event-stream.js';
import { errorMessage, ThrottledError, UnrecoverableError } from '../core/errors.js';
import type { PluginMetrics } from '../core/metrics.js';
import type { Lifecycle, OutputInstance } from '../core/plugin.js';
import { decode } from '../protocol/msgpack.js';
import type { Record_ } from '../core/event-stream.js';
import type { Time } from '../core/event-time.js';
import { backupChunk, type BackupOptions } from './backup.js';
import { BufferOverflowError, type ChunkBuffer } from './buffer.js';
import type { Chunk, ChunkMetadata, ChunkProgress } from './chunk.js';
import type { ChunkKeys } from './chunk-keys.js';
import { enqueuePeriodSec, isDue, type FlushMode } from './flush-scheduler.js';
import type { BufferConfig } from './params.js';
import { expandPlaceholders } from './placeholders.js';
import { RetryState } from './retry-state.js';

/** What a buffered plugin sees of a chunk. */
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

export interface BufferedWriter extends Lifecycle {
  write(chunk: ChunkView): Promise<void>;
  /** Delayed commit: send, then resolve; the plugin later calls `commit` or `rollback` on its BufferControl. */
  tryWrite?(chunk: ChunkView): Promise<void>;
}

/** Handed to buffered plugins for delayed commit. */
export interface BufferControl {
  commit(hexId: string): void;
  /** Put the chunk back to be retried; `updateRetry` false for ack failures (the chunk goes elsewhere). */
  rollback(hexId: string, updateRetry: boolean): void;
  readonly keys: ChunkKeys;
}

/** A `<secondary>` target: writes a chunk once. */
export interface SecondaryTarget {
  type: string;
  write(chunk: ChunkView): Promise<void>;
}

export interface BufferedOutputOptions {
  config: BufferConfig;
  buffer: ChunkBuffer;
  keys: ChunkKeys;
  mode: FlushMode;
  flushAtShutdown: boolean;
  delayedCommit: boolean;
  secondary: SecondaryTarget | null;
  backup: Omit<BackupOptions, 'log' | 'compressed'>;
  log: Logger;
  metrics: PluginMetrics;
  emitError(tag: string, time: Time, record: Record_, error: unknown): void;
  /** Seconds to spend flushing at shutdown before giving up (kept under a container stop window). */
  shutdownDeadlineSec?: number;
}

const SLOW_FLUSH_SEC = 20;

export class BufferedOutput implements OutputInstance, BufferControl {
  writer!: BufferedWriter;
  retry: RetryState | null = null;
  private notBefore = 0;
  private running = false;
  private stopping = false;
  private sleepers = new Set<() => void>();
  private spaceWaiters = new Set<() => void>();
  private workers: Promise<void>[] = [];
  private enqueueTimer: NodeJS.Timeout | null = null;
  private readonly cfg: BufferConfig;
  private readonly buffer: ChunkBuffer;
  private readonly log: Logger;
  private readonly m: PluginMetrics;
  drop_oldest_chunk_count = 0;
  write_secondary_count = 0;
  slow_flush_count = 0;
  flush_time_count = 0;

  constructor(private readonly o: BufferedOutputOptions) {
    this.cfg = o.config;
    this.buffer = o.buffer;
    this.log = o.log;
    this.m = o.metrics;
    this.buffer.onEnqueue = () => this.kick();
    this.buffer.onFree = () => { for (const w of this.spaceWaiters) w(); };
  }

  get keys(): ChunkKeys {
    return this.o.keys;
  }

  async start(): Promise<void> {
    const resumed = await this.buffer.resume();
    if (resumed > 0) this.log.info({ chunks: resumed, queued: this.buffer.queue.length }, 'resumed buffer chunks');
    await this.writer.start?.();
    this.running = true;
    const period = enqueuePeriodSec(this.cfg, this.o.mode, this.o.keys.time);
    if (period !== null) this.enqueueTimer = setInterval(() => void this.enqueueDue(), period * 1000);
    for (let i = 0; i < this.cfg.flush_thread_count; i++) this.workers.push(this.flushWorker());
  }

  /** Buffers a stream; resolves once every event is stored in a chunk. */
  async process(tag: string, stream: EventStream): Promise<void> {
    for (const part of this.o.keys.partition(tag, stream)) {
      await this.reserveSpace();
      const oversized = await this.buffer.write(part.metadata, part.stream.packed(), part.stream.count);
      for (const o of oversized) this.refuse(tag, o.entry, o.size);
    }
    if (this.o.mode === 'immediate') await this.buffer.enqueueStaged();
    else if (this.buffer.queue.length > 0) this.kick();
  }

  /** A single record larger than a chunk: to @ERROR (or logged), once. */
  private refuse(tag: string, entry: Buffer, size: number): void {
    const [time, record] = decode(entry) as [Time, Record_];
    const limit = this.buffer.limits.chunkLimitSize;
    this.m.countDrop('record_over_chunk_limit');
    this.o.emitError(tag, time, record, new BufferOverflowError(`a ${size} bytes record is larger than buffer chunk limit size (${limit})`));
  }

  private async reserveSpace(): Promise<void> {
    while (this.buffer.overLimit) {
      const action = this.cfg.overflow_action;
      if (action === 'drop_oldest_chunk') {
        const oldest = this.buffer.queue[0];
        if (oldest) {
          await this.buffer.purge(oldest);
          this.drop_oldest_chunk_count++;
          this.m.countDrop('drop_oldest_chunk', oldest.records);
          this.log.warn({ chunk: oldest.hexId, records: oldest.records }, 'dropping oldest chunk to make space after buffer overflow');
          continue;
        }
      } else if (action === 'block' && !this.stopping) {
        this.kick();
        await new Promise<void>((resolve) => {
          const done = () => { clearTimeout(t); this.spaceWaiters.delete(done); resolve(); };
          const t = setTimeout(done, 1000);
          this.spaceWaiters.add(done);
        });
        continue;
      }
      this.m.retry_count++;
      this.log.warn({ action, total_bytes: this.buffer.totalBytes, limit: this.buffer.limits.totalLimitSize }, 'failed to write data into buffer by buffer overflow');
      throw new BufferOverflowError(`buffer space has too many data (total_limit_size ${this.buffer.limits.totalLimitSize} bytes)`);
    }
  }

  /** Enqueues staged chunks whose interval or time range has passed. */
  private async enqueueDue(): Promise<void> {
    const limit = this.cfg.queued_chunks_limit_size ?? this.cfg.flush_thread_count;
    if (this.buffer.queue.length >= limit) return;
    const now = Date.now() / 1000;
    try {
      await this.buffer.enqueueStaged((c) => isDue(c, this.cfg, this.o.mode, now));
    } catch (e) {
      this.log.error({ error: errorMessage(e) }, 'failed to enqueue chunks');
    }
  }

  /** Enqueues everything and flushes now (SIGUSR1). */
  async flushNow(): Promise<void> {
    await this.buffer.enqueueStaged();
    this.notBefore = 0;
    this.kick();
  }

  kick(): void {
    for (const s of this.sleepers) s();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => { clearTimeout(t); this.sleepers.delete(done); resolve(); };
      const t = setTimeout(done, Math.max(0, ms));
      this.sleepers.add(done);
    });
  }

  private async flushWorker(): Promise<void> {
    while (this.running) {
      this.checkDelayedCommits();
      const now = Date.now();
      const waitUntil = Math.max(this.retry ? this.retry.nextTime * 1000 : 0, this.notBefore);
      if (waitUntil > now) {
        await this.sleep(waitUntil - now);
        continue;
      }
      const chunk = this.buffer.dequeue();
      if (!chunk) {
        await this.sleep(this.cfg.flush_thread_interval * 1000);
        continue;
      }
      await this.flushChunk(chunk, true);
      if (this.running && this.buffer.queue.length > 0 && !this.retry) await this.sleep(this.cfg.flush_thread_burst_interval * 1000);
    }
  }

  /** One attempt at one dequeued chunk. Returns true when the chunk left the buffer. */
  private async flushChunk(chunk: Chunk, retryOnFailure: boolean): Promise<boolean> {
    const view = this.view(chunk);
    const toSecondary = this.o.secondary !== null && this.retry !== null && this.retry.shouldUseSecondary();
    const started = Date.now();
    this.m.write_count++;
    try {
      if (toSecondary) {
        this.write_secondary_count++;
        await this.o.secondary!.write(view);
      } else if (this.o.delayedCommit && this.writer.tryWrite) {
        await this.writer.tryWrite(view);
        const d = this.buffer.dequeued.get(chunk.hexId);
        if (d) d.at = Date.now();
        return false; // committed later by the plugin
      } else {
        await this.writer.write(view);
      }
    } catch (e) {
      if (e instanceof UnrecoverableError) {
        await this.giveUp(chunk, e);
        return true;
      }
      this.rollbackChunk(chunk, e, retryOnFailure);
      return false;
    } finally {
      this.noteFlushTime(chunk, Date.now() - started);
    }
    await this.committed(chunk);
    return true;
  }

  private noteFlushTime(chunk: Chunk, ms: number): void {
    this.flush_time_count += ms;
    if (ms / 1000 > SLOW_FLUSH_SEC) {
      this.slow_flush_count++;
      this.log.warn({ elapsed_time: ms / 1000, slow_flush_log_threshold: SLOW_FLUSH_SEC, chunk: chunk.hexId }, 'buffer flush took longer time than slow_flush_log_threshold:');
    }
  }

  private async committed(chunk: Chunk): Promise<void> {
    await this.buffer.purge(chunk);
    if (this.retry) {
      this.log.warn({ retry_times: this.retry.steps }, 'retry succeeded.');
      this.retry = null;
    }
  }

  private rollbackChunk(chunk: Chunk, error: unknown, updateRetry: boolean): void {
    if (!this.buffer.takeback(chunk)) return;
    this.m.rollback_count++;
    if (!updateRetry) return;
    this.m.retry_count++;
    if (this.retry === null) {
      this.retry = new RetryState(this.cfg, { hasSecondary: this.o.secondary !== null });
    } else {
      this.retry.recordFailure();
    }
    if (error instanceof ThrottledError) this.notBefore = Date.now() + error.retryAfterMs;
    this.log.warn({ retry_times: this.retry.steps, next_retry_time: new Date(this.retry.nextTime * 1000).toISOString(), chunk: chunk.hexId, error: errorMessage(error) }, 'failed to flush the buffer.');
    if (this.retry.limitReached()) void this.retriesExhausted(error);
  }

  private async retriesExhausted(error: unknown): Promise<void> {
    const chunks = this.buffer.queue.splice(0);
    for (const c of chunks) this.buffer.queueBytes -= c.bytes;
    const records = chunks.reduce((n, c) => n + c.records, 0);
    this.log.error({ retry_times: this.retry?.steps ?? 0, records, error: errorMessage(error) }, 'Hit limit for retries. dropping all chunks in the buffer queue.');
    this.retry = null;
    for (const c of chunks) await this.evacuate(c, error);
  }

  /** Unrecoverable: the secondary (if any, once) else a backup file; the chunk leaves the buffer. */
  private async giveUp(chunk: Chunk, error: unknown): Promise<void> {
    this.buffer.dequeued.delete(chunk.hexId);
    await this.evacuate(chunk, error);
  }

  private async evacuate(chunk: Chunk, error: unknown): Promise<void> {
    if (this.o.secondary) {
      try {
        this.write_secondary_count++;
        await this.o.secondary.write(this.view(chunk));
        this.log.warn({ chunk: chunk.hexId, records: chunk.records, secondary: this.o.secondary.type }, 'chunk written to <secondary> after primary failure');
        await chunk.purge();
        return;
      } catch (e) {
        this.log.error({ chunk: chunk.hexId, error: errorMessage(e) }, 'failed to write the chunk to <secondary>');
      }
    }
    try {
      await backupChunk(chunk, error, { ...this.o.backup, compressed: this.buffer.limits.compress, log: this.log });
      this.m.countDrop('backup', chunk.records);
      await chunk.purge();
    } catch (e) {
      this.log.error({ chunk: chunk.hexId, error: errorMessage(e) }, 'failed to back up the chunk; it stays in the buffer');
      this.buffer.queue.push(chunk);
      this.buffer.queueBytes += chunk.bytes;
    }
    this.buffer.onFree();
  }

  /** BufferControl: the plugin confirms delivery of a chunk it sent with tryWrite. */
  commit(hexId: string): void {
    const d = this.buffer.dequeued.get(hexId);
    if (d) void this.committed(d.chunk);
  }

  rollback(hexId: string, updateRetry: boolean): void {
    const d = this.buffer.dequeued.get(hexId);
    if (d) {
      this.rollbackChunk(d.chunk, new Error('rolled back by plugin'), updateRetry);
      this.kick();
    }
  }

  private checkDelayedCommits(): void {
    if (!this.o.delayedCommit) return;
    const limit = Date.now() - this.cfg.delayed_commit_timeout * 1000;
    for (const { chunk, at } of [...this.buffer.dequeued.values()]) {
      if (at < limit) this.rollbackChunk(chunk, new Error('timeout to commit'), true);
    }
  }

  private view(chunk: Chunk): ChunkView {
    const compressed = this.buffer.limits.compress;
    const keys = this.o.keys;
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

  /** Stop accepting; flush per flush_at_shutdown within the deadline; leave file chunks on disk. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const w of this.spaceWaiters) w();
    if (this.enqueueTimer) clearInterval(this.enqueueTimer);
    this.running = false;
    this.kick();
    await Promise.all(this.workers);
    if (this.o.flushAtShutdown) await this.flushAtShutdown();
    for (const { chunk } of [...this.buffer.dequeued.values()]) this.buffer.takeback(chunk);
    const left = this.buffer.queue.length + [...this.buffer.stage.values()].filter((c) => c.records > 0).length;
    if (left > 0 && !this.buffer.storage.persistent) {
      const records = this.buffer.queue.reduce((n, c) => n + c.records, 0) + [...this.buffer.stage.values()].reduce((n, c) => n + c.records, 0);
      this.log.error({ chunks: left, records }, 'memory buffer chunks could not be flushed at shutdown and are lost');
    }
    await this.writer.stop?.();
  }

  private async flushAtShutdown(): Promise<void> {
    const deadline = Date.now() + (this.o.shutdownDeadlineSec ?? 20) * 1000;
    await this.buffer.enqueueStaged();
    while (Date.now() < deadline) {
      const chunk = this.buffer.dequeue();
      if (!chunk) break;
      const done = await this.flushChunk(chunk, false);
      if (!done && !this.o.delayedCommit) break; // one try each at shutdown: stop on the first failure
    }
    if (this.o.delayedCommit) {
      while (this.buffer.dequeued.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    await this.writer.close?.();
    await this.buffer.storage.close();
  }
}
