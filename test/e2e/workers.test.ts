/**
 * `<system> workers 2`: a supervisor and two forked workers sharing the forward port (cluster
 * round-robin), `#N` log lines, `worker<N>` buffer directories, `<worker 1>` sections, a worker
 * killed with SIGKILL restarted with its file buffer resumed (sequence numbers: nothing acknowledged
 * is lost), SIGUSR1 forwarded, SIGTERM stopping everything with exit 0, and a worker that cannot
 * start again (config error) stopping the supervisor.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startDaemon, writeConfig, type Daemon } from '../helpers/daemon.js';
import { jsonFileOutput, jsonLinesUnder } from '../helpers/output-files.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { sendAcked } from '../integration/forward-util.js';

const ALL_RUNNING = 'all workers are running';

function config(o: { port: number; httpPort: number; dest: string; buf: string }): string {
  return `
<system>
  workers 2
</system>
<source>
  @type forward
  port ${o.port}
  bind 127.0.0.1
</source>
<worker 1>
  <source>
    @type http
    port ${o.httpPort}
    bind 127.0.0.1
  </source>
</worker>
<filter seq.**>
  @type record_transformer
  <record>
    worker "#{worker_id}"
    worker_env "#{ENV['SERVERENGINE_WORKER_ID']}"
  </record>
</filter>
<match seq.**>
${jsonFileOutput(`"${o.dest}/w#{worker_id}/out"`, o.buf)}
</match>
<match **>
  @type null
</match>
`;
}

/** Every JSON record written under `dir` (any depth). */
function delivered(dir: string): Array<{ seq: number; worker: string; worker_env: string }> {
  return jsonLinesUnder(dir);
}

