/**
 * What becomes of a BufferedOutput's chunks when it stops: the final flush (`flush_at_shutdown`),
 * every chunk once within the shutdown deadline, and then the chunks still held. Those the plugin
 * still had go back to the queue; a memory buffer's are handed to the reloaded pipeline
 * (handover.ts), written to the buffer's `path`, or lost (logged). File chunks just stay on disk.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import type { ChunkBuffer } from './buffer.js';
import type { Chunk } from './chunk.js';
import { untilDeadline } from './deadline.js';
import { parkChunks } from './handover.js';
import { MemoryStorage } from './memory.js';
import type { BufferConfig } from './params.js';

export interface FinalFlushDeps {
  buffer: ChunkBuffer;
  log: Logger;
  /** One attempt at one dequeued chunk; false when it failed (it was rolled back). */
  flush(chunk: Chunk): Promise<boolean>;
  nowMs(): number;
}

/** Every chunk once, in order; stops at the first failure or the deadline. */
export async function flushAtShutdown(d: FinalFlushDeps, deadline: number, deadlineSec: number): Promise<void> {
  if (!(await untilDeadline(d.buffer.enqueueStaged(), deadline)).done) return;
  while (Date.now() < deadline) {
    const chunk = d.buffer.dequeue(d.nowMs());
    if (!chunk) break;
    const r = await untilDeadline(d.flush(chunk), deadline);
    if (!r.done) {
      d.log.error({ chunk: chunk.hexId, deadline_sec: deadlineSec }, 'a buffer flush did not finish before the shutdown deadline; not waiting for it');
      return;
    }
    if (!r.value) return;
  }
}

export interface LeftoverOptions {
  buffer: ChunkBuffer;
  log: Logger;
  delayedCommit: boolean;
  /** Set when a reloaded pipeline has a matching output to hand the memory chunks to. */
  handoverKey: string | null;
  path: BufferConfig['path'];
}

/** The last step of stopping, after the final flush and once the workers finished or the deadline passed. */
export async function disposeLeftovers(o: LeftoverOptions): Promise<void> {
  const { buffer, log } = o;
  const pending = [...buffer.dequeued.values()];
  if (pending.length > 0) {
    const what = o.delayedCommit ? 'delayed commit for buffer chunks was cancelled in shutdown' : 'buffer chunks still being written at shutdown are kept in the buffer';
    log.info({ chunks: pending.map((d) => d.chunk.hexId) }, what);
    for (const d of pending) buffer.takeback(d.chunk);
  }
  const staged = [...buffer.stage.values()].filter((c) => c.records > 0);
  const left = [...buffer.queue, ...staged];
  if (o.handoverKey !== null && left.length > 0) {
    parkChunks(o.handoverKey, staged, [...buffer.queue]);
    log.info({ chunks: left.length, records: left.reduce((n, c) => n + c.records, 0) }, 'memory buffer chunks handed over to the reloaded configuration');
  } else if (left.length > 0 && !buffer.storage.persistent) await spillOrLose(o, left);
}

/** Memory chunks left at shutdown go to the buffer's `path` when one is configured, else they are lost (logged). */
async function spillOrLose(o: LeftoverOptions, left: Chunk[]): Promise<void> {
  const records = left.reduce((n, c) => n + c.records, 0);
  const storage = o.buffer.storage;
  if (storage instanceof MemoryStorage) {
    try {
      const kept = await storage.spill(left);
      if (kept > 0) {
        o.log.warn({ chunks: kept, records, path: o.path }, 'memory buffer chunks not flushed at shutdown were written to the buffer path');
        return;
      }
    } catch (e) {
      o.log.error({ error: errorMessage(e) }, 'failed to write unflushed memory chunks to the buffer path');
    }
  }
  o.log.error({ chunks: left.length, records }, 'memory buffer chunks could not be flushed at shutdown and are lost');
}
