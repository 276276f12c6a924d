import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeAll } from '../../../src/protocol/msgpack.js';
import {
  buildBuffered, commitPending, manualClock, rollbackPending, sink, sinkRecords, type BufferedHarness, type HarnessOptions,
} from '../../helpers/agent.js';
import { waitFor } from '../../helpers/wait.js';

const open: BufferedHarness[] = [];
const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const h of open.splice(0)) await h.out.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'logferry-retry-'));
  dirs.push(d);
  return d;
}

async function started(body: string, o: HarnessOptions = {}): Promise<BufferedHarness> {
  const h = buildBuffered(body, o);
  open.push(h);
  await h.out.start();
  return h;
}

/** Proves that something does not happen: there is no event to wait for, only time passing. */
const quiet = (ms = 250) => new Promise((r) => setTimeout(r, ms));
const attempts = (id = 'out') => sink(id).attempts.length;
const count = (text: string, what: string) => text.split(what).length - 1;

const FAST = 'flush_mode immediate\n flush_thread_interval 0.02\n flush_thread_burst_interval 0.01\n retry_randomize false';

describe('retry', () => {
  it('retries a failing write on the backoff schedule and delivers it once', async () => {
    const clock = manualClock();
    const h = await started(`@type test_sink\nfail_times 3\n<buffer>\n ${FAST}\n retry_wait 1\n</buffer>`, { runtime: { clock } });
    await h.emit('a', [{ n: 1 }, { n: 2 }]);
    await waitFor(() => attempts() === 1, 2000, 'first attempt');
    for (const [gap, n] of [[1, 2], [2, 3], [4, 4]] as const) {
      clock.advance(gap - 0.01);
      await quiet();
      expect(attempts()).toBe(n - 1); // not before the retry is due
      clock.advance(0.01);
      await waitFor(() => attempts() === n, 2000, `attempt ${n}`);
    }
    await waitFor(() => sink('out').chunks.length === 1, 2000, 'delivery');
    expect(sinkRecords('out')).toEqual([{ n: 1 }, { n: 2 }]);
    expect(sink('out').attempts.map((a) => a.ok)).toEqual([false, false, false, true]);
    expect(h.out.retry).toBeNull();
    expect([h.metrics.retry_count, h.metrics.rollback_count, h.metrics.write_count]).toEqual([3, 3, 4]);
    const logs = h.logs();
    expect(count(logs, 'failed to flush the buffer.')).toBe(3);
    expect(logs).toMatch(/failed to flush the buffer\. retry_times=2 next_retry_time="[^"]+" chunk="[0-9a-f]{32}" error="test_sink write failed"/);
    expect(logs).toContain(`retry succeeded. chunk_id="${sink('out').chunks[0]!.hexId}" retry_times=2`);
    expect(h.out.buffer.totalBytes).toBe(0);
  });

  it('gives up after retry_max_times and moves every queued chunk to the backup dir; staged chunks stay', async () => {
    const clock = manualClock();
    const root = tempDir();
    const h = await started(`@type test_sink\nfail_times 100\n<buffer tag>\n ${FAST}\n flush_mode lazy\n chunk_limit_records 2\n retry_wait 1\n retry_max_times 2\n</buffer>`, { runtime: { clock }, rootDir: root });
    await h.emit('app.one', [{ n: 1 }, { n: 2 }]); // full: queued
    await h.emit('app.two', [{ n: 3 }, { n: 4 }]); // full: queued
    await h.emit('app.staged', [{ n: 5 }]); // stays staged
    await waitFor(() => attempts() === 1, 2000, 'first attempt');
    clock.advance(1);
    await waitFor(() => attempts() === 2, 2000, 'retry 1');
    clock.advance(2);
    await waitFor(() => attempts() === 3, 2000, 'retry 2');
    const dir = join(root, 'backup', 'worker0', 'out');
    await waitFor(() => existsSync(dir) && readdirSync(dir).length === 4, 2000, 'two backups with metadata');
    await quiet();
    expect(attempts()).toBe(3); // 1 + retry_max_times
    const files = readdirSync(dir).sort();
    expect(files.filter((f) => f.endsWith('.log'))).toHaveLength(2);
    const byTag = new Map<string, number[]>();
    for (const f of files.filter((x) => x.endsWith('.log'))) {
      expect(f).toMatch(/^[0-9a-f]{32}\.log$/);
      const meta = JSON.parse(readFileSync(join(dir, `${f}.meta.json`), 'utf8')) as { tag: string; id: string; records: number };
      expect(meta.id).toBe(f.slice(0, 32));
      expect(meta.records).toBe(2);
      byTag.set(meta.tag, (decodeAll(readFileSync(join(dir, f))) as Array<[unknown, { n: number }]>).map((e) => e[1].n));
      expect(h.logs()).toContain(`bad chunk is moved to backup file chunk="${f.slice(0, 32)}" tag="${meta.tag}" records=2 error="test_sink write failed" path="${join(dir, f)}"`);
    }
    expect(Object.fromEntries(byTag)).toEqual({ 'app.one': [1, 2], 'app.two': [3, 4] });
    expect(h.logs()).toContain('Hit limit for retries. dropping all chunks in the buffer queue. retry_times=2 records=4');
    expect(h.out.retry).toBeNull();
    expect(h.out.buffer.queue.length + h.out.buffer.dequeued.size).toBe(0);
    expect([...h.out.buffer.stage.values()].map((c) => c.metadata.tag)).toEqual(['app.staged']);
    expect(h.out.buffer.totalBytes).toBe(h.out.buffer.stageBytes);
    expect(h.metrics.dropped.get('backup')).toBe(4);
  });

  it('retry_max_times 0 gives up at the first failure', async () => {
    const root = tempDir();
    const h = await started(`@type test_sink\nfail_times 100\n<buffer>\n ${FAST}\n retry_max_times 0\n</buffer>`, { rootDir: root });
    await h.emit('a', [{ n: 1 }]);
    await waitFor(() => h.logs().includes('bad chunk is moved to backup file'), 2000, 'backup');
    expect(attempts()).toBe(1);
    expect(readdirSync(join(root, 'backup', 'worker0', 'out'))).toHaveLength(2);
  });

  it('switches to <secondary> at retry_secondary_threshold of the budget', async () => {
    const clock = manualClock();
    const h = await started(`@type test_sink\nfail_times 100\n<buffer tag>\n ${FAST}\n retry_wait 1\n retry_max_times 2\n</buffer>\n<secondary>\n @type test_sink\n</secondary>`, { runtime: { clock } });
    expect(sink('out.secondary').lifecycle).toEqual(['start']);
    await h.emit('app', [{ n: 1 }]);
    await waitFor(() => attempts() === 1, 2000, 'first attempt');
    clock.advance(1);
    await waitFor(() => attempts() === 2, 2000, 'retry 1 on the primary');
    // budget = 1 + 2 = 3 s of retries; 80 % of it = 2.4 s after the first failure
    clock.advance(1.39);
    await quiet();
    expect(sink('out.secondary').attempts).toHaveLength(0);
    clock.advance(0.01);
    await waitFor(() => sinkRecords('out.secondary').length === 1, 2000, 'secondary delivery');
    expect(sink('out.secondary').chunks[0]!.metadata.tag).toBe('app');
    expect(attempts()).toBe(2);
    expect(h.out.write_secondary_count).toBe(1);
    expect(h.out.retry).toBeNull();
    expect(h.logs()).toContain('retry succeeded.');
    await h.out.close();
    expect(sink('out.secondary').lifecycle).toEqual(['start', 'stop', 'close']);
  });

  it('backs up when the secondary fails too, without trying it again', async () => {
    const clock = manualClock();
    const root = tempDir();
    const h = await started(`@type test_sink\nfail_times 100\n<buffer>\n ${FAST}\n retry_wait 1\n retry_max_times 2\n</buffer>\n<secondary>\n @type test_sink\n fail_times 100\n</secondary>`, { runtime: { clock }, rootDir: root });
    await h.emit('app', [{ n: 1 }]);
    await waitFor(() => attempts() === 1, 2000, 'first attempt');
    clock.advance(1);
    await waitFor(() => attempts() === 2, 2000, 'retry 1');
    clock.advance(1.4);
    await waitFor(() => h.logs().includes('bad chunk is moved to backup file'), 2000, 'backup');
    expect(sink('out.secondary').attempts).toHaveLength(1);
    expect(readdirSync(join(root, 'backup', 'worker0', 'out'))).toHaveLength(2);
  });

  it('a stdout <secondary> prints the chunk', async () => {
    const printed: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { printed.push(String(s)); return true; });
    const clock = manualClock();
    const h = await started(`@type test_sink\nfail_times 100\n<buffer tag>\n ${FAST}\n retry_wait 1\n retry_max_times 1\n</buffer>\n<secondary>\n @type stdout\n</secondary>`, { runtime: { clock } });
    await h.emit('app.x', [{ msg: 'to stdout' }]);
    await waitFor(() => attempts() === 1, 2000, 'first attempt');
    clock.advance(1); // budget 1 s, switch at 0.8 s: the first retry (at +1 s) goes to stdout
    await waitFor(() => printed.join('').includes('app.x: {"msg":"to stdout"}'), 2000, 'stdout line');
    expect(h.out.retry).toBeNull();
    expect(h.out.buffer.totalBytes).toBe(0);
  });
});

