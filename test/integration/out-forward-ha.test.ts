/**
 * out_forward's node management on real loopback sockets: weighted balancing, a standby used only
 * while the primary is down (one log line per state change), UDP and transport heartbeats against
 * live and dead ports, phi and hard timeout detaching a node that went silent, and kept-alive
 * connections reused and recycled by keepalive_timeout.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { fastBuffer, range, RawReceiver, startForwarder, startReceiver, stopAll, waitForSeqs } from './out-forward-util.js';

const udps: UdpSocket[] = [];
afterEach(async () => {
  for (const u of udps.splice(0)) u.close();
  await stopAll();
});

function server(port: number, extra = ''): string {
  return `  <server>\n    host 127.0.0.1\n    port ${port}\n${extra}  </server>\n`;
}

const count = (text: string, re: RegExp) => (text.match(new RegExp(re.source, 'g')) ?? []).length;

/** A UDP heartbeat answerer that can be told to go silent. */
async function udpResponder(): Promise<{ port: number; answering: boolean; pings: number }> {
  const port = await freePort();
  const u = createSocket('udp4');
  udps.push(u);
  const state = { port, answering: true, pings: 0 };
  u.on('message', (_m, r) => {
    state.pings++;
    if (state.answering) u.send(Buffer.from([0]), r.port, r.address);
  });
  await new Promise<void>((resolve) => u.bind(port, '127.0.0.1', () => resolve()));
  return state;
}

describe('load balancing', () => {
  it('splits chunks by weight (1:3) across available servers', async () => {
    const a = await RawReceiver.start();
    const b = await RawReceiver.start();
    const fwd = await startForwarder(`${server(a.port, '    weight 1\n')}${server(b.port, '    weight 3\n')}  heartbeat_type none\n${fastBuffer()}`);
    for (let i = 0; i < 48; i++) await fwd.emit([{ seq: i }], `test.w${i}`);
    await waitFor(() => a.messages.length + b.messages.length >= 48, 10000, '48 chunks');
    // gcd 1 → [a, b, b, b], repeated 3 times and shuffled: every 12 selections take a 3 times
    expect([a.messages.length, b.messages.length]).toEqual([12, 36]);
  });

  it('uses the standby only while the primary is down; the recovered primary takes its traffic back', async () => {
    let primary = await RawReceiver.start();
    const port = primary.port;
    const standby = await RawReceiver.start();
    const fwd = await startForwarder(`${server(port, '    name primary\n')}${server(standby.port, '    name standby\n    standby\n')}`
      + `  heartbeat_interval 0.1\n  hard_timeout 0.5\n  recover_wait 0.3\n  require_ack_response true\n  ack_response_timeout 1\n${fastBuffer()}`);
    const states = () => fwd.out.nodeStats().map((n) => n.state);
    expect(states()).toEqual(['up', 'standby']);
    for (let i = 0; i < 5; i++) await fwd.emit([{ seq: i }], `test.p${i}`);
    await waitForSeqs(() => primary.records(), 5);
    expect(standby.messages).toHaveLength(0);

    await primary.stop();
    await waitFor(() => states().join() === 'down,up', 5000, 'the standby to take over');
    for (let i = 5; i < 10; i++) await fwd.emit([{ seq: i }], `test.p${i}`);
    await waitForSeqs(() => standby.records(), 5);
    expect(fwd.out.healthy_nodes_count).toBe(1);

    primary = await RawReceiver.start(port);
    await waitFor(() => states().join() === 'up,standby', 5000, 'the primary to recover');
    const before = standby.messages.length;
    for (let i = 10; i < 15; i++) await fwd.emit([{ seq: i }], `test.p${i}`);
    await waitForSeqs(() => primary.records(), 5);
    expect(standby.messages.length).toBe(before);

    const logs = fwd.logs();
    expect(count(logs, /detached forwarding server 'primary' host="127\.0\.0\.1" port=\d+ hard_timeout=true/)).toBe(1);
    expect(count(logs, /using standby node 127\.0\.0\.1:\d+ host="127\.0\.0\.1" port=\d+ weight=60/)).toBe(1);
    expect(count(logs, /recovered forwarding server 'primary' host="127\.0\.0\.1" port=\d+/)).toBe(1);
    expect(count(logs, /standby forwarding server 'standby' is idle again/)).toBe(1);
    expect(logs).not.toMatch(/forwarding server 'standby' (?!is idle)/);
  });
});

