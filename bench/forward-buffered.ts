/**
 * forward → logferry (memory buffer, then file buffer) → out_forward → a counting sink.
 * 2,000,000 ~250-byte events in PackedForward messages of 1,000, acked per message, 4 connections.
 * The sink (in this process) counts entries by scanning and acks each chunk.
 * Prints events/s, MB/s, the daemon's CPU µs per event and its peak RSS.
 * Run: npm run build && node --import tsx bench/forward-buffered.ts [totalEvents]
 */
import { mkdtempSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventTime } from '../src/core/event-time.js';
import { ForwardDecoder, buildAck } from '../src/protocol/framing.js';
import { encode } from '../src/protocol/msgpack.js';
import { cpuMicros, makeRecord, report, rng, startDaemon } from './harness.js';

const TOTAL = Number(process.argv[2] ?? 2_000_000);
const PER_MESSAGE = 1000;
const CONNECTIONS = 4;

const r = rng(7);
const entries = Buffer.concat(Array.from({ length: PER_MESSAGE }, (_, i) => encode([new EventTime(1700000000 + i, 0), makeRecord(r, i)])));

function message(id: string): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 0xc6;
  head.writeUInt32BE(entries.length, 1);
  return Buffer.concat([Buffer.from([0x93]), encode('bench.access'), head, entries, encode({ size: PER_MESSAGE, chunk: id })]);
}

/** A forward receiver that counts entries and acks every chunk. */
async function countingSink(): Promise<{ port: number; count: () => number; close: () => void }> {
  let count = 0;
  const server = createServer((sock: Socket) => {
    const dec = new ForwardDecoder({});
    sock.on('data', (d: Buffer) => {
      dec.push(d);
      for (let req = dec.next(); req; req = dec.next()) {
        if (req.mode === 'message' || req.mode === 'forward' || req.mode === 'packed' || req.mode === 'compressed') {
          count += req.count;
          if (req.chunk) sock.write(buildAck(req.chunk, 'msgpack'));
        }
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const a = server.address();
  return { port: typeof a === 'object' && a ? a.port : 0, count: () => count, close: () => server.close() };
}

async function sender(port: number, messages: number, k: number): Promise<void> {
  const sock = connect(port, '127.0.0.1');
  await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
  for (let i = 0; i < messages; i++) {
    const acked = new Promise((res) => sock.once('data', res));
    sock.write(message(`c${k}-${i}`));
    await acked;
  }
  sock.end();
}

async function run(bufferType: 'memory' | 'file'): Promise<void> {
  const sink = await countingSink();
  const port = 25000 + Math.floor(Math.random() * 5000);
  const bufPath = bufferType === 'file' ? `\n    path ${mkdtempSync(join(tmpdir(), 'logferry-bench-buf-'))}` : '';
  const d = await startDaemon(`
<source>
  @type forward
  port ${port}
  bind 127.0.0.1
</source>
<match bench.**>
  @type forward
  require_ack_response true
  <server>
    host 127.0.0.1
    port ${sink.port}
  </server>
  <buffer tag>
    @type ${bufferType}${bufPath}
    flush_mode interval
    flush_interval 0.1
    flush_thread_count 2
    flush_thread_burst_interval 0
    chunk_limit_size 8m
    total_limit_size 1g
  </buffer>
</match>
`);
  const perConn = Math.ceil(TOTAL / PER_MESSAGE / CONNECTIONS);
  const events = perConn * CONNECTIONS * PER_MESSAGE;
  const cpu0 = cpuMicros(d.proc.pid!);
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, k) => sender(port, perConn, k)));
  while (sink.count() < events) await new Promise((res) => setTimeout(res, 20));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuMicros(d.proc.pid!) - cpu0;
  report(`forward -> logferry (${bufferType} buffer) -> out_forward -> sink`, {
    events, bytes: events * (entries.length / PER_MESSAGE), seconds, peakRssBytes: d.peakRss(), cpuMicrosPerEvent: cpu / events,
  });
  await d.stop();
  sink.close();
}

await run('memory');
await run('file');
