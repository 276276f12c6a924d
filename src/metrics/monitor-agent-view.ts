/**
 * The monitor_agent view of the registry: Fluentd's per-plugin objects with its field names,
 * order and shapes (spec buffer-and-retry.md §10.3), the LTSV rendering, and `/api/config.json`.
 * The Datadog Agent's fluentd check and Telegraf read these objects, so nothing is added to them;
 * logferry's extra numbers appear under `instance_variables` with `?debug=1` (and in Prometheus and
 * DogStatsD).
 */
import { formatLogTime } from '../core/log.js';
import type { AgentInfo, PluginSnapshot } from './registry.js';

export interface MonitorObjectOptions {
  withConfig: boolean;
  withRetry: boolean;
  withDebugInfo: boolean;
}

/** A Ruby `Time#to_s` of epoch seconds: `2018-01-30 22:42:47 +0900` (local time). */
export function rubyTime(sec: number): string {
  return formatLogTime(Math.floor(sec) * 1000);
}

/** One plugin as Fluentd's monitor_agent shows it. Key insertion order is the JSON field order. */
export function monitorObject(p: PluginSnapshot, o: MonitorObjectOptions): Record<string, unknown> {
  const obj: Record<string, unknown> = { plugin_id: p.plugin_id, plugin_category: p.plugin_category, type: p.type };
  if (o.withConfig) obj.config = p.config;
  obj.output_plugin = p.output_plugin;
  const b = p.buffer;
  if (b) {
    obj.buffer_queue_length = b.queue_length;
    obj.buffer_timekeys = b.timekeys;
    obj.buffer_total_queued_size = b.total_queued_size;
  }
  obj.retry_count = p.retry_count;
  obj.emit_records = p.emit_records;
  obj.emit_size = p.emit_size;
  if (p.output_plugin) {
    obj.emit_count = p.emit_count;
    obj.write_count = p.write_count;
    obj.write_secondary_count = p.write_secondary_count;
    obj.rollback_count = p.rollback_count;
    obj.slow_flush_count = p.slow_flush_count;
    obj.flush_time_count = p.flush_time_count;
    obj.drop_oldest_chunk_count = p.drop_oldest_chunk_count;
  }
  if (b) {
    obj.buffer_stage_length = b.stage_length;
    obj.buffer_stage_byte_size = b.stage_byte_size;
    obj.buffer_queue_byte_size = b.queue_byte_size;
    obj.buffer_available_buffer_space_ratios = b.available_space_ratio;
    if (b.timekeys.length > 0) {
      obj.buffer_oldest_timekey = b.timekeys[0];
      obj.buffer_newest_timekey = b.timekeys[b.timekeys.length - 1];
    }
  }
  if (p.forward) {
    obj.healthy_nodes_count = p.forward.healthy_nodes_count;
    obj.registered_nodes_count = p.forward.registered_nodes_count;
  }
  if (o.withRetry && p.has_retry_state) {
    const r = p.retry;
    obj.retry = r ? { start: rubyTime(r.start), steps: r.steps, next_time: rubyTime(r.next_time) } : {};
  }
  if (o.withDebugInfo) obj.instance_variables = debugInfo(p);
  return obj;
}

/** What `?debug=1` adds: the registry's numbers that Fluentd's object has no field for. */
function debugInfo(p: PluginSnapshot): Record<string, unknown> {
  const out: Record<string, unknown> = { label: p.label };
  if (p.buffer) out.buffer = p.buffer;
  if (p.retry) out.retry = p.retry;
  if (p.forward) out.nodes = p.forward.nodes;
  if (p.open_connections !== null) out.open_connections = p.open_connections;
  out.dropped = p.dropped;
  out.rejected = p.rejected;
  if (p.flow_direction) out.flow = { direction: p.flow_direction, tags: p.flow };
  return out;
}

/** LTSV: one line per object; `key:value` joined by TAB; arrays joined with `,`; nested maps left out; null is empty. */
export function toLtsv(objects: Array<Record<string, unknown>>): string {
  let text = '';
  for (const obj of objects) {
    const row: string[] = [];
    for (const [k, v] of Object.entries(obj)) {
      if (Array.isArray(v)) row.push(`${k}:${v.join(',')}`);
      else if (v !== null && typeof v === 'object') continue;
      else row.push(`${k}:${v ?? ''}`);
    }
    text += row.join('\t') + '\n';
  }
  return text;
}

/** `/api/config.json`: the process and the supervisor options Fluentd shows. */
export function configObject(info: AgentInfo): Record<string, unknown> {
  return { ...info };
}

/** `/api/config` (LTSV, one line, as Fluentd: no trailing newline). */
export function configLtsv(info: AgentInfo): string {
  return Object.entries(configObject(info))
    .map(([k, v]) => `${k}:${Array.isArray(v) ? JSON.stringify(v) : v ?? ''}`)
    .join('\t');
}

export interface PluginQuery {
  tag?: string;
  id?: string;
  type?: string;
}

/** Reads Fluentd's query options (first of tag, @id, id, @type, type wins). */
export function pluginQuery(q: URLSearchParams): PluginQuery {
  if (q.has('tag')) return { tag: q.get('tag')! };
  if (q.has('@id')) return { id: q.get('@id')! };
  if (q.has('id')) return { id: q.get('id')! };
  if (q.has('@type')) return { type: q.get('@type')! };
  if (q.has('type')) return { type: q.get('type')! };
  return {};
}

/** The plugins a query selects; `tagOwner` is the id of the top-level match for `?tag=`. */
export function selectPlugins(all: PluginSnapshot[], q: PluginQuery, tagOwner: string | null): PluginSnapshot[] {
  if (q.tag !== undefined) return all.filter((p) => p.plugin_id === tagOwner).slice(0, 1);
  if (q.id !== undefined) return all.filter((p) => p.plugin_id === q.id).slice(0, 1);
  if (q.type !== undefined) return all.filter((p) => p.type === q.type);
  return all;
}
