/**
 * `<system> workers N` (N > 1): this process becomes the supervisor. It has already validated the
 * config for every worker id; it forks N workers with `node:cluster` (each runs the same command
 * line and builds its Agent for its own id: `<worker N>` sections, `worker<N>` buffer directories,
 * `#N` in logs, env SERVERENGINE_WORKER_ID), restarts a worker that dies (after
 * `restart_worker_interval`, backing off when it dies before it ran), stops when a worker exits with
 * status 2 (unrecoverable), and turns signals into work for the workers:
 *   SIGTERM/SIGINT  every worker stops gracefully; exit 0 once all have
 *   SIGUSR1         forwarded (flush every buffer)
 *   SIGUSR2         the config is re-read and validated here; if good, each worker in turn reloads
 *
 * Listening sockets: cluster's round-robin scheduling. The supervisor owns each TCP listening socket
 * and hands accepted connections to the workers in turn, so one port serves every worker with an
 * even spread (left to the kernel, SCHED_NONE, a shared accept queue is very unbalanced, and Node
 * 20's net has no SO_REUSEPORT). UDP sockets (heartbeats) are bound once by the supervisor and
 * shared by every worker (`exclusive: false`).
 *
 * Monitoring: a worker's monitor_agent or Prometheus input that shows every worker's figures asks
 * the others through the supervisor (core/gather.ts); the supervisor only relays.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { ConfigProblem } from './config/errors.js';
import { errorMessage } from './core/errors.js';
import { GatherRelay } from './core/gather.js';
import { isWorkerMessage, logProblems, type WorkerMessage } from './worker.js';

export interface SupervisorOptions {
  workers: number;
  /** `<system> restart_worker_interval`, seconds. */
  restartIntervalSec: number;
  log: Logger;
  /** Re-reads the config and checks it for every worker id (SIGUSR2); returns what is wrong. */
  validate(): { problems: ConfigProblem[]; warnings: string[]; workers: number };
  /** Extra environment for every worker. */
  env?: NodeJS.ProcessEnv;
}

interface Slot {
  id: number;
  worker: Worker | null;
  /** The worker reported that its pipeline runs. */
  running: boolean;
  /** Consecutive deaths before running (start failures): the restart backs off. */
  failures: number;
  timer: NodeJS.Timeout | null;
}

/** Exit status with which a worker says "do not restart me" (e.g. a config error in the worker). */
export const UNRECOVERABLE = 2;
const MAX_BACKOFF_MS = 30_000;
const RELOAD_REPLY_TIMEOUT_MS = 120_000;

export function runSupervisor(o: SupervisorOptions): Promise<number> {
  return new Supervisor(o).run();
}

class Supervisor {
  private readonly slots: Slot[];
  private stopping = false;
  private exitCode = 0;
  private allRunningLogged = false;
  private reloading = false;
  private done!: (code: number) => void;
  /** Monitoring views asking every worker (core/gather.ts). */
  private readonly relay = new GatherRelay(() => this.slots.map((s) => ({ id: s.id, worker: s.worker && !s.worker.isDead() ? s.worker : null })));

  constructor(private readonly o: SupervisorOptions) {
    this.slots = Array.from({ length: o.workers }, (_, id) => ({ id, worker: null, running: false, failures: 0, timer: null }));
  }

