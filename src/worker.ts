/**
 * One pipeline process: the daemon itself when `workers` is 1, or a worker forked by the supervisor.
 * Runs the Agent, answers signals (SIGTERM/SIGINT stop, SIGUSR1 flush, SIGUSR2 reload) and the
 * supervisor's messages, and reloads the config in place:
 *
 *   1. re-read and build the new Agent completely (every check runs; nothing is touched yet) — a bad
 *      config is logged and the running pipeline keeps going;
 *   2. stop the old Agent with listening sockets parked (core/listeners.ts: still bound, arrivals
 *      queued, open forward connections carried over) and memory chunks handed over to the matching
 *      outputs of the new one (buffer/handover.ts); file buffers stay on disk;
 *   3. start the new Agent: file buffers resume the same directories, inputs claim the parked
 *      sockets and replay what queued. If it fails to start, the previous config is started again.
 */
import type { Logger } from 'pino';
import { ConfigError, formatProblem, type ConfigProblem } from './config/errors.js';
import type { ConfigElement } from './config/node.js';
import { armHandover, collectReceivers, disarmHandover } from './buffer/handover.js';
import { buildAgent, type Agent, type BuildResult } from './core/agent.js';
import { errorMessage } from './core/errors.js';
import { beginHandover, endHandover } from './core/listeners.js';
import type { LogLevel } from './core/log.js';
import type { SystemConfig } from './core/system.js';

export interface WorkerOptions {
  workerId: number;
  log: Logger;
  hostname: string;
  configPath: string;
  /** True when forked by the supervisor (talks to it over IPC, ignores SIGINT). */
  supervised: boolean;
  /** Re-reads and parses the config file (throws ConfigError); `configured`: its `workers` when the running number replaced it. */
  load(): { root: ConfigElement; warnings: string[]; configured: number | null };
  /** The daemon's log level for a <system> (CLI -v/-q applied). */
  levelOf(system: SystemConfig): LogLevel;
}

/** A message between supervisor and worker (`process.send`). */
export type WorkerMessage =
  | { logferry: 'running'; workerId: number }
  | { logferry: 'reload' }
  | { logferry: 'reloaded'; workerId: number; ok: boolean };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { logferry?: unknown }).logferry === 'string';
}

/** Logs every config problem, one line each. */
export function logProblems(log: Logger, problems: ConfigProblem[]): void {
  for (const p of problems) log.error({ problem: formatProblem(p) }, 'config error');
}

export class WorkerProcess {
  private agent: Agent;
  /** The running config, unbuilt (a failed reload builds it again). */
  private pristine: ConfigElement;
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;

  constructor(agent: Agent, root: ConfigElement, private readonly o: WorkerOptions) {
    this.agent = agent;
    this.pristine = structuredClone(root);
  }

  get current(): Agent {
    return this.agent;
  }

  /** Starts the pipeline and runs until SIGTERM (or SIGINT when not supervised); the exit code. */
  async run(): Promise<number> {
    const { log, workerId } = this.o;
    log.info({ pid: process.pid, ppid: process.ppid, worker: workerId }, 'starting fluentd worker');
    process.on('uncaughtException', (e) => {
      log.fatal({ err: e }, 'unexpected error');
      process.exit(1);
    });
    process.on('unhandledRejection', (e) => {
      log.fatal({ error: errorMessage(e) }, 'unhandled promise rejection');
      process.exit(1);
    });
    const keepAlive = setInterval(() => undefined, 1 << 30); // a daemon with no input still runs until signalled
    // handlers first: a signal during start must not kill the process (their default action)
    const stopped = new Promise<void>((resolve) => {
      const onStop = (sig: NodeJS.Signals) => {
        if (this.stopping) return;
        this.stopping = true;
        log.info({ signal: sig, worker: workerId }, 'shutting down fluentd worker');
        // a start or reload under way finishes first; then whichever pipeline runs is stopped
        void this.serial(() => this.agent.stop()).then(resolve, (e) => {
          log.error({ error: errorMessage(e) }, 'error while shutting down');
          resolve();
        });
      };
      process.on('SIGTERM', onStop);
      // under a supervisor, Ctrl-C reaches the whole process group: the supervisor decides (SIGTERM)
      process.on('SIGINT', this.o.supervised ? () => undefined : onStop);
    });
    process.on('SIGUSR1', () => {
      log.info({ worker: workerId }, 'force flushing buffered events');
      void this.agent.flushAll();
    });
    process.on('SIGUSR2', () => void this.reload());
    process.on('message', (m: unknown) => {
      if (!isWorkerMessage(m) || m.logferry !== 'reload') return;
      void this.reload().then((ok) => process.send?.({ logferry: 'reloaded', workerId, ok } satisfies WorkerMessage));
    });
    try {
      await this.serial(() => this.agent.start());
    } catch (e) {
      log.error({ error: errorMessage(e) }, 'failed to start');
      await this.agent.stop();
      clearInterval(keepAlive);
      return 1;
    }
    if (!this.stopping) {
      log.info({ worker: workerId }, 'fluentd worker is now running');
      if (this.o.supervised) process.send?.({ logferry: 'running', workerId } satisfies WorkerMessage);
    }
    await stopped;
    clearInterval(keepAlive);
    return 0;
  }

