/**
 * BufferedOutput wraps every buffered plugin: it writes incoming streams into chunks, enqueues
 * them per flush mode, runs the flush workers, and is the only retry loop (backoff from
 * retry-state.ts; `<secondary>` or a backup file, secondary.ts, when retries are exhausted or the
 * plugin throws UnrecoverableError). A plugin supplies only `write(chunk)` (or `tryWrite` + a
 * later commit); those contracts are in buffered-output-types.ts. What happens to the chunks at
 * stop (final flush, handover, spill) is in shutdown.ts.
 */
import type { Logger } from 'pino';
import { errorMessage, ThrottledError, UnrecoverableError } from '../core/errors.js';
import { entryTime, type EventStream, type Record_ } from '../core/event-stream.js';
import type { PluginMetrics } from '../core/metrics.js';
import type { OutputInstance } from '../core/plugin.js';
import { decode } from '../protocol/msgpack.js';
import { BufferOverflowError, type ChunkBuffer, type OversizedEntry } from './buffer.js';
import type { BufferControl, BufferedOutputOptions, BufferedWriter } from './buffered-output-types.js';
import type { Chunk } from './chunk.js';
import type { ChunkKeys } from './chunk-keys.js';
import { chunkView, type ChunkView } from './chunk-view.js';
import { untilDeadline } from './deadline.js';
import { enqueuePeriodSec, isDue } from './flush-scheduler.js';
import { OverflowGuard } from './overflow.js';
import type { BufferConfig } from './params.js';
import { RetryState, type Clock } from './retry-state.js';
import { evacuate, type EvacuateDeps } from './secondary.js';
import { hasReceiver } from './handover.js';
import { disposeLeftovers, flushAtShutdown } from './shutdown.js';

// Plugins, setup.ts and tests import these from here.
export type { BufferControl, BufferedOutputOptions, BufferedWriter } from './buffered-output-types.js';
export type { ChunkView } from './chunk-view.js';
export type { SecondaryTarget } from './secondary.js';

/** A flush attempt: the chunk left the buffer, waits for a delayed commit, or was rolled back. */
type Outcome = 'done' | 'pending' | 'failed';

const SLOW_FLUSH_SEC = 20;
const systemClock: Clock = { now: () => Date.now() / 1000 };

export class BufferedOutput implements OutputInstance, BufferControl {
  writer!: BufferedWriter;
  retry: RetryState | null = null;
  write_secondary_count = 0;
  slow_flush_count = 0;
  flush_time_count = 0;
  private notBeforeMs = 0;
  private started = false;
  private running = false;
  private stopping = false;
  private stopped: Promise<void> | null = null;
  private closed = false;
  private sleepers = new Set<() => void>();
  private workers: Promise<void>[] = [];
  /** Commits, rollbacks and evacuations started outside a flush worker; awaited at stop. */
  private background = new Set<Promise<void>>();
  private enqueueTimer: NodeJS.Timeout | null = null;
  private readonly cfg: BufferConfig;
  /** Stage, queue and byte counters (monitor_agent reads them). */
  readonly buffer: ChunkBuffer;
  private readonly log: Logger;
  private readonly m: PluginMetrics;
  private readonly clock: Clock;
  private readonly evacuateDeps: EvacuateDeps;
  private readonly overflow: OverflowGuard;

  constructor(private readonly o: BufferedOutputOptions) {
    this.cfg = o.config;
    this.buffer = o.buffer;
    this.log = o.log;
    this.m = o.metrics;
    this.clock = o.clock ?? systemClock;
    this.buffer.onEnqueue = () => this.kick();
    this.overflow = new OverflowGuard({ buffer: o.buffer, action: o.config.overflow_action, log: o.log, metrics: o.metrics, kick: () => this.kick(), stopping: () => this.stopping });
    this.buffer.onFree = () => this.overflow.wake();
    this.evacuateDeps = {
      secondary: o.secondary, log: o.log, metrics: o.metrics,
      backup: { ...o.backup, compressed: o.buffer.limits.compress, log: o.log },
      countSecondaryWrite: () => { this.write_secondary_count++; },
    };
  }

