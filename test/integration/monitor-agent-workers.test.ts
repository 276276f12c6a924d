/**
 * monitor_agent's `aggregate_workers` in-process (a worker 0 of `workers 2` without a supervisor, so
 * only its own figures come back): by default its port answers for the daemon (the top-level
 * `workers` object), with `aggregate_workers false` exactly as Fluentd (no such object); `?worker=`
 * beyond the worker count is 404. The multi-process behaviour is in test/e2e/workers-monitoring.test.ts.
 */
import { afterEach, expect, it } from 'vitest';
import type { Agent } from '../../src/core/agent.js';
import type { MonitorAgentInput } from '../../src/plugins/in/monitor_agent.js';
import { buildFromText } from '../helpers/agent.js';
import { get } from './monitor-util.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

async function monitorPort(aggregate: string): Promise<number> {
  const r = buildFromText(`<system>\n  workers 2\n</system>\n<source>\n  @type monitor_agent\n  @id mon\n  port 0\n  bind 127.0.0.1\n  ${aggregate}\n</source>\n<match **>\n  @type null\n  @id out\n</match>\n`);
  expect(r.problems).toEqual([]);
  agent = r.agent!;
  await agent.start();
  return (agent.plugins.find((p) => p.id === 'mon')!.instance as MonitorAgentInput).port;
}

it('worker 0 answers for the daemon by default, and only for itself with aggregate_workers false', async () => {
  const summed = JSON.parse((await get(`http://127.0.0.1:${await monitorPort('')}/api/plugins.json`)).text) as Record<string, unknown>;
  expect(summed.workers).toEqual({ count: 2, missing: [] });
  expect((summed.plugins as Array<{ plugin_id: string }>).map((p) => p.plugin_id)).toEqual(['mon', 'out']);
  await agent!.stop();
  const port = await monitorPort('aggregate_workers false');
  const own = JSON.parse((await get(`http://127.0.0.1:${port}/api/plugins.json`)).text) as Record<string, unknown>;
  expect(Object.keys(own)).toEqual(['plugins']);
  expect((await get(`http://127.0.0.1:${port}/api/plugins.json?worker=2`)).status).toBe(404);
  expect((await get(`http://127.0.0.1:${port}/api/plugins.json?worker=x`)).status).toBe(404);
  expect((await get(`http://127.0.0.1:${port}/api/health?worker=0`)).status).toBe(200);
});
