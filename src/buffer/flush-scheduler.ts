/**
 * When staged chunks are enqueued for flushing: resolves `flush_mode default`, and decides per
 * staged chunk whether its time has come (interval mode, or an expired time range).
 */
import type { Chunk } from './chunk.js';

export type FlushMode = 'lazy' | 'interval' | 'immediate';

export interface SchedulerConfig {
  flush_mode: 'default' | 'lazy' | 'interval' | 'immediate';
  flush_interval: number;
  flush_thread_interval: number;
  timekey: number | null;
  timekey_wait: number;
}

/** `default` ⇒ interval when flush_interval was given in <match> (v0.12 style), lazy with a time key, else interval. */
export function resolveFlushMode(mode: SchedulerConfig['flush_mode'], opts: { timeKey: boolean; v0FlushInterval: boolean }): FlushMode {
  if (mode !== 'default') return mode;
  if (opts.v0FlushInterval) return 'interval';
  return opts.timeKey ? 'lazy' : 'interval';
}

/** How often staged chunks are checked: min(relevant waits) / 11, never below flush_thread_interval. Null: no timer needed. */
export function enqueuePeriodSec(c: SchedulerConfig, mode: FlushMode, timeKey: boolean): number | null {
  const waits: number[] = [];
  if (mode === 'interval') waits.push(c.flush_interval);
  if (timeKey && c.timekey !== null) waits.push(c.timekey, c.timekey_wait);
  if (waits.length === 0) return null;
  return Math.max(c.flush_thread_interval, Math.min(...waits.filter((w) => w > 0), Infinity) / 11) || c.flush_thread_interval;
}

/** Whether a staged chunk should be enqueued now (seconds). */
export function isDue(chunk: Chunk, c: SchedulerConfig, mode: FlushMode, nowSec: number): boolean {
  if (mode === 'interval' && chunk.createdAt + c.flush_interval <= nowSec) return true;
  if (chunk.metadata.timekey !== null && c.timekey !== null) {
    return nowSec >= chunk.metadata.timekey + c.timekey + c.timekey_wait;
  }
  return false;
}
