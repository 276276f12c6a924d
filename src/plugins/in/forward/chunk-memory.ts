/**
 * The ids of chunks an input stored recently (logferry only; Fluentd stores a resent chunk twice).
 * A sender that lost an ack resends the chunk with the same `chunk` option: the input acks it again
 * without storing it again. Keys are opaque here (chunk-dedupe.ts builds them from the tag, the id
 * and a fingerprint of the data). Bounded by count and by age; insertion order is age order, so the
 * oldest entries are dropped from the front. A chunk being stored while its resend arrives (on
 * another connection) makes the resend wait for the first attempt's outcome.
 */

/** `settle` is called once the chunk was stored (true) or could not be (false). */
export type Claim = { kind: 'new'; settle(stored: boolean): void } | { kind: 'seen' } | { kind: 'pending' };

export class ChunkIdMemory {
  /** key → time stored (ms). */
  private readonly stored = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<boolean>>();

  constructor(private readonly maxCount: number, private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.stored.size;
  }

  /** Resolves when the chunk being stored under `key` is done; null when none is. */
  pending(key: string): Promise<boolean> | null {
    return this.inflight.get(key) ?? null;
  }

  claim(key: string): Claim {
    this.prune();
    if (this.stored.has(key)) return { kind: 'seen' };
    if (this.inflight.has(key)) return { kind: 'pending' };
    let done!: (stored: boolean) => void;
    this.inflight.set(key, new Promise<boolean>((resolve) => (done = resolve)));
    return {
      kind: 'new',
      settle: (ok) => {
        this.inflight.delete(key);
        if (ok) this.remember(key);
        done(ok);
      },
    };
  }

  private remember(key: string): void {
    this.stored.delete(key);
    this.stored.set(key, this.now());
    this.prune();
  }

  private prune(): void {
    const oldest = this.now() - this.ttlMs;
    for (const [key, at] of this.stored) {
      if (this.stored.size <= this.maxCount && at >= oldest) break;
      this.stored.delete(key);
    }
  }
}
