/**
 * Runs the real `logferry` binary as a child process on a config text and collects its output.
 * Needs `npm run build` first (npm test does it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from './wait.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'logferry.js');

export interface Daemon {
  proc: ChildProcess;
  dir: string;
  configPath: string;
  stdout(): string;
  stderr(): string;
  /** stdout lines that look like event lines `time tag: json`, parsed. */
  events(): Array<{ tag: string; time: string; record: Record<string, unknown> }>;
  waitForOutput(re: RegExp | string, timeoutMs?: number): Promise<void>;
  waitForEvents(n: number, timeoutMs?: number): Promise<Array<{ tag: string; time: string; record: Record<string, unknown> }>>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

const EVENT_LINE = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? [+-]\d{4}) (\S+): (\{.*\})$/;

export function writeConfig(text: string, name = 'fluent.conf', dir?: string): { dir: string; path: string } {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'logferry-test-'));
  const path = join(d, name);
  writeFileSync(path, text);
  return { dir: d, path };
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`logferry ${args.join(' ')} timed out\n${stdout}\n${stderr}`)); }, opts.timeoutMs ?? 20000);
    proc.on('exit', (code) => { clearTimeout(timer); resolvePromise({ code, stdout, stderr }); });
  });
}

/** Starts the daemon on `configText` and waits until it reports it is running. */
export async function startDaemon(configText: string, opts: { args?: string[]; env?: NodeJS.ProcessEnv; name?: string; ready?: RegExp | string } = {}): Promise<Daemon> {
  const { dir, path } = writeConfig(configText, opts.name);
  const proc = spawn(process.execPath, [BIN, '-c', path, ...(opts.args ?? [])], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  const parse = () =>
    out.split('\n').flatMap((l) => {
      const m = EVENT_LINE.exec(l);
      return m ? [{ time: m[1]!, tag: m[2]!, record: JSON.parse(m[3]!) as Record<string, unknown> }] : [];
    });
  const d: Daemon = {
    proc, dir, configPath: path, exited,
    stdout: () => out,
    stderr: () => err,
    events: parse,
    async waitForOutput(re, timeoutMs = 10000) {
      await waitFor(() => {
        if (exitCode !== undefined) throw Object.assign(new Error(`daemon exited with ${exitCode}\nstdout:\n${out}\nstderr:\n${err}`), { fatal: true });
        return typeof re === 'string' ? out.includes(re) : re.test(out);
      }, timeoutMs, `daemon output ${String(re)}\nstdout so far:\n${out}\nstderr:\n${err}`);
    },
    async waitForEvents(n, timeoutMs = 10000) {
      return waitFor(() => { const e = parse(); return e.length >= n ? e : null; }, timeoutMs, `${n} events on stdout; got:\n${out}\nstderr:\n${err}`);
    },
    async stop(signal = 'SIGTERM') {
      if (exitCode !== undefined) return exitCode;
      proc.kill(signal);
      return exited;
    },
  };
  await d.waitForOutput(opts.ready ?? 'worker is now running', 15000);
  return d;
}
