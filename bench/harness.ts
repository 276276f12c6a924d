/** Shared benchmark harness: seeded payloads, the daemon as a child process, and the report line. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');

export { seededRandom as rng } from '../src/core/random.js';

/** A ~250-byte access-log-like record. */
export function makeRecord(r: () => number, i: number): Record<string, unknown> {
  const paths = ['/api/v1/orders', '/api/v1/users', '/healthz', '/static/app.js', '/login'];
  return {
    host: `10.0.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}`,
    method: r() < 0.8 ? 'GET' : 'POST',
    path: paths[Math.floor(r() * paths.length)],
    status: r() < 0.95 ? 200 : 500,
    bytes: Math.floor(r() * 100000),
    ua: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
    request_id: `${i.toString(16).padStart(8, '0')}-${Math.floor(r() * 1e9).toString(16)}`,
    latency_ms: Math.round(r() * 5000) / 10,
  };
}

export interface DaemonHandle {
  proc: ChildProcess;
  /** Peak resident set size of the daemon so far (VmHWM), in bytes. */
  peakRss(): number;
  stop(): Promise<void>;
}

export async function startDaemon(configText: string): Promise<DaemonHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'logferry-bench-'));
  const path = join(dir, 'fluent.conf');
  writeFileSync(path, configText);
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'logferry.js'), '-c', path, '-q'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (d) => { if (out.length < 1e5) out += d; });
  // -q hides info lines; wait until the port answers instead
  await new Promise((r) => setTimeout(r, 600));
  if (proc.exitCode !== null) throw new Error(`daemon exited: ${out}`);
  return {
    proc,
    peakRss() {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

export function machine(): string {
  const c = cpus();
  return `${c[0]?.model ?? 'unknown cpu'} x${c.length}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}

/** CPU time (user + system) a process has used so far, in microseconds (from /proc/<pid>/stat). */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15 of stat)
  return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
}

export function report(name: string, r: { events: number; bytes: number; seconds: number; peakRssBytes: number; cpuMicrosPerEvent?: number }): void {
  const cpu = r.cpuMicrosPerEvent !== undefined ? `, ${r.cpuMicrosPerEvent.toFixed(2)} CPU µs/event` : '';
  const line = `${name}: ${Math.round(r.events / r.seconds).toLocaleString('en-US')} events/s, ${(r.bytes / r.seconds / 2 ** 20).toFixed(1)} MB/s${cpu}, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB (${r.events} events in ${r.seconds.toFixed(2)} s; ${machine()})`;
  process.stdout.write(line + '\n');
}
