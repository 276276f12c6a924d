/**
 * Back-pressure over real sockets: when a buffer is full, only the connections whose events feed it
 * slow down (block) or are refused without an ack (throw_exception); other senders are unaffected;
 * in_http answers 503; memory stays bounded.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/msgpack.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient } from './forward-util.js';

function config(fport: number, hport: number, dest: string, action: string): string {
  return `
<source>
  @type forward
  port ${fport}
  bind 127.0.0.1
</source>
<source>
  @type http
  port ${hport}
  bind 127.0.0.1
</source>
<match fluent.**>
  @type null
</match>
<match slow.**>
  @type file
  path ${dest}/out
  append true
  <format>
    @type json
  </format>
  <buffer tag>
    @type memory
    chunk_limit_size 8k
    total_limit_size 64k
    overflow_action ${action}
    flush_mode immediate
    flush_thread_burst_interval 0.05
    retry_wait 0.1
    retry_max_interval 0.2
    retry_forever true
  </buffer>
</match>
<match fast.**>
  @type null
</match>
`;
}

const message = (tag: string, i: number, chunk: string) =>
  encode([tag, Buffer.concat(Array.from({ length: 10 }, (_, j) => encode([Math.floor(Date.now() / 1000), { i: i * 10 + j, pad: 'p'.repeat(200) }]))), { size: 10, chunk }]);

/** Sends messages one at a time, each waiting for its ack; returns how many were acked before `stop`. */
async function sendUntilStalled(c: RawClient, tag: string, max: number, stallMs: number): Promise<number> {
  let acked = 0;
  for (let i = 0; i < max; i++) {
    const n = c.values().length;
    try {
      await c.write(message(tag, i, `${tag}-${i}`));
      await c.waitForValues(n + 1, stallMs);
    } catch {
      return acked;
    }
    acked++;
  }
  return acked;
}

function outputCount(dest: string): number {
  try {
    return readFileSync(join(dest, 'out.log'), 'utf8').split('\n').filter((l) => l).length;
  } catch {
    return 0;
  }
}

describe('back-pressure', () => {
  let d: Daemon | null = null;
  afterEach(async () => { await d?.stop('SIGKILL'); d = null; });

  async function setup(action: string) {
    const root = mkdtempSync(join(tmpdir(), 'logferry-bp-'));
    const dest = join(root, 'dest');
    writeFileSync(dest, 'blocks the output directory'); // dead destination: every flush fails
    const [fport, hport] = [await freePort(), await freePort()];
    d = await startDaemon(config(fport, hport, dest, action));
    return { dest, fport, hport };
  }

  it('block: the full buffer stalls only its senders; they resume when the destination recovers', async () => {
    const { dest, fport } = await setup('block');
    const slow = await RawClient.open(fport);
    const fast = await RawClient.open(fport);
    const slowAcked = await sendUntilStalled(slow, 'slow.x', 200, 1500);
    // 64k of ~2.2k messages: the buffer fills after about 30 messages, then acks stop
    expect(slowAcked).toBeGreaterThan(10);
    expect(slowAcked).toBeLessThan(60);
    expect(slow.closed).toBe(false);
    // another sender, another output: unaffected
    expect(await sendUntilStalled(fast, 'fast.x', 50, 3000)).toBe(50);
    // the destination comes back: the stalled message is acked and everything is delivered
    rmSync(dest);
    mkdirSync(dest, { recursive: true });
    await slow.waitForValues(slowAcked + 1, 15000);
    await waitFor(() => outputCount(dest) >= (slowAcked + 1) * 10, 15000, `all slow events written (have ${outputCount(dest)}, want ${(slowAcked + 1) * 10})\n${d!.stdout().slice(-3000)}`);
    slow.destroy();
    fast.destroy();
  });

  it('throw_exception: the sender feeding the full buffer is closed without an ack; in_http answers 503', async () => {
    const { fport, hport } = await setup('throw_exception');
    const slow = await RawClient.open(fport);
    const acked = await sendUntilStalled(slow, 'slow.x', 200, 3000);
    expect(acked).toBeGreaterThan(10);
    expect(acked).toBeLessThan(60);
    await slow.waitClosed(5000);
    expect(slow.values()).toHaveLength(acked); // no ack for what was not stored
    const res = await fetch(`http://127.0.0.1:${hport}/slow.http`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1 }) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const fast = await RawClient.open(fport);
    expect(await sendUntilStalled(fast, 'fast.x', 20, 3000)).toBe(20);
    fast.destroy();
    expect(d!.stdout()).toMatch(/failed to write data into buffer by buffer overflow/);
  });

  it('block: memory stays bounded while a sender keeps pushing into a full buffer', async () => {
    const { fport } = await setup('block');
    const slow = await RawClient.open(fport);
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${d!.proc.pid}/status`, 'utf8'))![1]) * 1024;
    const before = rss();
    // push 40 MB without waiting for acks; the daemon stops reading, the kernel buffers fill up
    let written = 0;
    const pushing = (async () => {
      for (let i = 0; written < 40 * 1024 * 1024 && !slow.closed; i++) {
        const chunk = message('slow.x', i, `bulk-${i}`); // distinct ids: a repeated id is acked once stored, not stored again
        if (!slow.socket.write(chunk)) await new Promise((r) => { slow.socket.once('drain', r); slow.socket.once('close', r); });
        written += chunk.length;
      }
    })();
    await new Promise((r) => setTimeout(r, 1500));
    const grown = rss() - before;
    console.log(`back-pressure: ${(written / 1e6).toFixed(1)} MB accepted by the socket, daemon RSS grew ${(grown / 1e6).toFixed(1)} MB`);
    expect(written).toBeLessThan(40 * 1024 * 1024); // the sender is held back
    expect(grown).toBeLessThan(64 * 1024 * 1024);
    slow.destroy();
    await pushing.catch(() => undefined);
  });
});
