/**
 * The HA guide end to end with three real `logferry` processes: a forwarder (in_forward → out_forward
 * with a file buffer and acks) in front of a primary and a standby aggregator, both running the
 * shipped config/aggregator.conf (port changed, loopback only). Every event carries a sequence
 * number. Kill the primary mid-stream → the standby receives; kill both → chunks pile up on disk at
 * the forwarder; restart the primary → every event arrives; restart the standby → it stays idle.
 * Zero lost; duplicates (chunks whose ack died with an aggregator) are counted and reported.
 * Needs `npx tsc -p tsconfig.json` first (the daemons run from dist/).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeAll, encode } from '../../src/protocol/msgpack.js';
import { ROOT, startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const daemons: Daemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
});

async function aggregator(port: number): Promise<Daemon> {
  const text = readFileSync(join(ROOT, 'config', 'aggregator.conf'), 'utf8').replace('port 24224', `port ${port}\n  bind 127.0.0.1`);
  const d = await startDaemon(text, { name: 'aggregator.conf' });
  daemons.push(d);
  return d;
}

function forwarderConfig(port: number, primary: number, standby: number, bufferPath: string): string {
  return `# the guide's forwarder (v0.12 syntax), with a file buffer, acks and short timings
<source>
  type forward
  port ${port}
  bind 127.0.0.1
</source>

<match mytag.**>
  type forward
  require_ack_response true
  ack_response_timeout 2
  heartbeat_interval 0.2
  hard_timeout 1
  recover_wait 0.4
  <server>
    name primary
    host 127.0.0.1
    port ${primary}
  </server>
  <server>
    name standby
    host 127.0.0.1
    port ${standby}
    standby
  </server>
  buffer_type file
  buffer_path ${bufferPath}
  flush_interval 0.2
  try_flush_interval 0.05
  queued_chunk_flush_interval 0.05
  retry_wait 0.2
  max_retry_wait 0.5
  disable_retry_limit true
</match>
`;
}

/** Sends batches of sequence-numbered events to the forwarder's in_forward, each acked once buffered. */
class Source {
  next = 0;
  private sock: Socket | null = null;
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly port: number) {}

  async send(n: number): Promise<void> {
    const sock = this.sock ?? (await new Promise<Socket>((resolve, reject) => {
      const s = connect(this.port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    }));
    this.sock = sock;
    const first = this.next;
    const entries = Array.from({ length: n }, (_, i) => [1_750_000_000 + first + i, { seq: first + i }]);
    const id = `batch-${first}`;
    const acked = new Promise<void>((resolve) => sock.once('data', (d: Buffer) => {
      expect(decodeAll(d)).toEqual([{ ack: id }]);
      resolve();
    }));
    sock.write(encode(['mytag.seq', entries, { chunk: id }]));
    await acked;
    this.next += n;
  }

  /** Sends a batch of 10 every 50 ms until stopped. */
  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.send(10);
        await new Promise((r) => setTimeout(r, 50)); // the application's pace
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  close(): void {
    this.sock?.destroy();
  }
}

const seqsOf = (ds: Daemon[]) => ds.flatMap((d) => d.events().map((e) => e.record.seq as number));

