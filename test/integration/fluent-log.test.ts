/**
 * Own logs as events (`<label @FLUENT_LOG>`) with a log destination that always fails: its retry
 * warnings must not be re-emitted into itself (no feedback loop), while other log lines still reach
 * it. Real daemon; the sink's counters are read over monitor_agent.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

let daemon: Daemon | null = null;
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
});

interface SinkStats { retry_count: number; emit_records: number }

async function sinkStats(port: number, id: string): Promise<SinkStats> {
  const res = await fetch(`http://127.0.0.1:${port}/api/plugins.json?@id=${id}`);
  const body = (await res.json()) as { plugins: SinkStats[] };
  return body.plugins[0]!;
}

const post = (port: number, tag: string) =>
  fetch(`http://127.0.0.1:${port}/${tag}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"n":1}' });

/** The failing log destination, inside <label @FLUENT_LOG> or as a top-level <match fluent.**>. */
function logSink(layout: 'label' | 'root', blocker: string): string {
  const match = `
  <match fluent.**>
    @type file
    @id log_sink
    path ${blocker}/log
    <buffer tag>
      flush_mode immediate
      retry_wait 0.05
      retry_max_interval 0.1
      retry_randomize false
      retry_forever true
    </buffer>
  </match>`;
  return layout === 'label' ? `<label @FLUENT_LOG>${match}\n</label>` : match;
}

describe('own logs as events with a failing destination', () => {
  it.each(['label', 'root'] as const)('%s: does not feed the destination\'s own failure logs back into it', async (layout) => {
    const dir = mkdtempSync(join(tmpdir(), 'logferry-fluentlog-'));
    const blocker = join(dir, 'blocked');
    writeFileSync(blocker, 'a regular file where the output needs a directory');
    const [httpPort, monPort] = [await freePort(), await freePort()];
    daemon = await startDaemon(`
<source>
  @type http
  @id in_http
  port ${httpPort}
  bind 127.0.0.1
</source>
<source>
  @type monitor_agent
  @id monitor
  port ${monPort}
  bind 127.0.0.1
</source>
${logSink(layout, blocker)}
`);
    // a warning ("no patterns matched") becomes a log event; the sink cannot write it and retries
    expect((await post(httpPort, 'nomatch.first')).status).toBe(200);
    await waitFor(async () => (await sinkStats(monPort, 'log_sink')).retry_count >= 2, 10000, 'the log sink retrying');
    const before = await sinkStats(monPort, 'log_sink');
    await waitFor(async () => (await sinkStats(monPort, 'log_sink')).retry_count >= before.retry_count + 10, 15000, 'ten more retries');
    const after = await sinkStats(monPort, 'log_sink');
    // each retry logged a warning on stdout, and none of them went back into the sink
    const failures = daemon.stdout().split('\n').filter((l) => l.includes('[log_sink] failed to flush the buffer.'));
    expect(failures.length).toBeGreaterThanOrEqual(after.retry_count - 1);
    expect(after.emit_records).toBe(before.emit_records);

    // other warnings still reach the log destination
    expect((await post(httpPort, 'nomatch.second')).status).toBe(200);
    await waitFor(async () => (await sinkStats(monPort, 'log_sink')).emit_records === before.emit_records + 1, 5000, 'the second warning in the sink');

    // once the destination works, the buffered log events are written
    unlinkSync(blocker);
    mkdirSync(blocker);
    const written = () => readdirSync(blocker).map((f) => readFileSync(join(blocker, f), 'utf8')).join('');
    await waitFor(() => written().includes('nomatch.second'), 10000, 'the log events in the log file');
    expect(written()).not.toContain('failed to flush the buffer');
    expect(await daemon.stop()).toBe(0);
    daemon = null;
  });
});
