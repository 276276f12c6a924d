/**
 * Monitoring a daemon with `<system> workers 2`: monitor_agent on worker 0's port sums both workers
 * (`?worker=N` shows one; worker 1's own port shows its own), Prometheus series carry `worker_id` and
 * `/aggregated_metrics` serves both workers' series, DogStatsD pushes are tagged `worker_id`, a worker
 * that is down is named (and makes `/api/health` 503) until it is back, and a reload (SIGUSR2)
 * refuses no scrape.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort, freePortRun } from '../helpers/ports.js';
import { udpCapture, type UdpCapture } from '../helpers/udp-capture.js';
import { waitFor } from '../helpers/wait.js';
import { sendAcked } from '../integration/forward-util.js';
import { get, parseExposition, plugins, sample, type PluginObject } from '../integration/monitor-util.js';

const ALL_RUNNING = 'all workers are running';

function config(o: { port: number; monitorPort: number; promPort: number; statsdPort: number }): string {
  return `
<system>
  workers 2
  restart_worker_interval 3
</system>
<source>
  @type forward
  @id in
  port ${o.port}
  bind 127.0.0.1
</source>
<source>
  @type monitor_agent
  port ${o.monitorPort}
  bind 127.0.0.1
</source>
<source>
  @type prometheus
  @id prom
  port ${o.promPort}
  bind 127.0.0.1
</source>
<source>
  @type prometheus_output_monitor
</source>
<source>
  @type dogstatsd_monitor
  port ${o.statsdPort}
  interval 0.2
  host_tag false
</source>
<match seq.**>
  @type null
  @id out
</match>
`;
}

const byId = (list: PluginObject[], id: string) => list.find((p) => p.plugin_id === id)!;
const records = async (port: number, query = '') => byId(await plugins(port, query), 'out').emit_records as number;

function pidOf(out: string, worker: number): number {
  const pids = [...out.matchAll(new RegExp(`#${worker} starting fluentd worker pid=(\\d+)`, 'g'))];
  return Number(pids[pids.length - 1]![1]);
}

describe('monitoring several workers', () => {
  let d: Daemon | null = null;
  let statsd: UdpCapture | null = null;
  afterEach(async () => {
    await statsd?.close();
    statsd = null;
    if (d) {
      const out = d.stdout();
      await d.stop('SIGKILL');
      for (const w of [0, 1]) {
        try {
          process.kill(pidOf(out, w), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    d = null;
  });

  it('sums the workers in monitor_agent, labels Prometheus series per worker, names a worker that is down, and stays up through a reload', async () => {
    const port = await freePort();
    const monitorPort = await freePortRun(2);
    const promPort = await freePortRun(2);
    statsd = await udpCapture();
    d = await startDaemon(config({ port, monitorPort, promPort, statsdPort: statsd.port }), { ready: ALL_RUNNING });
    const acked = (await Promise.all(Array.from({ length: 12 }, (_, k) => sendAcked(port, k * 100, 5)))).flat();
    expect(acked).toHaveLength(60);

    // each worker's own figures: worker 1 on its own port, worker 0 with ?worker=0 (any port answers for any worker)
    const own0 = await records(monitorPort, '?worker=0');
    const own1 = await records(monitorPort + 1);
    expect(own0).toBeGreaterThan(0);
    expect(own1).toBeGreaterThan(0); // round-robin gave both workers connections
    expect(own0 + own1).toBe(60);
    expect(await records(monitorPort + 1, '?worker=0')).toBe(own0);
    // worker 0's port: the whole daemon
    const summed = JSON.parse((await get(`http://127.0.0.1:${monitorPort}/api/plugins.json`)).text) as { plugins: PluginObject[]; workers: unknown };
    expect(byId(summed.plugins, 'out').emit_records).toBe(60);
    expect(byId(summed.plugins, 'in').emit_records).toBe(60);
    expect(summed.workers).toEqual({ count: 2, missing: [] });
    expect((await get(`http://127.0.0.1:${monitorPort}/api/plugins.json?worker=7`)).status).toBe(404);
    expect((await get(`http://127.0.0.1:${monitorPort}/api/health`)).status).toBe(200);

    // Prometheus: each port its own worker's series, labelled; the aggregated path has both
    const flow = (text: string, worker: string) => sample(parseExposition(text), 'logferry_flow_records_total', { plugin_id: 'out', tag: 'seq.w', worker_id: worker });
    const m0 = (await get(`http://127.0.0.1:${promPort}/metrics`)).text;
    const m1 = (await get(`http://127.0.0.1:${promPort + 1}/metrics`)).text;
    expect(flow(m0, '0')).toBe(own0);
    expect(flow(m0, '1')).toBeUndefined();
    expect(flow(m1, '1')).toBe(own1);
    const all = (await get(`http://127.0.0.1:${promPort + 1}/aggregated_metrics`)).text;
    expect(flow(all, '0')).toBe(own0);
    expect(flow(all, '1')).toBe(own1);
    const samples = parseExposition(all);
    expect(sample(samples, 'fluentd_output_status_emit_records', { plugin_id: 'out', worker_id: '0' })).toBe(own0);
    expect(sample(samples, 'fluentd_output_status_emit_records', { plugin_id: 'out', worker_id: '1' })).toBe(own1);
    for (const w of ['0', '1']) expect(sample(samples, 'process_resident_memory_bytes', { worker_id: w })).toBeGreaterThan(0);

    // DogStatsD: each worker pushes its own gauges, told apart by the worker_id tag
    const gauges = (w: number) => statsd!.lines().filter((l) => l.startsWith('logferry.emit_records:') && /[#,]plugin_id:out(,|$)/.test(l) && new RegExp(`[#,]worker_id:${w}(,|$)`).test(l));
    await waitFor(() => gauges(0).length > 0 && gauges(1).length > 0, 5000, 'emit_records pushed by both workers');
    expect(gauges(0).at(-1)).toMatch(new RegExp(`^logferry\\.emit_records:${own0}\\|g\\|`));
    expect(gauges(1).at(-1)).toMatch(new RegExp(`^logferry\\.emit_records:${own1}\\|g\\|`));

    // worker 1 dies: until it is back (restart_worker_interval 3), the sum says so and health is 503
    process.kill(pidOf(d.stdout(), 1), 'SIGKILL');
    await d.waitForOutput(/Worker finished unexpectedly; restarting it worker=1/);
    const health = await get(`http://127.0.0.1:${monitorPort}/api/health`);
    expect(health.status).toBe(503);
    expect(JSON.parse(health.text)).toMatchObject({ status: 'unavailable', workers: { count: 2, missing: [{ worker: 1, error: 'the worker is not running' }] } });
    const partial = JSON.parse((await get(`http://127.0.0.1:${monitorPort}/api/plugins.json`)).text) as { plugins: PluginObject[]; workers: { missing: unknown[] } };
    expect(byId(partial.plugins, 'out').emit_records).toBe(own0);
    expect(partial.workers.missing).toHaveLength(1);
    expect((await get(`http://127.0.0.1:${promPort}/aggregated_metrics`)).text).toMatch(/^# worker 1 did not answer: the worker is not running$/m);
    await waitFor(() => (d!.stdout().match(/#1 fluentd worker is now running/g) ?? []).length === 2, 15000, 'worker 1 running again');
    expect((await get(`http://127.0.0.1:${monitorPort}/api/health`)).status).toBe(200);

    // a reload: every scrape made meanwhile is answered (the monitoring sockets are handed over; the
    // in-process test in reload-handover.test.ts shows it deterministically)
    const failures: string[] = [];
    let scrapes = 0;
    let reloaded = false;
    const scraper = async () => {
      while (!reloaded) {
        for (const url of [`http://127.0.0.1:${monitorPort}/api/plugins.json`, `http://127.0.0.1:${promPort + 1}/metrics`]) {
          try {
            const r = await get(url);
            if (r.status !== 200) failures.push(`${url}: ${r.status}`);
          } catch (e) {
            failures.push(`${url}: ${String((e as Error).cause ?? e)}`);
          }
          scrapes++;
        }
      }
    };
    const scrapers = Promise.all([scraper(), scraper(), scraper()]);
    d.proc.kill('SIGUSR2');
    await d.waitForOutput(/config reloaded in every worker/, 20000);
    reloaded = true;
    await scrapers;
    expect(d.stdout()).toMatch(/#0 config reloaded/);
    expect(d.stdout()).toMatch(/#1 config reloaded/);
    expect(scrapes).toBeGreaterThanOrEqual(6);
    expect(failures).toEqual([]);
    expect(await d.stop()).toBe(0);
  });
});
