/**
 * Every worker's figures as one (`<system> workers N`): monitor_agent's summed `/api/plugins.json`
 * and the overall `/api/health`. Each worker keeps its own counters; a view gathers their snapshots
 * (core/gather.ts) and adds them up here, plugin by plugin (matched by category and plugin_id, so
 * give plugins an `@id` when `<worker N>` sections make the workers' configs differ).
 *
 * Counters, buffer sizes and chunk counts, drops, connections and per-tag flow are summed; the
 * available space ratio is computed again from the summed sizes and limits; timekeys are united;
 * the oldest chunk is the oldest of all; the retry shown is the longest-running one; a forward node
 * is available only when every worker sees it available.
 */
import type { WorkerAnswer } from '../core/gather.js';
import type { NodeStats } from '../plugins/out/forward.js';
import type { BufferSnapshot, FlowSnapshot, ForwardSnapshot, HealthProblem, HealthReport, PluginSnapshot } from './registry.js';

/** What one worker answers for the metrics topic. */
export interface WorkerMetrics {
  plugins: PluginSnapshot[];
  health: HealthReport;
}

export interface MissingWorker {
  worker: number;
  error: string;
}

/** The workers whose figures are absent from a sum, and why. */
export function missingWorkers(answers: Array<WorkerAnswer<unknown>>): MissingWorker[] {
  return answers.flatMap((a) => (a.value === undefined ? [{ worker: a.worker, error: a.error ?? 'no answer' }] : []));
}

const COUNTERS = ['emit_records', 'emit_size', 'emit_count', 'write_count', 'write_secondary_count', 'rollback_count', 'slow_flush_count', 'flush_time_count', 'drop_oldest_chunk_count'] as const;

/** The plugins of every worker, summed; in the first worker's order, plugins only others have after. */
export function sumPlugins(perWorker: PluginSnapshot[][]): PluginSnapshot[] {
  const out: PluginSnapshot[] = [];
  const byKey = new Map<string, PluginSnapshot>();
  for (const list of perWorker) {
    for (const p of list) {
      const key = `${p.plugin_category}\0${p.plugin_id}`;
      const acc = byKey.get(key);
      if (acc) addInto(acc, p);
      else {
        const copy = structuredClone(p);
        byKey.set(key, copy);
        out.push(copy);
      }
    }
  }
  return out;
}

function addInto(acc: PluginSnapshot, p: PluginSnapshot): void {
  for (const k of COUNTERS) acc[k] += p[k];
  if (p.retry_count !== null) acc.retry_count = (acc.retry_count ?? 0) + p.retry_count;
  if (p.open_connections !== null) acc.open_connections = (acc.open_connections ?? 0) + p.open_connections;
  acc.output_plugin ||= p.output_plugin;
  acc.has_retry_state ||= p.has_retry_state;
  acc.buffer = acc.buffer && p.buffer ? sumBuffers(acc.buffer, p.buffer) : acc.buffer ?? p.buffer;
  if (p.retry && (!acc.retry || p.retry.start < acc.retry.start)) acc.retry = p.retry;
  acc.forward = acc.forward && p.forward ? sumForward(acc.forward, p.forward) : acc.forward ?? p.forward;
  addCounts(acc.dropped, p.dropped);
  addCounts(acc.rejected, p.rejected);
  acc.flow = sumFlow(acc.flow, p.flow);
}

function addCounts(acc: Record<string, number>, more: Record<string, number>): void {
  for (const [k, n] of Object.entries(more)) acc[k] = (acc[k] ?? 0) + n;
}

function sumBuffers(a: BufferSnapshot, b: BufferSnapshot): BufferSnapshot {
  const total = a.total_queued_size + b.total_queued_size;
  const limit = a.total_limit_size + b.total_limit_size;
  const ages = [a.oldest_chunk_age_sec, b.oldest_chunk_age_sec].filter((x): x is number => x !== null);
  return {
    stage_length: a.stage_length + b.stage_length,
    stage_byte_size: a.stage_byte_size + b.stage_byte_size,
    queue_length: a.queue_length + b.queue_length,
    queue_byte_size: a.queue_byte_size + b.queue_byte_size,
    dequeued_length: a.dequeued_length + b.dequeued_length,
    total_queued_size: total,
    total_limit_size: limit,
    available_space_ratio: Math.round((1 - total / limit) * 1000) / 10,
    timekeys: [...new Set([...a.timekeys, ...b.timekeys])].sort((x, y) => x - y),
    oldest_chunk_age_sec: ages.length > 0 ? Math.max(...ages) : null,
  };
}

function sumForward(a: ForwardSnapshot, b: ForwardSnapshot): ForwardSnapshot {
  const nodes = a.nodes.map((n) => {
    const other = b.nodes.find((m) => m.name === n.name);
    if (!other) return n;
    const merged: NodeStats = { ...n, available: n.available && other.available, phi: Math.max(n.phi, other.phi) };
    if (!other.available) merged.state = other.state;
    for (const [k, v] of Object.entries(other)) {
      if (typeof v === 'number' && typeof n[k] === 'number' && !['port', 'weight', 'phi'].includes(k)) merged[k] = (n[k] as number) + v;
    }
    return merged;
  });
  return {
    healthy_nodes_count: nodes.filter((n) => n.available).length,
    registered_nodes_count: Math.max(a.registered_nodes_count, b.registered_nodes_count),
    nodes,
  };
}

function sumFlow(a: FlowSnapshot[], b: FlowSnapshot[]): FlowSnapshot[] {
  const byTag = new Map(a.map((f) => [f.tag, { ...f }]));
  for (const f of b) {
    const acc = byTag.get(f.tag);
    if (acc) {
      acc.records += f.records;
      acc.bytes += f.bytes;
      acc.unsized += f.unsized;
    } else byTag.set(f.tag, { ...f });
  }
  return [...byTag.values()];
}

export interface WorkersHealth extends HealthReport {
  problems: Array<HealthProblem & { worker?: number }>;
  /** Workers that did not answer: the daemon is not healthy while one is down. */
  missing: MissingWorker[];
}

/** Healthy when every worker answered and each is healthy; problems say which worker has them. */
export function sumHealth(answers: Array<WorkerAnswer<WorkerMetrics>>): WorkersHealth {
  const problems: WorkersHealth['problems'] = [];
  let outputs = 0;
  for (const a of answers) {
    if (!a.value) continue;
    outputs += a.value.health.outputs;
    for (const p of a.value.health.problems) problems.push({ ...p, worker: a.worker });
  }
  const missing = missingWorkers(answers);
  return { healthy: problems.length === 0 && missing.length === 0, outputs, problems, missing };
}
