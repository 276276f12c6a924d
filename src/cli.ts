/**
 * `logferry`: argv, config loading and validation, exit codes, signals.
 * Exit codes: 0 clean stop or good --dry-run; 1 config error; 2 bad command line.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { renderSchema } from './config/docs.js';
import { ConfigError, formatProblem, type ConfigProblem } from './config/errors.js';
import { loadConfig } from './config/load.js';
import { buildAgent, readSystem, type Agent } from './core/agent.js';
import { errorMessage } from './core/errors.js';
import { createRootLogger, LOG_LEVELS, type LogLevel } from './core/log.js';
import type { PluginKind } from './core/plugin.js';
import { listPlugins, lookup } from './core/registry.js';
import './plugins/index.js';

export interface CliOptions {
  config: string | null;
  dryRun: boolean;
  verbosity: number; // +1 per -v, -1 per -q
  logPath: string | null;
  logFormat: 'text' | 'json' | null;
  inline: string[];
  configFileType: 'guess' | 'yaml' | 'v1';
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
  -v, -vv                    more logging (debug, trace)
  -q, -qq                    less logging (warn, error)
  -o, --log PATH             write own logs to PATH instead of stdout
      --log-format FORMAT    text (Fluentd line layout) or json
      --help-plugin TYPE     describe the parameters of a plugin @type
      --version              print the version
  -h, --help                 this help

Signals: SIGTERM/SIGINT stop cleanly (exit 0); SIGUSR1 flushes every buffer now.
`;

export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { config: null, dryRun: false, verbosity: 0, logPath: null, logFormat: null, inline: [], configFileType: 'guess', help: false, helpPlugin: null, version: false };
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

  let root;
  const parseWarnings: string[] = [];
  try {
    root = loadConfig(configPath, { inline: o.inline.join('\n') || undefined, format: o.configFileType, warnings: parseWarnings });
  } catch (e) {
    if (e instanceof ConfigError) { printProblems(e.problems); return 1; }
    throw e;
  }
  const sys = readSystem(root);
  if (sys.problems.length) { printProblems(sys.problems); return 1; }
  const log = createRootLogger({
    level: adjustLevel(sys.system.log_level, o.verbosity),
    format: o.logFormat ?? sys.system.log?.format ?? 'text',
    path: o.logPath ?? sys.system.log?.path ?? null,
    workerId: 0,
  });
  const built = buildAgent(root, { log, workerId: 0, hostname: hostname() });
  if (built.problems.length || !built.agent) { printProblems(built.problems); return 1; }
  for (const w of [...parseWarnings, ...built.warnings]) log.warn(w);
  if (built.system.workers > 1) log.warn({ workers: built.system.workers }, 'multiple workers are not supported yet; running one worker');
  if (o.dryRun) {
    log.info({ config: configPath }, 'finished dry run mode');
    return 0;
  }
  return run(built.agent, log);
}

async function run(agent: Agent, log: Logger): Promise<number | undefined> {
  log.info({ pid: process.pid, ppid: process.ppid, worker: 0 }, 'starting fluentd worker');
  process.on('uncaughtException', (e) => {
    log.fatal({ err: e }, 'unexpected error');
    process.exit(1);
  });
  process.on('unhandledRejection', (e) => {
    log.fatal({ error: errorMessage(e) }, 'unhandled promise rejection');
    process.exit(1);
  });
  try {
    await agent.start();
  } catch (e) {
    log.error({ error: errorMessage(e) }, 'failed to start');
    await agent.stop();
    return 1;
  }
  log.info({ worker: 0 }, 'fluentd worker is now running');
  const keepAlive = setInterval(() => undefined, 1 << 30); // a daemon with no input still runs until signalled
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: sig, worker: 0 }, 'shutting down fluentd worker');
      agent.stop().then(resolve, (e) => {
        log.error({ error: errorMessage(e) }, 'error while shutting down');
        resolve();
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    process.on('SIGUSR1', () => {
      log.info({ worker: 0 }, 'force flushing buffered events');
      void agent.flushAll();
    });
  });
  clearInterval(keepAlive);
  return 0;
}
