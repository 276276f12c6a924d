/**
 * The pure parts of the forward plugins: the phi accrual detector's numbers (spec §4.6), the weight
 * array (spec §4.5) and in_forward's memory of stored chunk ids (bounded by count and age).
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ChunkIdMemory } from '../../../src/plugins/in/forward/chunk-memory.js';
import { Balancer } from '../../../src/plugins/out/forward/balancer.js';
import { ForwardNode, type NodeOptions } from '../../../src/plugins/out/forward/node.js';
import { FailureDetector } from '../../../src/plugins/out/forward/phi.js';

describe('FailureDetector', () => {
  it('with a 1 s interval and steady 1 s heartbeats, phi passes 16 after ~36.8 s of silence', () => {
    const d = new FailureDetector(1, 60, 0);
    for (let t = 1; t <= 100; t++) d.add(t);
    expect(d.phi(100)).toBeCloseTo(0, 10);
    expect(d.phi(100 + 36.5)).toBeLessThan(16);
    expect(d.phi(100 + 37)).toBeGreaterThan(16);
    expect(d.phi(110)).toBeCloseTo(10 / Math.log(10), 6);
  });

  it('normalises the interval away: with 0.1 s heartbeats phi is (silence + 0.9) / ln 10', () => {
    const d = new FailureDetector(0.1, 60, 0);
    for (let i = 1; i <= 50; i++) d.add(i / 10);
    expect(d.phi(5 + 1.4)).toBeCloseTo((1.4 + 0.9) / Math.log(10), 3);
  });

  it('weights newer gaps more, and the hard timeout counts from the last heartbeat', () => {
    const steady = new FailureDetector(1, 3, 0);
    const slowing = new FailureDetector(1, 3, 0);
    for (let t = 1; t <= 10; t++) steady.add(t);
    for (let t = 1; t <= 10; t++) slowing.add(t <= 5 ? t : 5 + (t - 5) * 3);
    expect(slowing.phi(20 + 5)).toBeLessThan(steady.phi(10 + 5));
    expect(steady.hardTimeout(13)).toBe(false);
    expect(steady.hardTimeout(13.01)).toBe(true);
    steady.clear();
    expect(steady.sampleSize).toBe(0);
    expect(steady.hardTimeout(10)).toBe(true); // "last" is 0 after a clear
    steady.add(50);
    expect(steady.sampleSize).toBe(1);
    expect(steady.hardTimeout(52)).toBe(false);
  });
});

const log = pino({ level: 'silent' });
const opts: NodeOptions = {
  heartbeatType: 'none', intervalSec: 1, hardTimeoutSec: 60, recoverWaitSec: 10, phiFailureDetector: true, phiThreshold: 16,
  expireDnsCacheSec: null, dnsRoundRobin: false, log,
};
const node = (port: number, weight: number, standby = false, o: Partial<NodeOptions> = {}) =>
  new ForwardNode({ host: '127.0.0.1', port, weight, standby, name: null, shared_key: null, username: '', password: '' }, null, { ...opts, ...o });

describe('Balancer', () => {
  it('repeats each node weight/gcd times, six entries per node at least, shuffled the same way every rebuild', () => {
    const nodes = [node(1, 20), node(2, 40), node(3, 0)];
    const b = new Balancer(nodes, 42, log);
    b.rebuild();
    const first = b.weights.map((n) => n.port);
    expect(first.filter((p) => p === 1)).toHaveLength(4); // [1, 2, 2] repeated (2 * 6) / 3 = 4 times
    expect(first.filter((p) => p === 2)).toHaveLength(8);
    expect(first).not.toContain(3);
    b.rebuild();
    expect(b.weights.map((n) => n.port)).toEqual(first);
  });

  it('adds available standby nodes in order only until the lost weight is covered', () => {
    const o = { heartbeatType: 'udp' as const };
    const [p1, p2, s1, s2] = [node(1, 60, false, o), node(2, 60, false, o), node(3, 60, true, o), node(4, 60, true, o)];
    const b = new Balancer([p1!, p2!, s1!, s2!], 7, log);
    b.rebuild();
    expect([p1, p2, s1, s2].map((n) => n!.state)).toEqual(['up', 'up', 'standby', 'standby']);
    p1!.disable('test');
    b.rebuild();
    expect(new Set(b.weights.map((n) => n.port))).toEqual(new Set([1, 2, 3]));
    expect([p1, p2, s1, s2].map((n) => n!.state)).toEqual(['down', 'up', 'up', 'standby']);
    const picked = [...b.select()].map((n) => n.port);
    expect(picked).not.toContain(1);
    expect(picked.length).toBe(b.weights.filter((n) => n.port !== 1).length);
  });
});

describe('ChunkIdMemory', () => {
  it('remembers stored ids, forgets failed ones, and is bounded by count and age', () => {
    let now = 0;
    const m = new ChunkIdMemory(2, 1000, () => now);
    const a = m.claim('a');
    expect(a.kind).toBe('new');
    expect(m.claim('a').kind).toBe('pending');
    if (a.kind === 'new') a.settle(false);
    const a2 = m.claim('a');
    expect(a2.kind).toBe('new');
    if (a2.kind === 'new') a2.settle(true);
    expect(m.claim('a').kind).toBe('seen');
    for (const k of ['b', 'c']) {
      const c = m.claim(k);
      if (c.kind === 'new') c.settle(true);
    }
    expect(m.size).toBe(2);
    expect(m.claim('a').kind).toBe('new'); // pushed out by count
    now = 1500;
    expect(m.claim('b').kind).toBe('new'); // expired
    expect(m.size).toBe(0);
  });
});
