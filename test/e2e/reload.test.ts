/**
 * SIGUSR2 reloads the config: a bad one is rejected with its errors logged and the pipeline keeps
 * running; a good one swaps in; under load (acked senders, sequence numbers) nothing acknowledged
 * is lost, open connections are carried over and the port never refuses; memory chunks are handed
 * to the new pipeline even while the destination is down; a config that fails to start gives way
 * to the previous one again; with workers, the supervisor validates and every worker reloads.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/msgpack.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient } from '../integration/forward-util.js';

interface Conf {
  port: number;
  dest: string;
  gen: number;
  output?: 'file' | 'stdout';
  flushInterval?: number;
  workers?: number;
}

function config(o: Conf): string {
  const out = o.output === 'stdout'
    ? '  @type stdout\n'
    : `  @type file
  @id out
  path "${o.dest}/w#{worker_id}/out"
  append true
  <format>
    @type json
  </format>
  <buffer tag>
    @type memory
    flush_mode interval
    flush_interval ${o.flushInterval ?? 0.3}
    flush_thread_interval 0.1
    retry_wait 0.2
    retry_max_interval 0.5
    retry_forever true
  </buffer>
`;
  return `
<system>
  workers ${o.workers ?? 1}
</system>
<source>
  @type forward
  port ${o.port}
  bind 127.0.0.1
</source>
<filter seq.**>
  @type record_transformer
  <record>
    gen ${o.gen}
  </record>
</filter>
<match seq.**>
${out}</match>
<match **>
  @type null
</match>
`;
}

function delivered(dir: string): Array<{ seq: number; gen: number }> {
  const out: Array<{ seq: number; gen: number }> = [];
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return out;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const f = join(dir, name);
    if (!statSync(f).isFile()) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) if (line) out.push(JSON.parse(line) as { seq: number; gen: number });
  }
  return out;
}

async function sendOne(port: number, seq: number): Promise<void> {
  const c = await RawClient.open(port);
  await c.write(encode(['seq.r', Math.floor(Date.now() / 1000), { seq }, { chunk: `one${seq}` }]));
  await c.waitForValues(1, 5000);
  c.destroy();
}

/** One connection sending 10-event PackedForward messages with acks until stopped; resends on a broken connection. */
class SeqSender {
  readonly acked: number[] = [];
  reconnects = 0;
  stopped = false;
  done: Promise<void> = Promise.resolve();

  constructor(private readonly port: number, private readonly k: number) {}

  start(): this {
    this.done = this.loop();
    return this;
  }

  private async loop(): Promise<void> {
    let c = await RawClient.open(this.port);
    for (let i = 0; !this.stopped; i++) {
      const base = (this.k * 100_000 + i) * 10;
      const entries = Buffer.concat(Array.from({ length: 10 }, (_, j) => encode([Math.floor(Date.now() / 1000), { seq: base + j }])));
      const msg = encode(['seq.load', entries, { size: 10, chunk: `k${this.k}-${i}` }]);
      for (;;) {
        try {
          const n = c.values().length;
          await c.write(msg);
          await c.waitForValues(n + 1, 5000);
          break;
        } catch {
          this.reconnects++;
          c.destroy();
          await new Promise((r) => setTimeout(r, 50));
          c = await RawClient.open(this.port).catch(() => c);
        }
      }
      for (let j = 0; j < 10; j++) this.acked.push(base + j);
    }
    c.destroy();
  }
}

