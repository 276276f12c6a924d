/**
 * `@type monitor_agent` (Fluentd's in_monitor_agent, v1.19.3 behaviour): every plugin's metrics over
 * HTTP, read from the agent's metrics registry.
 *
 *   /api/plugins.json   {"plugins":[…]}, Fluentd's field names, order and shapes
 *   /api/plugins        the same as LTSV
 *   /api/config.json    pid, ppid, version (the Fluentd version matched), config_path, …
 *   /api/config         the same as LTSV
 *   /api/health         logferry: 200 when every output can take data, else 503 with the reasons
 *   anything else       404 {"message":"Not found"}
 *
 * Query options on the plugins endpoints: `tag=`, `@id=`/`id=`, `@type=`/`type=`, and `debug=1`
 * (pretty JSON plus `instance_variables`, only with `include_debug_info true`). With `tag`, the
 * same objects (without config and retry) are emitted as events every `emit_interval`.
 *
 * The Datadog Agent's fluentd check reads `retry_count` from `retry.steps` when a `retry` object is
 * present: with the default `include_retry false` it reports the cumulative error count.
 *
 * Workers (`<system> workers N`): as in Fluentd, worker N listens on port + N. With
 * `aggregate_workers` (the default) worker 0's port answers `/api/plugins*` and `/api/health` for
 * the whole daemon: every worker's figures summed plugin by plugin (metrics/workers-view.ts), plus a
 * top-level `workers` object naming any worker that did not answer. `?worker=N` on any port shows
 * worker N alone.
 */
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { errorMessage } from '../../core/errors.js';
import { EventStream } from '../../core/event-stream.js';
import { EventTime } from '../../core/event-time.js';
import { defineInput, type InputInstance, type PluginContext } from '../../core/plugin.js';
import { jsonReply, MonitorHttpServer, type HttpReply } from '../../metrics/http-server.js';
import { configLtsv, configObject, monitorObject, pluginQuery, selectPlugins, toLtsv, type MonitorObjectOptions } from '../../metrics/monitor-agent-view.js';
import type { HealthReport, MetricsView, PluginSnapshot } from '../../metrics/registry.js';
import { missingWorkers, sumHealth, sumPlugins, type MissingWorker } from '../../metrics/workers-view.js';

export const params = defineParams({
  bind: p.string({ default: '0.0.0.0', desc: 'Address to listen on' }),
  port: p.integer({ default: 24220, min: 0, max: 65535, desc: 'Port to listen on; each worker listens on port + its worker id' }),
  tag: p.string({ default: null, desc: 'Also emit one event per plugin with this tag every emit_interval' }),
  emit_interval: p.time({ default: 60, min: 0.01, desc: 'Seconds between emits (with tag)' }),
  include_config: p.bool({ default: false, desc: 'Add each plugin\'s parameters (secrets masked) as `config`' }),
  include_retry: p.bool({ default: false, desc: 'Add the `retry` object ({} or start, steps, next_time) to outputs' }),
  include_debug_info: p.bool({ default: false, desc: 'Honour ?debug=1 (pretty JSON and instance_variables with logferry\'s extra numbers)' }),
  aggregate_workers: p.bool({ default: true, desc: 'With several workers, worker 0\'s port sums every worker\'s figures (false: each port shows its own worker, as Fluentd)' }),
});
export type MonitorAgentConfig = ParamsOf<typeof params>;

const NOT_FOUND = jsonReply(404, { message: 'Not found' });

/** What one request is answered from: one worker's figures, or every worker's summed. */
interface Figures {
  plugins: PluginSnapshot[];
  health: HealthReport;
  /** Set when summed: the workers whose figures are missing. */
  missing: MissingWorker[] | null;
}

export class MonitorAgentInput implements InputInstance {
  private readonly http: MonitorHttpServer;
  private timer: NodeJS.Timeout | null = null;
  private emitting = false;

  constructor(private readonly c: MonitorAgentConfig, private readonly ctx: PluginContext, private readonly registry: MetricsView) {
    this.http = new MonitorHttpServer('monitor_agent', (url) => this.answer(url), ctx.log);
  }

  /** The port actually listened on. */
  get port(): number {
    return this.http.port;
  }

