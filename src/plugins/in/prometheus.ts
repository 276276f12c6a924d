/**
 * `@type prometheus` (fluent-plugin-prometheus's HTTP exposition): serves `metrics_path` in the
 * Prometheus text format from the agent's metrics registry — the fluentd_status_* and
 * fluentd_output_status_* families of the prometheus_monitor / prometheus_output_monitor inputs
 * configured beside it, logferry's per-tag flow metrics (`logferry_flow_records_total`,
 * `logferry_flow_bytes_total`), buffer age, drops, connections and health, and Node's process
 * metrics.
 *
 * Workers: each worker listens on port + its id and serves its own series at `metrics_path`, every
 * series labelled `worker_id`; `aggregated_metrics_path`, on any worker's port, serves every
 * worker's series together (gathered through the supervisor, core/gather.ts), as the Ruby plugin's
 * aggregated endpoint does. A worker that did not answer is named in a `#` comment line.
 */
import { gzipSync } from 'node:zlib';
import type { IncomingMessage } from 'node:http';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { defineInput, type InputInstance, type PluginContext, type ValidationProblem } from '../../core/plugin.js';
import { AggregatorRegistry } from 'prom-client';
import { answerGather, gather } from '../../core/gather.js';
import { jsonReply, MonitorHttpServer, type HttpReply } from '../../metrics/http-server.js';
import { nodeProcessRegistry, PrometheusExposition, type ExpositionJson } from '../../metrics/prometheus.js';
import type { MetricsView } from '../../metrics/registry.js';

export const params = defineParams({
  bind: p.string({ default: '0.0.0.0', desc: 'Address to listen on (fluent-plugin-prometheus 2.2.2 default; use 127.0.0.1 to keep it local)' }),
  port: p.integer({ default: 24231, min: 0, max: 65535, desc: 'Port to listen on; each worker listens on port + its worker id' }),
  metrics_path: p.string({ default: '/metrics', desc: 'Path of the exposition' }),
  aggregated_metrics_path: p.string({ default: '/aggregated_metrics', desc: 'Path of the all-workers exposition' }),
  content_encoding: p.enum(['identity', 'gzip'] as const, { default: 'identity', desc: 'gzip: compress the body when the scraper accepts gzip' }),
});
export type PrometheusConfig = ParamsOf<typeof params>;

function validate(c: PrometheusConfig): ValidationProblem[] {
  const out: ValidationProblem[] = [];
  for (const k of ['metrics_path', 'aggregated_metrics_path'] as const) {
    if (!c[k].startsWith('/')) out.push({ param: k, message: 'must start with /' });
  }
  return out;
}

export class PrometheusInput implements InputInstance {
  private readonly http: MonitorHttpServer;
  private readonly exposition: PrometheusExposition;
  private withdraw: (() => void) | null = null;

  constructor(private readonly c: PrometheusConfig, private readonly ctx: PluginContext, view: MetricsView) {
    this.exposition = new PrometheusExposition(view);
    this.http = new MonitorHttpServer('prometheus', (url, req) => this.answer(url, req), ctx.log);
  }

  /** The gather topic the same input of every worker answers with its series. */
  private get topic(): string {
    return `prometheus:${this.ctx.id}`;
  }

  get port(): number {
    return this.http.port;
  }

  async start(): Promise<void> {
    const port = this.c.port === 0 ? 0 : this.c.port + this.ctx.workerId;
    const bound = await this.http.listen(this.c.bind, port);
    nodeProcessRegistry(this.exposition.workerLabels); // process metrics count from here on (CPU seconds are measured from registration)
    this.withdraw ??= answerGather(this.topic, () => this.exposition.json());
    this.ctx.log.info({ port: bound, bind: this.c.bind, path: this.c.metrics_path }, 'listening prometheus http server');
  }

  stop(): Promise<void> {
    this.withdraw?.();
    this.withdraw = null;
    return this.http.close();
  }

  close(): Promise<void> {
    return this.stop();
  }

  /** Every worker's series side by side (one worker: its own). */
  private async aggregated(): Promise<string> {
    if (this.ctx.workers <= 1) return this.exposition.render();
    const answers = await gather<ExpositionJson>(this.topic, '', this.ctx.workerId, this.ctx.workers, () => this.exposition.json());
    const text = await AggregatorRegistry.aggregate(answers.flatMap((a) => (a.value ? [a.value] : []))).metrics();
    const missing = answers.filter((a) => !a.value).map((a) => `# worker ${a.worker} did not answer: ${a.error ?? 'no answer'}\n`);
    return missing.join('') + text;
  }

  private async answer(url: URL, req: IncomingMessage): Promise<HttpReply> {
    const { pathname } = url;
    if (pathname !== this.c.metrics_path && pathname !== this.c.aggregated_metrics_path) return jsonReply(404, { message: 'Not found' });
    const text = pathname === this.c.metrics_path ? await this.exposition.render() : await this.aggregated();
    const gzip = this.c.content_encoding === 'gzip' && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (!gzip) return { status: 200, contentType: this.exposition.contentType, body: text };
    return { status: 200, contentType: this.exposition.contentType, body: gzipSync(text), headers: { 'Content-Encoding': 'gzip' } };
  }
}

export default defineInput({
  type: 'prometheus',
  desc: 'Serve metrics in the Prometheus text format (fluent-plugin-prometheus names, per-tag flow, Node process metrics)',
  params,
  validate,
  create(c, ctx) {
    if (!ctx.registry) throw new Error('prometheus needs the agent\'s metrics registry');
    return new PrometheusInput(c, ctx, ctx.registry);
  },
});
