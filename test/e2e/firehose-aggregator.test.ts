/**
 * The Fargate aggregator of the seed post (forward in → `<label @mainstream>` → frontend* and
 * backend* to two Firehose delivery streams, health* over HTTP to null), run as written by the
 * logferry binary with ports and the endpoint rewritten, against the local Firehose endpoint:
 * every event arrives once, exactly as formatted, in the right stream, also while Firehose fails
 * 30 % of the records and throttles whole calls; oversized records are refused with a warning; and a
 * file-buffered output killed mid-retry resumes with only the records Firehose had not accepted.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/msgpack.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { lossAndDuplicates } from '../helpers/firehose-agent.js';
import { FirehoseEndpoint, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY } from '../helpers/firehose-endpoint.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient } from '../integration/forward-util.js';

const ENV = { AWS_ACCESS_KEY_ID: TEST_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: TEST_SECRET_ACCESS_KEY, AWS_EC2_METADATA_DISABLED: 'true', TZ: 'UTC' };
const BUFFER = `flush_interval 1
      chunk_limit_size 1m
      flush_thread_interval 0.1
      flush_thread_burst_interval 0.01
      flush_thread_count 15
      total_limit_size 2GB`;

/** The seed's fluent.conf; `workers 1` until multi-worker lands; ports, bind and endpoint_url rewritten. */
function seedConfig(o: { forward: number; http: number; endpoint: string; backendExtra?: string; backendBuffer?: string }): string {
  return `<system>
  workers 1
</system>

<source>
  @type  forward
  @id    input1
  @label @mainstream
  port  ${o.forward}
  bind 127.0.0.1
</source>

# Used for docker health check
<source>
  @type http
  port ${o.http}
  bind 127.0.0.1
</source>

# records sent for health checking won't be forwarded anywhere
<match health*>
  @type null
</match>

<label @mainstream>
  <match frontend*>
    @type kinesis_firehose
    @id   output_kinesis_frontend
    region us-west-2
    delivery_stream_name elasticsearch-delivery-stream
    endpoint_url ${o.endpoint}
    <buffer>
      ${BUFFER}
    </buffer>
  </match>
  <match backend*>
    @type kinesis_firehose
    @id   output_kinesis_backend
    region us-west-2
    delivery_stream_name s3-delivery-stream
    endpoint_url ${o.endpoint}
    ${o.backendExtra ?? ''}
    <buffer>
      ${o.backendBuffer ?? BUFFER}
    </buffer>
  </match>
</label>
`;
}

/** A Docker fluentd-driver record, as in the post. */
function dockerRecord(app: string, seq: number): Record<string, unknown> {
  return {
    source: 'stdout',
    log: `122.116.50.70 - Corwin8644 264 [2018-10-31T21:31:59Z] "POST /activate" 200 19886 seq=${seq}`,
    container_id: '6d33ade920a96179205e01c3a17d6e7f3eb98f0d5bb2b494383250220e7f443c',
    container_name: `/ecs-service-2-${app}-d492a08f9480c2fcca01`,
    seq,
  };
}

/** Sends records as PackedForward messages of `per` entries and waits for each ack. */
async function send(client: RawClient, tag: string, recs: Array<Record<string, unknown>>, per = 100): Promise<void> {
  for (let i = 0; i < recs.length; i += per) {
    const part = recs.slice(i, i + per);
    const entries = Buffer.concat(part.map((r) => encode([Math.floor(Date.now() / 1000), r])));
    const n = client.values().length;
    await client.write(encode([tag, entries, { size: part.length, chunk: `${tag}-${i}` }]));
    await client.waitForValues(n + 1, 10000);
  }
}

const seqOf = (line: string) => (JSON.parse(line) as { seq: number }).seq;

