/**
 * Built-in flow metrics: records and bytes per tag for one plugin (an input's emits, an output's
 * received streams), the numbers operators used to get by chaining copy → flowcounter →
 * record_modifier → record_transformer → dogstatsd. Counters only grow; views (monitor_agent,
 * Prometheus, DogStatsD) turn them into rates.
 *
 * Hot path: one Map lookup and two additions per stream, nothing per event, no allocation after a
 * tag's first stream. Bytes are the msgpack size of the stream and are counted only when the
 * stream is already packed (never encoded for counting); records of streams that exist only as
 * objects are counted in `unsized`. At most `maxTags` tags are kept; streams of further tags are
 * added to the `OTHER_TAG` entry, so high-cardinality tags cannot grow memory.
 */
import type { EventStream } from '../core/event-stream.js';

export interface FlowEntry {
  /** Events. */
  records: number;
  /** msgpack bytes of the packed streams among them. */
  bytes: number;
  /** Events whose stream was not packed, so their bytes are not in `bytes`. */
  unsized: number;
}

/** The entry that collects tags beyond `maxTags`. */
export const OTHER_TAG = '(other)';
export const DEFAULT_MAX_TAGS = 1000;

export class FlowCounters {
  private readonly tags = new Map<string, FlowEntry>();
  private other: FlowEntry | null = null;

  constructor(readonly maxTags = DEFAULT_MAX_TAGS) {}

  /** Counts one stream under its tag. */
  add(tag: string, stream: EventStream): void {
    const e = this.entry(tag);
    const n = stream.count;
    e.records += n;
    const bytes = stream.packedLength; // packed only: no encoding happens here
    if (bytes === null) e.unsized += n;
    else e.bytes += bytes;
  }

  /** Counts numbers already known (a plugin that measured bytes itself). */
  addCounts(tag: string, records: number, bytes: number): void {
    const e = this.entry(tag);
    e.records += records;
    e.bytes += bytes;
  }

  private entry(tag: string): FlowEntry {
    let e = this.tags.get(tag);
    if (e === undefined) {
      if (this.tags.size >= this.maxTags) return (this.other ??= { records: 0, bytes: 0, unsized: 0 });
      e = { records: 0, bytes: 0, unsized: 0 };
      this.tags.set(tag, e);
    }
    return e;
  }

  get(tag: string): Readonly<FlowEntry> | undefined {
    return tag === OTHER_TAG ? this.other ?? undefined : this.tags.get(tag);
  }

  /** True once some tag did not fit and was counted under OTHER_TAG. */
  get overflowed(): boolean {
    return this.other !== null;
  }

  /** Every tag in first-seen order, then OTHER_TAG if used. The entries are live: copy to keep. */
  *entries(): IterableIterator<[string, Readonly<FlowEntry>]> {
    yield* this.tags;
    if (this.other) yield [OTHER_TAG, this.other];
  }

  /** Sums over every tag. */
  total(): FlowEntry {
    const t = { records: 0, bytes: 0, unsized: 0 };
    for (const [, e] of this.entries()) {
      t.records += e.records;
      t.bytes += e.bytes;
      t.unsized += e.unsized;
    }
    return t;
  }
}