describe('heartbeats', () => {
  for (const type of ['udp', 'transport'] as const) {
    it(`${type}: a live port stays up, a dead port is detached at hard_timeout`, async () => {
      const live = await startReceiver();
      const dead = await freePort();
      const fwd = await startForwarder(`${server(live.port, '    name live\n')}${server(dead, '    name dead\n')}`
        + `  heartbeat_type ${type}\n  heartbeat_interval 0.1\n  hard_timeout 0.6\n  phi_failure_detector false\n${fastBuffer()}`);
      await waitFor(() => fwd.out.nodeStats()[1]!.state === 'down', 5000, 'the dead node to be detached');
      const [l, d] = fwd.out.nodeStats();
      expect(l).toMatchObject({ state: 'up', available: true });
      expect(l!.heartbeats).toBeGreaterThanOrEqual(3);
      expect(d).toMatchObject({ available: false, heartbeats: 0, detached_count: 1 });
      expect(fwd.logs()).toMatch(/detached forwarding server 'dead' host="127\.0\.0\.1" port=\d+ hard_timeout=true/);
      expect(fwd.logs()).not.toMatch(/detached forwarding server 'live'/);
      await fwd.emit(range(1, 10));
      await waitForSeqs(live.records, 10);
    });
  }

  it('phi accrual detaches a node whose heartbeats stop, and it recovers after recover_wait', async () => {
    const u = await udpResponder();
    const fwd = await startForwarder(`${server(u.port, '    name silent\n')}  heartbeat_type udp\n  heartbeat_interval 0.1\n  phi_threshold 1\n  recover_wait 0.3\n${fastBuffer()}`);
    await waitFor(() => (fwd.out.nodeStats()[0]!.heartbeats as number) >= 5, 5000, 'heartbeats');
    expect(fwd.out.nodeStats()[0]!.state).toBe('up');
    u.answering = false;
    const silentAt = Date.now();
    await waitFor(() => fwd.out.nodeStats()[0]!.state === 'down', 5000, 'phi to detach the node');
    // interval 0.1: phi = (silence + 0.9) / ln 10 > 1 after ~1.4 s of silence
    expect(Date.now() - silentAt).toBeGreaterThan(1000);
    expect(fwd.logs()).toMatch(/detached forwarding server 'silent' host="127\.0\.0\.1" port=\d+ phi=1\.\d+ phi_threshold=1/);
    expect(fwd.logs()).toMatch(/forwarding server 'silent' is suspect .*error="no heartbeat for/);
    u.answering = true;
    await waitFor(() => fwd.out.nodeStats()[0]!.state === 'up', 5000, 'recovery');
    expect(fwd.logs()).toMatch(/recovered forwarding server 'silent'/);
  });

  it('hard_timeout detaches a silent node when phi is off', async () => {
    const u = await udpResponder();
    const fwd = await startForwarder(`${server(u.port)}  heartbeat_type udp\n  heartbeat_interval 0.1\n  phi_failure_detector false\n  hard_timeout 0.4\n${fastBuffer()}`);
    await waitFor(() => (fwd.out.nodeStats()[0]!.heartbeats as number) >= 3, 5000, 'heartbeats');
    u.answering = false;
    await waitFor(() => fwd.out.nodeStats()[0]!.state === 'down', 5000, 'the hard timeout');
    expect(fwd.logs()).toMatch(/detached forwarding server '127\.0\.0\.1:\d+' .*hard_timeout=true/);
    expect(fwd.out.nodeStats()[0]!.phi).toBeLessThan(16);
  });
});

describe('connections', () => {
  it('without keepalive: one connection per chunk', async () => {
    const r = await RawReceiver.start();
    const fwd = await startForwarder(`${server(r.port)}  heartbeat_type none\n${fastBuffer()}`);
    for (let i = 0; i < 4; i++) await fwd.emit([{ seq: i }], `test.c${i}`);
    await waitFor(() => r.messages.length >= 4, 5000, '4 chunks');
    expect(new Set(r.messages.map((m) => m.conn)).size).toBe(4);
  });

  it('keepalive reuses one connection; keepalive_timeout recycles it by age', async () => {
    const r = await RawReceiver.start();
    const fwd = await startForwarder(`${server(r.port)}  heartbeat_type none\n  keepalive true\n  require_ack_response true\n${fastBuffer()}`);
    for (let i = 0; i < 6; i++) await fwd.emit([{ seq: i }], `test.c${i}`);
    await waitFor(() => r.messages.length >= 6, 5000, '6 chunks');
    expect(r.connections).toBe(1);

    const r2 = await RawReceiver.start();
    const fwd2 = await startForwarder(`${server(r2.port)}  heartbeat_type none\n  keepalive true\n  keepalive_timeout 0.3\n  require_ack_response true\n${fastBuffer()}`);
    const started = Date.now();
    for (let i = 0; Date.now() - started < 1300; i++) {
      await fwd2.emit([{ seq: i }], `test.r${i}`);
      await new Promise((res) => setTimeout(res, 50)); // pacing the source, not synchronising
    }
    await waitFor(() => fwd2.buffered.buffer.dequeued.size === 0 && fwd2.buffered.buffer.queue.length === 0, 5000, 'all acks');
    expect(r2.connections).toBeGreaterThanOrEqual(3);
    expect(r2.connections).toBeLessThan(r2.messages.length);
  });
});
