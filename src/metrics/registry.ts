/**
 * The metrics registry: the one place every view (monitor_agent, Prometheus, DogStatsD, health)
 * reads plugin and process numbers from. Plugins keep writing their counters where they are
 * (PluginMetrics, BufferedOutput, the chunk buffer, out_forward's nodes, inputs' connection
 * counts); a snapshot walks the agent's plugins in monitor_agent order and reads them. Nothing
 * here is global: the agent owns one registry and hands the narrow `MetricsView` to the plugins
 * that need it through `ctx.registry`.
 */
import { readFileSync } from 'node:fs';
import { BufferedOutput } from '../buffer/buffered-output.js';
import type { ConfigElement } from '../config/node.js';
import { maskSecrets } from '../config/schema.js';
import { answerGather, gather, type WorkerAnswer } from '../core/gather.js';
import type { PluginMetrics } from '../core/metrics.js';
import type { InputInstance, Lifecycle, PluginKind } from '../core/plugin.js';
import { lookup } from '../core/registry.js';
import type { Router } from '../core/router.js';
import { CopyOutput } from '../plugins/out/copy.js';
import { ForwardOutput, type NodeStats } from '../plugins/out/forward.js';
import { ProcessStats, type ProcessSnapshot } from './process-stats.js';
import type { WorkerMetrics } from './workers-view.js';

export type { ProcessSnapshot } from './process-stats.js';

/** The Fluentd version whose monitor_agent behaviour (field set, include_* defaults) is served. */
export const FLUENTD_COMPAT_VERSION = '1.19.3';

export interface BufferSnapshot {
  /** Staged chunks holding events. */
  stage_length: number;
  stage_byte_size: number;
  /** Chunks waiting to be flushed (not counting those being written). */
  queue_length: number;
  /** Queued bytes, including chunks being written until they are purged (as Fluentd counts). */
  queue_byte_size: number;
  /** Chunks being written or waiting for a delayed commit. */
  dequeued_length: number;
  /** stage + queue bytes: what counts against total_limit_size. */
  total_queued_size: number;
  total_limit_size: number;
  /** `(1 − total/limit) × 100`, one decimal. */
  available_space_ratio: number;
  /** Distinct timekeys of the chunks held (epoch seconds, ascending). */
  timekeys: number[];
  /** Age of the oldest chunk holding events, seconds; null when the buffer is empty. */
  oldest_chunk_age_sec: number | null;
}

export interface RetrySnapshot {
  /** Epoch seconds of the first failure of this retry episode. */
  start: number;
  steps: number;
  next_time: number;
  /** `start + retry_timeout`. */
  timeout_at: number;
}

export interface ForwardSnapshot {
  healthy_nodes_count: number;
  registered_nodes_count: number;
  nodes: NodeStats[];
}

export interface FlowSnapshot {
  tag: string;
  records: number;
  bytes: number;
  /** Records of streams that were never packed (their bytes are not in `bytes`). */
  unsized: number;
}

export interface PluginSnapshot {
  plugin_id: string;
  plugin_category: PluginKind;
  type: string;
  /** The `<label>` the plugin lives in; null at the top level. */
  label: string | null;
  /** The plugin's own parameters (secrets masked), as monitor_agent's `config`. */
  config: Record<string, string>;
  /** False for copy (a multi-output), inputs and filters. */
  output_plugin: boolean;
  /** Outputs: errors since start (failed flushes and failed emits); null for inputs, filters, copy. */
  retry_count: number | null;
  emit_records: number;
  emit_size: number;
  emit_count: number;
  write_count: number;
  write_secondary_count: number;
  rollback_count: number;
  slow_flush_count: number;
  /** Milliseconds spent flushing, in total. */
  flush_time_count: number;
  drop_oldest_chunk_count: number;
  buffer: BufferSnapshot | null;
  /** True for real outputs (not copy): monitor_agent shows a `retry` object for them. */
  has_retry_state: boolean;
  /** The current retry episode; null when not retrying. */
  retry: RetrySnapshot | null;
  forward: ForwardSnapshot | null;
  /** Events dropped, by reason. */
  dropped: Record<string, number>;
  /** Connections or requests refused, by reason. */
  rejected: Record<string, number>;
  /** Inputs that hold connections: how many are open now. */
  open_connections: number | null;
  /** Records and bytes per tag: emitted by an input ('in'), received by an output ('out'). */
  flow_direction: 'in' | 'out' | null;
  flow: FlowSnapshot[];
}

export interface HealthProblem {
  plugin_id: string;
  type: string;
  reason: 'buffer_full' | 'retry_timeout';
  message: string;
}

export interface HealthReport {
  healthy: boolean;
  /** Outputs checked. */
  outputs: number;
  problems: HealthProblem[];
}

/** What `/api/config.json` shows. */
export interface AgentInfo {
  pid: number;
  ppid: number;
  version: string;
  config_path: string | null;
  pid_file: string | null;
  plugin_dirs: string[];
  log_path: string | null;
  root_dir: string | null;
  logferry_version: string;
  worker_id: number;
  workers: number;
}

