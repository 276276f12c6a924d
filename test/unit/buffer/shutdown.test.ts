import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../../src/core/agent.js';
import { EventStream } from '../../../src/core/event-stream.js';
import { buildBuffered, buildFromText, sink, sinkRecords, type BufferedHarness, type HarnessOptions } from '../../helpers/agent.js';
import { waitFor } from '../../helpers/wait.js';

const open: BufferedHarness[] = [];
const agents: Agent[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.out.close();
  for (const a of agents.splice(0)) await a.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'logferry-shutdown-'));
  dirs.push(d);
  return d;
}

function harness(body: string, o: HarnessOptions = {}): BufferedHarness {
  const h = buildBuffered(body, o);
  open.push(h);
  return h;
}

const T = 1_700_000_000;
const FAST = 'flush_thread_interval 0.02\n flush_thread_burst_interval 0.01';
const chunkFiles = (dir: string) => readdirSync(dir).filter((f) => /^buffer\.[bq][0-9a-f]{32}\.log$/.test(f)).sort();

describe('memory buffer at shutdown', () => {
  it('flushes what is staged at stop (flush_at_shutdown defaults to true), beside a write that never returns', async () => {
    const h = harness(`@type test_sink\n<buffer tag>\n flush_mode lazy\n chunk_limit_records 2\n ${FAST}\n</buffer>`, { runtime: { shutdownDeadlineSec: 1 } });
    await h.out.start();
    sink('out').gate = new Promise(() => undefined); // nothing is written before stop…
    await h.emit('a', [{ n: 1 }, { n: 2 }, { n: 3 }], T);
    await h.emit('b', [{ n: 4 }], T);
    await waitFor(() => h.out.buffer.dequeued.size === 1, 2000, 'the full chunk held in flight');
    sink('out').gate = null; // …and the held write never ends, so stop must not wait for it
    await h.out.stop();
    expect(sinkRecords('out').map((r) => r.n).sort()).toEqual([3, 4]);
    expect(h.logs()).toContain('a buffer flush did not finish before the shutdown deadline');
  });

  it('flushes staged chunks in order, each once, and stops on the first failure', async () => {
    const ok = harness(`@type test_sink\n<buffer tag>\n flush_mode lazy\n ${FAST}\n</buffer>`, { id: 'ok' });
    await ok.out.start();
    for (const tag of ['a', 'b', 'c']) await ok.emit(tag, [{ tag }], T);
    await ok.out.stop();
    expect(sink('ok').chunks.map((c) => c.metadata.tag)).toEqual(['a', 'b', 'c']);
    expect(ok.out.buffer.totalBytes).toBe(0);
    expect(ok.logs()).not.toContain('lost');
    expect(sink('ok').lifecycle).toEqual(['start', 'stop']);

    const failing = harness(`@type test_sink\nfail_times 1\n<buffer tag>\n flush_mode lazy\n ${FAST}\n</buffer>`, { id: 'failing' });
    await failing.out.start();
    for (const tag of ['a', 'b', 'c']) await failing.emit(tag, [{ tag }], T);
    await failing.out.stop();
    expect(sink('failing').attempts).toHaveLength(1);
    expect(failing.logs()).toContain('memory buffer chunks could not be flushed at shutdown and are lost chunks=3 records=3');
  });

  it('gives a chunk waiting for its retry one more try at stop', async () => {
    const h = harness(`@type test_sink\nfail_times 1\n<buffer>\n flush_mode immediate\n retry_wait 60\n ${FAST}\n</buffer>`);
    await h.out.start();
    await h.emit('a', [{ n: 1 }], T);
    await waitFor(() => h.out.retry !== null, 2000, 'the first failure');
    expect(h.out.buffer.queue).toHaveLength(1);
    await h.out.stop();
    expect(sinkRecords('out')).toEqual([{ n: 1 }]);
    expect(h.out.buffer.totalBytes).toBe(0);
  });

  it('with flush_at_shutdown false, warns at configure time and reports the loss', async () => {
    const r = buildFromText('<match **>\n  @type test_sink\n  <buffer>\n    flush_at_shutdown false\n  </buffer>\n</match>\n');
    expect(r.warnings.join('\n')).toContain('flush_at_shutdown false with a memory buffer loses buffered events at shutdown');
    const h = harness(`@type test_sink\n<buffer>\n flush_at_shutdown false\n flush_mode lazy\n ${FAST}\n</buffer>`);
    await h.out.start();
    await h.emit('a', [{ n: 1 }], T);
    await h.out.stop();
    expect(sink('out').attempts).toHaveLength(0);
    expect(h.logs()).toContain('memory buffer chunks could not be flushed at shutdown and are lost chunks=1 records=1');
  });

  it('stop() ends within the deadline when the final flush hangs', async () => {
    const h = harness(`@type test_sink\nhang true\n<buffer>\n flush_mode lazy\n ${FAST}\n</buffer>`, { runtime: { shutdownDeadlineSec: 0.5 } });
    await h.out.start();
    await h.emit('a', [{ n: 1 }], T);
    const t0 = Date.now();
    await h.out.stop();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(2000);
    expect(h.logs()).toContain('a buffer flush did not finish before the shutdown deadline; not waiting for it');
    expect(h.logs()).toContain('memory buffer chunks could not be flushed at shutdown and are lost chunks=1 records=1');
  });

  it('stop() ends within the deadline when a flush worker is stuck in a write', async () => {
    const h = harness(`@type test_sink\nhang true\n<buffer>\n flush_mode immediate\n ${FAST}\n</buffer>`, { runtime: { shutdownDeadlineSec: 0.5 } });
    await h.out.start();
    await h.emit('a', [{ n: 1 }], T);
    await waitFor(() => h.out.buffer.dequeued.size === 1, 2000, 'the stuck write');
    const t0 = Date.now();
    await h.out.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(h.out.buffer.queue).toHaveLength(1); // taken back, not lost silently
    expect(h.logs()).toContain('memory buffer chunks could not be flushed at shutdown and are lost chunks=1 records=1');
  });

  it('cancels delayed commits still pending at the deadline', async () => {
    const h = harness(`@type test_sink\ndelayed true\n<buffer>\n flush_mode immediate\n ${FAST}\n</buffer>`, { runtime: { shutdownDeadlineSec: 0.3 } });
    await h.out.start();
    await h.emit('a', [{ n: 1 }], T);
    await waitFor(() => sink('out').pending.size === 1, 2000, 'tryWrite');
    await h.out.stop();
    expect(h.logs()).toMatch(/delayed commit for buffer chunks was cancelled in shutdown chunks=\["[0-9a-f]{32}"\]/);
    expect(h.out.buffer.dequeued.size).toBe(0);
    expect(h.out.buffer.queue).toHaveLength(1);
  });

  it('tries a failing delayed-commit chunk once at stop instead of spinning until the deadline', async () => {
    const h = harness(`@type test_sink\ndelayed true\nfail_times 100\n<buffer>\n flush_mode immediate\n retry_wait 60\n ${FAST}\n</buffer>`, { runtime: { shutdownDeadlineSec: 5 } });
    await h.out.start();
    await h.emit('a', [{ n: 1 }], T);
    await waitFor(() => h.out.retry !== null, 2000, 'the first failure');
    const t0 = Date.now();
    await h.out.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(sink('out').attempts).toHaveLength(2);
  });

  it('stop and close are safe without start and when repeated', async () => {
    const h = harness(`@type test_sink\n<buffer>\n ${FAST}\n</buffer>`);
    await Promise.all([h.out.stop(), h.out.stop()]);
    await h.out.close();
    await h.out.close();
    expect(sink('out').lifecycle).toEqual(['stop', 'close']);
  });
});

