/**
 * `@type prometheus` with prometheus_monitor and prometheus_output_monitor on the real daemon: real
 * scrapes of /metrics while forwarded events go to a dead destination (retry and buffer metrics grow)
 * and after it recovers (buffer gauges back to 0); per-tag flow metrics; Node process metrics.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/msgpack.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient } from './forward-util.js';
import { deadDestination, fileOutput, forwardSource, get, parseExposition, sample, type Sample, packedEntries } from './monitor-util.js';

let daemon: Daemon | null = null;
let client: RawClient | null = null;
afterEach(async () => {
  client?.destroy();
  client = null;
  await daemon?.stop();
  daemon = null;
});

async function scrape(port: number, path = '/metrics'): Promise<Sample[]> {
  const r = await get(`http://127.0.0.1:${port}${path}`);
  expect(r.status).toBe(200);
  expect(r.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(r.text);
}

const entries = (n: number) => packedEntries(n, 'hello');

describe('prometheus input', () => {
  it('serves fluent-plugin-prometheus metrics, per-tag flow and process metrics that move with the pipeline', async () => {
    const [fwdPort, promPort] = [await freePort(), await freePort()];
    const dest = deadDestination();
    daemon = await startDaemon(`
${forwardSource(fwdPort)}
<source>
  @type prometheus
  bind 127.0.0.1
  port ${promPort}
</source>
<source>
  @type prometheus_monitor
  <labels>
    worker ${'${worker_id}'}
  </labels>
</source>
<source>
  @type prometheus_output_monitor
  <labels>
    host ${'${hostname}'}
  </labels>
</source>
<match fluent.**>
  @type null
</match>
${fileOutput('app.**', 'out_file', dest.path)}
<match **>
  @type null
  @id other
</match>`);
    const host = (await scrape(promPort)).find((s) => s.name === 'fluentd_output_status_retry_count')!.labels.host!;
    expect(host).toBeTruthy();
    const out = { host, plugin_id: 'out_file', type: 'file' };
    const s0 = await scrape(promPort);
    expect(sample(s0, 'fluentd_output_status_buffer_queue_length', out)).toBe(0);
    expect(sample(s0, 'fluentd_output_status_retry_count', out)).toBe(0);
    expect(sample(s0, 'fluentd_output_status_retry_wait', out)).toBe(0);
    expect(sample(s0, 'fluentd_output_status_emit_records', { host, plugin_id: 'other', type: 'null' })).toBe(0);
    expect(sample(s0, 'fluentd_output_status_buffer_queue_length', { host, plugin_id: 'other' })).toBeUndefined(); // not buffered
    expect(sample(s0, 'fluentd_status_retry_count', { worker: '0', plugin_id: 'out_file', plugin_category: 'output', type: 'file' })).toBe(0);
    expect(sample(s0, 'fluentd_status_retry_count', { plugin_id: 'in_fwd' })).toBeUndefined(); // null for inputs
    expect(sample(s0, 'logferry_healthy')).toBe(1);
    expect(sample(s0, 'process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(sample(s0, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(s0, 'process_cpu_seconds_total')).toBeGreaterThanOrEqual(0);

    // forwarded events (two tags) to a destination that cannot be written
    const web = entries(3);
    const db = entries(2);
    client = await RawClient.open(fwdPort);
    await client.write(encode(['app.web', web, { size: 3, chunk: 'c1' }]));
    await client.write(encode(['app.db', db, { size: 2, chunk: 'c2' }]));
    await client.waitForValues(2);
    const failing = await waitFor(async () => {
      const s = await scrape(promPort);
      return sample(s, 'fluentd_output_status_retry_count', out)! >= 4 && sample(s, 'fluentd_output_status_buffer_total_bytes', out)! > 0 ? s : null;
    }, 15000, 'retries and a buffer on /metrics');
    const total = sample(failing, 'fluentd_output_status_buffer_total_bytes', out)!;
    expect(total).toBe(web.length + db.length);
    expect(sample(failing, 'fluentd_output_status_num_errors', out)).toBe(sample(failing, 'fluentd_output_status_retry_count', out));
    expect(sample(failing, 'fluentd_output_status_emit_records', out)).toBe(5);
    expect(sample(failing, 'fluentd_output_status_emit_count', out)).toBe(2);
    expect(sample(failing, 'fluentd_output_status_buffer_queue_byte_size', out)).toBe(total);
    expect(sample(failing, 'fluentd_output_status_buffer_available_space_ratio', out)).toBe(100);
    expect(sample(failing, 'fluentd_output_status_retry_wait', out)).toBeGreaterThan(0);
    expect(sample(failing, 'fluentd_status_buffer_total_bytes', { plugin_id: 'out_file' })).toBe(total);
    expect(sample(failing, 'logferry_output_retry_steps', { plugin_id: 'out_file' })).toBeGreaterThanOrEqual(1);
    expect(sample(failing, 'logferry_buffer_oldest_chunk_age_seconds', { plugin_id: 'out_file' })).toBeGreaterThan(0);
    // per-tag flow, in and out, with msgpack bytes
    for (const [tag, body, n] of [['app.web', web, 3], ['app.db', db, 2]] as const) {
      for (const [plugin_id, type, direction] of [['in_fwd', 'forward', 'in'], ['out_file', 'file', 'out']]) {
        expect(sample(failing, 'logferry_flow_records_total', { plugin_id, type, tag, direction })).toBe(n);
        expect(sample(failing, 'logferry_flow_bytes_total', { plugin_id, type, tag, direction })).toBe(body.length);
      }
    }
    expect(sample(failing, 'logferry_input_open_connections', { plugin_id: 'in_fwd' })).toBe(1);
    const errorsThen = sample(failing, 'fluentd_output_status_retry_count', out)!;
    await waitFor(async () => sample(await scrape(promPort), 'fluentd_output_status_retry_count', out)! > errorsThen, 10000, 'retry_count growing');

    // recovery: the buffer gauges go back to 0, the counters stay
    dest.revive();
    const recovered = await waitFor(async () => {
      const s = await scrape(promPort);
      return sample(s, 'fluentd_output_status_buffer_total_bytes', out) === 0 && sample(s, 'fluentd_output_status_buffer_queue_length', out) === 0 ? s : null;
    }, 15000, 'the buffer gauges back to 0');
    expect(sample(recovered, 'fluentd_output_status_buffer_stage_length', out)).toBe(0);
    expect(sample(recovered, 'fluentd_output_status_buffer_queue_byte_size', out)).toBe(0);
    expect(sample(recovered, 'fluentd_output_status_retry_wait', out)).toBe(0);
    expect(sample(recovered, 'logferry_output_retry_steps', { plugin_id: 'out_file' })).toBe(0);
    expect(sample(recovered, 'fluentd_output_status_retry_count', out)).toBeGreaterThan(errorsThen);
    expect(sample(recovered, 'fluentd_status_buffer_queue_length', { plugin_id: 'out_file' })).toBe(0);
    client.destroy();
    await waitFor(async () => sample(await scrape(promPort), 'logferry_input_open_connections', { plugin_id: 'in_fwd' }) === 0, 5000, 'the connection gone');
    expect(dest.written().trim().split('\n')).toHaveLength(5);
  });

  it('honours metrics_path, gauge_all false (counters) and gzip; serves only the monitors configured', async () => {
    const promPort = await freePort();
    daemon = await startDaemon(`
<source>
  @type prometheus
  bind 127.0.0.1
  port ${promPort}
  metrics_path /prom
  content_encoding gzip
</source>
<source>
  @type prometheus_output_monitor
  gauge_all false
</source>
<match fluent.**>
  @type null
</match>
<match **>
  @type null
  @id sink
</match>`);
    const res = await fetch(`http://127.0.0.1:${promPort}/prom`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    const text = await res.text(); // fetch decompresses
    expect(text).toContain('# TYPE fluentd_output_status_retry_count counter');
    expect(text).toContain('# TYPE fluentd_output_status_emit_records counter');
    expect(text).toContain('# TYPE fluentd_output_status_rollback_count gauge');
    expect(text).not.toContain('fluentd_status_');
    expect(sample(parseExposition(text), 'fluentd_output_status_emit_records', { plugin_id: 'sink', type: 'null' })).toBe(0);
    expect((await get(`http://127.0.0.1:${promPort}/metrics`)).status).toBe(404);
  });
});
