/**
 * `logferry`: argv, config loading and validation, exit codes; then either one in-process pipeline
 * (worker.ts), or with `workers` > 1 the supervisor (supervisor.ts) and, in each forked process,
 * a worker. Exit codes: 0 clean stop or good --dry-run; 1 config error; 2 bad command line (a
 * worker exits 2 on a config error: its supervisor then stops instead of restarting it).
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { renderSchema } from './config/docs.js';
import { ConfigError, formatProblem, type ConfigProblem } from './config/errors.js';
import { loadConfig } from './config/load.js';
import { newElement, setParam, type ConfigElement } from './config/node.js';
import { buildAgent, readSystem } from './core/agent.js';
import { errorMessage } from './core/errors.js';
import { createRootLogger, LOG_LEVELS, type LogLevel } from './core/log.js';
import type { PluginKind } from './core/plugin.js';
import { listPlugins, lookup } from './core/registry.js';
import type { SystemConfig } from './core/system.js';
import { runSupervisor, UNRECOVERABLE } from './supervisor.js';
import { WorkerProcess } from './worker.js';
import './plugins/index.js';

export interface CliOptions {
  config: string | null;
  dryRun: boolean;
  verbosity: number; // +1 per -v, -1 per -q
  logPath: string | null;
  logFormat: 'text' | 'json' | null;
  inline: string[];
  configFileType: 'guess' | 'yaml' | 'v1';
  /** `--workers N`: overrides `<system> workers`. */
  workers: number | null;
  help: boolean;
  helpPlugin: string | null;
  version: boolean;
}

export const USAGE = `Usage: logferry [options]

Options:
  -c, --config PATH          config file (fluent.conf v1 or v0.12 syntax, or .yaml); default $FLUENT_CONF
      --dry-run              check the config and exit: 0 when good, 1 on an error; starts nothing
  -i, --inline-config TEXT   config text appended to the file ("\\n" becomes a newline)
      --config-file-type T   guess (by extension), v1 or yaml
      --workers N            worker processes (overrides <system> workers); N > 1 adds a supervisor
  -v, -vv                    more logging (debug, trace)
  -q, -qq                    less logging (warn, error)
  -o, --log PATH             write own logs to PATH instead of stdout
      --log-format FORMAT    text (Fluentd line layout) or json
      --help-plugin TYPE     describe the parameters of a plugin @type
      --version              print the version
  -h, --help                 this help

Signals: SIGTERM/SIGINT stop cleanly (exit 0); SIGUSR1 flushes every buffer now;
SIGUSR2 reloads the config (a bad one is logged and the running pipeline kept).
`;

export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { config: null, dryRun: false, verbosity: 0, logPath: null, logFormat: null, inline: [], configFileType: 'guess', workers: null, help: false, helpPlugin: null, version: false };
  const value = (i: number, flag: string): string => {
    const v = argv[i];
    if (v === undefined) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const inlineValue = eq > 0 ? a.slice(eq + 1) : undefined;
    const next = () => inlineValue ?? value(++i, flag);
    switch (flag) {
      case '-c': case '--config': o.config = next(); break;
      case '--dry-run': o.dryRun = true; break;
      case '-i': case '--inline-config': o.inline.push(next()); break;
      case '--config-file-type': {
        const t = next();
        if (t === 'yaml' || t === 'yml') o.configFileType = 'yaml';
        else if (t === 'guess' || t === 'v1') o.configFileType = t;
        else throw new UsageError(`--config-file-type must be guess, v1 or yaml, got ${t}`);
        break;
      }
      case '--workers': {
        const v = next();
        if (!/^[1-9]\d{0,3}$/.test(v)) throw new UsageError(`--workers must be a whole number from 1, got ${v}`);
        o.workers = Number(v);
        break;
      }
      case '-v': o.verbosity += 1; break;
      case '-vv': o.verbosity += 2; break;
      case '-q': o.verbosity -= 1; break;
      case '-qq': o.verbosity -= 2; break;
      case '-o': case '--log': o.logPath = next(); break;
      case '--log-format': {
        const f = next();
        if (f !== 'text' && f !== 'json') throw new UsageError(`--log-format must be text or json, got ${f}`);
        o.logFormat = f;
        break;
      }
      case '--help-plugin': o.helpPlugin = next(); break;
      case '--version': o.version = true; break;
      case '-h': case '--help': o.help = true; break;
      default: throw new UsageError(`unknown option ${a}`);
    }
  }
  return o;
}

export class UsageError extends Error {}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function pluginHelp(type: string): string | null {
  const parts: string[] = [];
  for (const kind of ['input', 'filter', 'output'] as PluginKind[]) {
    const def = lookup(kind, type);
    if (def) parts.push(`@type ${type} (${kind}): ${def.desc}\n${renderSchema(def.params, '  ') || '  (no parameters)'}`);
  }
  return parts.length ? parts.join('\n\n') + '\n' : null;
}

function pluginList(): string {
  return (['input', 'filter', 'output'] as PluginKind[])
    .map((k) => `  ${k}s: ${listPlugins(k).map((d) => d.type).join(', ')}`)
    .join('\n');
}

function adjustLevel(base: LogLevel, verbosity: number): LogLevel {
  const i = Math.min(LOG_LEVELS.length - 1, Math.max(0, LOG_LEVELS.indexOf(base) - verbosity));
  return LOG_LEVELS[i]!;
}

function printProblems(problems: ConfigProblem[]): void {
  process.stderr.write(`logferry: config error${problems.length > 1 ? 's' : ''}:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}\n`);
}

