/**
 * in_forward → null: PackedForward messages of 1,000 ~250-byte events each, acked per message, over
 * 4 concurrent connections. Measures the pass-through path (no record is decoded).
 * Run: npm run build && node --import tsx bench/forward-to-null.ts [totalEvents]
 */
import { connect } from 'node:net';
import { encode } from '../src/protocol/msgpack.js';
import { EventTime } from '../src/core/event-time.js';
import { makeRecord, report, rng, startDaemon } from './harness.js';

const TOTAL = Number(process.argv[2] ?? 2_000_000);
const PER_MESSAGE = 1000;
const CONNECTIONS = 4;
const PORT = 24500 + Math.floor(Math.random() * 400);

const r = rng(42);
const entries = Buffer.concat(Array.from({ length: PER_MESSAGE }, (_, i) => encode([new EventTime(1700000000 + i, 0), makeRecord(r, i)])));

function message(id: string): Buffer {
  const body = Buffer.concat([Buffer.from([0xc6]), Buffer.alloc(4), entries]);
  body.writeUInt32BE(entries.length, 1);
  return Buffer.concat([Buffer.from([0x93]), encode('bench.access'), body, encode({ size: PER_MESSAGE, chunk: `c${id}` })]);
}

async function sender(messages: number, k: number): Promise<void> {
  const sock = connect(PORT, '127.0.0.1');
  await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
  for (let i = 0; i < messages; i++) {
    const acked = new Promise((res) => sock.once('data', res));
    sock.write(message(`c${k}-${i}`)); // distinct ids: in_forward acks a repeated id without storing it again
    await acked;
  }
  sock.end();
}

const d = await startDaemon(`<source>\n  @type forward\n  port ${PORT}\n  bind 127.0.0.1\n</source>\n<match **>\n  @type null\n</match>\n`);
const perConn = Math.ceil(TOTAL / PER_MESSAGE / CONNECTIONS);
const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: CONNECTIONS }, (_, k) => sender(perConn, k)));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const events = perConn * CONNECTIONS * PER_MESSAGE;
report('forward(PackedForward, ack) -> null', { events, bytes: events * (entries.length / PER_MESSAGE), seconds, peakRssBytes: d.peakRss() });
await d.stop();