  run(): Promise<number> {
    const { log } = this.o;
    cluster.schedulingPolicy = cluster.SCHED_RR; // before the first fork; see the header
    cluster.setupPrimary({ exec: process.argv[1], args: process.argv.slice(2) });
    log.info({ pid: process.pid, workers: this.o.workers }, 'starting supervisor');
    const finished = new Promise<number>((resolve) => (this.done = resolve));
    process.on('uncaughtException', (e) => {
      log.fatal({ err: e }, 'unexpected error in the supervisor; stopping the workers');
      this.stop(1);
    });
    const onStop = (sig: NodeJS.Signals) => {
      if (this.stopping) return;
      log.info({ signal: sig }, 'Received graceful stop');
      this.stop(0);
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGUSR1', () => {
      log.info('Received flush signal; forwarding SIGUSR1 to the workers');
      for (const w of this.live()) w.process.kill('SIGUSR1');
    });
    process.on('SIGUSR2', () => void this.reload());
    for (const s of this.slots) this.fork(s);
    return finished;
  }

  private live(): Worker[] {
    return this.slots.flatMap((s) => (s.worker && !s.worker.isDead() ? [s.worker] : []));
  }

  private fork(s: Slot): void {
    s.timer = null;
    if (this.stopping) return;
    const id = String(s.id);
    const w = cluster.fork({ ...this.o.env, SERVERENGINE_WORKER_ID: id, LOGFERRY_WORKER_ID: id, LOGFERRY_WORKERS: String(this.o.workers) });
    s.worker = w;
    s.running = false;
    w.on('message', (m: unknown) => {
      if (this.relay.onMessage({ id: s.id, worker: w }, m)) return;
      if (!isWorkerMessage(m) || m.logferry !== 'running') return;
      s.running = true;
      s.failures = 0;
      if (!this.allRunningLogged && this.slots.every((x) => x.running)) {
        this.allRunningLogged = true;
        this.o.log.info({ workers: this.o.workers }, 'all workers are running');
      }
    });
    w.on('exit', (code, signal) => this.exited(s, w, code, signal));
  }

  private exited(s: Slot, w: Worker, code: number | null, signal: string | null): void {
    const { log } = this.o;
    if (s.worker !== w) return;
    s.worker = null;
    this.relay.onExit(s.id);
    const how = signal ? { signal } : { status: code };
    if (this.stopping) {
      log.info({ worker: s.id, ...how }, 'Worker finished');
      this.maybeDone();
      return;
    }
    if (code === UNRECOVERABLE) {
      log.error({ worker: s.id, status: code }, 'Worker exited with an unrecoverable status; stopping');
      this.stop(1);
      return;
    }
    let delayMs = this.o.restartIntervalSec * 1000;
    if (!s.running) {
      s.failures++;
      delayMs = Math.max(delayMs, Math.min(MAX_BACKOFF_MS, 500 * 2 ** (s.failures - 1)));
    }
    log.warn({ worker: s.id, ...how, restart_in_sec: delayMs / 1000 }, 'Worker finished unexpectedly; restarting it');
    s.timer = setTimeout(() => this.fork(s), delayMs);
  }

  private stop(code: number): void {
    if (code !== 0) this.exitCode = code;
    if (this.stopping) return;
    this.stopping = true;
    for (const s of this.slots) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = null;
    }
    for (const w of this.live()) w.process.kill('SIGTERM');
    this.maybeDone();
  }

  private maybeDone(): void {
    if (!this.stopping || this.slots.some((s) => s.worker !== null)) return;
    this.o.log.info({ status: this.exitCode }, 'supervisor finished');
    this.done(this.exitCode);
  }

  /** SIGUSR2: validate here, then reload the workers one after the other (the others keep serving). */
  private async reload(): Promise<void> {
    const { log } = this.o;
    if (this.stopping) return;
    if (this.reloading) {
      log.warn('a reload is already under way; ignoring SIGUSR2');
      return;
    }
    this.reloading = true;
    try {
      log.info('Received graceful reload; validating the config');
      let v: ReturnType<SupervisorOptions['validate']>;
      try {
        v = this.o.validate();
      } catch (e) {
        log.error({ error: errorMessage(e) }, 'config reload failed; the running configuration is kept');
        return;
      }
      if (v.problems.length > 0) {
        logProblems(log, v.problems);
        log.error({ errors: v.problems.length }, 'config reload failed; the running configuration is kept');
        return;
      }
      for (const w of v.warnings) log.warn(w);
      if (v.workers !== this.o.workers) log.warn({ running: this.o.workers, configured: v.workers }, 'a new number of workers takes effect on restart only; reloading with the running number');
      const failed: number[] = [];
      for (const s of this.slots) {
        if (this.stopping) return;
        if (!s.worker || s.worker.isDead()) continue; // a worker being restarted reads the new config anyway
        if (!(await this.reloadWorker(s.worker))) failed.push(s.id);
      }
      if (failed.length > 0) log.error({ workers: failed }, 'config reload failed in some workers; they kept their configuration');
      else log.info({ workers: this.o.workers }, 'config reloaded in every worker');
    } finally {
      this.reloading = false;
    }
  }

  private reloadWorker(w: Worker): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('exit', onExit);
        resolve(ok);
      };
      const onMessage = (m: unknown) => {
        if (isWorkerMessage(m) && m.logferry === 'reloaded') finish(m.ok);
      };
      const onExit = () => finish(false);
      const timer = setTimeout(() => finish(false), RELOAD_REPLY_TIMEOUT_MS);
      w.on('message', onMessage);
      w.on('exit', onExit);
      w.send({ logferry: 'reload' } satisfies WorkerMessage);
    });
  }
}
