/**
 * Summing the workers' snapshots (metrics/workers-view.ts): counters and sizes add up, the space
 * ratio is recomputed, timekeys are united, the longest retry is shown, a forward node is available
 * only where every worker sees it so, and a missing worker makes the daemon unhealthy.
 */
import { describe, expect, it } from 'vitest';
import type { BufferSnapshot, PluginSnapshot } from '../../../src/metrics/registry.js';
import { missingWorkers, sumHealth, sumPlugins, type WorkerMetrics } from '../../../src/metrics/workers-view.js';
import type { NodeStats } from '../../../src/plugins/out/forward.js';

function buffer(o: Partial<BufferSnapshot>): BufferSnapshot {
  return {
    stage_length: 0, stage_byte_size: 0, queue_length: 0, queue_byte_size: 0, dequeued_length: 0,
    total_queued_size: 0, total_limit_size: 1000, available_space_ratio: 100, timekeys: [], oldest_chunk_age_sec: null, ...o,
  };
}

function node(name: string, available: boolean, sent: number): NodeStats {
  return { name, host: '127.0.0.1', port: 24224, standby: false, weight: 60, state: available ? 'up' : 'down', available, phi: available ? 0.5 : 20, sent_chunks: sent };
}

function output(id: string, o: Partial<PluginSnapshot> = {}): PluginSnapshot {
  return {
    plugin_id: id, plugin_category: 'output', type: 'forward', label: null, config: {}, output_plugin: true,
    retry_count: 0, emit_records: 0, emit_size: 0, emit_count: 0, write_count: 0, write_secondary_count: 0,
    rollback_count: 0, slow_flush_count: 0, flush_time_count: 0, drop_oldest_chunk_count: 0,
    buffer: null, has_retry_state: true, retry: null, forward: null, dropped: {}, rejected: {},
    open_connections: null, flow_direction: 'out', flow: [], ...o,
  };
}

describe('sumPlugins', () => {
  it('adds up counters, buffers, drops and per-tag flow, plugin by plugin', () => {
    const w0 = [
      output('out', {
        emit_records: 10, write_count: 2, retry_count: 1, dropped: { buffer_overflow: 3 },
        buffer: buffer({ queue_length: 1, total_queued_size: 100, stage_byte_size: 40, timekeys: [60], oldest_chunk_age_sec: 5 }),
        flow: [{ tag: 'a', records: 10, bytes: 500, unsized: 0 }],
      }),
    ];
    const w1 = [
      output('out', {
        emit_records: 7, write_count: 1, retry_count: 4, dropped: { buffer_overflow: 1, unrecoverable: 2 },
        buffer: buffer({ queue_length: 2, total_queued_size: 400, stage_byte_size: 10, timekeys: [0, 60], oldest_chunk_age_sec: 9 }),
        flow: [{ tag: 'a', records: 3, bytes: 150, unsized: 0 }, { tag: 'b', records: 4, bytes: 200, unsized: 1 }],
      }),
      output('only-in-1', { emit_records: 1 }),
    ];
    const [out, only] = sumPlugins([w0, w1]);
    expect(out).toMatchObject({ plugin_id: 'out', emit_records: 17, write_count: 3, retry_count: 5, dropped: { buffer_overflow: 4, unrecoverable: 2 } });
    expect(out!.buffer).toMatchObject({ queue_length: 3, total_queued_size: 500, stage_byte_size: 50, total_limit_size: 2000, available_space_ratio: 75, timekeys: [0, 60], oldest_chunk_age_sec: 9 });
    expect(out!.flow).toEqual([{ tag: 'a', records: 13, bytes: 650, unsized: 0 }, { tag: 'b', records: 4, bytes: 200, unsized: 1 }]);
    expect(only).toMatchObject({ plugin_id: 'only-in-1', emit_records: 1 });
    expect(w0[0]!.emit_records).toBe(10); // the inputs are not changed
  });

  it('shows the longest-running retry and a node as available only when every worker sees it so', () => {
    const retry = (start: number, steps: number) => ({ start, steps, next_time: start + 10, timeout_at: start + 100 });
    const fwd = (a: boolean, b: boolean, sent: number) => ({ healthy_nodes_count: Number(a) + Number(b), registered_nodes_count: 2, nodes: [node('a', a, sent), node('b', b, sent)] });
    const [out] = sumPlugins([
      [output('out', { retry: retry(200, 1), forward: fwd(true, true, 5) })],
      [output('out', { retry: retry(100, 6), forward: fwd(true, false, 7) })],
      [output('out', { retry: null, forward: fwd(true, true, 1) })],
    ]);
    expect(out!.retry).toEqual(retry(100, 6));
    expect(out!.forward!.healthy_nodes_count).toBe(1);
    expect(out!.forward!.registered_nodes_count).toBe(2);
    expect(out!.forward!.nodes.map((n) => [n.name, n.available, n.state, n.sent_chunks, n.port])).toEqual([['a', true, 'up', 13, 24224], ['b', false, 'down', 13, 24224]]);
  });

  it('keeps null where no worker has a figure (inputs have no retry_count)', () => {
    const input: PluginSnapshot = { ...output('in'), plugin_category: 'input', type: 'forward', output_plugin: false, retry_count: null, has_retry_state: false, open_connections: 2, flow_direction: 'in' };
    const [sum] = sumPlugins([[input], [{ ...input, open_connections: 3 }]]);
    expect(sum!.retry_count).toBeNull();
    expect(sum!.open_connections).toBe(5);
  });
});

describe('sumHealth', () => {
  const healthy: WorkerMetrics = { plugins: [], health: { healthy: true, outputs: 2, problems: [] } };
  it('is healthy only when every worker answered healthy', () => {
    expect(sumHealth([{ worker: 0, value: healthy }, { worker: 1, value: healthy }])).toEqual({ healthy: true, outputs: 4, problems: [], missing: [] });
    const full: WorkerMetrics = { plugins: [], health: { healthy: false, outputs: 2, problems: [{ plugin_id: 'out', type: 'forward', reason: 'buffer_full', message: 'full' }] } };
    const sick = sumHealth([{ worker: 0, value: healthy }, { worker: 1, value: full }]);
    expect(sick.healthy).toBe(false);
    expect(sick.problems).toEqual([{ plugin_id: 'out', type: 'forward', reason: 'buffer_full', message: 'full', worker: 1 }]);
    const down = sumHealth([{ worker: 0, value: healthy }, { worker: 1, error: 'the worker is not running' }]);
    expect(down).toMatchObject({ healthy: false, outputs: 2, missing: [{ worker: 1, error: 'the worker is not running' }] });
    expect(missingWorkers([{ worker: 3 }])).toEqual([{ worker: 3, error: 'no answer' }]);
  });
});
