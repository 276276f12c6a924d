/**
 * At-least-once across `kill -9`: logferry with a file buffer and a dead destination acknowledges
 * events, is killed mid-stream, and is restarted with the destination up: every acknowledged event
 * arrives (sequence numbers; duplicates reported, not hidden).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/msgpack.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { jsonFileOutput, jsonLinesUnder } from '../helpers/output-files.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient } from '../integration/forward-util.js';

function config(port: number, dest: string, buf: string): string {
  return `
<source>
  @type forward
  port ${port}
  bind 127.0.0.1
</source>
<match fluent.**>
  @type null
</match>
<match seq.**>
${jsonFileOutput(`${dest}/out`, buf)}
</match>
`;
}

/** Sequence numbers found in every output file under `dir`. */
function delivered(dir: string): number[] {
  return jsonLinesUnder<{ seq: number }>(dir).map((r) => r.seq);
}

describe('crash recovery with a file buffer', () => {
  let d: Daemon | null = null;
  afterEach(async () => { await d?.stop('SIGKILL'); d = null; });

  it('delivers every acknowledged event after kill -9 and restart', async () => {
    const root = mkdtempSync(join(tmpdir(), 'logferry-crash-'));
    const dest = join(root, 'dest');
    const buf = join(root, 'buffer');
    writeFileSync(dest, 'a file where the output directory should be: writes fail'); // dead destination
    const port = await freePort();
    d = await startDaemon(config(port, dest, buf));

    const client = await RawClient.open(port);
    const acked: number[] = [];
    const TOTAL = 400;
    let killedAt = -1;
    for (let seq = 0; seq < TOTAL; seq++) {
      const id = `c${seq}`;
      await client.write(encode(['seq.test', Math.floor(Date.now() / 1000), { seq, pad: 'x'.repeat(100) }, { chunk: id }]));
      try {
        await client.waitForValues(acked.length + 1, 5000);
        acked.push(seq);
      } catch {
        break;
      }
      if (seq === 250) {
        d.proc.kill('SIGKILL'); // mid-stream, while chunks are failing to flush
        killedAt = seq;
        await d.exited;
        break;
      }
    }
    client.destroy();
    expect(killedAt).toBe(250);
    expect(acked.length).toBeGreaterThanOrEqual(251);
    expect(delivered(dest)).toEqual([]); // nothing could be written before the crash

    rmSync(dest);
    mkdirSync(dest, { recursive: true });
    d = await startDaemon(config(port, dest, buf));
    const got = await waitFor(() => {
      const seqs = new Set(delivered(dest));
      return acked.every((s) => seqs.has(s)) ? delivered(dest) : null;
    }, 20000, 'every acknowledged event in the output');
    const counts = new Map<number, number>();
    for (const s of got) counts.set(s, (counts.get(s) ?? 0) + 1);
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    const lost = acked.filter((s) => !counts.has(s));
    console.log(`crash test: ${acked.length} acknowledged, ${got.length} delivered, ${lost.length} lost, ${duplicates} duplicated`);
    expect(lost).toEqual([]);
    expect(await d.stop()).toBe(0);
  });

  it('loses no acknowledged event on SIGTERM at full rate with a memory buffer', async () => {
    const root = mkdtempSync(join(tmpdir(), 'logferry-term-'));
    const dest = join(root, 'dest');
    const port = await freePort();
    const conf = config(port, dest, '').replace(/    @type file\n    path \n/, '    @type memory\n').replace('flush_interval 0.2', 'flush_interval 30');
    expect(conf).toContain('@type memory');
    d = await startDaemon(conf);
    const clients = await Promise.all([0, 1, 2, 3].map(() => RawClient.open(port)));
    const acked: number[] = [];
    let stop = false;
    const senders = clients.map(async (c, k) => {
      for (let i = 0; !stop; i++) {
        const seq = k * 1_000_000 + i;
        const entries = Buffer.concat(Array.from({ length: 20 }, (_, j) => encode([Math.floor(Date.now() / 1000), { seq: seq * 100 + j }])));
        const n = c.values().length;
        try {
          await c.write(encode(['seq.term', entries, { size: 20, chunk: `k${k}-${i}` }]));
          await c.waitForValues(n + 1, 3000);
        } catch {
          return;
        }
        for (let j = 0; j < 20; j++) acked.push(seq * 100 + j);
      }
    });
    await waitFor(() => acked.length >= 2000, 10000, '2000 acknowledged events');
    const code = d.stop('SIGTERM');
    await Promise.race([Promise.all(senders), new Promise((r) => setTimeout(r, 5000))]);
    stop = true;
    expect(await code).toBe(0);
    const got = new Set(delivered(dest));
    const lost = acked.filter((s) => !got.has(s));
    console.log(`SIGTERM test: ${acked.length} acknowledged, ${got.size} delivered, ${lost.length} lost`);
    expect(lost).toEqual([]);
    for (const c of clients) c.destroy();
  });

  it('keeps memory chunks it could not flush at shutdown in the buffer path and delivers them after restart', async () => {
    const root = mkdtempSync(join(tmpdir(), 'logferry-spill-'));
    const dest = join(root, 'dest');
    const buf = join(root, 'spill');
    writeFileSync(dest, 'dead destination');
    const port = await freePort();
    const conf = config(port, dest, buf).replace('    @type file\n', '    @type memory\n');
    d = await startDaemon(conf);
    const client = await RawClient.open(port);
    for (let seq = 0; seq < 50; seq++) {
      await client.write(encode(['seq.spill', Math.floor(Date.now() / 1000), { seq }, { chunk: `s${seq}` }]));
      await client.waitForValues(seq + 1, 5000);
    }
    client.destroy();
    expect(await d.stop()).toBe(0);
    expect(d.stdout()).toMatch(/memory buffer chunks not flushed at shutdown were written to the buffer path/);
    rmSync(dest);
    mkdirSync(dest, { recursive: true });
    d = await startDaemon(conf);
    const got = await waitFor(() => (delivered(dest).length >= 50 ? delivered(dest) : null), 15000, 'the spilled events');
    expect(new Set(got).size).toBe(50);
  });
});
