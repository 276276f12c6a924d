/**
 * require_ack_response on real loopback sockets: several chunks in flight on one connection with
 * acks coming back in another order, an ack timeout rolling the chunk back (retry state untouched)
 * and disabling the node, a mismatched ack, and a proxy in front of our in_forward that delays and
 * drops acks: every chunk is retried until acked, none is lost, and the receiver's chunk-id memory
 * stores each resent chunk once.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ForwardDecoder } from '../../src/protocol/framing.js';
import { decode, encode } from '../../src/protocol/msgpack.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient } from './forward-util.js';
import { fastBuffer, RawReceiver, startForwarder, startReceiver, stopAll, T, waitForSeqs } from './out-forward-util.js';

let proxyServer: Server | null = null;
const proxied = new Set<Socket>();
afterEach(async () => {
  for (const s of proxied) s.destroy();
  proxied.clear();
  await new Promise<void>((r) => (proxyServer ? proxyServer.close(() => r()) : r()));
  proxyServer = null;
  await stopAll();
});

function server(port: number, extra = ''): string {
  return `  <server>\n    host 127.0.0.1\n    port ${port}\n${extra}  </server>\n`;
}

const ACKS = '  require_ack_response true\n  ack_response_timeout 1\n  heartbeat_interval 0.1\n  recover_wait 0.2\n  hard_timeout 3\n';
const settled = (fwd: Awaited<ReturnType<typeof startForwarder>>) =>
  waitFor(() => fwd.buffered.buffer.queue.length === 0 && fwd.buffered.buffer.dequeued.size === 0 && fwd.buffered.buffer.stage.size === 0, 15000, 'every chunk committed');

describe('acks', () => {
  it('matches acks by chunk id in any order, several chunks in flight on one connection', async () => {
    const r = await RawReceiver.start();
    const arrivals: number[] = [];
    r.policy = (_m, nth) => { arrivals.push(Date.now()); return nth === 1 ? 600 : 'ack'; };
    const fwd = await startForwarder(`${server(r.port)}${ACKS}  keepalive true\n  heartbeat_type none\n${fastBuffer()}`);
    for (let i = 0; i < 4; i++) await fwd.emit([{ seq: i }], `test.o${i}`);
    await settled(fwd);
    expect(r.connections).toBe(1);
    expect(r.messages).toHaveLength(4);
    expect(arrivals[3]! - arrivals[0]!).toBeLessThan(600); // chunks 2-4 went out while 1 still waited
    expect(fwd.out.nodeStats()[0]).toMatchObject({ acked_chunks: 4, ack_errors: 0, state: 'up' });
    expect(fwd.agent.plugins.find((p) => p.id === 'fwd_out')!.metrics.rollback_count).toBe(0);
  });

  it('no ack within ack_response_timeout: rolled back without a retry step, node disabled, sent elsewhere', async () => {
    const a = await RawReceiver.start();
    const b = await RawReceiver.start();
    let withheld = false; // whichever node gets the chunk first never acks it
    a.policy = b.policy = () => (withheld ? 'ack' : ((withheld = true), 'none'));
    const fwd = await startForwarder(`${server(a.port, '    name a\n')}${server(b.port, '    name b\n')}${ACKS}${fastBuffer()}`);
    await fwd.emit([{ seq: 1 }]);
    await settled(fwd);
    expect([a.messages.length, b.messages.length]).toEqual([1, 1]); // the resend went to the other node
    expect(a.messages[0]!.chunk).toBe(b.messages[0]!.chunk);
    const metrics = fwd.agent.plugins.find((p) => p.id === 'fwd_out')!.metrics;
    expect(metrics.rollback_count).toBe(1);
    expect(metrics.retry_count).toBe(0);
    const logs = fwd.logs();
    expect(logs).toMatch(/no response from node\. regard it as unavailable\. host="127\.0\.0\.1" port=\d+ chunk_id="[0-9a-f]{32}"/);
    expect(logs).toMatch(/detached forwarding server '[ab]' host="127\.0\.0\.1" port=\d+ reason="ack timeout"/);
  });

  it('an ack for another chunk drops the connection and the chunk is sent again', async () => {
    const r = await RawReceiver.start();
    r.policy = (_m, nth) => (nth === 1 ? { wrongId: 'not-this-chunk\n' } : 'ack');
    const fwd = await startForwarder(`${server(r.port)}${ACKS}${fastBuffer()}`);
    await fwd.emit([{ seq: 1 }]);
    await settled(fwd);
    expect(r.messages).toHaveLength(2);
    expect(r.messages[1]!.chunk).toBe(r.messages[0]!.chunk);
    expect(fwd.logs()).toMatch(/ack in response and chunk id in sent data are different .*ack="not-this-chunk\\n"/);
  });
});

/**
 * A TCP proxy to `upstream` that passes requests through and decides per ack coming back:
 * pass, drop, or delay by ms.
 */
