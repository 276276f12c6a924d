/**
 * Builds the running pipeline from a parsed config: routers for the top level and each <label>,
 * plugin instances for every <source>, <filter> and <match>, wired in file order. The whole config
 * is validated first and every problem reported at once; nothing is started before `start()`.
 */
import { hostname as osHostname } from 'node:os';
import type { Logger } from 'pino';
import { applyTypeAlias, applyV0BufferCompat } from '../config/compat-v0.js';
import { ConfigError, type ConfigProblem } from '../config/errors.js';
import type { ConfigElement } from '../config/node.js';
import { describeElement } from '../config/node.js';
import { resolveParams } from '../config/schema.js';
import { EventStream } from './event-stream.js';
import { EventTime } from './event-time.js';
import { errorMessage } from './errors.js';
import { LOG_LEVELS, pluginLogger, setLogEventSink, withoutLogEvents, type LogEvent, type LogLevel } from './log.js';
import { PluginMetrics } from './metrics.js';
import { PatternError, TagPattern } from './pattern.js';
import { BufferedOutput } from '../buffer/buffered-output.js';
import { CopyOutput } from '../plugins/out/copy.js';
import { prepareBufferedOutput, type PreparedBuffer } from '../buffer/setup.js';
import type { AnyDefinition, FilterDefinition, InputDefinition, Lifecycle, OutputDefinition, PluginContext, PluginKind } from './plugin.js';
import { lookup, unknownPluginMessage } from './registry.js';
import { MetricsRegistry, type RegisteredPlugin } from '../metrics/registry.js';
import { Router } from './router.js';
import { systemParams, type SystemConfig } from './system.js';

export interface AgentOptions {
  log: Logger;
  workerId?: number;
  hostname?: string;
  /** The config file, as monitor_agent's /api/config.json shows it. */
  configPath?: string | null;
}

/** One plugin the agent built (declared beside the metrics registry, which reads the same fields). */
export type PluginEntry = RegisteredPlugin;

export interface BuildResult {
  agent: Agent | null;
  system: SystemConfig;
  problems: ConfigProblem[];
  warnings: string[];
}

const TOP_LEVEL = new Set(['source', 'match', 'filter', 'label', 'system', 'worker']);

/** Reads <system> alone (the CLI needs the log settings before anything else is built). */
export function readSystem(root: ConfigElement): { system: SystemConfig; problems: ConfigProblem[]; warnings: string[] } {
  const els = root.elements.filter((e) => e.name === 'system');
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  if (els.length > 1) {
    problems.push({ code: 'LF_CONFIG_STRUCTURE', file: els[1]!.file, line: els[1]!.line, directive: '<system>', message: 'only one <system> directive is allowed' });
  }
  const el = els[0] ?? { name: 'system', arg: '', params: new Map(), elements: [], file: root.file, line: 0 };
  const r = resolveParams(systemParams, el);
  return { system: r.value, problems: [...problems, ...r.problems], warnings: [...warnings, ...r.warnings] };
}

interface Pending {
  kind: PluginKind;
  def: AnyDefinition;
  el: ConfigElement;
  config: unknown;
  id: string;
  explicitId: boolean;
  scope: string | null; // label name the directive lives in, null = top level
  label: string | null; // its own @label
  logLevel: LogLevel | null;
  prepared: PreparedBuffer | null;
  /** `workers` as the plugin sees it: inside <worker A-B> the number of ids in the block. */
  workers: number;
}