describe('reload (SIGUSR2)', () => {
  let d: Daemon | null = null;
  afterEach(async () => { await d?.stop('SIGKILL'); d = null; });

  it('rejects a bad config with its errors and keeps the running pipeline; a good one switches outputs', async () => {
    const dest = join(mkdtempSync(join(tmpdir(), 'logferry-reload-')), 'dest');
    const port = await freePort();
    d = await startDaemon(config({ port, dest, gen: 1, output: 'stdout' }));
    await sendOne(port, 1);
    await d.waitForEvents(1);

    writeFileSync(d.configPath, config({ port, dest, gen: 2 }).replace('@type null', '@type no_such_output').replace(`port ${port}`, 'port 24x'));
    d.proc.kill('SIGUSR2');
    await d.waitForOutput('config reload failed; the running configuration is kept');
    expect(d.stdout()).toMatch(/\[error\]: #0 config error problem=".*fluent\.conf:\d+ <source> @type forward: port: .*24x/);
    expect(d.stdout()).toMatch(/\[error\]: #0 config error problem=".*unknown output plugin 'no_such_output'/);
    await sendOne(port, 2); // the old pipeline still runs
    const evs = await d.waitForEvents(2);
    expect(evs.map((e) => e.record)).toEqual([{ seq: 1, gen: '1' }, { seq: 2, gen: '1' }]);
    expect(d.proc.exitCode).toBeNull();

    writeFileSync(d.configPath, config({ port, dest, gen: 3, output: 'file' }));
    d.proc.kill('SIGUSR2');
    await d.waitForOutput('#0 config reloaded');
    await sendOne(port, 3);
    const got = await waitFor(() => (delivered(dest).length > 0 ? delivered(dest) : null), 5000, 'the event in the new output');
    expect(got).toEqual([{ seq: 3, gen: '3' }]);
    expect(d.events()).toHaveLength(2); // nothing more on stdout
    expect(await d.stop()).toBe(0);
  });

  it('loses nothing under load: connections carried over, no refused connect, memory chunks handed over', async () => {
    const dest = join(mkdtempSync(join(tmpdir(), 'logferry-reload-load-')), 'dest');
    const port = await freePort();
    d = await startDaemon(config({ port, dest, gen: 0, flushInterval: 2 }));
    const senders = [0, 1, 2, 3].map((k) => new SeqSender(port, k).start());
    let refused = 0;
    let probing = true;
    const prober = (async () => {
      while (probing) {
        await new Promise<void>((resolve) => {
          const s = connect(port, '127.0.0.1');
          s.once('connect', () => { s.destroy(); resolve(); });
          s.once('error', () => { refused++; resolve(); });
        });
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const total = () => senders.reduce((n, s) => n + s.acked.length, 0);
    for (let gen = 1; gen <= 4; gen++) {
      const before = total();
      await waitFor(() => total() >= before + 500, 15000, 'traffic between reloads');
      writeFileSync(d.configPath, config({ port, dest, gen, flushInterval: 2 }));
      d.proc.kill('SIGUSR2');
      await waitFor(() => (d!.stdout().match(/#0 config reloaded/g) ?? []).length === gen, 15000, `reload ${gen}`);
    }
    const before = total();
    await waitFor(() => total() >= before + 300, 15000, 'traffic after the last reload');
    for (const s of senders) s.stopped = true;
    await Promise.all(senders.map((s) => s.done));
    probing = false;
    await prober;
    expect(await d.stop()).toBe(0); // memory buffer flushed at shutdown

    const acked = senders.flatMap((s) => s.acked);
    const got = delivered(dest);
    const seqs = new Set(got.map((r) => r.seq));
    const lost = acked.filter((s) => !seqs.has(s));
    console.log(`reload under load: ${acked.length} acknowledged, ${got.length} delivered, ${lost.length} lost, ${got.length - seqs.size} duplicated, ${senders.reduce((n, s) => n + s.reconnects, 0)} reconnects, ${refused} refused connects`);
    expect(lost).toEqual([]);
    expect(new Set(got.map((r) => Number(r.gen)))).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(senders.map((s) => s.reconnects)).toEqual([0, 0, 0, 0]); // open connections were carried over
    expect(refused).toBe(0);
    expect(d.stdout()).toMatch(/memory buffer chunks handed over to the reloaded configuration/);
  });

  it('hands memory chunks to the new pipeline while the destination is down', async () => {
    const root = mkdtempSync(join(tmpdir(), 'logferry-reload-dead-'));
    const dest = join(root, 'dest');
    writeFileSync(dest, 'dead destination');
    const port = await freePort();
    d = await startDaemon(config({ port, dest, gen: 1 }));
    for (let seq = 0; seq < 40; seq++) await sendOne(port, seq);
    writeFileSync(d.configPath, config({ port, dest, gen: 2 }));
    d.proc.kill('SIGUSR2');
    await d.waitForOutput('#0 config reloaded');
    expect(d.stdout()).toMatch(/memory buffer chunks handed over to the reloaded configuration chunks=\d+ records=40/);
    expect(d.stdout()).not.toMatch(/are lost/);
    rmSync(dest);
    mkdirSync(dest);
    const got = await waitFor(() => (delivered(dest).length >= 40 ? delivered(dest) : null), 15000, 'the handed-over events');
    expect(new Set(got.map((r) => r.seq)).size).toBe(40);
    expect(got.every((r) => Number(r.gen) === 1)).toBe(true); // filtered before the reload
    expect(await d.stop()).toBe(0);
  });

  it('starts the previous configuration again when the new one fails to start (a port taken)', async () => {
    const dest = join(mkdtempSync(join(tmpdir(), 'logferry-reload-fail-')), 'dest');
    const port = await freePort();
    const taken = createServer();
    const busy = await new Promise<number>((resolve) => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)));
    d = await startDaemon(config({ port, dest, gen: 1, flushInterval: 30 }));
    for (let seq = 0; seq < 5; seq++) await sendOne(port, seq); // held in the memory buffer (flush_interval 30)
    writeFileSync(d.configPath, config({ port, dest, gen: 2, flushInterval: 30 }) + `<source>\n  @type http\n  port ${busy}\n  bind 127.0.0.1\n</source>\n`);
    d.proc.kill('SIGUSR2');
    await d.waitForOutput('the reloaded configuration failed to start; starting the previous one again');
    // the forward socket went to the new pipeline and back: listening at start, in the new one, in the restored one
    await waitFor(() => (d!.stdout().match(new RegExp(`listening port port=${port} `, 'g')) ?? []).length === 3, 10000, 'the previous pipeline listening again');
    for (let seq = 5; seq < 8; seq++) await sendOne(port, seq); // the previous pipeline runs again
    expect(await d.stop()).toBe(0); // flush at shutdown
    taken.close();
    const got = delivered(dest);
    expect(got.map((r) => r.seq).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(got.every((r) => Number(r.gen) === 1)).toBe(true);
    expect(d.stdout()).not.toMatch(/are lost/);
  });

  it('with workers: the supervisor validates, then every worker reloads', async () => {
    const dest = join(mkdtempSync(join(tmpdir(), 'logferry-reload-workers-')), 'dest');
    const port = await freePort();
    d = await startDaemon(config({ port, dest, gen: 1, workers: 2 }), { ready: 'all workers are running' });
    writeFileSync(d.configPath, config({ port, dest, gen: 2, workers: 2 }).replace('@type record_transformer', '@type no_such_filter'));
    d.proc.kill('SIGUSR2');
    await d.waitForOutput('config reload failed; the running configuration is kept');
    expect(d.stdout()).toMatch(/^\S+ \S+ \S+ \[error\]: config error problem=".*unknown filter plugin 'no_such_filter'/m);
    expect(d.stdout()).not.toMatch(/#\d reloading config/);

    writeFileSync(d.configPath, config({ port, dest, gen: 2, workers: 2 }));
    d.proc.kill('SIGUSR2');
    await d.waitForOutput('config reloaded in every worker');
    expect(d.stdout()).toMatch(/#0 config reloaded/);
    expect(d.stdout()).toMatch(/#1 config reloaded/);
    for (let seq = 0; seq < 8; seq++) await sendOne(port, seq);
    const got = await waitFor(() => (delivered(dest).length >= 8 ? delivered(dest) : null), 10000, 'events after the reload');
    expect(got.every((r) => Number(r.gen) === 2)).toBe(true);
    expect(readdirSync(dest).sort()).toEqual(['w0', 'w1']); // both workers run the new pipeline
    expect(await d.stop()).toBe(0);
  });
});
