/**
 * Process-level numbers for the registry: CPU (cumulative seconds and the percentage of one core
 * over the last window), RSS and heap, and event-loop lag from `perf_hooks.monitorEventLoopDelay`.
 *
 * Several views read these at their own pace (a scrape, a push every N seconds), so rates and lag
 * percentiles are computed per window of at least `windowMs`: a read inside the current window
 * returns the figures of the last completed one instead of resetting them under another reader.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface EventLoopLag {
  /** Milliseconds over the last window (0 before the first window completes). */
  mean_ms: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

export interface ProcessSnapshot {
  pid: number;
  ppid: number;
  uptime_sec: number;
  /** Cumulative CPU seconds since the process started. */
  cpu_user_sec: number;
  cpu_system_sec: number;
  /** User+system CPU over the last window, in percent of one core (can exceed 100 with threads). */
  cpu_percent: number;
  rss_bytes: number;
  heap_used_bytes: number;
  heap_total_bytes: number;
  event_loop_lag: EventLoopLag;
}

const NS_PER_MS = 1e6;
const ZERO_LAG: EventLoopLag = { mean_ms: 0, p50_ms: 0, p99_ms: 0, max_ms: 0 };

export class ProcessStats {
  private histogram: IntervalHistogram | null = null;
  private windowStartMs = 0;
  private windowCpu = process.cpuUsage();
  private cpuPercent = 0;
  private lag: EventLoopLag = ZERO_LAG;

  constructor(private readonly windowMs = 1000) {}

  /** Starts sampling event-loop delay (idempotent; the sampler's timer does not keep the process alive). */
  open(): void {
    if (this.histogram) return;
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
    this.windowStartMs = performance.now();
    this.windowCpu = process.cpuUsage();
  }

  close(): void {
    this.histogram?.disable();
    this.histogram = null;
  }

  snapshot(): ProcessSnapshot {
    this.open();
    this.roll();
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    return {
      pid: process.pid,
      ppid: process.ppid,
      uptime_sec: process.uptime(),
      cpu_user_sec: cpu.user / 1e6,
      cpu_system_sec: cpu.system / 1e6,
      cpu_percent: this.cpuPercent,
      rss_bytes: mem.rss,
      heap_used_bytes: mem.heapUsed,
      heap_total_bytes: mem.heapTotal,
      event_loop_lag: this.lag,
    };
  }

  /** Closes the current window when it is old enough: CPU percentage and lag figures move on. */
  private roll(): void {
    const now = performance.now();
    const elapsedMs = now - this.windowStartMs;
    if (elapsedMs < this.windowMs) return;
    const used = process.cpuUsage(this.windowCpu);
    this.cpuPercent = Math.round(((used.user + used.system) / 1000 / elapsedMs) * 1000) / 10;
    const h = this.histogram!;
    this.lag = h.count > 0
      ? { mean_ms: h.mean / NS_PER_MS, p50_ms: h.percentile(50) / NS_PER_MS, p99_ms: h.percentile(99) / NS_PER_MS, max_ms: h.max / NS_PER_MS }
      : ZERO_LAG;
    h.reset();
    this.windowStartMs = now;
    this.windowCpu = process.cpuUsage();
  }
}
