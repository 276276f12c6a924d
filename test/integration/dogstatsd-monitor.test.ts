/**
 * `@type dogstatsd_monitor` on the real daemon, datagrams captured on a real UDP socket: per-tag flow
 * counts (messages and bytes, in and out) tagged plugin_id / type / fluentd-tag / host, buffer and
 * retry gauges that move with a dead destination and recover, process metrics; no DD_* environment
 * tags and no client telemetry.
 */
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/msgpack.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { udpCapture, type UdpCapture } from '../helpers/udp-capture.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient } from './forward-util.js';
import { deadDestination, fileOutput, forwardSource, packedEntries } from './monitor-util.js';

let daemon: Daemon | null = null;
let udp: UdpCapture | null = null;
let client: RawClient | null = null;
afterEach(async () => {
  client?.destroy();
  client = null;
  await daemon?.stop();
  daemon = null;
  await udp?.close();
  udp = null;
});

interface Line {
  name: string;
  value: number;
  type: string;
  tags: Record<string, string>;
}

function parse(line: string): Line {
  const m = /^([^:|]+):([^|]+)\|(c|g)\|#(.*)$/.exec(line);
  if (!m) throw new Error(`not a DogStatsD line: ${line}`);
  const tags: Record<string, string> = {};
  for (const t of m[4]!.split(',')) {
    const i = t.indexOf(':');
    if (i < 0) throw new Error(`tag without a value in ${line}`);
    if (t.slice(0, i) in tags) throw new Error(`tag ${t} twice in ${line}`);
    tags[t.slice(0, i)] = t.slice(i + 1);
  }
  return { name: m[1]!, value: Number(m[2]), type: m[3]!, tags };
}

const matches = (l: Line, name: string, tags: Record<string, string>) => l.name === name && Object.entries(tags).every(([k, v]) => l.tags[k] === v);
/** Sum of the counts of a metric for matching tags over everything captured. */
const counted = (lines: Line[], name: string, tags: Record<string, string>) => lines.filter((l) => matches(l, name, tags)).reduce((s, l) => s + l.value, 0);
/** The last gauge value of a metric for matching tags. */
const latest = (lines: Line[], name: string, tags: Record<string, string> = {}) => lines.filter((l) => matches(l, name, tags)).at(-1)?.value;

const entries = (n: number) => packedEntries(n, 'hello world');

describe('dogstatsd_monitor', () => {
  it('pushes per-tag flow, buffer, retry and process metrics with the seed dashboard\'s tags', async () => {
    const fwdPort = await freePort();
    udp = await udpCapture();
    const dest = deadDestination();
    daemon = await startDaemon(`
${forwardSource(fwdPort)}
<source>
  @type dogstatsd_monitor
  host 127.0.0.1
  port ${udp.port}
  interval 0.2
  tags ["role:aggregator", "account-name:test"]
</source>
<match fluent.**>
  @type null
</match>
${fileOutput('app.**', 'out_file', dest.path)}`, { env: { DD_ENV: 'prod', DD_SERVICE: 'svc', DD_TAGS: 'team:x', DD_ENTITY_ID: 'abc' } });
    const lines = () => udp!.lines().map(parse);
    await waitFor(() => lines().some((l) => l.name === 'logferry.process.rss'), 5000, 'a first push');

    const nginx = entries(3);
    const haproxy = entries(1);
    client = await RawClient.open(fwdPort);
    await client.write(encode(['app.nginx', nginx, { size: 3, chunk: 'c1' }]));
    await client.write(encode(['app.haproxy', haproxy, { size: 1, chunk: 'c2' }]));
    await client.waitForValues(2);

    const out = { plugin_id: 'out_file', type: 'file' };
    await waitFor(() => {
      const l = lines();
      return latest(l, 'logferry.retry_count', out)! >= 3 && latest(l, 'logferry.buffer.total_queued_size', out)! > 0;
    }, 15000, `retries and a buffer in the datagrams; got ${udp.datagrams.slice(-3).join('\n---\n')}`);
    // messages/s and bytes/s per tag, ingress (in) and egress (out): counts add up to what was sent
    await waitFor(() => counted(lines(), 'logferry.flow.records', { 'fluentd-tag': 'app.nginx', direction: 'out' }) === 3, 5000, 'the out flow');
    const l = lines();
    for (const [tag, body, n] of [['app.nginx', nginx, 3], ['app.haproxy', haproxy, 1]] as const) {
      for (const [plugin_id, type, direction] of [['in_fwd', 'forward', 'in'], ['out_file', 'file', 'out']]) {
        const tags = { plugin_id, type, 'fluentd-tag': tag, direction };
        expect(counted(l, 'logferry.flow.records', tags)).toBe(n);
        expect(counted(l, 'logferry.flow.bytes', tags)).toBe(body.length);
      }
    }
    const flowLine = l.find((x) => x.name === 'logferry.flow.records' && x.tags['fluentd-tag'] === 'app.nginx')!;
    expect(flowLine.type).toBe('c');
    expect(flowLine.tags).toMatchObject({ host: hostname(), role: 'aggregator', 'account-name': 'test' });
    expect(latest(l, 'logferry.buffer.total_queued_size', out)).toBe(nginx.length + haproxy.length);
    expect(latest(l, 'logferry.buffer.queue_length', out)).toBeGreaterThanOrEqual(1);
    expect(latest(l, 'logferry.retry.steps', out)).toBeGreaterThanOrEqual(1);
    expect(latest(l, 'logferry.emit_records', out)).toBe(4);
    expect(latest(l, 'logferry.open_connections', { plugin_id: 'in_fwd' })).toBe(1);
    expect(latest(l, 'logferry.process.rss')).toBeGreaterThan(10_000_000);
    expect(latest(l, 'logferry.process.cpu_percent')).toBeGreaterThanOrEqual(0);
    expect(latest(l, 'logferry.process.event_loop.lag_p99')).toBeGreaterThanOrEqual(0);
    expect(latest(l, 'logferry.healthy')).toBe(1);
    for (const x of l) expect(x.tags.host).toBe(hostname());
    const gaugeLine = l.find((x) => x.name === 'logferry.retry_count' && x.tags.plugin_id === 'out_file')!;
    expect(gaugeLine.type).toBe('g');

    // recovery: the buffer gauges fall back to 0, the cumulative retry count stays
    const retriesThen = latest(lines(), 'logferry.retry_count', out)!;
    dest.revive();
    await waitFor(() => {
      const r = lines();
      return latest(r, 'logferry.buffer.total_queued_size', out) === 0 && latest(r, 'logferry.buffer.queue_length', out) === 0 && latest(r, 'logferry.retry.steps', out) === 0;
    }, 15000, 'the buffer gauges back to 0');
    expect(latest(lines(), 'logferry.retry_count', out)).toBeGreaterThanOrEqual(retriesThen);

    // hot-shots hygiene: no DD_* environment tags, no client telemetry; datagrams within the size
    const raw = udp.datagrams.join('\n');
    for (const t of ['env:prod', 'service:svc', 'team:x', 'dd.internal.entity_id']) expect(raw).not.toContain(t);
    expect(raw).not.toContain('datadog.dogstatsd.client');
    for (const d of udp.datagrams) expect(Buffer.byteLength(d)).toBeLessThanOrEqual(1432);
  });
});
