/**
 * The Prometheus view of the registry, with prom-client: fluent-plugin-prometheus's monitor metric
 * names and labels (spec outputs.md §3) for the prometheus_monitor / prometheus_output_monitor
 * inputs registered in the view, logferry's own per-tag flow and buffer/health metrics, and Node's
 * process metrics (prom-client's collectDefaultMetrics, registered once per process into a
 * registry of its own the first time a prometheus input serves a scrape).
 *
 * Values are read from one registry snapshot per scrape (fresher than Ruby's 5 s `interval`).
 * Fields are set only when present and not null in the monitor_agent object, as the Ruby plugin
 * does; counters and gauges are reset and refilled each scrape from the cumulative numbers.
 *
 * With several workers every metric, the process ones too, carries a `worker_id` label, so each
 * worker's series stay apart when the aggregated exposition puts them side by side.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { monitorObject } from './monitor-agent-view.js';
import type { MetricsView, PluginSnapshot, PromMonitorSpec } from './registry.js';

let processRegistry: Registry | null = null;

/**
 * Node's process metrics (CPU, RSS, heap, event-loop lag, handles, GC): one collector per process,
 * with `labels` (the worker id) on every series.
 */
export function nodeProcessRegistry(labels: Record<string, string> = {}): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    processRegistry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** A worker's exposition as prom-client's JSON (what the aggregated exposition merges). */
export type ExpositionJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

type Field = string;
/** [metric, monitor_agent field, help, counter when gauge_all is false] */
type MonitorMetric = [string, Field, string, boolean];

const STATUS_METRICS: MonitorMetric[] = [
  ['fluentd_status_buffer_queue_length', 'buffer_queue_length', 'Current buffer queue length.', false],
  ['fluentd_status_buffer_total_bytes', 'buffer_total_queued_size', 'Current total size of queued buffers.', false],
  ['fluentd_status_retry_count', 'retry_count', 'Current retry counts.', false],
  ['fluentd_status_buffer_newest_timekey', 'buffer_newest_timekey', 'Newest timekey in buffer.', false],
  ['fluentd_status_buffer_oldest_timekey', 'buffer_oldest_timekey', 'Oldest timekey in buffer.', false],
];

const OUTPUT_METRICS: MonitorMetric[] = [
  ['fluentd_output_status_buffer_total_bytes', 'buffer_total_queued_size', 'Current total size of stage and queue buffers.', false],
  ['fluentd_output_status_buffer_stage_length', 'buffer_stage_length', 'Current length of stage buffers.', false],
  ['fluentd_output_status_buffer_stage_byte_size', 'buffer_stage_byte_size', 'Current total size of stage buffers.', false],
  ['fluentd_output_status_buffer_queue_length', 'buffer_queue_length', 'Current length of queue buffers.', false],
  ['fluentd_output_status_buffer_queue_byte_size', 'buffer_queue_byte_size', 'Current total size of queue buffers.', false],
  ['fluentd_output_status_buffer_available_space_ratio', 'buffer_available_buffer_space_ratios', 'Ratio of available space in buffer.', false],
  ['fluentd_output_status_buffer_newest_timekey', 'buffer_newest_timekey', 'Newest timekey in buffer.', false],
  ['fluentd_output_status_buffer_oldest_timekey', 'buffer_oldest_timekey', 'Oldest timekey in buffer.', false],
  ['fluentd_output_status_retry_count', 'retry_count', 'Current retry counts.', true],
  ['fluentd_output_status_num_errors', 'retry_count', 'Current number of errors.', true],
  ['fluentd_output_status_emit_count', 'emit_count', 'Current emit counts.', true],
  ['fluentd_output_status_emit_records', 'emit_records', 'Current emit records.', true],
  ['fluentd_output_status_write_count', 'write_count', 'Current write counts.', true],
  ['fluentd_output_status_rollback_count', 'rollback_count', 'Current rollback counts.', false],
  ['fluentd_output_status_flush_time_count', 'flush_time_count', 'Total flush time.', true],
  ['fluentd_output_status_slow_flush_count', 'slow_flush_count', 'Current slow flush counts.', true],
];

type Metric = Gauge<string> | Counter<string>;

/** One prometheus input's exposition: its own prom-client registry, filled from the view per scrape. */
export class PrometheusExposition {
  private readonly reg = new Registry();
  private readonly metrics = new Map<string, Metric>();
  /** `{worker_id}` with several workers, else nothing. */
  readonly workerLabels: Record<string, string>;

  constructor(private readonly view: MetricsView, private readonly includeProcess = true) {
    this.workerLabels = view.workers > 1 ? { worker_id: String(view.workerId) } : {};
  }

  get contentType(): string {
    return this.reg.contentType;
  }

