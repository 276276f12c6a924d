/** The registry's pure views: Ruby time strings, LTSV, DogStatsD count deltas, process windows. */
import { describe, expect, it } from 'vitest';
import { DogstatsdReport } from '../../../src/metrics/dogstatsd-report.js';
import { monitorObject, rubyTime, toLtsv } from '../../../src/metrics/monitor-agent-view.js';
import { ProcessStats } from '../../../src/metrics/process-stats.js';
import type { HealthReport, PluginSnapshot } from '../../../src/metrics/registry.js';

function output(over: Partial<PluginSnapshot> = {}): PluginSnapshot {
  return {
    plugin_id: 'out', plugin_category: 'output', type: 'file', label: null, config: { '@type': 'file' }, output_plugin: true, retry_count: 0,
    emit_records: 0, emit_size: 0, emit_count: 0, write_count: 0, write_secondary_count: 0, rollback_count: 0, slow_flush_count: 0, flush_time_count: 0,
    drop_oldest_chunk_count: 0, buffer: null, has_retry_state: true, retry: null, forward: null, dropped: {}, rejected: {}, open_connections: null,
    flow_direction: 'out', flow: [], ...over,
  };
}
const healthy: HealthReport = { healthy: true, outputs: 1, problems: [] };

describe('monitor_agent view', () => {
  it('formats retry times as Ruby Time#to_s in local time', () => {
    expect(rubyTime(0)).toMatch(/^19(69|70)-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$/);
    const s = rubyTime(1700000000.9);
    expect(new Date(s.replace(' ', 'T').replace(/ ([+-]\d\d)(\d\d)$/, '$1:$2')).getTime()).toBe(1700000000_000);
  });

  it('adds timekeys and node counts in Fluentd\'s positions; LTSV joins arrays and drops maps', () => {
    const buffer = { stage_length: 1, stage_byte_size: 10, queue_length: 2, queue_byte_size: 20, dequeued_length: 0, total_queued_size: 30, total_limit_size: 100,
      available_space_ratio: 70, timekeys: [60, 120], oldest_chunk_age_sec: 3 };
    const forward = { healthy_nodes_count: 1, registered_nodes_count: 2, nodes: [] };
    const obj = monitorObject(output({ buffer, forward, retry: { start: 1, steps: 2, next_time: 3, timeout_at: 9 } }), { withConfig: true, withRetry: true, withDebugInfo: false });
    const keys = Object.keys(obj);
    expect(keys.slice(0, 8)).toEqual(['plugin_id', 'plugin_category', 'type', 'config', 'output_plugin', 'buffer_queue_length', 'buffer_timekeys', 'buffer_total_queued_size']);
    expect(keys.slice(-6)).toEqual(['buffer_available_buffer_space_ratios', 'buffer_oldest_timekey', 'buffer_newest_timekey', 'healthy_nodes_count', 'registered_nodes_count', 'retry']);
    expect([obj.buffer_oldest_timekey, obj.buffer_newest_timekey]).toEqual([60, 120]);
    expect(obj.retry).toEqual({ start: rubyTime(1), steps: 2, next_time: rubyTime(3) });
    const line = toLtsv([obj]);
    expect(line.endsWith('\n')).toBe(true);
    expect(line).toContain('\tbuffer_timekeys:60,120\t');
    expect(line).not.toContain('config:');
    expect(line).not.toContain('retry:');
  });
});

describe('DogStatsD report', () => {
  it('sends counts as the increase since the previous push and gauges as they are', () => {
    const r = new DogstatsdReport();
    const proc = new ProcessStats().snapshot();
    const snap = (records: number, queued: number) => [output({
      flow: [{ tag: 'app', records, bytes: records * 10, unsized: 0 }],
      buffer: { stage_length: 0, stage_byte_size: 0, queue_length: 1, queue_byte_size: queued, dequeued_length: 0, total_queued_size: queued, total_limit_size: 100, available_space_ratio: 0, timekeys: [], oldest_chunk_age_sec: null },
    })];
    const pick = (ms: ReturnType<DogstatsdReport['build']>, name: string) => ms.find((m) => m.name === name)!;
    const first = r.build(snap(5, 40), proc, healthy);
    expect(pick(first, 'flow.records')).toEqual({ name: 'flow.records', type: 'count', value: 5, tags: { plugin_id: 'out', type: 'file', 'fluentd-tag': 'app', direction: 'out' } });
    const second = r.build(snap(8, 0), proc, healthy);
    expect(pick(second, 'flow.records').value).toBe(3);
    expect(pick(second, 'flow.bytes').value).toBe(30);
    expect(pick(second, 'buffer.total_queued_size')).toMatchObject({ type: 'gauge', value: 0 });
    expect(pick(r.build(snap(8, 0), proc, healthy), 'flow.records').value).toBe(0);
  });
});

describe('process stats', () => {
  it('measures CPU and event-loop lag per window', async () => {
    const p = new ProcessStats(0);
    p.snapshot();
    await new Promise((r) => setTimeout(r, 30)); // the sampler's timer is running
    const until = Date.now() + 100;
    while (Date.now() < until) { /* busy: CPU time and a blocked event loop */ }
    await new Promise((r) => setTimeout(r, 20));
    const s = p.snapshot();
    p.close();
    expect(s.cpu_percent).toBeGreaterThan(0);
    expect(s.event_loop_lag.max_ms).toBeGreaterThan(50);
    expect(s.rss_bytes).toBeGreaterThan(0);
    expect(s.cpu_user_sec + s.cpu_system_sec).toBeGreaterThan(0);
  });
});