  get drop_oldest_chunk_count(): number {
    return this.overflow.dropped;
  }

  get keys(): ChunkKeys {
    return this.o.keys;
  }

  private nowMs(): number {
    return this.clock.now() * 1000;
  }

  async start(): Promise<void> {
    if (this.started || this.stopping) return;
    this.started = true;
    const resumed = await this.buffer.resume();
    if (resumed > 0) this.log.info({ chunks: resumed, queued: this.buffer.queue.length }, 'resumed buffer chunks');
    await this.o.secondary?.start?.();
    await this.writer.start?.();
    this.running = true;
    const period = enqueuePeriodSec(this.cfg, this.o.mode, this.o.keys.time);
    if (period !== null) this.enqueueTimer = setInterval(() => void this.enqueueDue(), period * 1000);
    for (let i = 0; i < this.cfg.flush_thread_count; i++) this.workers.push(this.flushWorker());
  }

  /** Buffers a stream; resolves once every event is stored in a chunk. */
  async process(tag: string, stream: EventStream): Promise<void> {
    for (const part of this.o.keys.partition(tag, stream)) {
      await this.overflow.reserve();
      const oversized = await this.buffer.write(part.metadata, part.stream.packed(), part.stream.count);
      for (const o of oversized) this.refuse(tag, o);
    }
    if (this.o.mode === 'immediate') await this.buffer.enqueueStaged();
    else if (this.buffer.queue.length > 0 && !this.retry) this.kick();
  }

  /** A single record larger than a chunk: to @ERROR (or logged), once. */
  private refuse(tag: string, o: OversizedEntry): void {
    const [t, record] = decode(o.entry) as [unknown, Record_];
    const time = entryTime(t);
    const limit = this.buffer.limits.chunkLimitSize;
    this.m.countDrop('record_over_chunk_limit');
    this.o.emitError(tag, time, record, new BufferOverflowError(`a ${o.size} bytes record (nth: ${o.nth}) is larger than buffer chunk limit size (${limit})`));
  }

  /** Enqueues staged chunks whose interval or time range has passed, while the queue is under queued_chunks_limit_size. */
  private async enqueueDue(): Promise<void> {
    const limit = this.cfg.queued_chunks_limit_size ?? this.cfg.flush_thread_count;
    const now = this.clock.now();
    try {
      await this.buffer.enqueueStaged((c) => this.buffer.queue.length < limit && isDue(c, this.cfg, this.o.mode, now));
    } catch (e) {
      this.log.error({ error: errorMessage(e) }, 'failed to enqueue chunks');
    }
  }

  /** Enqueues everything and flushes now (SIGUSR1). */
  async flushNow(): Promise<void> {
    await this.buffer.enqueueStaged();
    this.notBeforeMs = 0;
    this.kick();
  }

