/**
 * Memory-buffer chunks handed from the old pipeline to the new one during a reload (SIGUSR2).
 * File buffers need none of this: the new output resumes the same directory. A memory-buffered
 * output of the new pipeline registers its key while it is built; when the old pipeline stops, an
 * output whose key has a receiver parks its chunks here instead of flushing them (so a reload does
 * not depend on the destination being up, and nothing is lost when it is down), and the receiver
 * picks them up when it starts. An output with no receiver (removed, or its type or chunk keys
 * changed) flushes at shutdown as usual.
 */
import type { Chunk } from './chunk.js';

let collecting: Set<string> | null = null;
let receivers = new Set<string>();
const parked = new Map<string, { staged: Chunk[]; queued: Chunk[] }>();

/** Starts collecting the receivers of the pipeline about to be built. */
export function collectReceivers(): void {
  collecting = new Set();
}

/** Called by a memory-buffered output while it is built. */
export function registerReceiver(key: string): void {
  collecting?.add(key);
}

/** The new pipeline is valid: from now on outputs of the old one with a receiver hand over their chunks. */
export function armHandover(): void {
  receivers = collecting ?? new Set();
  collecting = null;
}

/** The swap is over (or was abandoned): nothing more is handed over. Returns chunks nobody picked up. */
export function disarmHandover(): Chunk[] {
  receivers = new Set();
  collecting = null;
  const left = [...parked.values()].flatMap((p) => [...p.queued, ...p.staged]);
  parked.clear();
  return left;
}

export function hasReceiver(key: string): boolean {
  return receivers.has(key);
}

export function parkChunks(key: string, staged: Chunk[], queued: Chunk[]): void {
  const p = parked.get(key) ?? { staged: [], queued: [] };
  p.staged.push(...staged);
  p.queued.push(...queued);
  parked.set(key, p);
}

/** The chunks parked for `key` (once). */
export function takeChunks(key: string): { staged: Chunk[]; queued: Chunk[] } {
  const p = parked.get(key) ?? { staged: [], queued: [] };
  parked.delete(key);
  return p;
}
