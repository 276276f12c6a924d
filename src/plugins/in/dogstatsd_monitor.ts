/**
 * `@type dogstatsd_monitor`: pushes the metrics registry to a DogStatsD agent every `interval`
 * (what is pushed: src/metrics/dogstatsd-report.ts). hot-shots is the transport, with the same
 * hygiene as out_dogstatsd: no `DD_*` environment tags, no origin detection, no client telemetry,
 * no aggregation; lines are packed into datagrams of at most `max_datagram_size` bytes.
 *
 * Workers: each worker pushes its own figures tagged `worker_id:N` (with several workers), so gauges
 * of different workers do not overwrite each other in the Agent; sum them by tag in Datadog.
 */
import StatsD from 'hot-shots';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { errorMessage } from '../../core/errors.js';
import { LogThrottle } from '../../core/log.js';
import { defineInput, type InputInstance, type PluginContext, type ValidationProblem } from '../../core/plugin.js';
import { DogstatsdReport } from '../../metrics/dogstatsd-report.js';
import type { MetricsView } from '../../metrics/registry.js';
import { PLAIN_STATSD_OPTIONS } from '../../metrics/statsd-options.js';

export const params = defineParams({
  host: p.string({ default: '127.0.0.1', desc: 'DogStatsD host' }),
  port: p.integer({ default: 8125, min: 1, max: 65535, desc: 'DogStatsD UDP port' }),
  interval: p.time({ default: 10, min: 0.05, desc: 'Seconds between pushes (the Agent flushes every 10 s)' }),
  namespace: p.string({ default: 'logferry', desc: 'Prefix of every metric name (with a dot); empty for none' }),
  tags: p.array({ default: [], desc: 'Extra tags on every metric (key:value)' }),
  host_tag: p.bool({ default: true, desc: 'Tag every metric host:<hostname>' }),
  max_datagram_size: p.size({ default: 1432, min: 512, max: 65507, desc: 'Bytes per UDP datagram (the Agent reads 8192; 1432 is safe across networks)' }),
});
export type DogstatsdMonitorConfig = ParamsOf<typeof params>;

function validate(c: DogstatsdMonitorConfig): ValidationProblem[] {
  return c.tags.filter((t) => t.trim() === '').map(() => ({ param: 'tags', message: 'must not contain empty tags' }));
}

/** The part of hot-shots used here. */
interface Client {
  gauge(name: string, value: number, sampleRate: number, tags: Record<string, string>): void;
  increment(name: string, value: number, sampleRate: number, tags: Record<string, string>): void;
  flush(callback: (err?: Error | null) => void): void;
  close(callback?: (err?: Error) => void): void;
}

export class DogstatsdMonitorInput implements InputInstance {
  private client: Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly report = new DogstatsdReport();
  private readonly throttle = new LogThrottle();
  /** Pushes done (each one flushed to the socket). */
  pushes = 0;

  constructor(private readonly c: DogstatsdMonitorConfig, private readonly ctx: PluginContext, private readonly view: MetricsView) {}

  start(): void {
    if (this.client) return;
    const globalTags = [
      ...this.c.tags,
      ...(this.c.host_tag ? [`host:${this.ctx.hostname}`] : []),
      ...(this.ctx.workers > 1 ? [`worker_id:${this.ctx.workerId}`] : []),
    ];
    this.client = new StatsD({
      host: this.c.host,
      port: this.c.port,
      ...PLAIN_STATSD_OPTIONS,
      prefix: this.c.namespace ? `${this.c.namespace}.` : '',
      globalTags,
      maxBufferSize: this.c.max_datagram_size,
      bufferFlushInterval: Math.max(1000, this.c.interval * 1000),
      errorHandler: (e: Error) => {
        if (this.throttle.shouldLog('socket')) this.ctx.log.warn({ error: errorMessage(e) }, 'dogstatsd_monitor socket error');
      },
    }) as unknown as Client;
    this.timer = setInterval(() => void this.push(), this.c.interval * 1000);
    this.timer.unref();
  }

  /** Sends one report now; resolves once it is handed to the socket. */
  async push(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      for (const m of this.report.build(this.view.plugins(), this.view.process(), this.view.health())) {
        if (m.type === 'gauge') client.gauge(m.name, m.value, 1, m.tags);
        else client.increment(m.name, m.value, 1, m.tags);
      }
      await new Promise<void>((resolve) => client.flush((err) => {
        if (err && this.throttle.shouldLog('flush')) this.ctx.log.warn({ error: errorMessage(err) }, 'dogstatsd_monitor could not send metrics');
        resolve();
      }));
      this.pushes++;
    } catch (e) {
      if (this.throttle.shouldLog('push')) this.ctx.log.warn({ error: errorMessage(e) }, 'dogstatsd_monitor push failed');
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const client = this.client;
    this.client = null;
    if (client) await new Promise<void>((resolve) => client.close(() => resolve()));
  }

  close(): Promise<void> {
    return this.stop();
  }
}

export default defineInput({
  type: 'dogstatsd_monitor',
  desc: 'Push every plugin\'s metrics (per-tag flow, buffers, retries) and process metrics to DogStatsD every interval',
  params,
  validate,
  create(c, ctx) {
    if (!ctx.registry) throw new Error('dogstatsd_monitor needs the agent\'s metrics registry');
    return new DogstatsdMonitorInput(c, ctx, ctx.registry);
  },
});
