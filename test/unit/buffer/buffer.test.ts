import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkBuffer, type BufferLimits } from '../../../src/buffer/buffer.js';
import type { Chunk, ChunkMetadata, ChunkStorage } from '../../../src/buffer/chunk.js';
import { FileStorage } from '../../../src/buffer/file.js';
import { MemoryStorage } from '../../../src/buffer/memory.js';
import type { Agent } from '../../../src/core/agent.js';
import { EventStream } from '../../../src/core/event-stream.js';
import { EventTime } from '../../../src/core/event-time.js';
import { decodeAll, encode } from '../../../src/protocol/msgpack.js';
import { buildFromText, captured, sinkRecords } from '../../helpers/agent.js';
import { waitFor } from '../../helpers/wait.js';

const META: ChunkMetadata = { tag: 'app', timekey: null, variables: null, seq: 0 };
const silent = pino({ level: 'silent' });

function limits(over: Partial<BufferLimits> = {}): BufferLimits {
  return { chunkLimitSize: 1000, chunkLimitRecords: null, totalLimitSize: 1 << 30, chunkFullThreshold: 0.95, compress: false, ...over };
}

/** One packed entry whose encoded size is exactly `size` bytes (size ≥ 40). */
function entry(n: number, size = 50): Buffer {
  for (let pad = size; pad >= 0; pad--) {
    const e = encode([new EventTime(1700000000, 0), { n, pad: 'x'.repeat(pad) }]);
    if (e.length === size) return e;
  }
  throw new Error(`no entry of ${size} bytes`);
}

function entries(count: number, size = 50, from = 0): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, i) => entry(from + i, size)));
}

async function numbersIn(chunks: Chunk[]): Promise<number[][]> {
  const out: number[][] = [];
  for (const c of chunks) {
    const values = decodeAll(await c.read()) as Array<[unknown, { n: number }]>;
    expect(values).toHaveLength(c.records);
    out.push(values.map((v) => v[1].n));
  }
  return out;
}

/** The counters agree with the chunks they count, and none is negative. */
function expectAccounting(b: ChunkBuffer): void {
  const sum = (cs: Iterable<Chunk>) => [...cs].reduce((n, c) => n + c.bytes, 0);
  expect(b.stageBytes).toBe(sum(b.stage.values()));
  expect(b.queueBytes).toBe(sum(b.queue));
  expect(b.totalBytes).toBe(b.stageBytes + b.queueBytes + sum([...b.dequeued.values()].map((d) => d.chunk)));
  expect(Math.min(b.stageBytes, b.queueBytes)).toBeGreaterThanOrEqual(0);
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'logferry-buf-'));
  dirs.push(d);
  return d;
}
const agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('ChunkBuffer writes', () => {
  it('splits a stream larger than chunk_limit_size at entry boundaries, keeping every entry in order', async () => {
    const b = new ChunkBuffer(new MemoryStorage(), limits());
    const oversized = await b.write(META, entries(100), 100); // 5000 bytes, 50 per entry
    expect(oversized).toEqual([]);
    const chunks = [...b.queue, ...b.stage.values()];
    expect(chunks.length).toBe(5);
    for (const c of chunks) expect(c.bytes).toBeLessThanOrEqual(1000);
    expect((await numbersIn(chunks)).flat()).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(b.queue.length).toBe(5); // each one reached 95 % (1000 bytes): enqueued at once
    expectAccounting(b);
  });

  it('tops up the staged chunk first, then continues in new ones', async () => {
    const b = new ChunkBuffer(new MemoryStorage(), limits());
    await b.write(META, entries(4), 4); // 200 bytes staged
    await b.write(META, entries(30, 50, 4), 30); // 1500 more
    const chunks = [...b.queue, ...b.stage.values()];
    expect(chunks.map((c) => c.records)).toEqual([20, 14]);
    expect((await numbersIn(chunks)).flat()).toEqual(Array.from({ length: 34 }, (_, i) => i));
    expectAccounting(b);
  });

  it('honours chunk_limit_records', async () => {
    const b = new ChunkBuffer(new MemoryStorage(), limits({ chunkLimitRecords: 10 }));
    await b.write(META, entries(25), 25);
    expect(b.queue.map((c) => c.records)).toEqual([10, 10]);
    expect([...b.stage.values()].map((c) => c.records)).toEqual([5]);
    expect((await numbersIn([...b.queue, ...b.stage.values()])).flat()).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });

  it('refuses only an entry that alone is over the chunk limit, and stores the others', async () => {
    const b = new ChunkBuffer(new MemoryStorage(), limits());
    const big = entry(1, 1500);
    const oversized = await b.write(META, Buffer.concat([entry(0), big, entry(2), entry(3)]), 4);
    expect(oversized).toEqual([{ entry: big, size: 1500, nth: 1 }]);
    const chunks = [...b.queue, ...b.stage.values()];
    expect((await numbersIn(chunks)).flat()).toEqual([0, 2, 3]);
    expect(b.totalBytes).toBe(150);
    expectAccounting(b);
  });

  it('enqueues a chunk as soon as it reaches chunk_full_threshold, not before', async () => {
    const b = new ChunkBuffer(new MemoryStorage(), limits());
    await b.write(META, entries(18), 18); // 900 bytes < 950
    expect(b.queue.length).toBe(0);
    expect(b.stage.size).toBe(1);
    await b.write(META, entries(1, 50, 18), 1); // 950 bytes = 95 %
    expect(b.queue.length).toBe(1);
    expect(b.stage.size).toBe(0);
    expect(b.queue[0]!.records).toBe(19);
  });

  it('serialises concurrent writes: nothing lost, no chunk over the limit', async () => {
    const b = new ChunkBuffer(new MemoryStorage(), limits());
    await Promise.all(Array.from({ length: 40 }, (_, i) => b.write(META, entries(7, 50, i * 7), 7)));
    const chunks = [...b.queue, ...b.stage.values()];
    for (const c of chunks) expect(c.bytes).toBeLessThanOrEqual(1000);
    expect((await numbersIn(chunks)).flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 280 }, (_, i) => i));
    expectAccounting(b);
  });

  it('returns to zero bytes once every chunk is dequeued and purged', async () => {
    const b = new ChunkBuffer(new MemoryStorage(), limits({ chunkLimitRecords: 3 }));
    await b.write(META, entries(10), 10);
    await b.write({ ...META, tag: 'other' }, entries(4), 4);
    await b.enqueueStaged();
    const taken = b.dequeueAll();
    expect(taken.length).toBe(6);
    expectAccounting(b);
    b.takeback(taken[0]!);
    expectAccounting(b);
    for (const c of taken) await b.purge(c);
    expect(await b.purge(taken[0]!)).toBe(false); // a second purge finds nothing
    expect([b.stageBytes, b.queueBytes, b.totalBytes, b.queue.length, b.dequeued.size]).toEqual([0, 0, 0, 0, 0]);
  });

  it('keeps a chunk staged and counted when moving it to the queue fails', async () => {
    const dir = tempDir();
    const b = new ChunkBuffer(new FileStorage({ dir, pluginId: 'p', log: silent }), limits());
    await b.write(META, entries(3), 3);
    rmSync(dir, { recursive: true, force: true }); // the rename at enqueue now fails
    await expect(b.enqueueStaged()).rejects.toThrow();
    expect(b.stage.size).toBe(1);
    expect(b.queue.length).toBe(0);
    expect(b.stageBytes).toBe(150);
    expectAccounting(b);
  });
});