describe('unrecoverable and throttled errors', () => {
  it('UnrecoverableError skips retries: straight to the backup, with an error log', async () => {
    const root = tempDir();
    const h = await started(`@type test_sink\nfail_times 1\nfail_with unrecoverable\n<buffer>\n ${FAST}\n</buffer>`, { rootDir: root });
    await h.emit('a', [{ n: 1 }]);
    await waitFor(() => h.logs().includes('bad chunk is moved to backup file'), 2000, 'backup');
    expect(attempts()).toBe(1);
    expect(h.out.retry).toBeNull();
    expect(h.metrics.retry_count).toBe(0);
    expect(h.logs()).toMatch(/got unrecoverable error; the chunk is not retried chunk="[0-9a-f]{32}" records=1 error="test_sink refuses chunk/);
    await h.emit('a', [{ n: 2 }]);
    await waitFor(() => sinkRecords('out').length === 1, 2000, 'the next chunk');
    expect(sinkRecords('out')).toEqual([{ n: 2 }]);
    expect(readdirSync(join(root, 'backup', 'worker0', 'out'))).toHaveLength(2);
  });

  it('UnrecoverableError goes to a <secondary> of another type, never one of the same type', async () => {
    const printed: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { printed.push(String(s)); return true; });
    const other = await started(`@type test_sink\nfail_times 1\nfail_with unrecoverable\n<buffer tag>\n ${FAST}\n</buffer>\n<secondary>\n @type stdout\n</secondary>`, { id: 'other' });
    await other.emit('t.other', [{ n: 1 }]);
    await waitFor(() => printed.join('').includes('t.other: {"n":1}'), 2000, 'stdout line');
    expect(other.out.write_secondary_count).toBe(1);

    const root = tempDir();
    const same = await started(`@type test_sink\nfail_times 1\nfail_with unrecoverable\n<buffer>\n ${FAST}\n</buffer>\n<secondary>\n @type test_sink\n</secondary>`, { id: 'same', rootDir: root });
    await same.emit('t.same', [{ n: 1 }]);
    await waitFor(() => same.logs().includes('bad chunk is moved to backup file'), 2000, 'backup');
    expect(sink('same.secondary').attempts).toHaveLength(0);
  });

  it('ThrottledError holds the next attempt back for its retry-after, beyond retry_wait', async () => {
    const clock = manualClock();
    const h = await started(`@type test_sink\nfail_times 1\nfail_with throttled\nthrottle_ms 400\n<buffer>\n ${FAST}\n retry_wait 0.01\n</buffer>`, { runtime: { clock } });
    await h.emit('a', [{ n: 1 }]);
    await waitFor(() => attempts() === 1, 2000, 'first attempt');
    clock.advance(0.39);
    await quiet();
    expect(attempts()).toBe(1);
    clock.advance(0.02);
    await waitFor(() => sinkRecords('out').length === 1, 2000, 'delivery after the throttle');
    expect(h.metrics.retry_count).toBe(1);
  });
});

