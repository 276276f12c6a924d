/**
 * monitor_agent's /api/health on the real daemon: 200 while every output can take data, 503 with
 * the reasons when a buffer reaches total_limit_size or an output keeps retrying past
 * retry_timeout, 200 again once the destinations recover.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { deadDestination, fileOutput, get, httpSource, postRecords } from './monitor-util.js';

let daemon: Daemon | null = null;
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
});

interface Health {
  status: number;
  body: { status: string; outputs: number; problems: Array<{ plugin_id: string; type: string; reason: string; message: string }> };
}

async function health(port: number): Promise<Health> {
  const r = await get(`http://127.0.0.1:${port}/api/health`);
  expect(r.contentType).toBe('application/json');
  return { status: r.status, body: JSON.parse(r.text) as Health['body'] };
}

describe('monitor_agent /api/health', () => {
  it('answers 200, then 503 with the reason (buffer full, retrying past retry_timeout), then 200 after recovery', async () => {
    const [httpPort, monPort] = [await freePort(), await freePort()];
    const full = deadDestination();
    const slow = deadDestination();
    daemon = await startDaemon(`${httpSource(httpPort)}
<source>
  @type monitor_agent
  port ${monPort}
  bind 127.0.0.1
</source>
${fileOutput('full.**', 'out_full', full.path, '    total_limit_size 1k\n    overflow_action throw_exception')}
${fileOutput('slow.**', 'out_slow', slow.path, '    retry_timeout 1s')}
<match **>
  @type null
</match>`);
    expect(await health(monPort)).toEqual({ status: 200, body: { status: 'ok', outputs: 3, problems: [] } });

    // one request larger than total_limit_size: the buffer is full and stays full
    expect(await postRecords(httpPort, 'full.x', [{ pad: 'x'.repeat(1200) }])).toBe(200);
    const fullHealth = await waitFor(async () => { const h = await health(monPort); return h.status === 503 ? h : null; }, 10000, '503');
    expect(fullHealth.body.status).toBe('unavailable');
    expect(fullHealth.body.problems).toEqual([{ plugin_id: 'out_full', type: 'file', reason: 'buffer_full', message: expect.stringMatching(/total_limit_size is 1024/) }]);
    // in_http refuses more for that buffer meanwhile
    expect(await postRecords(httpPort, 'full.x', [{ n: 1 }])).toBe(503);

    full.revive();
    await waitFor(async () => (await health(monPort)).status === 200, 10000, '200 after the buffer drained');

    // an output that keeps failing for longer than retry_timeout (retry_forever keeps it retrying)
    expect(await postRecords(httpPort, 'slow.x', [{ n: 1 }])).toBe(200);
    const stuck = await waitFor(async () => { const h = await health(monPort); return h.status === 503 ? h : null; }, 10000, '503 past retry_timeout');
    expect(stuck.body.problems).toEqual([{ plugin_id: 'out_slow', type: 'file', reason: 'retry_timeout', message: expect.stringMatching(/past retry_timeout/) }]);

    slow.revive();
    await waitFor(async () => (await health(monPort)).status === 200, 10000, '200 after the retry succeeded');
    expect(slow.written()).toContain('"n":1');
    expect(full.written()).toContain('x'.repeat(1200));
  });
});
