/**
 * monitor_agent against the real daemon: Fluentd's plugin order, field order and shapes; values that
 * move while events flow to a dead destination and come back to 0 after recovery; exactly what the
 * Datadog Agent's fluentd check reads; query options, LTSV, config, debug; emitted as events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { deadDestination, fileOutput, get, httpSource, plugin, plugins, postRecords, type PluginObject } from './monitor-util.js';

let daemon: Daemon | null = null;
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
});

const RUBY_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$/;
const BUFFERED_OUTPUT_FIELDS = ['plugin_id', 'plugin_category', 'type', 'output_plugin', 'buffer_queue_length', 'buffer_timekeys', 'buffer_total_queued_size', 'retry_count',
  'emit_records', 'emit_size', 'emit_count', 'write_count', 'write_secondary_count', 'rollback_count', 'slow_flush_count', 'flush_time_count', 'drop_oldest_chunk_count',
  'buffer_stage_length', 'buffer_stage_byte_size', 'buffer_queue_byte_size', 'buffer_available_buffer_space_ratios'];
const OUTPUT_FIELDS = ['plugin_id', 'plugin_category', 'type', 'output_plugin', 'retry_count', 'emit_records', 'emit_size', 'emit_count', 'write_count',
  'write_secondary_count', 'rollback_count', 'slow_flush_count', 'flush_time_count', 'drop_oldest_chunk_count'];
const INPUT_FIELDS = ['plugin_id', 'plugin_category', 'type', 'output_plugin', 'retry_count', 'emit_records', 'emit_size'];

/** The pipeline every test here runs: inputs, a filter, a dead out_file, copy with stores, out_forward, a label. */
function pipeline(ports: { http: number; mon: number; mon2: number; dead: number }, dest: string, monitorExtra = ''): string {
  return `${httpSource(ports.http)}
<source>
  @type monitor_agent
  @id monitor
  bind 127.0.0.1
  port ${ports.mon}
  include_retry true
${monitorExtra}
</source>
<source>
  @type monitor_agent
  @id monitor_defaults
  bind 127.0.0.1
  port ${ports.mon2}
</source>
<filter app.**>
  @type record_transformer
  @id add_host
  <record>
    host h1
  </record>
</filter>
${fileOutput('app.**', 'out_file', dest, '    total_limit_size 2k')}
<match copy.**>
  @type copy
  @id copier
  <store>
    @type null
    @id store_null
  </store>
  <store>
    @type stdout
  </store>
</match>
<match fwd.**>
  @type forward
  @id out_fwd
  heartbeat_type none
  tls_client_private_key_passphrase hunter2
  <server>
    host 127.0.0.1
    port ${ports.dead}
  </server>
</match>
<label @AUX>
  <filter **>
    @type grep
    @id aux_grep
    <exclude>
      key k
      pattern /x/
    </exclude>
  </filter>
  <match **>
    @type null
    @id aux_null
  </match>
</label>
<match fluent.**>
  @type null
</match>`;
}

async function start(monitorExtra = '') {
  const ports = { http: await freePort(), mon: await freePort(), mon2: await freePort(), dead: await freePort() };
  const dest = deadDestination();
  daemon = await startDaemon(pipeline(ports, dest.path, monitorExtra));
  return { ports, dest };
}