  /** Wakes sleeping flush workers (they re-check the queue and any retry wait). */
  kick(): void {
    for (const s of [...this.sleepers]) s();
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
      try {
        await this.flushStep();
      } catch (e) {
        this.log.error({ error: errorMessage(e) }, 'unexpected error in a flush worker');
        await this.sleep(this.cfg.flush_thread_interval * 1000);
      }
    }
  }

  /** One turn of a flush worker: wait (retry, throttle, empty queue; never longer than flush_thread_interval), or flush the head chunk. */
  private async flushStep(): Promise<void> {
    this.checkDelayedCommits();
    const idleMs = this.cfg.flush_thread_interval * 1000;
    const waitMs = Math.max(this.retry ? this.retry.nextTime * 1000 : 0, this.notBeforeMs) - this.nowMs();
    if (waitMs > 0) return this.sleep(Math.min(waitMs, idleMs));
    const chunk = this.buffer.dequeue(this.nowMs());
    if (!chunk) return this.sleep(idleMs);
    await this.flushChunk(chunk, true);
    if (this.running && this.buffer.queue.length > 0 && !this.retry) await this.sleep(this.cfg.flush_thread_burst_interval * 1000);
  }

  /** One attempt at one dequeued chunk. */
  private async flushChunk(chunk: Chunk, retryOnFailure: boolean): Promise<Outcome> {
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
        if (!d) return 'done'; // committed (or rolled back) before tryWrite returned
        d.at = this.nowMs();
        d.awaitingCommit = true;
        return 'pending';
      } else {
        await this.writer.write(view);
      }
    } catch (e) {
      if (e instanceof UnrecoverableError) {
        await this.giveUp(chunk, e, toSecondary);
        return 'done';
      }
      this.rollbackChunk(chunk, e, retryOnFailure, toSecondary);
      return 'failed';
    } finally {
      this.noteFlushTime(chunk, Date.now() - started);
    }
    await this.committed(chunk);
    return 'done';
  }

  private noteFlushTime(chunk: Chunk, ms: number): void {
    this.flush_time_count += ms;
    if (ms / 1000 > SLOW_FLUSH_SEC) {
      this.slow_flush_count++;
      this.log.warn({ elapsed_time: ms / 1000, slow_flush_log_threshold: SLOW_FLUSH_SEC, chunk: chunk.hexId }, 'buffer flush took longer time than slow_flush_log_threshold:');
    }
  }

  /** Delivered: purge, and end any retry. A chunk already gone (second commit) changes nothing. */
  private async committed(chunk: Chunk): Promise<void> {
    try {
      if (!(await this.buffer.purge(chunk))) return;
    } catch (e) {
      this.log.error({ chunk: chunk.hexId, error: errorMessage(e) }, 'failed to delete a flushed buffer chunk');
    }
    if (this.retry) {
      this.log.warn({ chunk_id: chunk.hexId, retry_times: this.retry.steps }, 'retry succeeded.');
      this.retry = null;
    }
  }

  private rollbackChunk(chunk: Chunk, error: unknown, updateRetry: boolean, onSecondary = false): void {
    if (!this.buffer.takeback(chunk)) return;
    this.m.rollback_count++;
    if (!updateRetry) return;
    this.m.retry_count++;
    if (this.retry === null) {
      this.retry = new RetryState(this.cfg, { hasSecondary: this.o.secondary !== null, clock: this.clock, random: this.o.random });
    } else {
      this.retry.recordFailure();
    }
    if (error instanceof ThrottledError) this.notBeforeMs = this.nowMs() + error.retryAfterMs;
    this.log.warn({ retry_times: this.retry.steps, next_retry_time: new Date(Math.round(this.retry.nextTime) * 1000).toISOString(), chunk: chunk.hexId, error: errorMessage(error) }, 'failed to flush the buffer.');
    if (this.retry.limitReached()) this.track(this.retriesExhausted(error, onSecondary));
  }

  /** Give up: every queued chunk leaves for the secondary (unless it just failed) or a backup; staged chunks stay. */
  private async retriesExhausted(error: unknown, onSecondary: boolean): Promise<void> {
    const chunks = this.buffer.dequeueAll(this.nowMs());
    const records = chunks.reduce((n, c) => n + c.records, 0);
    this.log.error({ retry_times: this.retry?.steps ?? 0, records, error: errorMessage(error) }, 'Hit limit for retries. dropping all chunks in the buffer queue.');
    this.retry = null;
    for (const c of chunks) await this.evacuateChunk(c, error, !onSecondary);
  }

  /** Unrecoverable: a secondary of another type (once, unless it was the one failing), else a backup file. */
  private giveUp(chunk: Chunk, error: unknown, onSecondary: boolean): Promise<void> {
    const s = this.o.secondary;
    const useSecondary = s !== null && s.type !== this.o.type && !onSecondary;
    this.log.error({ chunk: chunk.hexId, records: chunk.records, error: errorMessage(error) }, useSecondary ? 'got unrecoverable error in primary; writing the chunk to <secondary>' : 'got unrecoverable error; the chunk is not retried');
    return this.evacuateChunk(chunk, error, useSecondary);
  }

  /** A dequeued chunk to the secondary or a backup; it stays queued only when both fail. */
  private async evacuateChunk(chunk: Chunk, error: unknown, useSecondary: boolean): Promise<void> {
    if (!(await evacuate(chunk, this.view(chunk), error, useSecondary, this.evacuateDeps))) {
      this.buffer.takeback(chunk, true);
      return;
    }
    try {
      await this.buffer.purge(chunk);
    } catch (e) {
      this.log.error({ chunk: chunk.hexId, error: errorMessage(e) }, 'failed to delete an evacuated buffer chunk');
    }
  }

  private track(p: Promise<void>): void {
    const t: Promise<void> = p
      .catch((e: unknown) => { this.log.error({ error: errorMessage(e) }, 'unexpected error after a flush'); })
      .finally(() => { this.background.delete(t); });
    this.background.add(t);
  }

  /** BufferControl: the plugin confirms delivery of a chunk it sent with tryWrite. */
  commit(hexId: string): void {
    const d = this.buffer.dequeued.get(hexId);
    if (d) this.track(this.committed(d.chunk));
  }

  rollback(hexId: string, updateRetry: boolean): void {
    const d = this.buffer.dequeued.get(hexId);
    if (!d) return;
    this.rollbackChunk(d.chunk, new Error('rolled back by plugin'), updateRetry);
    if (!updateRetry) this.kick(); // resend at once (usually to another node)
  }

  private checkDelayedCommits(): void {
    if (!this.o.delayedCommit) return;
    const limit = this.nowMs() - this.cfg.delayed_commit_timeout * 1000;
    for (const d of [...this.buffer.dequeued.values()]) {
      if (!d.awaitingCommit || d.at >= limit) continue;
      this.log.warn({ chunk: d.chunk.hexId, delayed_commit_timeout: this.cfg.delayed_commit_timeout }, 'failed to flush the buffer chunk, timeout to commit.');
      this.rollbackChunk(d.chunk, new Error('timeout to commit'), true);
    }
  }

  private view(chunk: Chunk): ChunkView {
    return chunkView(chunk, this.buffer.limits.compress, this.o.keys);
  }

  /** Stop accepting; flush per flush_at_shutdown; leave file chunks on disk. Ends within the deadline even if a write hangs. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    const deadlineSec = this.o.shutdownDeadlineSec ?? 20;
    const deadline = Date.now() + deadlineSec * 1000;
    this.stopping = true;
    this.running = false;
    if (this.enqueueTimer) clearInterval(this.enqueueTimer);
    this.buffer.onFree();
    this.kick();
    // Workers take no new chunk once `running` is false; a write still in flight must not use up the
    // deadline before the rest is flushed, so the final flush runs beside it.
    const handOver = this.o.handoverKey !== undefined && hasReceiver(this.o.handoverKey); // reload with a matching output
    if (this.o.flushAtShutdown && this.started && !handOver) {
      const flush = async (chunk: Chunk) => (await this.flushChunk(chunk, false)) !== 'failed';
      await flushAtShutdown({ buffer: this.buffer, log: this.log, flush, nowMs: () => this.nowMs() }, deadline, deadlineSec);
    }
    if (!(await untilDeadline(Promise.all([...this.workers, ...this.background]), deadline)).done) {
      this.log.error({ deadline_sec: deadlineSec }, 'a buffer flush did not finish before the shutdown deadline; not waiting for it');
    }
    while (this.o.delayedCommit && this.buffer.dequeued.size > 0 && Date.now() < deadline) await this.sleep(Math.min(20, deadline - Date.now()));
    await disposeLeftovers({
      buffer: this.buffer, log: this.log, delayedCommit: this.o.delayedCommit, handoverKey: handOver ? this.o.handoverKey! : null, path: this.o.config.path,
    });
    await this.o.secondary?.stop?.();
    await this.writer.stop?.();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stop();
    await this.writer.close?.();
    await this.o.secondary?.close?.();
    await this.buffer.storage.close();
  }
}
