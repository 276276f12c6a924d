import { afterEach, describe, expect, it } from 'vitest';
import { buildBuffered, holdSink, manualClock, sink, sinkRecords, type BufferedHarness, type HarnessOptions } from '../../helpers/agent.js';
import { waitFor } from '../../helpers/wait.js';

const open: BufferedHarness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.out.close();
});

async function started(body: string, o: HarnessOptions = {}): Promise<BufferedHarness> {
  const h = buildBuffered(body, o);
  open.push(h);
  await h.out.start();
  return h;
}

/** Proves that something does not happen: there is no event to wait for, only time passing. */
const quiet = (ms = 300) => new Promise((r) => setTimeout(r, ms));

const records = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ n: from + i }));
const ns = (id = 'out') => sinkRecords(id).map((r) => r.n as number);

describe('flush_mode immediate', () => {
  it('flushes every write as its own chunk at once', async () => {
    const h = await started('@type test_sink\n<buffer>\n flush_mode immediate\n flush_thread_interval 5\n</buffer>');
    await h.emit('a', records(0, 3));
    await waitFor(() => sink('out').chunks.length === 1, 2000, 'first chunk');
    await h.emit('a', records(3, 2));
    await waitFor(() => sink('out').chunks.length === 2, 2000, 'second chunk');
    expect(sink('out').chunks.map((c) => c.records.length)).toEqual([3, 2]);
    expect(ns()).toEqual([0, 1, 2, 3, 4]);
    expect(h.metrics.write_count).toBe(2);
    expect([h.out.buffer.totalBytes, h.out.buffer.stageBytes, h.out.buffer.queueBytes]).toEqual([0, 0, 0]);
  });
});

describe('flush_mode interval', () => {
  it('enqueues a staged chunk once flush_interval has passed since it was created', async () => {
    const clock = manualClock();
    const h = await started('@type test_sink\n<buffer>\n flush_mode interval\n flush_interval 2\n flush_thread_interval 0.05\n</buffer>', { runtime: { clock } });
    await h.emit('a', records(0, 3));
    await quiet();
    expect(sink('out').chunks).toHaveLength(0);
    expect(h.out.buffer.stage.size).toBe(1);
    clock.advance(2);
    await waitFor(() => sink('out').chunks.length === 1, 3000, 'interval flush');
    expect(ns()).toEqual([0, 1, 2]);
    expect(h.out.buffer.totalBytes).toBe(0);
  });

  it('is the default mode without a time key', async () => {
    const clock = manualClock();
    const h = await started('@type test_sink\n<buffer>\n flush_interval 5\n flush_thread_interval 0.05\n</buffer>', { runtime: { clock } });
    await h.emit('a', records(0, 1));
    clock.advance(4);
    await quiet();
    expect(sink('out').chunks).toHaveLength(0);
    clock.advance(1.5);
    await waitFor(() => sink('out').chunks.length === 1, 3000, 'flush after 5 s');
  });
});

describe('flush_mode lazy', () => {
  it('with a time key, enqueues a range once timekey + timekey_wait has passed; newer ranges wait', async () => {
    const T = 1_700_000_000; // a multiple of 10
    const clock = manualClock(T + 5);
    const h = await started('@type test_sink\n<buffer time>\n timekey 10\n timekey_wait 3\n flush_thread_interval 0.05\n</buffer>', { runtime: { clock } });
    await h.emit('a', [{ n: 0 }], T + 1);
    await h.emit('a', [{ n: 1 }], T + 9);
    await h.emit('a', [{ n: 2 }], T + 10);
    expect(h.out.buffer.stage.size).toBe(2);
    clock.t = T + 12.9;
    await quiet();
    expect(sink('out').chunks).toHaveLength(0);
    clock.t = T + 13; // end of [T, T+10) + timekey_wait
    await waitFor(() => sink('out').chunks.length === 1, 3000, 'first range');
    expect(sink('out').chunks[0]!.metadata.timekey).toBe(T);
    expect(ns()).toEqual([0, 1]);
    expect([...h.out.buffer.stage.values()].map((c) => c.metadata.timekey)).toEqual([T + 10]);
    clock.t = T + 23;
    await waitFor(() => sink('out').chunks.length === 2, 3000, 'second range');
    expect(ns()).toEqual([0, 1, 2]);
  });

  it('without a time key, only full chunks are flushed; flushNow (SIGUSR1) takes the rest', async () => {
    const h = await started('@type test_sink\n<buffer tag>\n flush_mode lazy\n chunk_limit_records 4\n flush_thread_interval 0.05\n flush_thread_burst_interval 0.01\n</buffer>');
    await h.emit('a', records(0, 6));
    await h.emit('b', records(6, 1));
    await waitFor(() => sink('out').chunks.length === 1, 2000, 'the full chunk');
    await quiet();
    expect(sink('out').chunks.map((c) => c.records.length)).toEqual([4]);
    expect(h.out.buffer.stage.size).toBe(2);
    await h.out.flushNow();
    await waitFor(() => sink('out').chunks.length === 3, 2000, 'everything staged');
    expect(ns().sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(sink('out').chunks.map((c) => c.metadata.tag).sort()).toEqual(['a', 'a', 'b']);
    expect(h.out.buffer.totalBytes).toBe(0);
  });
});

describe('queued_chunks_limit_size', () => {
  it('pauses interval enqueueing while that many chunks are queued; full chunks still go in', async () => {
    const clock = manualClock();
    const h = await started('@type test_sink\n<buffer tag>\n flush_mode interval\n flush_interval 1\n queued_chunks_limit_size 1\n chunk_limit_records 3\n flush_thread_interval 0.05\n flush_thread_burst_interval 0.01\n</buffer>', { runtime: { clock } });
    const release = holdSink('out');
    for (const tag of ['a', 'b', 'c']) await h.emit(tag, [{ tag }]);
    clock.advance(2);
    // a is being written (held), b waits in the queue, c stays staged
    await waitFor(() => h.out.buffer.dequeued.size === 1 && h.out.buffer.queue.length === 1, 3000, 'one in flight, one queued');
    await quiet();
    expect(h.out.buffer.queue.length).toBe(1);
    expect([...h.out.buffer.stage.values()].map((c) => c.metadata.tag)).toEqual(['c']);
    await h.emit('d', records(0, 3)); // full: enqueued regardless of the limit
    expect(h.out.buffer.queue.map((c) => c.metadata.tag)).toEqual(['b', 'd']);
    release();
    await waitFor(() => sink('out').chunks.length === 4, 3000, 'all four chunks');
    expect(sink('out').chunks.map((c) => c.metadata.tag)).toEqual(['a', 'b', 'd', 'c']);
    expect(h.out.buffer.totalBytes).toBe(0);
  });
});

describe('flush_thread_count', () => {
  it('flushes that many chunks in parallel', async () => {
    const h = await started('@type test_sink\n<buffer tag>\n flush_mode immediate\n flush_thread_count 3\n flush_thread_interval 0.05\n flush_thread_burst_interval 0.01\n</buffer>');
    const release = holdSink('out');
    for (const tag of ['a', 'b', 'c', 'd']) await h.emit(tag, [{ tag }]);
    await waitFor(() => h.out.buffer.dequeued.size === 3, 2000, 'three writes at once');
    expect(h.out.buffer.queue.length).toBe(1);
    release();
    await waitFor(() => sink('out').chunks.length === 4, 2000, 'all delivered');
  });
});