describe('forwarder → primary + standby aggregators', () => {
  it('fails over, buffers on disk while both are down, loses nothing, and hands traffic back', async () => {
    const [fPort, pPort, sPort] = [await freePort(), await freePort(), await freePort()];
    const primary1 = await aggregator(pPort);
    const standby1 = await aggregator(sPort);
    const bufferPath = join(primary1.dir, 'forwarder-buffer');
    const fwd = await startDaemon(forwarderConfig(fPort, pPort, sPort, bufferPath), { name: 'forwarder.conf' });
    daemons.push(fwd);
    const source = new Source(fPort);
    const allAggregators: Daemon[] = [primary1, standby1];
    const delivered = () => new Set(seqsOf(allAggregators));
    const everySent = (what: string) => waitFor(() => delivered().size >= source.next, 20000, `${what}: all ${source.next} events delivered`);

    // 1. steady state: everything goes to the primary
    source.start();
    await waitFor(() => source.next >= 100, 10000, '100 events sent');
    await everySent('steady');
    expect(standby1.events()).toHaveLength(0);

    // 2. the primary dies mid-stream: the standby takes over
    await primary1.stop('SIGKILL');
    await fwd.waitForOutput(/detached forwarding server 'primary'/, 10000);
    await fwd.waitForOutput(/using standby node 127\.0\.0\.1:\d+/, 10000);
    const atFailover = source.next;
    await waitFor(() => source.next >= atFailover + 100, 10000, '100 more events');
    await everySent('after failover');
    expect(standby1.events().length).toBeGreaterThan(0);

    // 3. both die: chunks pile up in the forwarder's file buffer
    await standby1.stop('SIGKILL');
    await fwd.waitForOutput(/detached forwarding server 'standby'/, 10000);
    const atOutage = source.next;
    await waitFor(() => source.next >= atOutage + 100, 10000, 'events buffered during the outage');
    await source.stop();
    const onDisk = readdirSync(bufferPath).filter((f) => f.endsWith('.log'));
    expect(onDisk.length).toBeGreaterThan(0);
    expect(delivered().size).toBeLessThan(source.next);
    await fwd.waitForOutput(/no nodes are available/, 10000);

    // 4. the primary comes back: every event arrives
    const primary2 = await aggregator(pPort);
    allAggregators.push(primary2);
    await fwd.waitForOutput(/recovered forwarding server 'primary'/, 10000);
    await everySent('after the primary recovered');
    await waitFor(() => readdirSync(bufferPath).filter((f) => f.endsWith('.log')).length === 0, 10000, 'the buffer to drain');

    // 5. the standby comes back and stays idle while the primary is up
    const standby2 = await aggregator(sPort);
    allAggregators.push(standby2);
    await fwd.waitForOutput(/recovered forwarding server 'standby'/, 10000);
    await source.send(50);
    await everySent('after the standby recovered');
    expect(standby2.events()).toHaveLength(0);
    source.close();

    const all = seqsOf(allAggregators);
    const distinct = new Set(all);
    const lost = Array.from({ length: source.next }, (_, i) => i).filter((i) => !distinct.has(i));
    const report = {
      sent: source.next, delivered: distinct.size, lost: lost.length, duplicates: all.length - distinct.size,
      primary_before_kill: primary1.events().length, standby: standby1.events().length, primary_after_restart: primary2.events().length,
      standby_after_restart: standby2.events().length, chunk_files_on_disk_during_outage: onDisk.length,
    };
    console.log(`failover: ${JSON.stringify(report)}`);
    expect(lost).toEqual([]);
    expect(fwd.stdout()).not.toMatch(/\[error\]/);
  });

  it('config/forwarder.conf runs as written (addresses and ports made local) and starts with no aggregator up', async () => {
    const [fPort, hPort, pPort, sPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const text = readFileSync(join(ROOT, 'config', 'forwarder.conf'), 'utf8')
      .replace('port 24224\n</source>', `port ${fPort}\n  bind 127.0.0.1\n</source>`)
      .replace('port 8888', `port ${hPort}\n  bind 127.0.0.1`)
      .replace('host 192.168.0.1\n    port 24224', `host 127.0.0.1\n    port ${pPort}`)
      .replace('host 192.168.0.2\n    port 24224', `host 127.0.0.1\n    port ${sPort}`);
    expect(text.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n')).not.toMatch(/192\.168|24224|8888/);
    const fwd = await startDaemon(text, { name: 'forwarder.conf' });
    daemons.push(fwd);
    const agg = await aggregator(pPort);
    const res = await fetch(`http://127.0.0.1:${hPort}/mytag.hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"seq":1}' });
    expect(res.status).toBe(200);
    fwd.proc.kill('SIGUSR1'); // flush_interval 60s as written: flush now
    expect((await agg.waitForEvents(1)).map((e) => [e.tag, e.record])).toEqual([['mytag.hello', { seq: 1 }]]);
  });
});