export function buildAgent(root: ConfigElement, opts: AgentOptions): BuildResult {
  const workerId = opts.workerId ?? 0;
  const { system, problems, warnings } = readSystem(root);
  const pending: Pending[] = [];
  const labels = new Map<string, ConfigElement>();
  const ids = new Map<string, ConfigElement>();
  const claimedPaths = new Map<string, string>();
  const blockWorkers = new Map<ConfigElement, number>(); // directives inside <worker A-B>: B-A+1
  let autoId = 0;
  const structure = (el: ConfigElement, message: string) =>
    problems.push({ code: 'LF_CONFIG_STRUCTURE', file: el.file, line: el.line, directive: describeElement(el), message });

  const addPlugin = (kind: PluginKind, el: ConfigElement, scope: string | null) => {
    warnings.push(...applyTypeAlias(el));
    const type = el.params.get('@type')?.value;
    if (!type) {
      problems.push({ code: 'LF_CONFIG_PARAM', file: el.file, line: el.line, directive: describeElement(el), param: '@type', message: 'is required' });
      return;
    }
    const def = lookup(kind, type);
    if (!def) {
      const tp = el.params.get('@type')!;
      problems.push({ code: 'LF_CONFIG_PLUGIN', file: tp.file, line: tp.line, directive: describeElement(el), param: '@type', message: unknownPluginMessage(kind, type) });
      return;
    }
    if (def.kind === 'output' && def.buffered) {
      try {
        warnings.push(...applyV0BufferCompat(el, { defaultChunkKeys: def.buffer.chunkKeys }));
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
        return;
      }
    }
    if (def.kind === 'output' && def.secondaryOnly) {
      const tp = el.params.get('@type')!;
      problems.push({ code: 'LF_CONFIG_PLUGIN', file: tp.file, line: tp.line, directive: describeElement(el), param: '@type', message: `${type} can only be used inside <secondary>` });
      return;
    }
    const buffered = def.kind === 'output' && def.buffered;
    const r = resolveParams(def.params, el, { type, consumed: buffered ? ['<buffer>', '<secondary>'] : [] });
    problems.push(...r.problems);
    warnings.push(...r.warnings);
    if (r.problems.length === 0 && def.validate) {
      for (const v of def.validate(r.value)) {
        const p = v.param ? el.params.get(v.param) : undefined;
        problems.push({ code: 'LF_CONFIG_PARAM', file: p?.file ?? el.file, line: p?.line ?? el.line, directive: describeElement(el), type, param: v.param, message: v.message });
      }
    }
    const idParam = el.params.get('@id');
    let id: string;
    if (idParam) {
      id = idParam.value;
      const prev = ids.get(id);
      if (prev) problems.push({ code: 'LF_CONFIG_PARAM', file: idParam.file, line: idParam.line, directive: describeElement(el), type, param: '@id', message: `duplicated plugin id '${id}' (first used at ${prev.file}:${prev.line})` });
      ids.set(id, el);
    } else {
      id = `object:${(++autoId).toString(16).padStart(4, '0')}`;
    }
    const levelParam = el.params.get('@log_level');
    let logLevel: LogLevel | null = null;
    if (levelParam) {
      if ((LOG_LEVELS as readonly string[]).includes(levelParam.value)) logLevel = levelParam.value as LogLevel;
      else problems.push({ code: 'LF_CONFIG_PARAM', file: levelParam.file, line: levelParam.line, directive: describeElement(el), type, param: '@log_level', message: `expected one of ${LOG_LEVELS.join(', ')}` });
    }
    const label = el.params.get('@label')?.value ?? null;
    let prepared: PreparedBuffer | null = null;
    if (def.kind === 'output' && def.buffered) {
      prepared = prepareBufferedOutput(def, el, r.value, { pluginId: id, explicitId: !!idParam, workerId, workers: blockWorkers.get(el) ?? system.workers, rootDir: system.root_dir, claimedPaths });
      problems.push(...prepared.problems);
      warnings.push(...prepared.warnings);
    }
    pending.push({ kind, def, el, config: r.value, id, explicitId: !!idParam, scope, label, logLevel, prepared, workers: blockWorkers.get(el) ?? system.workers });
  };

  const addDirectives = (elements: ConfigElement[], scope: string | null) => {
    for (const el of elements) {
      if (el.name === 'source' && scope === null) addPlugin('input', el, null);
      else if (el.name === 'filter') addPlugin('filter', el, scope);
      else if (el.name === 'match') addPlugin('output', el, scope);
      else if (scope !== null) structure(el, `<${el.name}> is not allowed inside <label>; only <filter> and <match> are`);
    }
  };

  const topLevel: ConfigElement[] = [];
  for (const el of root.elements) {
    if (!TOP_LEVEL.has(el.name)) {
      structure(el, `unknown directive <${el.name}>; expected <source>, <match>, <filter>, <label>, <system> or <worker>`);
    } else if (el.name === 'worker') {
      const m = /^(\d+)(?:-(\d+))?$/.exec(el.arg.trim());
      if (!m) { structure(el, 'worker id is required: <worker N> or <worker N-M>'); continue; }
      const lo = Number(m[1]);
      const hi = m[2] !== undefined ? Number(m[2]) : lo;
      if (lo > hi || hi >= system.workers) { structure(el, `worker id ${el.arg} is out of range 0-${system.workers - 1} (<system> workers ${system.workers})`); continue; }
      for (const c of el.elements) {
        if (!['source', 'match', 'filter', 'label'].includes(c.name)) structure(c, `<${c.name}> is not allowed inside <worker>`);
      }
      if (workerId >= lo && workerId <= hi) topLevel.push(...el.elements.filter((c) => c.name !== 'system'));
      for (const c of el.elements) for (const d of [c, ...(c.name === 'label' ? c.elements : [])]) blockWorkers.set(d, hi - lo + 1);
    } else {
      topLevel.push(el);
    }
  }
  for (const el of topLevel) {
    if (el.name !== 'label') continue;
    const name = el.arg.trim();
    if (!name) structure(el, 'a label name is required: <label @NAME>');
    else if (name === '@ROOT') structure(el, '@ROOT is reserved and cannot be declared');
    else if (labels.has(name)) structure(el, `label ${name} is declared twice`);
    else if (!el.elements.some((c) => c.name === 'match')) structure(el, `label ${name} has no <match>`);
    labels.set(name, el);
  }
  addDirectives(topLevel.filter((e) => e.name !== 'label' && e.name !== 'system'), null);
  for (const el of topLevel) if (el.name === 'label') addDirectives(el.elements, el.arg.trim());

  for (const pd of pending) {
    if (pd.label && pd.label !== '@ROOT' && !labels.has(pd.label)) {
      const lp = pd.el.params.get('@label')!;
      problems.push({ code: 'LF_CONFIG_PARAM', file: lp.file, line: lp.line, directive: describeElement(pd.el), type: pd.def.type, param: '@label', message: `label ${pd.label} is not declared` });
    }
  }
  const patterns = new Map<Pending, TagPattern>();
  for (const pd of pending) {
    if (pd.kind === 'input') continue;
    try {
      patterns.set(pd, new TagPattern(pd.el.arg));
    } catch (e) {
      if (!(e instanceof PatternError)) throw e;
      problems.push({ code: 'LF_CONFIG_STRUCTURE', file: pd.el.file, line: pd.el.line, directive: describeElement(pd.el), message: e.message });
    }
  }
  if (problems.length > 0) return { agent: null, system, problems, warnings };

  const agent = new Agent(opts.log, system, workerId);
  agent.configPath = opts.configPath ?? null;
  const rootRouter = agent.routers.get('@ROOT')!;
  // plugins that carry the daemon's own log events: what they log is not re-emitted (no loops)
  const logRoute = (pd: Pending) => labels.has('@FLUENT_LOG')
    ? pd.scope === '@FLUENT_LOG'
    : pd.scope === null && pd.kind !== 'input' && LOG_LEVELS.some((l) => patterns.get(pd)?.match(`fluent.${l}`));
  for (const name of labels.keys()) {
    agent.routers.set(name, new Router(name, { log: name === '@FLUENT_LOG' ? withoutLogEvents(opts.log) : opts.log, errorRouter: () => agent.routers.get('@ERROR') ?? null, quietNoMatch: name === '@FLUENT_LOG' || name === '@ERROR' }));
  }
  for (const pd of pending) {
    const emitRouter = agent.routers.get(pd.label ?? pd.scope ?? '@ROOT') ?? rootRouter;
    const metrics = new PluginMetrics(pd.id, pd.def.type, pd.kind);
    const plog = pluginLogger(opts.log, pd.id, pd.def.type, pd.explicitId, pd.logLevel);
    const ctx: PluginContext = {
      id: pd.id,
      type: pd.def.type,
      hasExplicitId: pd.explicitId,
      log: logRoute(pd) ? withoutLogEvents(plog) : plog,
      metrics,
      workerId,
      workers: pd.workers,
      rootDir: system.root_dir,
      hostname: opts.hostname ?? agent.hostname,
      label: pd.label,
      element: pd.el,
      emit: pd.kind === 'input'
        ? (tag, stream) => { metrics.flow.add(tag, stream); return emitRouter.emit(tag, stream); }
        : (tag, stream) => emitRouter.emit(tag, stream),
      emitError: (tag, time, record, error) => emitRouter.emitErrorEvent(tag, time, record, error),
      emitToLabel: (label, tag, stream) => (agent.routers.get(label) ?? rootRouter).emit(tag, stream),
      registry: agent.metricsRegistry,
    };
    let instance: Lifecycle;
    try {
      instance = pd.prepared ? pd.prepared.build(ctx) : (pd.def as InputDefinition | FilterDefinition | OutputDefinition).create(pd.config as never, ctx);
    } catch (e) {
      if (e instanceof ConfigError) problems.push(...e.problems);
      else problems.push({ code: 'LF_CONFIG_PARAM', file: pd.el.file, line: pd.el.line, directive: describeElement(pd.el), type: pd.def.type, message: errorMessage(e) });
      continue;
    }
    agent.plugins.push({ id: pd.id, type: pd.def.type, kind: pd.kind, element: pd.el, metrics, instance, scope: pd.scope });
    if (pd.kind === 'input') continue;
    const router = agent.routers.get(pd.scope ?? '@ROOT')!;
    const pattern = patterns.get(pd)!;
    if (pd.kind === 'filter') router.add({ kind: 'filter', pattern, instance: instance as never, metrics });
    else router.add({ kind: 'match', pattern, instance: instance as never, metrics });
  }
  if (problems.length > 0) return { agent: null, system, problems, warnings };
  return { agent, system, problems, warnings };
}

