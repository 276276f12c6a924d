/**
 * Model test of the file buffer: seeded random sequences of create / append / enqueue / purge /
 * saveProgress / read / crash / restart, checked against a plain in-memory model of what must come
 * back. A crash drops the FileStorage without close() (so metas may be stale) and may also damage the
 * directory the way a crash can: tear the last append (cut inside an entry, or zeros from a given
 * entry on), stop an enqueue between its two renames, stop a purge after the data unlink, leave a
 * temp meta behind. The model is exact: after a tear, precisely the entries (gzip members when
 * compressed) before the torn one survive; every entry whose append resolved comes back byte for byte.
 */
import { mkdtemp, readdir, rename, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Chunk, type ChunkMetadata, type ChunkProgress, metadataKey } from '../../../src/buffer/chunk.js';
import { FileStorage } from '../../../src/buffer/file.js';
import { EventTime } from '../../../src/core/event-time.js';
import { encode } from '../../../src/protocol/msgpack.js';
import { seededRandom as prng } from '../../../src/core/random.js';

const SEQUENCES = 200;
const OPS = 50;


/** What was appended, in the pieces a tear can cut at: entries, or whole gzip members when compressed. */
interface Unit { bytes: Buffer; records: number }
interface ModelChunk {
  hexId: string;
  metadata: ChunkMetadata;
  state: 'staged' | 'queued';
  units: Unit[];
  progress: ChunkProgress | null;
}