describe('file buffer at shutdown', () => {
  const config = (dir: string, sinkParams: string, extra = '') => `
<match app.**>
  @type test_sink
  @id sink
  ${sinkParams}
  <buffer tag>
    @type file
    path ${dir}
    flush_mode lazy
    chunk_limit_records 2
    retry_wait 60
    ${FAST.replace('\n', '\n    ')}
    ${extra}
  </buffer>
</match>
`;

  async function startAgent(text: string): Promise<ReturnType<typeof buildFromText>> {
    const r = buildFromText(text);
    expect(r.problems).toEqual([]);
    agents.push(r.agent!);
    await r.agent!.start();
    return r;
  }

  it('is left on disk at stop (flush_at_shutdown defaults to false) and delivered by the next agent', async () => {
    const dir = tempDir();
    const first = await startAgent(config(dir, 'fail_times 100'));
    await first.agent!.emit('app.full', EventStream.fromEvents([{ time: T, record: { n: 1 } }, { time: T, record: { n: 2 } }]));
    await first.agent!.emit('app.staged', EventStream.single(T, { n: 3 }));
    await waitFor(() => sink('sink').attempts.length === 1, 2000, 'a failed attempt');
    await first.agent!.stop();
    expect(sink('sink').chunks).toHaveLength(0);
    const files = chunkFiles(dir);
    expect(files.map((f) => f[7])).toEqual(['b', 'q']);

    const second = await startAgent(config(dir, ''));
    await waitFor(() => sinkRecords('sink').length === 2, 3000, 'the queued chunk');
    expect(sink('sink').chunks[0]!.metadata.tag).toBe('app.full');
    expect(second.logs()).toContain('resumed buffer chunks chunks=2 queued=1');
    await second.agent!.flushAll(); // SIGUSR1: the staged chunk too
    await waitFor(() => sinkRecords('sink').length === 3, 3000, 'the staged chunk');
    expect(sinkRecords('sink').map((r) => r.n)).toEqual([1, 2, 3]);
    expect(sink('sink').chunks.map((c) => c.hexId)).toEqual([files[1]!.slice(8, 40), files[0]!.slice(8, 40)]);
    await waitFor(() => chunkFiles(dir).length === 0, 2000, 'chunk files removed');
  });

  it('is flushed at stop with flush_at_shutdown true', async () => {
    const dir = tempDir();
    const r = await startAgent(config(dir, '', 'flush_at_shutdown true'));
    await r.agent!.emit('app.x', EventStream.single(T, { n: 1 }));
    expect(chunkFiles(dir)).toHaveLength(1);
    await r.agent!.stop();
    expect(sinkRecords('sink')).toEqual([{ n: 1 }]);
    expect(chunkFiles(dir)).toHaveLength(0);
  });
});
