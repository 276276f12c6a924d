/**
 * Resend detection for one batch of forward requests: which requests carry a chunk this input
 * stored recently (ChunkIdMemory, chunk-memory.ts) and must only be acked again, and the key a
 * chunk is remembered under.
 */
import { createHash } from 'node:crypto';
import type { EventRequest } from '../../../protocol/framing.js';
import type { ChunkIdMemory } from './chunk-memory.js';

/** The requests of a batch to store, and `settle`, to be called once with whether they were stored. */
export interface DedupedBatch {
  fresh: EventRequest[];
  settle(stored: boolean): void;
}

/**
 * Leaves out requests whose chunk this input stored recently (they are still acked). Waits first,
 * holding no claim, for chunks another connection is storing right now; then claims the rest in
 * one synchronous pass, so two connections can never wait on each other. `onDuplicates` is called
 * (before this resolves) when some requests were left out.
 */
export async function dedupeBatch(batch: EventRequest[], memory: ChunkIdMemory | null | undefined,
  onDuplicates: (chunks: number, records: number) => void): Promise<DedupedBatch> {
  if (!memory || batch.every((r) => r.chunk === null)) return { fresh: batch, settle: () => undefined };
  const keys = new Map<EventRequest, string>();
  const keyOf = (r: EventRequest) => {
    let key = keys.get(r);
    if (key === undefined) {
      key = chunkKey(r);
      keys.set(r, key);
    }
    return key;
  };
  for (;;) {
    const waits = batch.flatMap((r) => (r.chunk !== null ? [memory.pending(keyOf(r))] : [])).filter((w) => w !== null);
    if (waits.length === 0) break;
    await Promise.all(waits);
  }
  const fresh: EventRequest[] = [];
  const settles: Array<(stored: boolean) => void> = [];
  const mine = new Set<string>();
  let chunks = 0;
  let records = 0;
  for (const r of batch) {
    const key = r.chunk !== null ? keyOf(r) : null;
    const claim = key !== null ? memory.claim(key) : null;
    // 'pending' is this batch's own claim (the same chunk twice in a row); another connection's
    // cannot happen after the wait above, and storing twice would beat losing it
    if (claim?.kind === 'seen' || (claim?.kind === 'pending' && mine.has(key!))) {
      chunks++;
      records += r.count;
      continue;
    }
    if (claim?.kind === 'new') {
      settles.push(claim.settle);
      mine.add(key!);
    }
    fresh.push(r);
  }
  if (chunks > 0) onDuplicates(chunks, records);
  return { fresh, settle: (stored) => settles.forEach((s) => s(stored)) };
}

/**
 * What identifies a resent chunk: its tag and `chunk` id, plus its size and a digest of its first
 * and last bytes, so a client that reuses ids for other data is not mistaken for a resend (hashing
 * every byte would cost more than the rest of the pass-through path).
 */
function chunkKey(r: EventRequest): string {
  const e = r.entries;
  const digest = createHash('sha1').update(e.subarray(0, 64)).update(e.subarray(Math.max(64, e.length - 64))).digest('base64');
  return `${r.tag}\0${r.chunk!.toString('latin1')}\0${r.count}:${e.length}:${digest}`;
}