  /** Reloads the config in place; false when it was rejected (the running pipeline is kept). */
  reload(): Promise<boolean> {
    return this.serial(() => this.swap());
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async swap(): Promise<boolean> {
    const { log, workerId } = this.o;
    if (this.stopping) return false;
    log.info({ worker: workerId }, 'reloading config');
    collectReceivers(); // memory-buffered outputs of the new pipeline register as receivers while built
    let root: ConfigElement | null = null;
    let built: BuildResult | null = null;
    let problems: ConfigProblem[] = [];
    try {
      const loaded = this.o.load();
      root = structuredClone(loaded.root); // building adjusts the tree (v0.12 spellings); keep it as read
      built = buildAgent(loaded.root, { log, workerId, hostname: this.o.hostname, configPath: this.o.configPath });
      problems = built.problems;
      if (problems.length === 0) for (const w of [...loaded.warnings, ...built.warnings]) log.warn(w);
      if (!this.o.supervised && loaded.configured !== null && loaded.configured !== built.system.workers) {
        log.warn({ running: built.system.workers, configured: loaded.configured }, 'a new number of workers takes effect on restart only; reloading with the running number');
      }
    } catch (e) {
      if (e instanceof ConfigError) problems = e.problems;
      else log.error({ error: errorMessage(e) }, 'config error');
    }
    if (!root || !built?.agent || problems.length > 0) {
      disarmHandover();
      logProblems(log, problems);
      log.error({ worker: workerId, errors: problems.length }, 'config reload failed; the running configuration is kept');
      return false;
    }
    log.level = this.o.levelOf(built.system);
    armHandover();
    beginHandover();
    const next = built.agent;
    try {
      await this.agent.stop();
      try {
        await next.start();
        this.agent = next;
        this.pristine = root;
        log.info({ worker: workerId }, 'config reloaded');
        return true;
      } catch (e) {
        log.error({ worker: workerId, error: errorMessage(e) }, 'the reloaded configuration failed to start; starting the previous one again');
        await this.restorePrevious(next);
        return false;
      }
    } finally {
      await endHandover();
      const lost = disarmHandover();
      if (lost.length > 0) log.error({ chunks: lost.length, records: lost.reduce((n, c) => n + c.records, 0) }, 'memory buffer chunks handed over in a reload were not taken by any output and are lost');
    }
  }

  /** After a failed start: the previous config, built again, takes over sockets and memory chunks. */
  private async restorePrevious(failed: Agent): Promise<void> {
    const { log, workerId } = this.o;
    collectReceivers();
    const again = buildAgent(structuredClone(this.pristine), { log, workerId, hostname: this.o.hostname, configPath: this.o.configPath });
    armHandover();
    await failed.stop();
    if (!again.agent) throw new Error(`the previous configuration no longer builds: ${again.problems.map(formatProblem).join('; ')}`);
    this.agent = again.agent;
    await again.agent.start(); // a failure here ends the worker (the supervisor restarts it)
    log.level = this.o.levelOf(again.system);
  }
}
