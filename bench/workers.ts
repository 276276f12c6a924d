/**
 * 1 vs 2 workers: in_forward → null with PackedForward messages of 1,000 ~250-byte events, acked,
 * over 8 connections with 4 messages in flight each (so the sender is not bound by ack latency),
 * drawn from one pool (a connection on a faster worker sends more; the run does not end on a tail
 * of connections left on one worker).
 * With 2 workers the supervisor hands connections round-robin to the workers. The bench client runs
 * on the same machine and competes for the same cores: its own CPU is reported next to the daemon's.
 * FILTER=1 adds a record_transformer (every record decoded and re-encoded: CPU-bound JavaScript).
 * Rounds alternate 1 and 2 workers (ROUNDS, default 3) and the medians are printed last, because
 * other work on the machine moves single runs a lot.
 * Run: npm run build && node --import tsx bench/workers.ts [totalEvents]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventTime } from '../src/core/event-time.js';
import { encode } from '../src/protocol/msgpack.js';
import { cpuMicros, machine, makeRecord, ROOT, rng } from './harness.js';

const TOTAL = Number(process.argv[2] ?? 2_000_000);
const PER_MESSAGE = 1000;
const CONNECTIONS = 8;
const WINDOW = 4;

const r = rng(42);
const entries = Buffer.concat(Array.from({ length: PER_MESSAGE }, (_, i) => encode([new EventTime(1700000000 + i, 0), makeRecord(r, i)])));
const body = Buffer.concat([Buffer.from([0xc6]), Buffer.alloc(4), entries]);
body.writeUInt32BE(entries.length, 1);
const head = Buffer.concat([Buffer.from([0x93]), encode('bench.access'), body]);
/** Fixed-width chunk ids, so every ack has the same length and acks are counted by bytes. */
const chunkId = (k: number, i: number) => `c${String(k).padStart(2, '0')}-${String(i).padStart(9, '0')}`;
const ACK_LEN = encode({ ack: chunkId(0, 0) }).length;

/** Messages not sent yet, shared by every connection. */
let pool = 0;

async function sender(port: number, k: number): Promise<void> {
  const sock = connect(port, '127.0.0.1');
  await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
  let sent = 0;
  let ackBytes = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (pool > 0 && sent - Math.floor(ackBytes / ACK_LEN) < WINDOW) {
        pool--;
        sock.write(Buffer.concat([head, encode({ size: PER_MESSAGE, chunk: chunkId(k, sent) })]));
        sent++;
      }
      if (pool === 0 && ackBytes / ACK_LEN >= sent) resolve();
    };
    sock.on('data', (d: Buffer) => {
      ackBytes += d.length;
      pump();
    });
    sock.once('error', reject);
    pump();
  });
  sock.end();
}

/** The daemon and its workers (children of the supervisor). */
function processTree(pid: number): number[] {
  const kids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const ppid = Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      return ppid === pid ? [Number(d)] : [];
    } catch {
      return [];
    }
  });
  return [pid, ...kids];
}

function peakRss(pids: number[]): number {
  return pids.reduce((n, pid) => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return n + (m ? Number(m[1]) * 1024 : 0);
  }, 0);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

interface Result { eventsPerSec: number; mbPerSec: number; daemonCpuPct: number; clientCpuPct: number; usPerEvent: number; rssMiB: number }

async function run(workers: number): Promise<Result> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'logferry-bench-workers-'));
  const path = join(dir, 'fluent.conf');
  const filter = process.env.FILTER === '1' ? '<filter **>\n  @type record_transformer\n  <record>\n    worker "#{worker_id}"\n  </record>\n</filter>\n' : '';
  writeFileSync(path, `<system>\n  workers ${workers}\n</system>\n<source>\n  @type forward\n  port ${port}\n  bind 127.0.0.1\n</source>\n${filter}<match **>\n  @type null\n</match>\n`);
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'logferry.js'), '-c', path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (d) => { if (out.length < 1e5) out += d; });
  const ready = workers > 1 ? 'all workers are running' : 'worker is now running';
  for (let t = 0; !out.includes(ready); t++) {
    if (t > 300 || proc.exitCode !== null) throw new Error(`daemon did not start:\n${out}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  const pids = processTree(proc.pid!);
  const messages = Math.ceil(TOTAL / PER_MESSAGE);
  pool = messages;
  const cpu0 = pids.map(cpuMicros);
  const self0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, k) => sender(port, k)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const self = process.cpuUsage(self0);
  const perProcess = pids.map((pid, i) => cpuMicros(pid) - cpu0[i]!);
  const daemonCpu = perProcess.reduce((n, c) => n + c, 0);
  const events = messages * PER_MESSAGE;
  const res: Result = {
    eventsPerSec: events / seconds,
    mbPerSec: (events * (entries.length / PER_MESSAGE)) / seconds / 2 ** 20,
    daemonCpuPct: daemonCpu / seconds / 1e4,
    clientCpuPct: (self.user + self.system) / seconds / 1e4,
    usPerEvent: daemonCpu / events,
    rssMiB: peakRss(pids) / 2 ** 20,
  };
  const split = perProcess.map((c) => `${(c / seconds / 1e4).toFixed(0)}%`).join(' / ');
  process.stdout.write(`${line(workers, res)} (${events} events in ${seconds.toFixed(2)} s; CPU ${workers > 1 ? 'supervisor / workers' : 'worker'}: ${split})\n`);
  proc.kill('SIGTERM');
  await new Promise((res) => proc.once('exit', res));
  return res;
}

function line(workers: number, r: Result): string {
  return `workers ${workers}: ${Math.round(r.eventsPerSec).toLocaleString('en-US')} events/s, ${r.mbPerSec.toFixed(1)} MB/s, ` +
    `daemon CPU ${r.daemonCpuPct.toFixed(0)}% (${r.usPerEvent.toFixed(2)} µs/event), bench client CPU ${r.clientCpuPct.toFixed(0)}%, peak RSS ${r.rssMiB.toFixed(0)} MiB`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

process.stdout.write(`${machine()}\n`);
const counts = (process.env.WORKERS ?? '1,2').split(',').map(Number);
const results = new Map<number, Result[]>(counts.map((w) => [w, []]));
for (let round = 0; round < Number(process.env.ROUNDS ?? 3); round++) {
  for (const w of counts) results.get(w)!.push(await run(w));
}
process.stdout.write('medians:\n');
for (const [w, rs] of results) {
  const m = (k: keyof Result) => median(rs.map((r) => r[k]));
  process.stdout.write(`  ${line(w, { eventsPerSec: m('eventsPerSec'), mbPerSec: m('mbPerSec'), daemonCpuPct: m('daemonCpuPct'), clientCpuPct: m('clientCpuPct'), usPerEvent: m('usPerEvent'), rssMiB: m('rssMiB') })}\n`);
}
