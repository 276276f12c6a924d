/**
 * The DogStatsD view of the registry: what `@type dogstatsd_monitor` pushes every interval, so the
 * dashboard of the Fluentd/Datadog post (messages/s and bytes/s per tag, buffer size, retries,
 * ingress vs egress, CPU and memory) needs no copy → flowcounter → dogstatsd chain.
 *
 * - `flow.records`, `flow.bytes` (count: the increase since the previous push) per plugin and tag,
 *   tagged `plugin_id`, `type`, `fluentd-tag`, `direction` (in: what inputs emitted, out: what
 *   outputs received);
 * - per output the fluentd check's gauges (`retry_count`, `buffer.total_queued_size`,
 *   `buffer.queue_length`, …), plus `buffer.oldest_chunk_age`, `retry.steps`, forward node counts;
 *   `dropped` (count, tag `reason`); `open_connections` for inputs;
 * - `process.cpu_percent`, `process.rss`, `process.heap_used`, `process.event_loop.lag_*` (ms),
 *   and `healthy` (1 or 0).
 * Every metric also carries the monitor's own tags (`host` among them).
 */
import type { ProcessSnapshot } from './process-stats.js';
import type { HealthReport, PluginSnapshot } from './registry.js';

export interface StatsdMetric {
  name: string;
  type: 'gauge' | 'count';
  value: number;
  tags: Record<string, string>;
}

/** Turns snapshots into metrics; keeps the previous cumulative values to send counts as increases. */
export class DogstatsdReport {
  private readonly last = new Map<string, number>();

  build(plugins: PluginSnapshot[], proc: ProcessSnapshot, health: HealthReport): StatsdMetric[] {
    const out: StatsdMetric[] = [];
    const gauge = (name: string, value: number, tags: Record<string, string> = {}) => out.push({ name, type: 'gauge', value, tags });
    const count = (name: string, total: number, tags: Record<string, string>) => {
      const key = `${name}\0${JSON.stringify(tags)}`;
      const prev = this.last.get(key) ?? 0;
      this.last.set(key, total);
      out.push({ name, type: 'count', value: Math.max(0, total - prev), tags });
    };
    for (const p of plugins) {
      const id = { plugin_id: p.plugin_id, type: p.type };
      if (p.flow_direction) {
        for (const f of p.flow) {
          const tags = { ...id, 'fluentd-tag': f.tag, direction: p.flow_direction };
          count('flow.records', f.records, tags);
          count('flow.bytes', f.bytes, tags);
        }
      }
      if (p.retry_count !== null) gauge('retry_count', p.retry_count, id);
      if (p.output_plugin) {
        gauge('emit_records', p.emit_records, id);
        gauge('emit_count', p.emit_count, id);
        gauge('write_count', p.write_count, id);
        gauge('rollback_count', p.rollback_count, id);
        gauge('slow_flush_count', p.slow_flush_count, id);
        gauge('flush_time_count', p.flush_time_count, id);
        gauge('retry.steps', p.retry?.steps ?? 0, id);
      } else {
        gauge('emit_records', p.emit_records, id);
      }
      const b = p.buffer;
      if (b) {
        gauge('buffer.total_queued_size', b.total_queued_size, id);
        gauge('buffer.queue_length', b.queue_length, id);
        gauge('buffer.queue_byte_size', b.queue_byte_size, id);
        gauge('buffer.stage_length', b.stage_length, id);
        gauge('buffer.stage_byte_size', b.stage_byte_size, id);
        gauge('buffer.available_space_ratio', b.available_space_ratio, id);
        gauge('buffer.oldest_chunk_age', b.oldest_chunk_age_sec ?? 0, id);
      }
      if (p.forward) {
        gauge('forward.healthy_nodes_count', p.forward.healthy_nodes_count, id);
        gauge('forward.registered_nodes_count', p.forward.registered_nodes_count, id);
      }
      for (const [reason, n] of Object.entries(p.dropped)) count('dropped', n, { ...id, reason });
      if (p.open_connections !== null) gauge('open_connections', p.open_connections, id);
    }
    gauge('process.cpu_percent', proc.cpu_percent);
    gauge('process.rss', proc.rss_bytes);
    gauge('process.heap_used', proc.heap_used_bytes);
    gauge('process.event_loop.lag_mean', proc.event_loop_lag.mean_ms);
    gauge('process.event_loop.lag_p99', proc.event_loop_lag.p99_ms);
    gauge('process.event_loop.lag_max', proc.event_loop_lag.max_ms);
    gauge('healthy', health.healthy ? 1 : 0);
    return out;
  }
}
