/**
 * out_forward `dns_round_robin true` with real name resolution: the real daemon runs in a private
 * mount namespace (`unshare --mount`, root) where a hosts file of the test's own is bind-mounted on
 * /etc/hosts, so getaddrinfo answers `aggregator.test` with 127.0.0.2 and 127.0.0.3. The machine's
 * /etc/hosts is never touched, and nothing in the daemon is replaced: out_forward's own
 * dns.lookup(host, { all: true }) does the resolving. Two raw receivers listen on those two
 * addresses (Linux routes all of 127/8 to lo) on the same port; every chunk opens a new connection
 * (no keepalive), and with round robin the address is drawn again for each.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, writeConfig } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { RawReceiver, stopAll } from './out-forward-util.js';

const HOST = 'aggregator.test';
const ADDRESSES = ['127.0.0.2', '127.0.0.3'];
const CHUNKS = 24; // with round robin, all on one address by chance: 2 × 2^-24

/** `argv` run with `hostsPath` mounted on /etc/hosts in a mount namespace of its own. */
function inHostsNamespace(hostsPath: string, argv: string[]): [string, string[]] {
  return ['unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$1" /etc/hosts && shift && exec "$@"', 'sh', hostsPath, ...argv]];
}

interface NsDaemon {
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

let daemon: NsDaemon | null = null;

afterEach(async () => {
  await daemon?.stop();
  daemon = null;
  await stopAll();
});

/** The hosts file, and what dns.lookup answers for HOST inside the namespace (also proves the setup works here). */
function hostsNamespace(dir: string): { hostsPath: string; lookedUp: string[] } {
  const hostsPath = join(dir, 'hosts');
  writeFileSync(hostsPath, `127.0.0.1 localhost\n${ADDRESSES.map((a) => `${a} ${HOST}`).join('\n')}\n`);
  const script = `require('node:dns').promises.lookup(${JSON.stringify(HOST)}, { all: true }).then((a) => console.log(JSON.stringify(a.map((x) => x.address))))`;
  const [cmd, args] = inHostsNamespace(hostsPath, [process.execPath, '-e', script]);
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) {
    throw new Error(`this test needs a private mount namespace (root, util-linux unshare) to give ${HOST} several addresses: ${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.error ? String(r.error) : ''}`);
  }
  return { hostsPath, lookedUp: JSON.parse(r.stdout) as string[] };
}

/** The real daemon (bin/logferry.js) in the namespace: an http source into out_forward to HOST. */
async function startDaemonWithHosts(forwardLines: string, receiverPort: number): Promise<{ httpPort: number; lookedUp: string[] }> {
  const httpPort = await freePort();
  const { dir, path } = writeConfig(`
<source>
  @type http
  port ${httpPort}
  bind 127.0.0.1
</source>
<match test.**>
  @type forward
  heartbeat_type none
${forwardLines}
  <server>
    host ${HOST}
    port ${receiverPort}
  </server>
  <buffer tag>
    flush_mode interval
    flush_interval 0.1
    flush_thread_interval 0.05
    flush_thread_burst_interval 0.02
    retry_wait 0.1
    retry_max_interval 0.3
  </buffer>
</match>
<match fluent.**>
  @type null
</match>
`);
  const { hostsPath, lookedUp } = hostsNamespace(dir);
  const [cmd, args] = inHostsNamespace(hostsPath, [process.execPath, BIN, '-c', path]);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  daemon = {
    proc,
    output: () => out,
    async stop() {
      if (!gone) proc.kill('SIGTERM');
      await exited;
    },
  };
  await waitFor(() => {
    if (gone) throw Object.assign(new Error(`daemon exited:\n${out}`), { fatal: true });
    return out.includes('worker is now running');
  }, 15000, `the daemon to run; output:\n${out}`);
  return { httpPort, lookedUp };
}

/** CHUNKS events under as many tags (a chunk, and so a connection, each). */
async function sendChunks(httpPort: number): Promise<void> {
  for (let i = 0; i < CHUNKS; i++) {
    const res = await fetch(`http://127.0.0.1:${httpPort}/test.rr.${i}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ seq: i }) });
    expect(res.status).toBe(200);
  }
}

async function receivers(): Promise<RawReceiver[]> {
  const first = await RawReceiver.start(0, ADDRESSES[0]);
  return [first, await RawReceiver.start(first.port, ADDRESSES[1])];
}

async function allDelivered(rcv: RawReceiver[]): Promise<void> {
  await waitFor(() => rcv.reduce((n, r) => n + r.messages.length, 0) >= CHUNKS, 15000, `${CHUNKS} chunks at the receivers; daemon output:\n${daemon?.output() ?? ''}`);
  const seqs = rcv.flatMap((r) => r.records().map((x) => x.seq as number)).sort((a, b) => a - b);
  expect(seqs).toEqual([...Array(CHUNKS).keys()]);
}

describe('dns_round_robin', () => {
  it('spreads new connections over every address the host resolves to', async () => {
    const rcv = await receivers();
    const { httpPort, lookedUp } = await startDaemonWithHosts('  dns_round_robin true', rcv[0]!.port);
    expect([...lookedUp].sort()).toEqual(ADDRESSES);
    await sendChunks(httpPort);
    await allDelivered(rcv);
    const perAddress = rcv.map((r) => r.connections);
    expect(perAddress.reduce((a, b) => a + b, 0)).toBe(CHUNKS); // a new connection per chunk
    expect(perAddress[0]).toBeGreaterThan(0);
    expect(perAddress[1]).toBeGreaterThan(0);
  });

  it('uses only the first address without it', async () => {
    const rcv = await receivers();
    const { httpPort, lookedUp } = await startDaemonWithHosts('', rcv[0]!.port);
    expect([...lookedUp].sort()).toEqual(ADDRESSES);
    await sendChunks(httpPort);
    await allDelivered(rcv);
    const first = rcv[ADDRESSES.indexOf(lookedUp[0]!)]!;
    const other = rcv.find((r) => r !== first)!;
    expect(first.connections).toBe(CHUNKS);
    expect(other.connections).toBe(0);
  });
});
