/**
 * forward → logferry → kinesis_firehose → the local Firehose endpoint (SigV4 checked, records
 * counted), with the seed post's aggregator buffer settings (flush_interval 1, chunk_limit_size 1m,
 * flush_thread_count 15, …) and one process. Events are Docker-driver records of ~1 KB (the post's
 * floor: 10,000 events/s and 9 MB/s per task), sent as PackedForward messages of 500, acked, over
 * 4 connections, half tagged frontend-*, half backend-* (two delivery streams).
 * Prints events/s and MB/s (formatted record bytes accepted by Firehose) and the daemon's peak RSS;
 * with `--fail 0.3` the endpoint also fails 30 % of the records of every call.
 * Run: npm run build && node --import tsx bench/firehose.ts [totalEvents] [--fail 0.3]  (BENCH_PROGRESS=1: progress every 2 s)
 */
import { connect, type Socket } from 'node:net';
import { EventTime } from '../src/core/event-time.js';
import { encode } from '../src/protocol/msgpack.js';
import { FirehoseEndpoint, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY } from '../test/helpers/firehose-endpoint.js';
import { cpuMicros, report, rng, startDaemon } from './harness.js';

const args = process.argv.slice(2);
const failAt = args.indexOf('--fail');
const FAIL = failAt >= 0 ? Number(args[failAt + 1]) : 0;
const TOTAL = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--fail') ?? 300_000);
const PER_MESSAGE = 500;
const CONNECTIONS = 4;
const STREAMS = ['elasticsearch-delivery-stream', 's3-delivery-stream'];

const r = rng(11);
function dockerRecord(i: number): Record<string, unknown> {
  const words = Array.from({ length: 100 }, () => Math.floor(r() * 36 ** 6).toString(36)).join(' ');
  return {
    source: 'stdout',
    log: `${Math.floor(r() * 255)}.116.50.70 - user${i % 9999} 264 [2018-10-31T21:31:59Z] "POST /activate" 200 ${Math.floor(r() * 99999)} ${words}`,
    container_id: '6d33ade920a96179205e01c3a17d6e7f3eb98f0d5bb2b494383250220e7f443c',
    container_name: '/ecs-service-2-apache-d492a08f9480c2fcca01',
  };
}
const entries = Buffer.concat(Array.from({ length: PER_MESSAGE }, (_, i) => encode([new EventTime(1700000000 + i, 0), dockerRecord(i)])));

function message(tag: string, id: string): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 0xc6;
  head.writeUInt32BE(entries.length, 1);
  return Buffer.concat([Buffer.from([0x93]), encode(tag), head, entries, encode({ size: PER_MESSAGE, chunk: id })]);
}

async function open(port: number): Promise<Socket> {
  const sock = connect(port, '127.0.0.1');
  await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
  return sock;
}

/** The harness gives the daemon a fixed 600 ms; on a busy machine wait until the port answers. */
async function waitForPort(port: number, timeoutMs = 20000): Promise<void> {
  for (const end = Date.now() + timeoutMs; ;) {
    try {
      (await open(port)).destroy();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

async function sender(port: number, messages: number, k: number): Promise<void> {
  const sock = await open(port);
  const tag = k % 2 === 0 ? 'frontend-apache' : 'backend-worker';
  for (let i = 0; i < messages; i++) {
    const acked = new Promise((res) => sock.once('data', res));
    sock.write(message(tag, `c${k}-${i}`));
    await acked;
  }
  sock.end();
}

const buffer = `<buffer>
      flush_interval 1
      chunk_limit_size 1m
      flush_thread_interval 0.1
      flush_thread_burst_interval 0.01
      flush_thread_count 15
      total_limit_size 2GB
    </buffer>`;

const ep = await new FirehoseEndpoint({ streams: STREAMS, keepRecords: false, seed: 5 }).start();
ep.faults.partialFailureRate = FAIL;
process.env.AWS_ACCESS_KEY_ID = TEST_ACCESS_KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = TEST_SECRET_ACCESS_KEY;
process.env.AWS_EC2_METADATA_DISABLED = 'true';
const port = 25000 + Math.floor(Math.random() * 5000);
const d = await startDaemon(`
<source>
  @type forward
  @label @mainstream
  port ${port}
  bind 127.0.0.1
</source>
<label @mainstream>
  <match frontend*>
    @type kinesis_firehose
    @id output_kinesis_frontend
    region us-west-2
    delivery_stream_name ${STREAMS[0]}
    endpoint_url ${ep.url}
    ${buffer}
  </match>
  <match backend*>
    @type kinesis_firehose
    @id output_kinesis_backend
    region us-west-2
    delivery_stream_name ${STREAMS[1]}
    endpoint_url ${ep.url}
    ${buffer}
  </match>
</label>
`);
try {
  await waitForPort(port);
} catch (e) {
  await d.stop();
  await ep.close();
  throw e;
}
const perConn = Math.ceil(TOTAL / PER_MESSAGE / CONNECTIONS);
const events = perConn * CONNECTIONS * PER_MESSAGE;
const delivered = () => STREAMS.reduce((n, s) => n + ep.countOf(s).records, 0);
const cpu0 = cpuMicros(d.proc.pid!);
const t0 = process.hrtime.bigint();
const progress = setInterval(() => {
  if (process.env.BENCH_PROGRESS) process.stdout.write(`  ${((Number(process.hrtime.bigint() - t0) / 1e9)).toFixed(1)} s: ${delivered()} delivered, rss ${(d.peakRss() / 2 ** 20).toFixed(0)} MiB\n`);
}, 2000);
await Promise.all(Array.from({ length: CONNECTIONS }, (_, k) => sender(port, perConn, k)));
const deadline = Date.now() + 120_000;
while (delivered() < events && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
clearInterval(progress);
const cpu = cpuMicros(d.proc.pid!) - cpu0;
const bytes = STREAMS.reduce((n, s) => n + ep.countOf(s).bytes, 0);
if (delivered() !== events) process.stdout.write(`WARNING: ${delivered()} of ${events} events delivered (${delivered() - events} extra)\n`);
report(`forward -> logferry -> kinesis_firehose x2 -> local endpoint${FAIL ? ` (${FAIL * 100}% records failing per call)` : ''}`, {
  events, bytes, seconds, peakRssBytes: d.peakRss(), cpuMicrosPerEvent: cpu / events,
});
process.stdout.write(`  ${ep.stats.calls} PutRecordBatch calls, ${ep.stats.failedRecords} records failed on purpose and retried, ~${Math.round(bytes / events)} bytes per record\n`);
await d.stop();
await ep.close();
