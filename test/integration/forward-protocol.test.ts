/**
 * in_forward over raw sockets against the real daemon: Forward and PackedForward modes, acks
 * echoed byte for byte, the UDP heartbeat, deny_keepalive, record enrichment, and malformed input
 * closing only the connection that sent it while another client keeps sending.
 * Needs `npx tsc -p tsconfig.json` first (the daemon runs from dist/).
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { EventTime } from '../../src/core/event-time.js';
import { encode } from '../../src/protocol/msgpack.js';
import { waitFor } from '../helpers/wait.js';
import { packedStr32, zstdCli } from '../helpers/packed.js';
import { type ForwardDaemon, RawClient, startForward, stdoutTime } from './forward-util.js';

const T = 1_750_000_000;
let fwd: ForwardDaemon | null = null;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await fwd?.daemon.stop();
  fwd = null;
});

async function client(): Promise<RawClient> {
  const c = await RawClient.open(fwd!.port);
  clients.push(c);
  return c;
}

describe('forward modes and acks', () => {
  it('Forward mode with an ack', async () => {
    fwd = await startForward();
    const c = await client();
    await c.write(encode(['raw.fw', [[T, { a: 1 }], [new EventTime(T, 42), { b: 2 }], [[T + 5, { meta: 1 }], { c: 3 }]], { chunk: 'fw-1' }]));
    expect(await c.waitForValues(1)).toEqual([{ ack: 'fw-1' }]);
    expect(await fwd.daemon.waitForEvents(3)).toEqual([
      { tag: 'raw.fw', time: stdoutTime(T), record: { a: 1 } },
      { tag: 'raw.fw', time: stdoutTime(T, 42), record: { b: 2 } },
      { tag: 'raw.fw', time: stdoutTime(T + 5), record: { c: 3 } },
    ]);
  });

  it('PackedForward (str32, as out_forward) acks with the chunk id echoed byte for byte', async () => {
    fwd = await startForward();
    const c = await client();
    const chunk = `${randomBytes(16).toString('base64')}\n`;
    const entries = Buffer.concat([encode([new EventTime(T, 1), { k: 'x' }]), encode([new EventTime(T, 2), { k: 'y' }])]);
    await c.write(packedStr32('raw.pk', entries, { size: 2, compressed: 'text', chunk }));
    await c.waitForValues(1);
    expect(c.received).toEqual(Buffer.concat([Buffer.from([0x81, 0xa3]), Buffer.from('ack'), encode(chunk)]));
    const events = await fwd.daemon.waitForEvents(2);
    expect(events.map((e) => [e.time, e.record])).toEqual([[stdoutTime(T, 1), { k: 'x' }], [stdoutTime(T, 2), { k: 'y' }]]);
  });

  it('CompressedPackedForward with concatenated gzip members; several requests on one connection', async () => {
    fwd = await startForward();
    const c = await client();
    const blob = Buffer.concat([gzipSync(encode([T, { n: 1 }])), gzipSync(encode([T, { n: 2 }]))]);
    await c.write(Buffer.concat([
      packedStr32('raw.gz', blob, { size: 2, compressed: 'gzip', chunk: 'gz' }),
      encode(['raw.msg', T, { n: 3 }, { chunk: 'm1' }]),
      encode(['raw.msg', T, { n: 4 }, { chunk: 'm2' }]),
    ]));
    expect(await c.waitForValues(3)).toEqual([{ ack: 'gz' }, { ack: 'm1' }, { ack: 'm2' }]);
    const events = await fwd.daemon.waitForEvents(4);
    expect(events.map((e) => [e.tag, e.record.n])).toEqual([['raw.gz', 1], ['raw.gz', 2], ['raw.msg', 3], ['raw.msg', 4]]);
  });

  it('CompressedPackedForward with zstd frames (Fluentd 1.19 compress zstd), over the limit closing without ack', async () => {
    fwd = await startForward('  decompression_size_limit 64k');
    const c = await client();
    const blob = Buffer.concat([zstdCli(encode([T, { n: 1 }])), zstdCli(encode([T, { n: 2 }]))]);
    await c.write(packedStr32('raw.zst', blob, { size: 2, compressed: 'zstd', chunk: 'zs' }));
    expect(await c.waitForValues(1)).toEqual([{ ack: 'zs' }]);
    const events = await fwd.daemon.waitForEvents(2);
    expect(events.map((e) => [e.tag, e.record.n])).toEqual([['raw.zst', 1], ['raw.zst', 2]]);
    const bomb = await client();
    const entries = Buffer.concat(Array.from({ length: 2000 }, (_, i) => encode([T, { i, pad: 'z'.repeat(50) }])));
    await bomb.write(packedStr32('raw.zst', zstdCli(entries), { compressed: 'zstd', chunk: 'big' }));
    await bomb.waitClosed();
    expect(bomb.values()).toEqual([]);
    await waitFor(() => fwd!.daemon.stdout().includes('reason="decompression_limit"'), 5000, 'the decompression warning');
  });

  it('acks a poison Message-mode event without emitting it, and sends nothing without chunk', async () => {
    fwd = await startForward();
    const c = await client();
    await c.write(encode(['raw.bad', 1.5, { float: true }, { chunk: 'poison' }]));
    expect(await c.waitForValues(1)).toEqual([{ ack: 'poison' }]);
    await c.write(encode(['raw.ok', T, { ok: 1 }]));
    await c.write(encode(['raw.ok', T, { ok: 2 }, { chunk: 'after' }]));
    expect(await c.waitForValues(2)).toEqual([{ ack: 'poison' }, { ack: 'after' }]);
    const events = await fwd.daemon.waitForEvents(2);
    expect(events.map((e) => e.record)).toEqual([{ ok: 1 }, { ok: 2 }]);
    await fwd.daemon.waitForOutput('got invalid event and drop it');
  });

  it('JSON mode: a connection starting with [ is read as JSON and answered in JSON', async () => {
    fwd = await startForward();
    const c = await client();
    await c.write(Buffer.from(`${JSON.stringify(['json.msg', T, { a: 'x' }, { chunk: 'j1' }])}\n${JSON.stringify(['json.fw', [[T + 1, { b: 2 }]], { chunk: 'j2' }])}`));
    await waitFor(() => c.received.toString().includes('j2'), 10000, 'both JSON acks');
    expect(c.received.toString()).toBe('{"ack":"j1"}{"ack":"j2"}');
    expect(await fwd.daemon.waitForEvents(2)).toEqual([
      { tag: 'json.msg', time: stdoutTime(T), record: { a: 'x' } },
      { tag: 'json.fw', time: stdoutTime(T + 1), record: { b: 2 } },
    ]);
  });

  it('answers UDP heartbeats with one 0x00 byte on the same port', async () => {
    fwd = await startForward();
    const udp = createSocket('udp4');
    try {
      const reply = new Promise<Buffer>((resolve) => udp.once('message', (m) => resolve(m)));
      await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
      udp.send(Buffer.from([0]), fwd.port, '127.0.0.1');
      expect(await reply).toEqual(Buffer.from([0]));
    } finally {
      udp.close();
    }
  });

  it('applies tag, add_tag_prefix and source_address_key', async () => {
    fwd = await startForward('  tag fixed\n  add_tag_prefix pre\n  source_address_key src_ip');
    const c = await client();
    await c.write(encode(['ignored.tag', T, { a: 1 }, { chunk: 'x' }]));
    await c.waitForValues(1);
    const [e] = await fwd.daemon.waitForEvents(1);
    expect(e).toEqual({ tag: 'pre.fixed', time: stdoutTime(T), record: { a: 1, src_ip: '127.0.0.1' } });
  });

  it('deny_keepalive closes the connection after the first answer', async () => {
    fwd = await startForward('  deny_keepalive true');
    const c = await client();
    await c.write(encode(['dk', T, { a: 1 }, { chunk: 'only' }]));
    await c.waitClosed();
    expect(c.values()).toEqual([{ ack: 'only' }]);
    await fwd.daemon.waitForEvents(1);
  });
});

describe('malformed input closes only its own connection', () => {
  /** A second client that must keep working while the first misbehaves. */
  async function healthy(n: number): Promise<void> {
    const good = await client();
    await good.write(encode(['good', T, { n }, { chunk: `g${n}` }]));
    expect(await good.waitForValues(1)).toEqual([{ ack: `g${n}` }]);
    expect(good.closed).toBe(false);
  }

  it('truncated msgpack waits, then the peer closing is fine', async () => {
    fwd = await startForward();
    const bad = await client();
    const msg = encode(['trunc', T, { a: 'x'.repeat(100) }, { chunk: 'never' }]);
    await bad.write(msg.subarray(0, 50));
    await healthy(1);
    expect(bad.closed).toBe(false);
    bad.socket.end();
    await bad.waitClosed();
    expect(bad.values()).toEqual([]);
    expect(fwd.daemon.events().map((e) => e.tag)).toEqual(['good']);
  });

  it('invalid bytes and random bytes close that connection with one warning naming the peer', async () => {
    fwd = await startForward();
    const bad = await client();
    await bad.write(Buffer.from([0x93, 0xa1, 0x74, 0xc1]));
    await bad.waitClosed();
    await fwd.daemon.waitForOutput(/unexpected error on reading data, closing connection peer="127\.0\.0\.1:\d+" reason="invalid_msgpack"/);
    await healthy(1);
    const random = await client();
    await random.write(Buffer.concat([Buffer.from([0x92, 0xc1]), randomBytes(4096)]));
    await random.waitClosed();
    await healthy(2);
  });

  it('wrong types: a non-string tag is dropped, a non-array value is ignored, an unknown compression closes', async () => {
    fwd = await startForward();
    const c = await client();
    await c.write(encode([42, T, { a: 1 }, { chunk: 'num-tag' }]));
    await c.write(encode({ not: 'an array' }));
    await c.write(encode(['t', T, { a: 2 }, { chunk: 'still-open' }]));
    expect(await c.waitForValues(2)).toEqual([{ ack: 'num-tag' }, { ack: 'still-open' }]);
    await fwd.daemon.waitForOutput('incoming chunk is broken');
    await c.write(encode(['t', Buffer.from('xx'), { compressed: 'lz4', chunk: 'no' }]));
    await c.waitClosed();
    expect(c.values()).toHaveLength(2);
    await healthy(3);
  });

  it('a 100 MB request over chunk_size_limit is dropped unacked while another client keeps sending', async () => {
    fwd = await startForward('  chunk_size_limit 1m');
    const big = await client();
    const body = Buffer.alloc(100 * 1024 * 1024, 0x01);
    const writing = big.write(packedStr32('big', body, { chunk: 'big' }));
    await healthy(1);
    await writing;
    await fwd.daemon.waitForOutput("Input chunk size is larger than 'chunk_size_limit', dropped");
    // the connection stays open (spec §1.6): the next small request on it is accepted and acked
    await big.write(encode(['after.big', T, { ok: true }, { chunk: 'small' }]));
    expect(await big.waitForValues(1)).toEqual([{ ack: 'small' }]);
    await healthy(2);
    expect(fwd.daemon.events().map((e) => e.tag).sort()).toEqual(['after.big', 'good', 'good']);
  });

  it('decompression over decompression_size_limit closes without ack', async () => {
    fwd = await startForward('  decompression_size_limit 1k');
    const c = await client();
    const entries = Buffer.concat(Array.from({ length: 100 }, (_, i) => encode([T, { i, pad: 'z'.repeat(50) }])));
    await c.write(packedStr32('gz', gzipSync(entries), { compressed: 'gzip', chunk: 'too-big' }));
    await c.waitClosed();
    expect(c.values()).toEqual([]);
    await healthy(1);
    await waitFor(() => fwd!.daemon.stdout().includes('reason="decompression_limit"'), 5000, 'the decompression warning');
  });
});