  async start(): Promise<void> {
    const port = this.c.port === 0 ? 0 : this.c.port + this.ctx.workerId;
    const bound = await this.http.listen(this.c.bind, port);
    this.ctx.log.info({ port: bound, bind: this.c.bind }, 'listening monitoring http server');
    if (this.c.tag !== null && !this.timer) {
      this.timer = setInterval(() => void this.emitOnce(), this.c.emit_interval * 1000);
      this.timer.unref();
    }
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.http.close();
  }

  close(): Promise<void> {
    return this.stop();
  }

  /** One event per plugin, as Fluentd emits them: no config, no retry. */
  private async emitOnce(): Promise<void> {
    if (this.emitting) return;
    this.emitting = true;
    try {
      const opts = { withConfig: false, withRetry: false, withDebugInfo: false };
      const now = EventTime.now();
      const events = this.registry.plugins().map((p) => ({ time: now, record: monitorObject(p, opts) }));
      this.ctx.metrics.countEmit(events.length);
      await this.ctx.emit(this.c.tag!, EventStream.fromEvents(events));
    } catch (e) {
      this.ctx.log.warn({ tag: this.c.tag, error: errorMessage(e) }, 'failed to emit monitor_agent events');
    } finally {
      this.emitting = false;
    }
  }

  /** True when this port answers for every worker. */
  private get sums(): boolean {
    return this.c.aggregate_workers && this.ctx.workers > 1 && this.ctx.workerId === 0;
  }

  /** The figures a request asks for (`?worker=N`, the sum, or this worker's), or the reply saying why not. */
  private async figures(q: URLSearchParams): Promise<Figures | HttpReply> {
    const want = q.get('worker');
    const local = (): Figures => ({ plugins: this.registry.plugins(), health: this.registry.health(), missing: null });
    if (want === null ? !this.sums : want === String(this.ctx.workerId)) return local();
    if (want !== null && (!/^\d+$/.test(want) || Number(want) >= this.ctx.workers)) return jsonReply(404, { message: `No worker ${want}` });
    const answers = await this.registry.everyWorker();
    if (want !== null) {
      const a = answers.find((x) => x.worker === Number(want));
      if (!a?.value) return jsonReply(503, { message: `worker ${want} did not answer`, error: a?.error ?? 'no answer' });
      return { plugins: a.value.plugins, health: a.value.health, missing: null };
    }
    const plugins = sumPlugins(answers.flatMap((a) => (a.value ? [a.value.plugins] : [])));
    return { plugins, health: sumHealth(answers), missing: missingWorkers(answers) };
  }

  private async answer(url: URL): Promise<HttpReply> {
    const path = url.pathname;
    const q = url.searchParams;
    if (path === '/api/config.json') return jsonReply(200, configObject(this.registry.info()));
    if (path === '/api/config') return { status: 200, contentType: 'text/plain', body: configLtsv(this.registry.info()) };
    const isPlugins = path === '/api/plugins.json' || path === '/api/plugins';
    if (!isPlugins && path !== '/api/health') return NOT_FOUND;
    const f = await this.figures(q);
    if (!('plugins' in f)) return f;
    const workers = f.missing ? { workers: { count: this.ctx.workers, missing: f.missing } } : {};
    if (path === '/api/health') {
      const h = f.health;
      return jsonReply(h.healthy ? 200 : 503, { status: h.healthy ? 'ok' : 'unavailable', outputs: h.outputs, problems: h.problems, ...workers });
    }
    const debug = this.c.include_debug_info && !!q.get('debug');
    const opts: MonitorObjectOptions = { withConfig: this.c.include_config, withRetry: this.c.include_retry, withDebugInfo: debug };
    const query = pluginQuery(q);
    const owner = query.tag !== undefined ? this.registry.outputIdForTag(query.tag) : null;
    const list = selectPlugins(f.plugins, query, owner).map((p) => monitorObject(p, opts));
    if (path === '/api/plugins') return { status: 200, contentType: 'text/plain', body: toLtsv(list) };
    return jsonReply(200, { plugins: list, ...workers }, debug);
  }
}

export default defineInput({
  type: 'monitor_agent',
  desc: 'Serve every plugin\'s metrics over HTTP as Fluentd\'s monitor_agent does (/api/plugins.json, /api/config.json), plus /api/health',
  params,
  create(c, ctx) {
    if (!ctx.registry) throw new Error('monitor_agent needs the agent\'s metrics registry');
    return new MonitorAgentInput(c, ctx, ctx.registry);
  },
});