/** A prometheus_monitor / prometheus_output_monitor input, as the prometheus input serves it. */
export interface PromMonitorSpec {
  kind: 'all' | 'output';
  /** Base labels (from `<labels>`, placeholders expanded). */
  labels: Record<string, string>;
  /** False: the cumulative numbers are exposed as counters. */
  gaugeAll: boolean;
}

/** The narrow view plugins get through `ctx.registry`. */
export interface MetricsView {
  readonly workerId: number;
  /** `<system> workers`. */
  readonly workers: number;
  readonly hostname: string;
  /** Every plugin in monitor_agent order: root inputs, root outputs (copy's stores after their copy), root filters, then per label its outputs and filters. */
  plugins(): PluginSnapshot[];
  process(): ProcessSnapshot;
  /** 200-or-503 material: every output can take data. */
  health(nowSec?: number): HealthReport;
  /** The plugin id of the first top-level `<match>` matching the tag (monitor_agent `?tag=`). */
  outputIdForTag(tag: string): string | null;
  info(): AgentInfo;
  /** Every worker's plugins and health (only this one's without a supervisor), by worker id. */
  everyWorker(): Promise<Array<WorkerAnswer<WorkerMetrics>>>;
  /** Monitor inputs register here; the prometheus input serves what is registered. */
  readonly promMonitors: Set<PromMonitorSpec>;
}

/** One plugin the agent built (the agent's PluginEntry). */
export interface RegisteredPlugin {
  id: string;
  type: string;
  kind: PluginKind;
  element: ConfigElement;
  metrics: PluginMetrics;
  instance: Lifecycle;
  /** The <label> the directive lives in; null at the top level. */
  scope?: string | null;
}

/** What the registry reads from the agent. */
export interface RegistrySource {
  readonly plugins: readonly RegisteredPlugin[];
  readonly routers: ReadonlyMap<string, Router>;
  readonly rootRouter: Router;
  readonly workerId: number;
  readonly hostname: string;
  readonly system: { workers: number; root_dir: string | null; log?: { path: string | null } | null };
  readonly configPath: string | null;
}

