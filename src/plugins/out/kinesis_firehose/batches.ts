/**
 * Which records of a chunk are done (accepted by Firehose, or sent to @ERROR), kept with the chunk
 * as its progress so a retried chunk — also after a restart, with a file buffer — sends only the
 * rest; and the split of the pending records into PutRecordBatch calls.
 */
import type { ChunkProgress } from '../../../buffer/chunk.js';

/** The progress key (a bitset over the chunk's record indices, msgpack bin in file buffers). */
const DONE_KEY = 'firehose_done';
const COUNT_KEY = 'firehose_records';

export class DoneSet {
  private readonly bits: Uint8Array;
  private n = 0;

  /** Restores the set from a chunk's progress; a missing or mismatched progress starts empty. */
  constructor(readonly records: number, progress: ChunkProgress | null = null) {
    this.bits = new Uint8Array(Math.ceil(records / 8));
    const saved = progress?.[DONE_KEY];
    if (saved instanceof Uint8Array && saved.byteLength === this.bits.byteLength && progress?.[COUNT_KEY] === records) {
      this.bits.set(saved);
      for (let i = 0; i < records; i++) if (this.has(i)) this.n++;
    }
  }

  has(i: number): boolean {
    return (this.bits[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  add(i: number): void {
    if (this.has(i)) return;
    this.bits[i >> 3]! |= 1 << (i & 7);
    this.n++;
  }

  get size(): number {
    return this.n;
  }

  /** Merges into an existing progress object (other keys are kept). */
  toProgress(prev: ChunkProgress | null): ChunkProgress {
    return { ...(prev ?? {}), [DONE_KEY]: Buffer.from(this.bits), [COUNT_KEY]: this.records };
  }
}

/** A record waiting to be sent: its index in the chunk and its bytes. */
export interface Pending {
  index: number;
  data: Buffer;
}

/**
 * Splits records, in order, into batches: a new batch starts before a record when the batch
 * already holds `maxCount` records or the record's bytes would take it over `maxBytes` (raw data
 * bytes, before base64, as the plugin measures). A record is never split or dropped here.
 */
export function splitBatches<T extends { data: Buffer }>(records: T[], maxCount: number, maxBytes: number): T[][] {
  const out: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const r of records) {
    if (batch.length > 0 && (batch.length + 1 > maxCount || bytes + r.data.length > maxBytes)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(r);
    bytes += r.data.length;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}