describe('the seed aggregator config (Fargate → Firehose)', () => {
  let ep: FirehoseEndpoint;
  let d: Daemon | null = null;
  beforeEach(async () => {
    ep = await new FirehoseEndpoint({ streams: ['elasticsearch-delivery-stream', 's3-delivery-stream'], seed: 3 }).start();
  });
  afterEach(async () => {
    await d?.stop('SIGKILL');
    d = null;
    await ep.close();
  });

  it('routes frontend and backend logs to their streams, exactly as formatted, through partial failures and throttling', async () => {
    const [forward, http] = [await freePort(), await freePort()];
    d = await startDaemon(seedConfig({ forward, http, endpoint: ep.url }), { env: ENV });
    await d.waitForOutput(/AWS credentials loaded provider="SDK default chain: environment/);
    ep.faults.partialFailureRate = 0.3;
    ep.faults.nextCalls.push('ThrottlingException', 'ServiceUnavailableException');
    const client = await RawClient.open(forward);
    const front = Array.from({ length: 1500 }, (_, i) => dockerRecord(i % 2 ? 'apache' : 'nginx', i));
    const back = Array.from({ length: 1000 }, (_, i) => dockerRecord('worker', 100_000 + i));
    await Promise.all([
      send(client, 'frontend-apache', front.filter((_, i) => i % 2 === 1)),
      send(client, 'frontend-nginx', front.filter((_, i) => i % 2 === 0)),
    ]);
    await send(client, 'backend-worker', back);
    const health = await fetch(`http://127.0.0.1:${http}/healthcheck?json=%7B%22log%22%3A+%22health+check%22%7D`);
    expect(health.status).toBe(200);
    // one record over Firehose's 1,000 KiB limit (but inside the 1m chunk limit): refused with a warning, the rest goes on
    await send(client, 'backend-worker', [{ ...dockerRecord('worker', 999_999), log: 'z'.repeat(1_030_000) }]);

    await waitFor(() => ep.recordsOf('elasticsearch-delivery-stream').length >= 1500 && ep.recordsOf('s3-delivery-stream').length >= 1000, 30000, 'every event in Firehose');
    client.destroy();
    const fl = ep.linesOf('elasticsearch-delivery-stream');
    const bl = ep.linesOf('s3-delivery-stream');
    const f = lossAndDuplicates(fl.map(seqOf), 1500);
    const b = lossAndDuplicates(bl.map((l) => seqOf(l) - 100_000), 1000);
    console.log(`seed aggregator: frontend ${fl.length} records (${f.lost.length} lost, ${f.duplicates} duplicated), backend ${bl.length} (${b.lost.length} lost, ${b.duplicates} duplicated); endpoint failed ${ep.stats.failedRecords} records, refused ${JSON.stringify(Object.fromEntries(ep.stats.refused))}`);
    expect([f.lost, b.lost]).toEqual([[], []]);
    expect(f.duplicates + b.duplicates).toBe(0);
    // exactly as formatted: compact JSON of the record and one newline, each in its own stream
    expect(new Set(fl)).toEqual(new Set(front.map((r) => `${JSON.stringify(r)}\n`)));
    expect(new Set(bl)).toEqual(new Set(back.map((r) => `${JSON.stringify(r)}\n`)));
    expect(ep.stats.failedRecords).toBeGreaterThan(0);
    expect(d.stdout()).toMatch(/\[output_kinesis_(frontend|backend)\] Retrying to request batch\. Retry count: +1, Retry records: +\d+, Wait seconds 0\.\d\d/);
    expect(d.stdout()).toMatch(/\[output_kinesis_backend\] Record size limit exceeded; the record is sent to @ERROR tag="backend-worker" size=1030\d+/);
    expect([...fl, ...bl].some((l) => l.includes('health check'))).toBe(false);
    expect(await d.stop()).toBe(0);
  });

  it('resumes a file-buffered chunk killed mid-retry, sending only the records Firehose had not accepted', async () => {
    const [forward, http] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'logferry-fh-resume-'));
    const conf = seedConfig({
      forward, http, endpoint: ep.url,
      backendExtra: 'retries_on_batch_request 0',
      backendBuffer: `@type file\n      path ${join(dir, 'backend')}\n      ${BUFFER}\n      retry_wait 30`,
    });
    ep.faults.partialFailureRate = 0.5;
    d = await startDaemon(conf, { env: ENV });
    const client = await RawClient.open(forward);
    await send(client, 'backend-worker', Array.from({ length: 300 }, (_, i) => dockerRecord('worker', i)), 300);
    client.destroy();
    await d.waitForOutput('failed to flush the buffer', 10000);
    d.proc.kill('SIGKILL');
    await d.exited;
    const before = ep.recordsOf('s3-delivery-stream').length;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(300);
    const callsBefore = ep.stats.batches.length;

    ep.faults.partialFailureRate = 0;
    d = await startDaemon(conf, { env: ENV });
    await waitFor(() => ep.recordsOf('s3-delivery-stream').length >= 300, 15000, 'the rest of the chunk');
    const got = ep.linesOf('s3-delivery-stream').map(seqOf);
    const r = lossAndDuplicates(got, 300);
    console.log(`resume after kill -9: ${before} accepted before, ${got.length - before} sent after restart, ${r.lost.length} lost, ${r.duplicates} duplicated`);
    expect(r).toEqual({ lost: [], duplicates: 0 });
    expect(ep.stats.batches.slice(callsBefore).reduce((n, c) => n + c.records, 0)).toBe(300 - before);
    expect(d.stdout()).toMatch(/resumed buffer chunks/);
  });
});