describe('ChunkBuffer resume', () => {
  async function fileBuffer(dir: string, over: Partial<BufferLimits>): Promise<ChunkBuffer> {
    return new ChunkBuffer(new FileStorage({ dir, pluginId: 'p', log: silent }), limits(over));
  }

  it('queues resumed staged chunks that are already full under the new limits, keeps the others staged', async () => {
    const dir = tempDir();
    const first = await fileBuffer(dir, { chunkLimitSize: 100_000 });
    await first.write(META, entries(40), 40); // 2000 bytes, staged
    await first.write({ ...META, tag: 'small' }, entries(2), 2); // 100 bytes, staged
    await (first.storage as ChunkStorage).close();

    const again = await fileBuffer(dir, { chunkLimitSize: 1000 });
    expect(await again.resume()).toBe(2);
    expect(again.queue.map((c) => c.metadata.tag)).toEqual(['app']);
    expect([...again.stage.values()].map((c) => c.metadata.tag)).toEqual(['small']);
    expect(readdirSync(dir).filter((f) => f.startsWith('buffer.q') && f.endsWith('.log'))).toHaveLength(1);
    expect((await numbersIn(again.queue)).flat()).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expectAccounting(again);
  });

  it('also queues a resumed chunk full by chunk_limit_records', async () => {
    const dir = tempDir();
    const first = await fileBuffer(dir, {});
    await first.write(META, entries(10), 10);
    await first.storage.close();
    const again = await fileBuffer(dir, { chunkLimitRecords: 10 });
    await again.resume();
    expect(again.queue.length).toBe(1);
    expect(again.stage.size).toBe(0);
  });
});

describe('records over chunk_limit_size, through the agent', () => {
  it('are sent to @ERROR once each with tag, size and limit; the rest is delivered', async () => {
    const r = buildFromText(`
<match app.**>
  @type test_sink
  @id sink
  <buffer>
    chunk_limit_size 200
  </buffer>
</match>
<label @ERROR>
  <match **>
    @type test_capture
    @id errors
  </match>
</label>
`);
    expect(r.problems).toEqual([]);
    const agent = r.agent!;
    agents.push(agent);
    captured.delete('errors');
    await agent.start();
    const t = new EventTime(1700000000, 0);
    const stream = EventStream.fromEvents([
      { time: t, record: { n: 0 } },
      { time: t, record: { n: 1, big: 'y'.repeat(300) } },
      { time: t, record: { n: 2 } },
    ]);
    await agent.emit('app.web', stream);
    await waitFor(() => captured.get('errors')?.length === 1, 5000, '@ERROR event');
    expect(captured.get('errors')!.map((e) => [e.tag, e.record.n])).toEqual([['app.web', 1]]);
    const size = encode([t, { n: 1, big: 'y'.repeat(300) }]).length;
    expect(r.logs()).toContain(`send an error event to @ERROR tag="app.web" error="a ${size} bytes record (nth: 1) is larger than buffer chunk limit size (200)"`);
    await agent.stop();
    expect(sinkRecords('sink').map((x) => x.n)).toEqual([0, 2]);
    expect(captured.get('errors')).toHaveLength(1);
  });
});
