/**
 * The contracts around BufferedOutput (buffered-output.ts): what a buffered plugin implements
 * (BufferedWriter), what it is handed for delayed commit (BufferControl), and what a BufferedOutput
 * is built from (BufferedOutputOptions, filled in by setup.ts).
 */
import type { Logger } from 'pino';
import type { Record_ } from '../core/event-stream.js';
import type { Time } from '../core/event-time.js';
import type { PluginMetrics } from '../core/metrics.js';
import type { Lifecycle } from '../core/plugin.js';
import type { BackupOptions } from './backup.js';
import type { ChunkBuffer } from './buffer.js';
import type { ChunkKeys } from './chunk-keys.js';
import type { ChunkView } from './chunk-view.js';
import type { FlushMode } from './flush-scheduler.js';
import type { BufferConfig } from './params.js';
import type { Clock } from './retry-state.js';
import type { SecondaryTarget } from './secondary.js';

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

export interface BufferedOutputOptions {
  config: BufferConfig;
  buffer: ChunkBuffer;
  keys: ChunkKeys;
  mode: FlushMode;
  flushAtShutdown: boolean;
  delayedCommit: boolean;
  /** The primary's @type: an unrecoverable chunk goes only to a secondary of another type. */
  type: string;
  secondary: SecondaryTarget | null;
  backup: Omit<BackupOptions, 'log' | 'compressed'>;
  log: Logger;
  metrics: PluginMetrics;
  emitError(tag: string, time: Time, record: Record_, error: unknown): void;
  /** Seconds `stop()` may take, flushing included, even when a write hangs (default 20). */
  shutdownDeadlineSec?: number;
  /** Memory buffers: what a reload matches the next pipeline's output by, to hand the chunks over (handover.ts). */
  handoverKey?: string;
  /** Time (seconds) for retry, throttle, commit-timeout and enqueue decisions; default the system clock. Timers stay real. */
  clock?: Clock;
  /** Uniform in [0, 1) for retry jitter; default Math.random. */
  random?: () => number;
}