function workerPids(out: string): Map<number, number[]> {
  const pids = new Map<number, number[]>();
  for (const m of out.matchAll(/#(\d+) starting fluentd worker pid=(\d+)/g)) {
    const id = Number(m[1]);
    pids.set(id, [...(pids.get(id) ?? []), Number(m[2])]);
  }
  return pids;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('multiple workers', () => {
  let d: Daemon | null = null;
  afterEach(async () => {
    if (d) {
      const pids = [...workerPids(d.stdout()).values()].flat();
      await d.stop('SIGKILL');
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    d = null;
  });

  it('shares the forward port between two workers, with #N logs, worker<N> buffers and <worker 1> sections', async () => {
    const root = mkdtempSync(join(tmpdir(), 'logferry-workers-'));
    const dest = join(root, 'dest');
    const buf = join(root, 'buffer');
    const port = await freePort();
    const httpPort = await freePort();
    d = await startDaemon(config({ port, httpPort, dest, buf }), { ready: ALL_RUNNING });
    const out = d.stdout();
    expect(out).toMatch(/^\S+ \S+ \S+ \[info\]: starting supervisor pid=\d+ workers=2$/m); // no #N on supervisor lines
    expect(out).toMatch(/\[info\]: #0 fluentd worker is now running worker=0/);
    expect(out).toMatch(/\[info\]: #1 fluentd worker is now running worker=1/);
    // the <worker 1> http source runs only in worker 1
    expect(out).toMatch(new RegExp(`#1 listening port port=${httpPort} `));
    expect(out).not.toMatch(new RegExp(`#0 listening port port=${httpPort} `));
    expect(out.match(new RegExp(`listening port port=${port} `, 'g'))).toHaveLength(2);

    // many connections: round-robin hands them to both workers
    const acked = (await Promise.all(Array.from({ length: 12 }, (_, k) => sendAcked(port, k * 100, 5)))).flat();
    const res = await fetch(`http://127.0.0.1:${httpPort}/seq.http`, { method: 'POST', body: 'json={"seq":99999}', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(200);
    const got = await waitFor(() => {
      const g = delivered(dest);
      return g.length >= acked.length + 1 ? g : null;
    }, 15000, 'every event in the output');
    const byWorker = new Map<string, number>();
    for (const r of got) byWorker.set(r.worker, (byWorker.get(r.worker) ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual(['0', '1']);
    expect(got.find((r) => r.seq === 99999)?.worker).toBe('1');
    expect(got.every((r) => r.worker_env === r.worker)).toBe(true); // SERVERENGINE_WORKER_ID
    expect(new Set(got.map((r) => r.seq))).toEqual(new Set([...acked, 99999]));
    expect(readdirSync(buf).sort()).toEqual(['worker0', 'worker1']);
    expect(readdirSync(dest).sort()).toEqual(['w0', 'w1']);

    // SIGUSR1 reaches every worker
    d.proc.kill('SIGUSR1');
    await d.waitForOutput(/#0 force flushing buffered events/);
    await d.waitForOutput(/#1 force flushing buffered events/);

    // SIGTERM: every worker stops, then the supervisor, with 0
    const pids = [...workerPids(d.stdout()).values()].flat();
    expect(pids).toHaveLength(2);
    expect(await d.stop()).toBe(0);
    expect(d.stdout()).toMatch(/#0 shutting down fluentd worker/);
    expect(d.stdout()).toMatch(/#1 shutting down fluentd worker/);
    expect(d.stdout()).toMatch(/supervisor finished status=0/);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('restarts a worker killed with SIGKILL; its file buffer resumes and nothing acknowledged is lost', async () => {
    const root = mkdtempSync(join(tmpdir(), 'logferry-workers-kill-'));
    const dest = join(root, 'dest');
    const buf = join(root, 'buffer');
    writeFileSync(dest, 'a file where the output directory should be: writes fail'); // dead destination
    const port = await freePort();
    d = await startDaemon(config({ port, httpPort: await freePort(), dest, buf }), { ready: ALL_RUNNING });
    const acked = (await Promise.all(Array.from({ length: 8 }, (_, k) => sendAcked(port, k * 1000, 30)))).flat();
    expect(acked).toHaveLength(240);
    // both workers hold acknowledged chunks on disk
    for (const w of ['worker0', 'worker1']) {
      await waitFor(() => readdirSync(join(buf, w)).some((f) => /^buffer\.[bq][0-9a-f]{32}\.log$/.test(f)), 5000, `chunks in ${w}`);
    }
    const [pid0] = workerPids(d.stdout()).get(0)!;
    process.kill(pid0!, 'SIGKILL');
    await d.waitForOutput(/Worker finished unexpectedly; restarting it worker=0 signal="SIGKILL"/);
    await waitFor(() => (d!.stdout().match(/#0 fluentd worker is now running/g) ?? []).length === 2, 15000, 'worker 0 running again');
    const newPid = workerPids(d.stdout()).get(0)![1]!;
    expect(newPid).not.toBe(pid0);
    // the new worker 0 resumed what the killed one had acknowledged
    expect(d.stdout()).toMatch(/#0 resumed file buffer dir="[^"]*worker0" (staged=[1-9]\d* queued=\d+|staged=\d+ queued=[1-9]\d*)/);
    // the port kept being served: worker 1 took connections meanwhile, the new worker 0 takes them now
    acked.push(...(await Promise.all(Array.from({ length: 4 }, (_, k) => sendAcked(port, 100_000 + k * 1000, 5)))).flat());

    rmSync(dest);
    mkdirSync(dest, { recursive: true }); // the destination comes back
    const got = await waitFor(() => {
      const seqs = new Set(delivered(dest).map((r) => r.seq));
      return acked.every((s) => seqs.has(s)) ? delivered(dest) : null;
    }, 20000, 'every acknowledged event in the output');
    const lost = acked.filter((s) => !got.some((r) => r.seq === s));
    console.log(`workers kill test: ${acked.length} acknowledged, ${got.length} delivered, ${lost.length} lost`);
    expect(lost).toEqual([]);
    expect(new Set(got.map((r) => r.worker))).toEqual(new Set(['0', '1']));
    expect(await d.stop()).toBe(0);
  });

  it('stops when a restarted worker finds a config error (exit status 2 from the worker)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'logferry-workers-bad-'));
    const port = await freePort();
    d = await startDaemon(config({ port, httpPort: await freePort(), dest: join(root, 'dest'), buf: join(root, 'buf') }), { ready: ALL_RUNNING });
    writeFileSync(d.configPath, readFileSync(d.configPath, 'utf8').replace('@type null', '@type no_such_output'));
    const [pid1] = workerPids(d.stdout()).get(1)!;
    process.kill(pid1!, 'SIGKILL');
    expect(await d.exited).toBe(1);
    expect(d.stdout()).toMatch(/Worker exited with an unrecoverable status; stopping worker=1 status=2/);
    expect(d.stderr()).toMatch(/unknown output plugin 'no_such_output'/);
    expect(d.stdout()).toMatch(/#0 shutting down fluentd worker/);
    for (const pid of [...workerPids(d.stdout()).values()].flat()) expect(alive(pid)).toBe(false);
  });

  it('validates the whole config for every worker before forking, and --workers overrides <system>', async () => {
    const { path } = writeConfig('<system>\n  workers 2\n</system>\n<worker 2>\n  <match **>\n    @type null\n  </match>\n</worker>\n');
    const bad = await runCli(['-c', path]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/worker id 2 is out of range 0-1/);
    expect(bad.stdout).not.toMatch(/starting fluentd worker/);
    const ok = await runCli(['-c', path, '--workers', '3', '--dry-run']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/finished dry run mode .*workers=3/);
    const usage = await runCli(['-c', path, '--workers', '0']);
    expect(usage.code).toBe(2);
  });
});
