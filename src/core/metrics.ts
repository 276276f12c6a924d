/**
 * Per-plugin counters. The full registry (monitor_agent, Prometheus, DogStatsD views) builds on
 * these; names are Fluentd's so monitor_agent output matches.
 */
import { FlowCounters } from '../metrics/flow.js';

export class PluginMetrics {
  /** Records and bytes per tag: what an input emitted, what an output received. */
  readonly flow = new FlowCounters();
  emit_records = 0;
  emit_count = 0;
  emit_size = 0;
  write_count = 0;
  rollback_count = 0;
  retry_count = 0;
  /** Events dropped, by reason. */
  readonly dropped = new Map<string, number>();
  /** Connections closed for bad input, by reason. */
  readonly rejected = new Map<string, number>();

  constructor(readonly pluginId: string, readonly type: string, readonly category: 'input' | 'filter' | 'output') {}

  countEmit(records: number, bytes = 0): void {
    this.emit_count++;
    this.emit_records += records;
    this.emit_size += bytes;
  }

  countDrop(reason: string, n = 1): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + n);
  }

  countReject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }
}
