/**
 * `require_ack_response`: the chunks written and not yet acknowledged, across all connections.
 * Acks are matched by chunk id, in any order, several per connection. An ack commits its chunk.
 * Rolled back without touching the retry state (the chunk goes to the head of the queue and, its
 * node being disabled, usually to another node):
 *   - no ack within ack_response_timeout: the connection is dropped and the node disabled;
 *   - the connection closed with chunks outstanding: the node is disabled;
 *   - an ack for a chunk this connection did not send: the connection is dropped.
 */
import type { Logger } from 'pino';
import type { BufferControl } from '../../../buffer/buffered-output.js';
import type { ForwardSocket } from './connection.js';
import type { ForwardNode } from './node.js';

interface Pending {
  id: string;
  hexId: string;
  node: ForwardNode;
  sock: ForwardSocket;
  sentAt: number;
}

export interface AckTrackerOptions {
  timeoutMs: number;
  control: BufferControl;
  log: Logger;
  /** Takes a node out after an ack failure (the output rebuilds its weights). */
  disableNode(node: ForwardNode, reason: string): void;
  /** A connection has nothing left in flight. */
  idle(sock: ForwardSocket): void;
}

const LATENCY_SAMPLES = 4096;

export class AckTracker {
  private readonly byId = new Map<string, Pending>();
  private timer: NodeJS.Timeout | null = null;
  private readonly latencyMs = new Float64Array(LATENCY_SAMPLES);
  private samples = 0;

  constructor(private readonly o: AckTrackerOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(Date.now()), Math.max(20, Math.min(1000, this.o.timeoutMs / 3)));
    this.timer.unref();
  }

  get outstanding(): number {
    return this.byId.size;
  }

  /** Chunks sent to `node` and not yet acked nor rolled back. */
  outstandingFor(node: ForwardNode): number {
    let n = 0;
    for (const p of this.byId.values()) if (p.node === node) n++;
    return n;
  }

  /** Registers a chunk before it is written on `sock` (its ack may come before the write returns). */
  expect(sock: ForwardSocket, node: ForwardNode, id: string, hexId: string): void {
    this.byId.get(id)?.sock.pending.delete(id); // a resend after the buffer's own commit timeout
    this.byId.set(id, { id, hexId, node, sock, sentAt: Date.now() });
    sock.pending.add(id);
  }

  /**
   * The write failed: forget the chunk; the failing write rolls it back. False when the connection
   * closing has already rolled it back (the chunk is no longer this write's to send elsewhere).
   */
  forget(id: string): boolean {
    const p = this.byId.get(id);
    if (!p) return false;
    this.byId.delete(id);
    p.sock.pending.delete(id);
    return true;
  }

  ack(sock: ForwardSocket, id: string): void {
    const p = this.byId.get(id);
    if (!p || p.sock !== sock) {
      const node = [...this.byId.values()].find((x) => x.sock === sock)?.node;
      this.o.log.warn({ host: node?.host, port: node?.port, ack: id }, 'ack in response and chunk id in sent data are different');
      this.failSocket(sock, null);
      return;
    }
    this.byId.delete(id);
    sock.pending.delete(id);
    p.node.counters.acked_chunks++;
    this.latencyMs[this.samples++ % LATENCY_SAMPLES] = Date.now() - p.sentAt;
    this.o.control.commit(p.hexId);
    if (sock.pending.size === 0) this.o.idle(sock);
  }

  /** The connection closed; `reason` null means we closed it on purpose. */
  closed(sock: ForwardSocket, reason: string | null): void {
    const lost = this.take(sock);
    if (lost.length === 0) return;
    const node = lost[0]!.node;
    if (reason !== null) {
      this.o.log.warn({ host: node.host, port: node.port, chunks: lost.length, error: reason }, 'destination node closed the connection. regard it as unavailable.');
      this.o.disableNode(node, 'connection closed with acks outstanding');
    }
    this.rollback(lost);
  }

  /** Drops connections whose oldest chunk waited longer than ack_response_timeout. */
  check(now: number): void {
    const late = new Set<ForwardSocket>();
    for (const p of this.byId.values()) if (now - p.sentAt > this.o.timeoutMs) late.add(p.sock);
    for (const sock of late) {
      const first = [...this.byId.values()].find((p) => p.sock === sock)!;
      this.o.log.warn({ host: first.node.host, port: first.node.port, chunk_id: first.hexId }, 'no response from node. regard it as unavailable.');
      this.failSocket(sock, first.node);
    }
  }

  private failSocket(sock: ForwardSocket, disable: ForwardNode | null): void {
    const lost = this.take(sock);
    sock.destroy();
    if (disable) this.o.disableNode(disable, 'ack timeout');
    this.rollback(lost);
  }

  private take(sock: ForwardSocket): Pending[] {
    const out: Pending[] = [];
    for (const id of sock.pending) {
      const p = this.byId.get(id);
      if (p?.sock !== sock) continue;
      out.push(p);
      this.byId.delete(id);
    }
    sock.pending.clear();
    return out;
  }

  private rollback(list: Pending[]): void {
    for (const p of list) {
      p.node.counters.ack_errors++;
      this.o.control.rollback(p.hexId, false);
    }
  }

  /** Ack latency over the last acks (milliseconds). */
  latency(): { count: number; p50: number; p99: number } {
    const n = Math.min(this.samples, LATENCY_SAMPLES);
    if (n === 0) return { count: 0, p50: 0, p99: 0 };
    const sorted = Array.from(this.latencyMs.subarray(0, n)).sort((a, b) => a - b);
    const q = (f: number) => sorted[Math.min(n - 1, Math.floor(f * n))]!;
    return { count: this.samples, p50: q(0.5), p99: q(0.99) };
  }

  /** Rolls back whatever is still outstanding (shutdown: file buffers keep it for the next start). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const all = [...this.byId.values()];
    this.byId.clear();
    for (const p of all) {
      p.sock.pending.delete(p.id);
      this.o.control.rollback(p.hexId, false);
    }
  }
}