  async render(): Promise<string> {
    this.fill();
    const own = await this.reg.metrics();
    return this.includeProcess ? own + (await nodeProcessRegistry(this.workerLabels).metrics()) : own;
  }

  async json(): Promise<ExpositionJson> {
    this.fill();
    const own = await this.reg.getMetricsAsJSON();
    return this.includeProcess ? [...own, ...(await nodeProcessRegistry(this.workerLabels).getMetricsAsJSON())] : own;
  }

  private fill(): void {
    for (const m of this.metrics.values()) m.reset();
    const plugins = this.view.plugins();
    for (const spec of this.view.promMonitors) this.fillMonitor(spec, plugins);
    this.fillOwn(plugins);
  }

  /** A metric by name, created on first use with these label names. */
  private metric(name: string, help: string, labelNames: string[], counter: boolean): Metric {
    let m = this.metrics.get(name);
    if (!m) {
      const conf = { name, help, labelNames, registers: [this.reg] };
      m = counter ? new Counter(conf) : new Gauge(conf);
      this.metrics.set(name, m);
    }
    return m;
  }

  private put(name: string, help: string, own: Record<string, string>, value: number, counter = false): void {
    const labels = { ...own, ...this.workerLabels };
    const m = this.metric(name, help, Object.keys(labels), counter);
    if (m instanceof Counter) m.inc(labels, Math.max(0, value));
    else m.set(labels, value);
  }

  private fillMonitor(spec: PromMonitorSpec, plugins: PluginSnapshot[]): void {
    const table = spec.kind === 'all' ? STATUS_METRICS : OUTPUT_METRICS;
    for (const p of plugins) {
      if (spec.kind === 'output' && p.plugin_category !== 'output') continue;
      const obj = monitorObject(p, { withConfig: false, withRetry: true, withDebugInfo: false });
      const labels = spec.kind === 'all'
        ? { ...spec.labels, plugin_id: p.plugin_id, plugin_category: p.plugin_category, type: p.type }
        : { ...spec.labels, plugin_id: p.plugin_id, type: p.type };
      for (const [name, field, help, counterWhenNotGaugeAll] of table) {
        const v = obj[field];
        if (typeof v === 'number') this.put(name, help, labels, v, counterWhenNotGaugeAll && !spec.gaugeAll);
      }
      if (spec.kind === 'output' && p.has_retry_state) {
        const wait = p.retry ? p.retry.next_time - p.retry.start : 0;
        this.put('fluentd_output_status_retry_wait', 'Current retry wait', labels, wait);
      }
    }
  }

  /** logferry's own metrics: per-tag flow, buffer age, drops, connections, forward nodes, health. */
  private fillOwn(plugins: PluginSnapshot[]): void {
    for (const p of plugins) {
      const id = { plugin_id: p.plugin_id, type: p.type };
      if (p.flow_direction) {
        for (const f of p.flow) {
          const labels = { ...id, tag: f.tag, direction: p.flow_direction };
          this.put('logferry_flow_records_total', 'Records per tag an input emitted (in) or an output received (out).', labels, f.records, true);
          this.put('logferry_flow_bytes_total', 'msgpack bytes per tag of the packed streams an input emitted (in) or an output received (out).', labels, f.bytes, true);
        }
      }
      if (p.buffer) {
        this.put('logferry_buffer_oldest_chunk_age_seconds', 'Age of the oldest buffered chunk (0 when the buffer is empty).', id, p.buffer.oldest_chunk_age_sec ?? 0);
        this.put('logferry_buffer_total_limit_bytes', 'total_limit_size of the buffer.', id, p.buffer.total_limit_size);
      }
      if (p.has_retry_state) this.put('logferry_output_retry_steps', 'Retries in the current retry episode (0 when not retrying).', id, p.retry?.steps ?? 0);
      for (const [reason, n] of Object.entries(p.dropped)) this.put('logferry_dropped_events_total', 'Events dropped, by reason.', { ...id, reason }, n, true);
      for (const [reason, n] of Object.entries(p.rejected)) this.put('logferry_rejected_total', 'Connections or requests refused, by reason.', { ...id, reason }, n, true);
      if (p.open_connections !== null) this.put('logferry_input_open_connections', 'Connections open now.', id, p.open_connections);
      for (const n of p.forward?.nodes ?? []) {
        this.put('logferry_forward_node_available', '1 when the forward node is available.', { plugin_id: p.plugin_id, node: n.name, host: n.host, port: String(n.port) }, n.available ? 1 : 0);
      }
    }
    const h = this.view.health();
    this.put('logferry_healthy', '1 when every output can take data (see monitor_agent /api/health).', {}, h.healthy ? 1 : 0);
  }
}
