/**
 * The two-hop path of a forwarder and an aggregator:
 *
 *   bench client --PackedForward+ack--> logferry A (in_forward → out_forward, file buffer,
 *   require_ack_response, keepalive) --> logferry B (in_forward → out_forward, file buffer) --> sink
 *
 * The sink is a raw socket in this process that frames requests and counts entries (it never decodes
 * records). Prints events/s and MB/s end to end, CPU µs per event for each hop (utime+stime from
 * /proc/<pid>/stat), the client's ack latency (A acks once the events are in its file buffer) and
 * A's out_forward ack latency (B acks once the chunk is in its file buffer), p50/p99.
 * Run: npm run build && node --import tsx bench/forward-two-hop.ts [totalEvents]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventTime } from '../src/core/event-time.js';
import { ForwardDecoder } from '../src/protocol/framing.js';
import { encode } from '../src/protocol/msgpack.js';
import { machine, makeRecord, ROOT, rng } from './harness.js';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const PER_MESSAGE = 1000;
const CONNECTIONS = 4;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const r = rng(7);
const entries = Buffer.concat(Array.from({ length: PER_MESSAGE }, (_, i) => encode([new EventTime(1_700_000_000 + i, 0), makeRecord(r, i)])));
const eventBytes = entries.length / PER_MESSAGE;

function message(id: string): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 0xdb;
  head.writeUInt32BE(entries.length, 1);
  return Buffer.concat([Buffer.from([0x93]), encode('bench.access'), head, entries, encode({ size: PER_MESSAGE, chunk: id })]);
}

function quantiles(xs: number[]): { p50: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length * 0.5)] ?? 0, p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] ?? 0 };
}

/** utime + stime of a process, in microseconds. */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
}

interface Hop { proc: ChildProcess; out(): string; stop(): Promise<void> }

async function startHop(name: string, config: string): Promise<Hop> {
  const dir = mkdtempSync(join(tmpdir(), `logferry-2hop-${name}-`));
  const path = join(dir, 'fluent.conf');
  writeFileSync(path, config.replaceAll('@DIR@', dir));
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'logferry.js'), '-c', path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => { out = (out + d).slice(-200_000); });
  const deadline = Date.now() + 15000;
  while (!out.includes('worker is now running')) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start:\n${out}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    proc, out: () => out,
    async stop() { proc.kill('SIGTERM'); await new Promise((res) => proc.once('exit', res)); },
  };
}

const port = () => 25000 + Math.floor(Math.random() * 20000);
const [portA, portB, portSink] = [port(), port() + 1, port() + 2];

// The sink: counts entries of every request (framing only), acks when asked.
let sunk = 0;
let sinkDone: () => void = () => undefined;
const allSunk = new Promise<void>((res) => (sinkDone = res));
const sink = createServer((s) => {
  const dec = new ForwardDecoder();
  s.on('error', () => undefined);
  s.on('data', (d: Buffer) => {
    dec.push(d);
    for (let req = dec.next(); req !== null; req = dec.next()) {
      if (!('count' in req)) continue;
      sunk += req.count;
      if (sunk >= TOTAL) sinkDone();
    }
  });
});
await new Promise<void>((res) => sink.listen(portSink, '127.0.0.1', () => res()));

const buffer = (extra = '') => `  <buffer tag>\n    @type file\n    path @DIR@/buffer\n    flush_mode interval\n    flush_interval 0.2\n    flush_thread_count 2\n    flush_thread_burst_interval 0\n    chunk_limit_size 4m\n    retry_wait 0.2\n${extra}  </buffer>`;
const hopB = await startHop('B', `<source>\n  @type forward\n  port ${portB}\n  bind 127.0.0.1\n</source>\n<match bench.**>\n  @type forward\n  keepalive true\n  <server>\n    host 127.0.0.1\n    port ${portSink}\n  </server>\n${buffer()}\n</match>\n`);
const hopA = await startHop('A', `<source>\n  @type forward\n  port ${portA}\n  bind 127.0.0.1\n</source>\n<match bench.**>\n  @type forward\n  require_ack_response true\n  keepalive true\n  <server>\n    host 127.0.0.1\n    port ${portB}\n  </server>\n${buffer()}\n</match>\n`);

const clientAckMs: number[] = [];
async function sender(messages: number, c: number): Promise<void> {
  const sock = connect(portA, '127.0.0.1');
  await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
  for (let i = 0; i < messages; i++) {
    const acked = new Promise((res) => sock.once('data', res));
    const t = performance.now();
    sock.write(message(`c${c}-${i}`));
    await acked;
    clientAckMs.push(performance.now() - t);
  }
  sock.end();
}

const cpuA0 = cpuMicros(hopA.proc.pid!);
const cpuB0 = cpuMicros(hopB.proc.pid!);
const perConn = Math.ceil(TOTAL / PER_MESSAGE / CONNECTIONS);
const events = perConn * CONNECTIONS * PER_MESSAGE;
const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: CONNECTIONS }, (_, c) => sender(perConn, c)));
const ingestSec = Number(process.hrtime.bigint() - t0) / 1e9;
await allSunk;
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpuA = cpuMicros(hopA.proc.pid!) - cpuA0;
const cpuB = cpuMicros(hopB.proc.pid!) - cpuB0;
await hopA.stop();
await hopB.stop();
sink.close();

const m = /forward ack latency acked=(\d+) p50_ms=([\d.]+) p99_ms=([\d.]+)/.exec(hopA.out());
const client = quantiles(clientAckMs);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
process.stdout.write([
  `forward -> logferry (file, acks) -> logferry (file) -> sink: ${fmt(events / seconds)} events/s, ${(events * eventBytes / seconds / 2 ** 20).toFixed(1)} MB/s end to end`,
  `  ${events} events of ${Math.round(eventBytes)} B in ${seconds.toFixed(2)} s (ingest into hop A took ${ingestSec.toFixed(2)} s); ${machine()}`,
  `  CPU per event: hop A ${(cpuA / events).toFixed(2)} µs, hop B ${(cpuB / events).toFixed(2)} µs`,
  `  ack latency client -> A (1000-event messages): p50 ${client.p50.toFixed(1)} ms, p99 ${client.p99.toFixed(1)} ms`,
  m ? `  ack latency A -> B (out_forward chunks, ${m[1]} acks): p50 ${Number(m[2]).toFixed(1)} ms, p99 ${Number(m[3]).toFixed(1)} ms` : '  ack latency A -> B: not reported',
].join('\n') + '\n');