async function ackProxy(upstream: number, decide: (ackId: string) => 'pass' | 'drop' | number): Promise<number> {
  proxyServer = createServer((client) => {
    const up = connect(upstream, '127.0.0.1');
    proxied.add(client).add(up);
    client.on('error', () => undefined);
    up.on('error', () => undefined);
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.pipe(up);
    const dec = new ForwardDecoder();
    up.on('data', (d: Buffer) => {
      dec.push(d);
      for (let raw = dec.nextRaw(); raw !== null; raw = dec.nextRaw()) {
        const bytes = Buffer.from(raw);
        const what = decide((decode(bytes) as { ack: string }).ack);
        if (what === 'pass') client.write(bytes);
        else if (typeof what === 'number') setTimeout(() => { if (!client.destroyed) client.write(bytes); }, what);
      }
    });
  });
  await new Promise<void>((r) => proxyServer!.listen(0, '127.0.0.1', () => r()));
  return (proxyServer!.address() as { port: number }).port;
}

describe('in_forward chunk-id memory', () => {
  it('a chunk sent on two connections at once is acked on both and stored once; another tag or other data is another chunk', async () => {
    const rcv = await startReceiver();
    const entries = (a: number, b: number) => Buffer.concat([encode([T, { seq: a }]), encode([T, { seq: b }])]);
    const msg = (tag: string, e = entries(1, 2)) => encode([tag, e, { size: 2, chunk: 'same-id\n' }]);
    const [c1, c2, c3] = [await RawClient.open(rcv.port), await RawClient.open(rcv.port), await RawClient.open(rcv.port)];
    try {
      await Promise.all([c1.write(msg('test.one')), c2.write(msg('test.one'))]);
      for (const c of [c1, c2]) expect(await c.waitForValues(1)).toEqual([{ ack: 'same-id\n' }]);
      await c3.write(msg('test.two'));
      await c3.write(msg('test.one', entries(3, 4))); // a client reusing its id for other events
      expect(await c3.waitForValues(2)).toEqual([{ ack: 'same-id\n' }, { ack: 'same-id\n' }]);
      await waitFor(() => rcv.records().length >= 6, 5000, 'every distinct chunk stored');
      await new Promise((r) => setImmediate(r));
      expect(rcv.records()).toEqual([{ seq: 1 }, { seq: 2 }, { seq: 1 }, { seq: 2 }, { seq: 3 }, { seq: 4 }]);
      expect(rcv.agent.plugins.find((p) => p.kind === 'input')!.metrics.dropped.get('duplicate_chunk')).toBe(2);
    } finally {
      for (const c of [c1, c2, c3]) c.destroy();
    }
  });
});

describe('lost acks in front of in_forward', () => {
  it('retries every chunk whose ack was dropped; the receiver stores each once and counts the duplicates', async () => {
    const rcv = await startReceiver();
    const seen = new Map<string, number>();
    let dropped = 0;
    const port = await ackProxy(rcv.port, (id) => {
      const n = seen.get(id) ?? 0;
      seen.set(id, n + 1);
      const index = [...seen.keys()].indexOf(id);
      if (n === 0 && index % 2 === 1) { dropped++; return 'drop'; }
      return n === 0 && index % 4 === 0 ? 300 : 'pass';
    });
    const fwd = await startForwarder(`${server(port)}${ACKS}  keepalive true\n${fastBuffer()}`);
    for (let i = 0; i < 8; i++) await fwd.emit([{ seq: i * 2 }, { seq: i * 2 + 1 }], `test.l${i}`);
    await settled(fwd);
    const { seqs, duplicates } = await waitForSeqs(rcv.records, 16);
    expect(seqs.size).toBe(16);
    expect(duplicates).toBe(0);
    expect(dropped).toBeGreaterThanOrEqual(4);
    const input = rcv.agent.plugins.find((p) => p.kind === 'input')!.metrics;
    expect(input.dropped.get('duplicate_chunk')).toBe(dropped * 2);
    expect(rcv.logs()).toMatch(/chunk already stored, acked again without storing it twice/);
    expect(fwd.logs()).toMatch(/no response from node\. regard it as unavailable\./);
  });
});
