/**
 * Kept-alive data connections (`keepalive true`), keyed by resolved address, port and TLS name. A
 * pooled connection takes further messages while earlier ones still wait for their acks. With
 * `keepalive_timeout` a connection is recycled once it is that old (not only that idle): it takes no
 * new message and is closed when its last ack is in, so new aggregator tasks behind a load balancer
 * get connections too. Connections the peer closed are dropped before reuse.
 */
import type { ForwardSocket } from './connection.js';

const PURGE_EVERY_MS = 5000;

export class SocketPool {
  private readonly byKey = new Map<string, ForwardSocket[]>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly maxAgeMs: number | null) {}

  start(): void {
    if (this.timer) return;
    const every = this.maxAgeMs === null ? PURGE_EVERY_MS : Math.max(50, Math.min(PURGE_EVERY_MS, this.maxAgeMs / 2));
    this.timer = setInterval(() => this.purge(), every);
    this.timer.unref();
  }

  /** A live, young enough connection for `key`, or null. */
  get(key: string): ForwardSocket | null {
    const list = this.byKey.get(key);
    if (!list) return null;
    for (const s of list) if (this.usable(s)) return s;
    return null;
  }

  add(key: string, s: ForwardSocket): void {
    const list = this.byKey.get(key);
    if (list) list.push(s);
    else this.byKey.set(key, [s]);
  }

  /** Forgets a connection (it closed, or a send on it failed). */
  remove(s: ForwardSocket): void {
    for (const [key, list] of this.byKey) {
      const i = list.indexOf(s);
      if (i < 0) continue;
      list.splice(i, 1);
      if (list.length === 0) this.byKey.delete(key);
      return;
    }
  }

  /**
   * After an ack: closes a connection that has nothing left in flight and is past its age or no
   * longer pooled (its node was removed by service discovery).
   */
  release(s: ForwardSocket): void {
    if (s.pending.size === 0 && (!this.usable(s) || !this.has(s))) {
      this.remove(s);
      s.end();
    }
  }

  has(s: ForwardSocket): boolean {
    for (const list of this.byKey.values()) if (list.includes(s)) return true;
    return false;
  }

  /** A removed node's connections: out of the pool now, closed once nothing is in flight on them. */
  drop(keys: Iterable<string>): void {
    for (const key of keys) {
      const list = this.byKey.get(key) ?? [];
      this.byKey.delete(key);
      for (const s of list) if (s.pending.size === 0) s.end();
    }
  }

  get size(): number {
    let n = 0;
    for (const list of this.byKey.values()) n += list.length;
    return n;
  }

  private usable(s: ForwardSocket): boolean {
    if (s.closed || s.peerClosed || s.socket.destroyed) return false;
    return this.maxAgeMs === null || Date.now() - s.createdAt < this.maxAgeMs;
  }

  purge(): void {
    for (const list of [...this.byKey.values()]) {
      for (const s of [...list]) {
        if (s.closed) this.remove(s);
        else this.release(s);
      }
    }
  }

  closeAll(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const list of this.byKey.values()) for (const s of list) s.destroy();
    this.byKey.clear();
  }
}