let packageVersion: string | null = null;
function logferryVersion(): string {
  if (packageVersion === null) {
    try {
      packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      packageVersion = 'unknown';
    }
  }
  return packageVersion;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** The gather topic a worker answers with its WorkerMetrics. */
const METRICS_TOPIC = 'metrics';

function record(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries(m);
}

function configOf(kind: PluginKind, type: string, el: ConfigElement): Record<string, string> {
  const def = lookup(kind, type);
  return def ? maskSecrets(def.params, el) : Object.fromEntries([...el.params].map(([k, v]) => [k, v.value]));
}

export function bufferSnapshot(bo: BufferedOutput, nowSec: number): BufferSnapshot {
  const b = bo.buffer;
  const chunks = [...b.stage.values(), ...b.queue, ...[...b.dequeued.values()].map((d) => d.chunk)].filter((c) => c.records > 0);
  let inflight = 0;
  for (const d of b.dequeued.values()) inflight += d.chunk.bytes;
  const total = b.stageBytes + b.queueBytes + inflight;
  const limit = b.limits.totalLimitSize;
  const timekeys = [...new Set(chunks.map((c) => c.metadata.timekey).filter((t): t is number => t !== null))].sort((x, y) => x - y);
  const oldest = chunks.reduce((m, c) => Math.min(m, c.createdAt), Infinity);
  return {
    stage_length: [...b.stage.values()].filter((c) => c.records > 0).length,
    stage_byte_size: b.stageBytes,
    queue_length: b.queue.length,
    queue_byte_size: b.queueBytes + inflight,
    dequeued_length: b.dequeued.size,
    total_queued_size: total,
    total_limit_size: limit,
    available_space_ratio: round1((1 - total / limit) * 100),
    timekeys,
    oldest_chunk_age_sec: Number.isFinite(oldest) ? Math.max(0, nowSec - oldest) : null,
  };
}

export class MetricsRegistry implements MetricsView {
  readonly promMonitors = new Set<PromMonitorSpec>();
  private readonly proc = new ProcessStats();
  private withdraw: (() => void) | null = null;

  constructor(private readonly src: RegistrySource) {}

  get workerId(): number {
    return this.src.workerId;
  }

  get workers(): number {
    return this.src.system.workers;
  }

  /** This worker's figures, as other workers' views get them. */
  private figures(): WorkerMetrics {
    return { plugins: this.plugins(), health: this.health() };
  }

  /** From now on, other workers' monitoring views asking for this worker's figures get them. */
  serve(): void {
    this.withdraw ??= answerGather(METRICS_TOPIC, () => this.figures());
  }

  everyWorker(): Promise<Array<WorkerAnswer<WorkerMetrics>>> {
    return gather<WorkerMetrics>(METRICS_TOPIC, '', this.workerId, this.workers, () => this.figures());
  }

  get hostname(): string {
    return this.src.hostname;
  }

  plugins(nowSec = Date.now() / 1000): PluginSnapshot[] {
    const all = this.src.plugins;
    const out: PluginSnapshot[] = [];
    const addOutput = (p: RegisteredPlugin, label: string | null) => {
      out.push(this.snapshotOf(p, label, nowSec));
      if (p.instance instanceof CopyOutput) {
        for (const s of p.instance.stores) addOutput({ ...s.output, kind: 'output' }, label);
      }
    };
    const scoped = (label: string | null, kind: PluginKind) => all.filter((p) => (p.scope ?? null) === label && p.kind === kind);
    for (const p of scoped(null, 'input')) out.push(this.snapshotOf(p, null, nowSec));
    for (const p of scoped(null, 'output')) addOutput(p, null);
    for (const p of scoped(null, 'filter')) out.push(this.snapshotOf(p, null, nowSec));
    for (const label of this.src.routers.keys()) {
      if (label === '@ROOT') continue;
      for (const p of scoped(label, 'output')) addOutput(p, label);
      for (const p of scoped(label, 'filter')) out.push(this.snapshotOf(p, label, nowSec));
    }
    return out;
  }

  private snapshotOf(p: RegisteredPlugin, label: string | null, nowSec: number): PluginSnapshot {
    const m = p.metrics;
    const inst = p.instance;
    const isCopy = inst instanceof CopyOutput;
    const bo = inst instanceof BufferedOutput ? inst : null;
    const isOutput = p.kind === 'output';
    const writer = bo?.writer;
    const conns = p.kind === 'input' ? (inst as InputInstance).open_connections : undefined;
    const retry = bo?.retry ? { ...bo.retry.toJSON(), timeout_at: bo.retry.timeoutAt } : null;
    return {
      plugin_id: p.id,
      plugin_category: p.kind,
      type: p.type,
      label,
      config: configOf(p.kind, p.type, p.element),
      output_plugin: isOutput && !isCopy,
      retry_count: isOutput && !isCopy ? m.retry_count : null,
      emit_records: m.emit_records,
      emit_size: m.emit_size,
      emit_count: m.emit_count,
      write_count: m.write_count,
      write_secondary_count: bo?.write_secondary_count ?? 0,
      rollback_count: m.rollback_count,
      slow_flush_count: bo?.slow_flush_count ?? 0,
      flush_time_count: bo?.flush_time_count ?? 0,
      drop_oldest_chunk_count: bo?.drop_oldest_chunk_count ?? 0,
      buffer: bo ? bufferSnapshot(bo, nowSec) : null,
      has_retry_state: isOutput && !isCopy,
      retry,
      forward: writer instanceof ForwardOutput
        ? { healthy_nodes_count: writer.healthy_nodes_count, registered_nodes_count: writer.registered_nodes_count, nodes: writer.nodeStats() }
        : null,
      dropped: record(m.dropped),
      rejected: record(m.rejected),
      open_connections: typeof conns === 'number' ? conns : null,
      flow_direction: p.kind === 'input' ? 'in' : isOutput ? 'out' : null,
      flow: [...m.flow.entries()].map(([tag, e]) => ({ tag, records: e.records, bytes: e.bytes, unsized: e.unsized })),
    };
  }

  process(): ProcessSnapshot {
    return this.proc.snapshot();
  }

  health(nowSec = Date.now() / 1000): HealthReport {
    const problems: HealthProblem[] = [];
    let outputs = 0;
    for (const p of this.plugins(nowSec)) {
      if (p.plugin_category !== 'output' || !p.output_plugin) continue;
      outputs++;
      const b = p.buffer;
      if (b && b.total_queued_size >= b.total_limit_size) {
        problems.push({ plugin_id: p.plugin_id, type: p.type, reason: 'buffer_full', message: `buffer holds ${b.total_queued_size} bytes, total_limit_size is ${b.total_limit_size}` });
      }
      const r = p.retry;
      if (r && nowSec >= r.timeout_at) {
        problems.push({ plugin_id: p.plugin_id, type: p.type, reason: 'retry_timeout', message: `retrying for ${Math.round(nowSec - r.start)} s (${r.steps} retries), past retry_timeout` });
      }
    }
    return { healthy: problems.length === 0, outputs, problems };
  }

  outputIdForTag(tag: string): string | null {
    const out = this.src.rootRouter.route(tag).output;
    if (!out) return null;
    return this.src.plugins.find((p) => p.instance === out.instance)?.id ?? null;
  }

  info(): AgentInfo {
    const sys = this.src.system;
    return {
      pid: process.pid,
      ppid: process.ppid,
      version: FLUENTD_COMPAT_VERSION,
      config_path: this.src.configPath,
      pid_file: null,
      plugin_dirs: [],
      log_path: sys.log?.path ?? null,
      root_dir: sys.root_dir,
      logferry_version: logferryVersion(),
      worker_id: this.src.workerId,
      workers: sys.workers,
    };
  }

  /** Stops answering other workers and the process sampler (the agent calls this when it stops). */
  close(): void {
    this.withdraw?.();
    this.withdraw = null;
    this.proc.close();
  }
}