describe('monitor_agent /api/plugins.json', () => {
  it('lists every plugin in Fluentd\'s order with Fluentd\'s fields; values move with a dead destination and return to 0 on recovery', async () => {
    const { ports, dest } = await start();
    const list = await plugins(ports.mon);
    expect(list.map((p) => p.plugin_id)).toEqual([
      'in_http', 'monitor', 'monitor_defaults', // root inputs
      'out_file', 'copier', 'store_null', 'copier/store2', 'out_fwd', 'object:0001', // root outputs, copy's stores after it
      'add_host', // root filters
      'aux_null', 'aux_grep', // the label's outputs, then its filters
    ]);
    const byId = new Map(list.map((p) => [p.plugin_id, p]));
    expect(Object.keys(byId.get('in_http')!)).toEqual(INPUT_FIELDS);
    expect(byId.get('in_http')).toMatchObject({ plugin_category: 'input', type: 'http', output_plugin: false, retry_count: null });
    expect(Object.keys(byId.get('add_host')!)).toEqual(INPUT_FIELDS);
    expect(byId.get('add_host')).toMatchObject({ plugin_category: 'filter', type: 'record_transformer', output_plugin: false, retry_count: null });
    expect(Object.keys(byId.get('copier')!)).toEqual(INPUT_FIELDS);
    expect(byId.get('copier')).toMatchObject({ plugin_category: 'output', type: 'copy', output_plugin: false, retry_count: null });
    expect(Object.keys(byId.get('store_null')!)).toEqual([...OUTPUT_FIELDS, 'retry']);
    expect(Object.keys(byId.get('out_file')!)).toEqual([...BUFFERED_OUTPUT_FIELDS, 'retry']);
    expect(Object.keys(byId.get('out_fwd')!)).toEqual([...BUFFERED_OUTPUT_FIELDS, 'healthy_nodes_count', 'registered_nodes_count', 'retry']);
    expect(byId.get('out_fwd')).toMatchObject({ healthy_nodes_count: 1, registered_nodes_count: 1, retry: {} });
    expect(byId.get('out_file')).toMatchObject({ buffer_queue_length: 0, buffer_total_queued_size: 0, retry_count: 0, buffer_timekeys: [], buffer_available_buffer_space_ratios: 100, retry: {} });

    // events flow into a destination that cannot be written: errors, retries and the buffer grow
    expect(await postRecords(ports.http, 'app.test', [{ n: 1 }, { n: 2 }, { n: 3 }])).toBe(200);
    const failing = await waitFor(async () => {
      const p = await plugin(ports.mon, 'out_file');
      return (p.retry_count as number) >= 3 && (p.retry as { steps?: number }).steps! >= 1 ? p : null;
    }, 15000, 'out_file retrying');
    expect(failing).toMatchObject({ emit_records: 3, emit_count: 1, buffer_stage_length: 0, buffer_stage_byte_size: 0 });
    const queued = failing.buffer_total_queued_size as number;
    expect(queued).toBeGreaterThan(0);
    expect(failing.buffer_queue_byte_size).toBe(queued);
    expect(failing.buffer_available_buffer_space_ratios).toBe(Math.round((1 - queued / 2048) * 1000) / 10);
    expect(failing.rollback_count).toBe(failing.retry_count);
    const retry = failing.retry as { start: string; steps: number; next_time: string };
    expect(Object.keys(retry)).toEqual(['start', 'steps', 'next_time']);
    expect(retry.start).toMatch(RUBY_TIME);
    expect(retry.next_time).toMatch(RUBY_TIME);
    await waitFor(async () => ((await plugin(ports.mon, 'out_file')).retry_count as number) > (failing.retry_count as number), 10000, 'retry_count growing');
    await waitFor(async () => (await plugin(ports.mon, 'out_file')).buffer_queue_length === 1, 10000, 'the chunk in the queue');
    const inHttp = await plugin(ports.mon, 'in_http');
    expect(inHttp.emit_records).toBe(3);
    expect((await plugin(ports.mon, 'add_host')).emit_records).toBe(3);

    // the destination comes back: the buffer empties, retry ends; counters are not reset
    dest.revive();
    const recovered = await waitFor(async () => {
      const p = await plugin(ports.mon, 'out_file');
      return p.buffer_total_queued_size === 0 && p.buffer_queue_length === 0 ? p : null;
    }, 15000, 'the buffer drained');
    expect(recovered).toMatchObject({ buffer_stage_length: 0, buffer_stage_byte_size: 0, buffer_queue_byte_size: 0, buffer_available_buffer_space_ratios: 100, retry: {} });
    expect(recovered.retry_count as number).toBeGreaterThan(failing.retry_count as number);
    expect(recovered.write_count).toBe((recovered.retry_count as number) + 1);
    expect(dest.written().trim().split('\n').map((l) => JSON.parse(l) as object)).toEqual([1, 2, 3].map((n) => ({ n, host: 'h1' })));
  });

  it('gives the Datadog Agent\'s fluentd check exactly the fields it reads', async () => {
    const { ports } = await start();
    expect(await postRecords(ports.http, 'app.test', [{ n: 1 }])).toBe(200);
    // the default monitor (include_retry false): retry_count is the cumulative error count
    const failing = await waitFor(async () => {
      const list = await plugins(ports.mon2);
      const f = list.find((p) => p.plugin_id === 'out_file')!;
      return (f.retry_count as number) >= 3 ? list : null;
    }, 15000, 'out_file retrying');
    const gauges = datadogCheck(failing);
    expect([...gauges.keys()].filter((k) => k.endsWith('plugin_id:out_file')).sort()).toEqual(
      ['buffer_available_buffer_space_ratios', 'buffer_queue_byte_size', 'buffer_queue_length', 'buffer_stage_byte_size', 'buffer_stage_length',
        'buffer_total_queued_size', 'emit_count', 'emit_records', 'flush_time_count', 'retry_count', 'rollback_count', 'slow_flush_count', 'write_count']
        .map((f) => `fluentd.${f} plugin_id:out_file`));
    const outFile = failing.find((p) => p.plugin_id === 'out_file')!;
    expect(gauges.get('fluentd.retry_count plugin_id:out_file')).toBe(outFile.retry_count);
    expect(gauges.get('fluentd.buffer_total_queued_size plugin_id:out_file')).toBeGreaterThan(0);
    // inputs, filters and copy give only emit_records (retry_count is null, emit_size is not read)
    for (const id of ['in_http', 'add_host', 'copier']) {
      expect([...gauges.keys()].filter((k) => k.endsWith(`plugin_id:${id}`))).toEqual([`fluentd.emit_records plugin_id:${id}`]);
    }
    expect(gauges.get('fluentd.emit_records plugin_id:in_http')).toBe(1);
    // with include_retry the check reports the current streak (retry.steps) instead
    const listWithRetry = await plugins(ports.mon);
    const fileWithRetry = listWithRetry.find((p) => p.plugin_id === 'out_file')!;
    const withRetry = datadogCheck(listWithRetry);
    expect(withRetry.get('fluentd.retry_count plugin_id:out_file')).toBe((fileWithRetry.retry as { steps: number }).steps);
    expect(withRetry.get('fluentd.retry_count plugin_id:out_file')).toBeLessThan(fileWithRetry.retry_count as number);
    // version metadata comes from /api/config.json
    const config = JSON.parse((await get(`http://127.0.0.1:${ports.mon2}/api/config.json`)).text) as Record<string, unknown>;
    expect(config.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(config).toMatchObject({ pid: daemon!.proc.pid, config_path: daemon!.configPath });
  });

  it('answers the query options, LTSV, config and debug; unknown paths get 404', async () => {
    const { ports } = await start('include_config true\ninclude_debug_info true');
    const base = `http://127.0.0.1:${ports.mon}`;
    const ids = async (q: string) => (await plugins(ports.mon, q)).map((p) => p.plugin_id);
    expect(await ids('?@type=null')).toEqual(['store_null', 'object:0001', 'aux_null']);
    expect(await ids('?type=file')).toEqual(['out_file']);
    expect(await ids('?@id=aux_grep')).toEqual(['aux_grep']);
    expect(await ids('?id=copier%2Fstore2')).toEqual(['copier/store2']);
    expect(await ids('?@id=missing')).toEqual([]);
    expect(await ids('?tag=app.x')).toEqual(['out_file']);
    expect(await ids('?tag=copy.y')).toEqual(['copier']);
    expect(await ids('?tag=nothing.matches')).toEqual([]);
    // include_config: the plugin's own parameters as strings, secrets masked, no sections
    const fwd = await plugin(ports.mon, 'out_fwd');
    expect(Object.keys(fwd).slice(0, 5)).toEqual(['plugin_id', 'plugin_category', 'type', 'config', 'output_plugin']);
    expect(fwd.config).toEqual({ '@type': 'forward', '@id': 'out_fwd', heartbeat_type: 'none', tls_client_private_key_passphrase: 'xxxxxx' });
    // debug=1: pretty JSON and the registry's extra numbers
    const debug = await get(`${base}/api/plugins.json?@id=out_fwd&debug=1`);
    expect(debug.text).toContain('\n  "plugins": [');
    const iv = (JSON.parse(debug.text) as { plugins: PluginObject[] }).plugins[0]!.instance_variables as Record<string, unknown>;
    expect(iv.buffer).toMatchObject({ total_limit_size: expect.any(Number), oldest_chunk_age_sec: null });
    expect((iv.nodes as Array<Record<string, unknown>>)[0]).toMatchObject({ host: '127.0.0.1', port: ports.dead, available: true });
    // LTSV: one line per plugin; arrays joined, maps left out, null empty
    const ltsv = await get(`${base}/api/plugins?@id=out_file`);
    expect(ltsv.contentType).toMatch(/^text\/plain/);
    const row = ltsv.text.split('\n')[0]!.split('\t');
    expect(row.slice(0, 5)).toEqual(['plugin_id:out_file', 'plugin_category:output', 'type:file', 'output_plugin:true', 'buffer_queue_length:0']);
    expect(row).toContain('buffer_timekeys:');
    expect(row.some((c) => c.startsWith('config:') || c.startsWith('retry:'))).toBe(false);
    expect((await get(`${base}/api/plugins?@id=in_http`)).text).toBe('plugin_id:in_http\tplugin_category:input\ttype:http\toutput_plugin:false\tretry_count:\temit_records:0\temit_size:0\n');
    const cfgText = (await get(`${base}/api/config`)).text;
    expect(cfgText.split('\t')[0]).toBe(`pid:${daemon!.proc.pid}`);
    expect(cfgText).toContain('version:1.19.3');
    for (const path of ['/', '/api', '/api/plugins.xml', '/metrics']) {
      const r = await get(`${base}${path}`);
      expect([r.status, r.contentType, r.text]).toEqual([404, 'application/json', '{"message":"Not found"}']);
    }
    // without include_debug_info, debug=1 changes nothing
    const plain = await get(`http://127.0.0.1:${ports.mon2}/api/plugins.json?@id=out_file&debug=1`);
    expect(plain.text).not.toContain('instance_variables');
    expect(plain.text.startsWith('{"plugins":[{"plugin_id":"out_file"')).toBe(true);
  });

  it('emits the same objects as events every emit_interval with tag', async () => {
    const ports = { http: await freePort(), mon: await freePort(), mon2: await freePort(), dead: await freePort() };
    const config = pipeline(ports, deadDestination().path, 'tag monitor.metrics\nemit_interval 0.2')
      .replace('<match fwd.**>', '<match monitor.**>\n  @type stdout\n</match>\n<match fwd.**>');
    daemon = await startDaemon(config);
    const ids = (await plugins(ports.mon)).map((p) => p.plugin_id);
    const events = (await daemon.waitForEvents(2 * ids.length, 10000)).filter((e) => e.tag === 'monitor.metrics');
    expect(events.slice(0, ids.length).map((e) => e.record.plugin_id)).toEqual(ids);
    const file = events.find((e) => e.record.plugin_id === 'out_file')!.record;
    expect(Object.keys(file)).toEqual(BUFFERED_OUTPUT_FIELDS); // no config, no retry
    expect((await plugin(ports.mon, 'monitor')).emit_records).toBeGreaterThanOrEqual(2 * ids.length);
  });
});

const DATADOG_FIELDS = ['retry_count', 'buffer_total_queued_size', 'buffer_queue_length', 'emit_records', 'emit_count', 'write_count', 'rollback_count',
  'slow_flush_count', 'flush_time_count', 'buffer_stage_length', 'buffer_stage_byte_size', 'buffer_queue_byte_size', 'buffer_available_buffer_space_ratios', 'tracked_file_count'];

/** What the Datadog Agent's fluentd check sends for a plugins.json (spec integrations.md §2): `fluentd.<field> plugin_id:<id>` → value. */
function datadogCheck(list: PluginObject[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of list) {
    for (const field of DATADOG_FIELDS) {
      if (!(field in p) || p[field] === null) continue;
      let value = p[field];
      if (field === 'retry_count' && 'retry' in p) value = (p.retry as { steps?: number }).steps ?? 0;
      if (typeof value !== 'number') throw new Error(`${p.plugin_id}.${field} is not a JSON number: ${JSON.stringify(value)}`);
      out.set(`fluentd.${field} plugin_id:${p.plugin_id}`, value);
    }
  }
  return out;
}
