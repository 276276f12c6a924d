/**
 * Weighted load balancing with standby servers (spec §4.5). The weight array is rebuilt at start,
 * whenever a node is detached or recovers, and when service discovery changes the node list (the
 * array `nodes` is that live list, changed in place): regular nodes with weight > 0 (available or not: an
 * unavailable one is skipped when selected), plus available standby nodes in config order while the
 * weight of the lost regular nodes is not yet covered. Each node appears weight/gcd times, the array
 * is repeated for smoothness and shuffled with a PRNG seeded once per plugin instance.
 */
import type { Logger } from 'pino';
import type { ForwardNode } from './node.js';
import { seededRandom as prng } from '../../../core/random.js';

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}


export class Balancer {
  private array: ForwardNode[] = [];
  private rr = 0;

  constructor(private readonly nodes: readonly ForwardNode[], private readonly seed: number, private readonly log: Logger) {}

  /** The current weight array (for tests and metrics). */
  get weights(): readonly ForwardNode[] {
    return this.array;
  }

  rebuild(): void {
    const weighted = this.nodes.filter((n) => n.weight > 0);
    const regular = weighted.filter((n) => !n.standby);
    let lost = regular.filter((n) => !n.available).reduce((s, n) => s + n.weight, 0);
    const used = [...regular];
    if (lost > 0) {
      for (const n of weighted.filter((x) => x.standby)) {
        if (!n.available) continue;
        used.push(n);
        lost -= n.weight;
        if (lost <= 0) break;
      }
    }
    for (const n of this.nodes) {
      n.inUse = used.includes(n);
      n.refresh();
    }
    if (used.length === 0) {
      if (this.array.length > 0 || this.nodes.length > 0) this.log.warn('No nodes are available');
      this.array = [];
      return;
    }
    const g = used.reduce((acc, n) => gcd(acc, n.weight), 0);
    let array: ForwardNode[] = [];
    for (const n of used) for (let i = 0; i < n.weight / g; i++) array.push(n);
    const coe = Math.floor((used.length * 6) / array.length);
    if (coe > 1) array = Array.from({ length: coe }, () => array).flat();
    const r = prng(this.seed);
    this.array = array.map((n) => ({ n, k: r() })).sort((a, b) => a.k - b.k).map((x) => x.n);
  }

  /**
   * The nodes to try for one chunk: the round-robin cursor walks the array at most once around,
   * skipping unavailable nodes (and nodes service discovery removed meanwhile); it stays on the node
   * that took the chunk.
   */
  *select(): Generator<ForwardNode> {
    const array = this.array;
    for (let i = 0; i < array.length; i++) {
      this.rr = (this.rr + 1) % array.length;
      const n = array[this.rr]!;
      if (n.available && !n.retired) yield n;
    }
  }
}