export async function main(argv: string[]): Promise<number | undefined> {
  let o: CliOptions;
  try {
    o = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`logferry: ${errorMessage(e)}\n${USAGE}`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(`${USAGE}\nPlugins:\n${pluginList()}\n`);
    return 0;
  }
  if (o.version) {
    process.stdout.write(`logferry ${version()}\n`);
    return 0;
  }
  if (o.helpPlugin) {
    const text = pluginHelp(o.helpPlugin);
    if (!text) {
      process.stderr.write(`logferry: no plugin @type ${o.helpPlugin}\nPlugins:\n${pluginList()}\n`);
      return 2;
    }
    process.stdout.write(text);
    return 0;
  }
  const configPath = o.config ?? process.env.FLUENT_CONF ?? null;
  if (!configPath) {
    process.stderr.write(`logferry: no config file: give -c PATH (or set FLUENT_CONF)\n${USAGE}`);
    return 2;
  }

  // a forked worker: its id and the supervisor's worker count come from the environment
  const workerEnv = cluster.isWorker ? Number(process.env.LOGFERRY_WORKER_ID) : null;
  const workersOverride = cluster.isWorker ? Number(process.env.LOGFERRY_WORKERS) : o.workers;
  const load = (workerId: number, workers = workersOverride) => {
    const warnings: string[] = [];
    const root = loadConfig(configPath, { inline: o.inline.join('\n') || undefined, format: o.configFileType, warnings, workerId: String(workerId) });
    const configured = workers !== null ? overrideWorkers(root, workers) : null;
    return { root, warnings, configured };
  };
  const failCode = workerEnv !== null ? UNRECOVERABLE : 1;

  let loaded;
  try {
    loaded = load(workerEnv ?? 0);
  } catch (e) {
    if (e instanceof ConfigError) { printProblems(e.problems); return failCode; }
    throw e;
  }
  const sys = readSystem(loaded.root);
  if (sys.problems.length) { printProblems(sys.problems); return failCode; }
  const levelOf = (system: SystemConfig) => adjustLevel(system.log_level, o.verbosity);
  const supervisor = workerEnv === null && sys.system.workers > 1;
  const log = createRootLogger({
    level: levelOf(sys.system),
    format: o.logFormat ?? sys.system.log?.format ?? 'text',
    path: o.logPath ?? sys.system.log?.path ?? null,
    workerId: supervisor ? null : workerEnv ?? 0,
  });
  if (sys.system.process_name) process.title = `${supervisor ? 'supervisor' : 'worker'}:${sys.system.process_name}`;

  if (supervisor) {
    // the whole config, once per worker id (<worker N> sections, "#{worker_id}"), before any fork
    // (a reload is checked with the running number of workers: a new number needs a restart)
    const validate = () => validateAllWorkers((id) => load(id, sys.system.workers), sys.system.workers, configPath);
    const v = validate();
    if (v.problems.length) { printProblems(v.problems); return 1; }
    for (const w of v.warnings) log.warn(w);
    if (o.dryRun) {
      log.info({ config: configPath, workers: sys.system.workers }, 'finished dry run mode');
      return 0;
    }
    return runSupervisor({ workers: sys.system.workers, restartIntervalSec: sys.system.restart_worker_interval, log, validate });
  }

  const workerId = workerEnv ?? 0;
  const built = buildAgent(structuredClone(loaded.root), { log, workerId, hostname: hostname(), configPath });
  if (built.problems.length || !built.agent) { printProblems(built.problems); return failCode; }
  for (const w of [...loaded.warnings, ...built.warnings]) log.warn(w);
  if (o.dryRun) {
    log.info({ config: configPath }, 'finished dry run mode');
    return 0;
  }
  const worker = new WorkerProcess(built.agent, loaded.root, {
    workerId, log, hostname: hostname(), supervised: workerEnv !== null, levelOf,
    load: () => load(workerId, sys.system.workers), configPath, // a reload keeps the running number of workers
  });
  return worker.run();
}

/** `--workers N` (and, in a worker, the supervisor's count) replaces `<system> workers`; returns the configured number. */
function overrideWorkers(root: ConfigElement, n: number): number {
  let sys = root.elements.find((e) => e.name === 'system');
  if (!sys) {
    sys = newElement('system', '', root.file, 0);
    root.elements.unshift(sys);
  }
  const configured = Number(sys.params.get('workers')?.value ?? 1);
  setParam(sys, 'workers', { value: String(n), file: '(command line)', line: 0 });
  return configured;
}

let quiet: ReturnType<typeof createRootLogger> | undefined;

/** Builds (without starting) the pipeline of every worker id; problems reported once each. */
function validateAllWorkers(load: (id: number) => { root: ConfigElement; warnings: string[]; configured: number | null }, workers: number, configPath: string): { problems: ConfigProblem[]; warnings: string[]; workers: number } {
  const problems = new Map<string, ConfigProblem>();
  const warnings = new Set<string>();
  let configured = workers;
  for (let id = 0; id < workers; id++) {
    let loaded;
    try {
      loaded = load(id);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const p of e.problems) problems.set(formatProblem(p), p);
      break;
    }
    configured = loaded.configured ?? workers;
    quiet ??= createRootLogger({ level: 'fatal', format: 'text', path: '/dev/null' });
    const built = buildAgent(loaded.root, { log: quiet, workerId: id, hostname: hostname(), configPath });
    for (const p of built.problems) problems.set(formatProblem(p), p);
    for (const w of [...loaded.warnings, ...built.warnings]) warnings.add(w);
  }
  return { problems: [...problems.values()], warnings: [...warnings], workers: configured };
}