const silent = pino({ level: 'silent' });
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lf-file-model-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function runSequence(seed: number): Promise<{ ops: Record<string, number> }> {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T | undefined => (xs.length ? xs[int(xs.length)] : undefined);
  const dir = join(root, `seq${seed}`);
  const compressed = rnd() < 0.25;
  const metaIntervalMs = rnd() < 0.5 ? 0 : 3_600_000;
  const newStorage = () => new FileStorage({ dir, pluginId: 'model', log: silent, compressed, metaIntervalMs });
  const ops: Record<string, number> = {};
  const count = (op: string) => (ops[op] = (ops[op] ?? 0) + 1);

  let storage = newStorage();
  const abandoned: FileStorage[] = [];
  const model = new Map<string, ModelChunk>();
  let live = new Map<string, Chunk>();
  let lastAppend: { hexId: string; firstUnit: number } | null = null;
  let expectQuarantined = 0;
  let seq = 0;

  const dataPath = (m: ModelChunk) => join(dir, `buffer.${m.state === 'staged' ? 'b' : 'q'}${m.hexId}.log`);
  const body = (m: ModelChunk) => Buffer.concat(m.units.map((u) => u.bytes));
  const records = (m: ModelChunk) => m.units.reduce((n, u) => n + u.records, 0);
  const where = (op: string) => `seed ${seed}, ${op}`;

  async function checkChunk(m: ModelChunk, c: Chunk, op: string): Promise<void> {
    expect([c.state, c.records, c.bytes, c.metadata, c.progress], where(op)).toEqual([m.state, records(m), body(m).length, m.metadata, m.progress]);
    expect((await c.read()).equals(body(m)), where(`${op}: body of ${m.hexId}`)).toBe(true);
  }

  async function restart(op: string): Promise<void> {
    storage = newStorage();
    const { staged, queued } = await storage.resume();
    // A chunk that never got data has no data file: nothing to resume.
    for (const [id, m] of model) if (m.units.length === 0) model.delete(id);
    const want = (state: string) => [...model.values()].filter((m) => m.state === state).map((m) => m.hexId).sort();
    expect(staged.map((c) => c.hexId).sort(), where(`${op}: staged`)).toEqual(want('staged'));
    expect(queued.map((c) => c.hexId).sort(), where(`${op}: queued`)).toEqual(want('queued'));
    expect(storage.quarantined, where(`${op}: quarantined`)).toBe(expectQuarantined);
    expectQuarantined = 0;
    live = new Map([...staged, ...queued].map((c) => [c.hexId, c]));
    // Nothing else is left behind: no orphan metas, temp files or half-renamed pairs.
    const names = [...model.values()].flatMap((m) => [dataPath(m), dataPath(m) + '.meta']).map((p) => p.slice(dir.length + 1));
    expect((await readdir(dir)).filter((n) => n !== 'quarantine').sort(), where(`${op}: files`)).toEqual(names.sort());
    for (const m of model.values()) await checkChunk(m, live.get(m.hexId)!, op);
  }

  /** Damage the last append as a crash in the middle of it would. */
  async function tear(hexId: string, firstUnit: number): Promise<void> {
    const m = model.get(hexId)!;
    const k = firstUnit + int(m.units.length - firstUnit); // the first unit that does not survive
    const start = m.units.slice(0, k).reduce((n, u) => n + u.bytes.length, 0);
    const path = dataPath(m);
    const size = (await stat(path)).size;
    if (rnd() < 0.5) {
      count('tear-cut');
      await truncate(path, start + 1 + int(m.units[k]!.bytes.length - 1));
    } else {
      count('tear-zeros');
      await truncate(path, start);
      await writeFile(path, Buffer.alloc(size - start + int(100)), { flag: 'a' });
    }
    m.units = m.units.slice(0, k);
    if (k === 0) {
      model.delete(hexId); // nothing complete is left: the file is unreadable and goes to quarantine
      expectQuarantined++;
    }
  }

  async function crash(): Promise<void> {
    abandoned.push(storage); // dropped without close(); its descriptors are closed after the sequence
    if (lastAppend && rnd() < 0.5) await tear(lastAppend.hexId, lastAppend.firstUnit);
    const chunks = [...model.values()].filter((m) => m.units.length > 0);
    const q = pick(chunks.filter((m) => m.state === 'queued'));
    if (q && rnd() < 0.2) {
      count('cut-enqueue');
      await rename(join(dir, `buffer.q${q.hexId}.log.meta`), join(dir, `buffer.b${q.hexId}.log.meta`));
    }
    const p = pick(chunks);
    if (p && rnd() < 0.15) {
      count('cut-purge');
      await unlink(dataPath(p));
      model.delete(p.hexId);
    }
    const t = pick(chunks);
    if (t && model.has(t.hexId) && rnd() < 0.15) {
      count('stray-tmp');
      await writeFile(dataPath(t) + '.meta.tmp', 'partial');
    }
    await restart('restart after crash');
  }

  for (let i = 0; i < OPS; i++) {
    const r = rnd();
    const chunks = [...model.values()];
    const staged = chunks.filter((m) => m.state === 'staged');
    const op = `op ${i}`;
    if (r < 0.15 || chunks.length === 0) {
      const metadata: ChunkMetadata = { tag: pick(['a', 'b', 'c']) ?? null, timekey: rnd() < 0.5 ? null : 1_700_000_000, variables: rnd() < 0.3 ? { k: 'v' } : null, seq: 0 };
      if (staged.some((m) => metadataKey(m.metadata) === metadataKey(metadata))) continue; // one staged chunk per metadata
      count('create');
      const c = await storage.create(metadata);
      live.set(c.hexId, c);
      model.set(c.hexId, { hexId: c.hexId, metadata, state: 'staged', units: [], progress: null });
      lastAppend = null;
    } else if (r < 0.55) {
      const m = pick(staged);
      if (!m) continue;
      count('append');
      const n = 1 + int(4);
      const entries = Array.from({ length: n }, () => {
        const time = rnd() < 0.5 ? 1_700_000_000 + int(1000) : new EventTime(1_700_000_000 + int(1000), int(1e9));
        return encode([time, { seq: seq++, s: 'x'.repeat(int(200)), n: int(3) === 0 ? null : int(1e6) }]);
      });
      const units = compressed ? [{ bytes: gzipSync(Buffer.concat(entries)), records: n }] : entries.map((bytes) => ({ bytes, records: 1 }));
      await live.get(m.hexId)!.append(Buffer.concat(units.map((u) => u.bytes)), n);
      lastAppend = { hexId: m.hexId, firstUnit: m.units.length };
      m.units.push(...units);
      continue;
    } else if (r < 0.65) {
      const m = pick(staged);
      if (!m) continue;
      count('enqueue');
      await live.get(m.hexId)!.enqueue();
      m.state = 'queued';
    } else if (r < 0.72) {
      const m = pick(chunks)!;
      count('purge');
      await live.get(m.hexId)!.purge();
      model.delete(m.hexId);
      live.delete(m.hexId);
    } else if (r < 0.77) {
      const m = pick(chunks)!;
      count('progress');
      const c = live.get(m.hexId)!;
      c.progress = m.progress = { acked: int(100), ids: [int(10), 'z'] };
      await c.saveProgress();
    } else if (r < 0.85) {
      const m = pick(chunks)!;
      count('read');
      await checkChunk(m, live.get(m.hexId)!, op);
    } else if (r < 0.95) {
      count('crash');
      await crash();
    } else {
      count('restart');
      await storage.close();
      await restart('clean restart');
    }
    lastAppend = null;
  }
  await crash();
  await storage.close();
  for (const s of abandoned) await s.close();
  await rm(dir, { recursive: true, force: true });
  return { ops };
}

describe('FileStorage model', () => {
  it(`${SEQUENCES} seeded sequences of ${OPS} operations keep every resolved append across crashes`, async () => {
    const totals: Record<string, number> = {};
    for (let seed = 1; seed <= SEQUENCES; seed++) {
      const { ops } = await runSequence(seed);
      for (const [k, v] of Object.entries(ops)) totals[k] = (totals[k] ?? 0) + v;
    }
    // Every kind of step ran often enough to mean something.
    for (const k of ['create', 'append', 'enqueue', 'purge', 'progress', 'read', 'crash', 'restart', 'tear-cut', 'tear-zeros', 'cut-enqueue', 'cut-purge', 'stray-tmp']) {
      expect(totals[k] ?? 0, k).toBeGreaterThan(20);
    }
  }, 120_000);
});