describe('delayed commit (tryWrite)', () => {
  const DELAYED = `@type test_sink\ndelayed true\n<buffer>\n ${FAST}\n retry_wait 1\n delayed_commit_timeout 5\n</buffer>`;

  it('keeps the chunk until the plugin commits it', async () => {
    const h = await started(DELAYED);
    await h.emit('a', [{ n: 1 }]);
    await waitFor(() => sink('out').pending.size === 1, 2000, 'tryWrite');
    const [hexId] = [...sink('out').pending.keys()];
    expect(h.out.buffer.dequeued.get(hexId!)?.awaitingCommit).toBe(true);
    expect(h.out.buffer.totalBytes).toBeGreaterThan(0);
    commitPending('out', hexId!);
    await waitFor(() => h.out.buffer.dequeued.size === 0, 2000, 'purge');
    h.out.commit(hexId!); // a second commit changes nothing
    expect(sinkRecords('out')).toEqual([{ n: 1 }]);
    expect(h.out.buffer.totalBytes).toBe(0);
    expect(h.out.buffer.queue.length).toBe(0);
  });

  it('a rollback puts the chunk back and retries it', async () => {
    const clock = manualClock();
    const h = await started(DELAYED, { runtime: { clock } });
    await h.emit('a', [{ n: 1 }]);
    await waitFor(() => sink('out').pending.size === 1, 2000, 'tryWrite');
    const [hexId] = [...sink('out').pending.keys()];
    rollbackPending('out', hexId!);
    expect(h.out.buffer.queue.map((c) => c.hexId)).toEqual([hexId]);
    expect(h.metrics.rollback_count).toBe(1);
    clock.advance(1);
    await waitFor(() => sink('out').pending.size === 1, 2000, 'second tryWrite');
    commitPending('out', hexId!);
    await waitFor(() => h.out.buffer.totalBytes === 0, 2000, 'purge');
    expect(sinkRecords('out')).toEqual([{ n: 1 }]);
    expect(h.out.retry).toBeNull();
  });

  it('rolls back a chunk not committed within delayed_commit_timeout', async () => {
    const clock = manualClock();
    const h = await started(DELAYED, { runtime: { clock } });
    await h.emit('a', [{ n: 1 }]);
    await waitFor(() => sink('out').pending.size === 1, 2000, 'tryWrite');
    clock.advance(4.9);
    await quiet();
    expect(h.metrics.rollback_count).toBe(0);
    sink('out').autoCommit = true;
    clock.advance(0.2);
    await waitFor(() => h.metrics.rollback_count === 1, 2000, 'timeout rollback');
    expect(h.logs()).toContain('failed to flush the buffer chunk, timeout to commit.');
    clock.advance(1);
    await waitFor(() => sinkRecords('out').length === 1, 2000, 'resent and committed');
    expect(attempts()).toBe(2);
    expect(h.metrics.retry_count).toBe(1);
    expect(h.out.buffer.totalBytes).toBe(0);
  });
});
