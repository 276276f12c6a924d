/**
 * `overflow_action` (spec §6): what a write does while the buffer holds `total_limit_size` or more.
 * Checked once before each write, so a buffer may overshoot by one write.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import type { PluginMetrics } from '../core/metrics.js';
import { BufferOverflowError, type ChunkBuffer } from './buffer.js';

export type OverflowAction = 'throw_exception' | 'block' | 'drop_oldest_chunk';

export interface OverflowDeps {
  buffer: ChunkBuffer;
  action: OverflowAction;
  log: Logger;
  metrics: PluginMetrics;
  /** Wakes the flush workers. */
  kick(): void;
  /** True once the output is stopping: blocked writers give up. */
  stopping(): boolean;
}

export class OverflowGuard {
  /** Chunks dropped by drop_oldest_chunk (monitor_agent's `drop_oldest_chunk_count`). */
  dropped = 0;
  private waiters = new Set<() => void>();

  constructor(private readonly d: OverflowDeps) {}

  /** Bytes were freed (or the output is stopping): blocked writers look again. */
  wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when one more write may go in; rejects with BufferOverflowError otherwise. */
  async reserve(): Promise<void> {
    const { buffer, action } = this.d;
    while (buffer.overLimit) {
      if (action === 'drop_oldest_chunk' && buffer.queue.length > 0) {
        await this.dropOldest();
        continue;
      }
      if (action === 'block' && !this.d.stopping()) {
        await this.waitForSpace();
        continue;
      }
      this.d.metrics.retry_count++;
      this.d.log.warn({ action, total_bytes: buffer.totalBytes, limit: buffer.limits.totalLimitSize }, 'failed to write data into buffer by buffer overflow');
      throw new BufferOverflowError(`buffer space has too many data (total_limit_size ${buffer.limits.totalLimitSize} bytes)`);
    }
  }

  private async dropOldest(): Promise<void> {
    const oldest = this.d.buffer.queue[0]!;
    this.dropped++;
    this.d.metrics.countDrop('drop_oldest_chunk', oldest.records);
    this.d.log.warn({ chunk: oldest.hexId, records: oldest.records }, 'dropping oldest chunk to make space after buffer overflow');
    try {
      await this.d.buffer.purge(oldest);
    } catch (e) {
      this.d.log.error({ chunk: oldest.hexId, error: errorMessage(e) }, 'failed to purge the dropped chunk');
    }
  }

  /** block: flush staged chunks too (else a buffer full of staged data never drains), then wait for a purge (1 s at most). */
  private async waitForSpace(): Promise<void> {
    await this.d.buffer.enqueueStaged();
    this.d.kick();
    if (!this.d.buffer.overLimit || this.d.stopping()) return;
    await new Promise<void>((resolve) => {
      const done = () => { clearTimeout(t); this.waiters.delete(done); resolve(); };
      const t = setTimeout(done, 1000);
      this.waiters.add(done);
    });
  }
}