export class Agent {
  readonly plugins: PluginEntry[] = [];
  readonly routers = new Map<string, Router>();
  readonly hostname: string;
  configPath: string | null = null;
  /** Every plugin's counters and the process's figures, read by monitor_agent, Prometheus, DogStatsD. */
  readonly metricsRegistry: MetricsRegistry = new MetricsRegistry(this);
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private logQueue: LogEvent[] = [];

  constructor(readonly log: Logger, readonly system: SystemConfig, readonly workerId: number) {
    this.hostname = process.env.LOGFERRY_HOSTNAME || osHostname();
    this.routers.set('@ROOT', new Router('@ROOT', { log, errorRouter: () => this.routers.get('@ERROR') ?? null }));
  }

  get rootRouter(): Router {
    return this.routers.get('@ROOT')!;
  }

  /** Emits into the top-level router (tests and internal events). */
  emit(tag: string, stream: EventStream): Promise<void> {
    return this.rootRouter.emit(tag, stream);
  }

  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.metricsRegistry.serve();
    for (const kind of ['output', 'filter', 'input'] as const) {
      for (const p of this.plugins.filter((x) => x.kind === kind)) {
        if (kind === 'input') this.log.info({ type: p.type }, 'adding source');
        else this.log.info({ pattern: p.element.arg || '**', type: p.type }, kind === 'output' ? 'adding match' : 'adding filter');
        await p.instance.start?.();
      }
    }
    this.installLogSink();
  }

  /** Enqueues and flushes every buffer now (SIGUSR1). */
  async flushAll(): Promise<void> {
    for (const p of this.plugins) {
      const outputs = p.instance instanceof CopyOutput ? p.instance.stores.map((s) => s.output.instance) : [p.instance];
      for (const o of outputs) if (o instanceof BufferedOutput) await this.safely(p, 'flush', () => o.flushNow());
    }
  }

  /** Stops inputs, then filters, then outputs; then closes everything in reverse order. */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    setLogEventSink(null);
    const of = (k: PluginKind) => this.plugins.filter((p) => p.kind === k);
    for (const p of [...of('input'), ...of('filter')]) await this.safely(p, 'stop', () => p.instance.stop?.());
    // outputs flush concurrently so the whole stop fits one deadline
    await Promise.all(of('output').map((p) => this.safely(p, 'stop', () => p.instance.stop?.())));
    for (const p of [...of('output'), ...of('filter'), ...of('input')].reverse()) await this.safely(p, 'close', () => p.instance.close?.());
    this.metricsRegistry.close();
    this.state = 'stopped';
  }

  private async safely(p: PluginEntry, what: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.log.error({ plugin_id: p.id, type: p.type, error: errorMessage(e) }, `failed to ${what} plugin`);
    }
  }

  /** Own log lines become `fluent.<level>` events in @FLUENT_LOG, or the top level if a match takes them. */
  private installLogSink(): void {
    const target = this.routers.get('@FLUENT_LOG') ?? (['trace', 'debug', 'info', 'warn', 'error', 'fatal'].some((l) => this.rootRouter.hasMatchFor(`fluent.${l}`)) ? this.rootRouter : null);
    if (!target) return;
    const sink = (ev: LogEvent) => {
      if (this.logQueue.push(ev) === 1) setImmediate(() => this.flushLogEvents(target, sink));
    };
    setLogEventSink(sink);
  }

  private flushLogEvents(target: Router, sink: (ev: LogEvent) => void): void {
    const batch = this.logQueue;
    this.logQueue = [];
    if (this.state !== 'running') return;
    // lines logged while log events are being routed are not re-emitted (no loops)
    setLogEventSink(null);
    for (const ev of batch) {
      const sec = Math.floor(ev.timeMs / 1000);
      const record = { ...ev.fields, message: ev.message };
      target.emit(`fluent.${ev.level}`, EventStream.single(new EventTime(sec, (ev.timeMs % 1000) * 1e6), record)).catch(() => {
        // a failing log destination must not produce more logs about itself
      });
    }
    setLogEventSink(sink);
  }
}
