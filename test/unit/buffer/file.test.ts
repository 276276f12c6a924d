import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, readdir, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Chunk, type ChunkMetadata, emptyMetadata } from '../../../src/buffer/chunk.js';
import { decodeMeta, encodeMeta } from '../../../src/buffer/file-meta.js';
import { FileStorage, type FileStorageOptions } from '../../../src/buffer/file.js';
import { EventTime } from '../../../src/core/event-time.js';
import { decode, decodeAll, encode } from '../../../src/protocol/msgpack.js';

interface LogLine { level: number; msg: string; [k: string]: unknown }

let root: string;
let lines: LogLine[];
let open: FileStorage[];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'lf-file-buffer-'));
  lines = [];
  open = [];
});

afterEach(async () => {
  for (const s of open) await s.close();
  await rm(root, { recursive: true, force: true });
});

function storage(over: Partial<FileStorageOptions> = {}): FileStorage {
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  const s = new FileStorage({ dir: join(root, 'buf'), pluginId: 'out1', log, ...over });
  open.push(s);
  return s;
}

const meta = (over: Partial<ChunkMetadata> = {}): ChunkMetadata => ({ ...emptyMetadata(), tag: 'app.log', ...over });
/** One `[time, record]` entry as a chunk stores it. */
const entry = (i: number, pad = 0): Buffer => encode([new EventTime(1_700_000_000 + i, i), { n: i, msg: 'x'.repeat(pad) }]);
const entries = (from: number, n: number, pad = 0): Buffer => Buffer.concat(Array.from({ length: n }, (_, i) => entry(from + i, pad)));
const files = async (dir = join(root, 'buf')): Promise<string[]> => (await readdir(dir)).sort();
const warnings = (msg: string): LogLine[] => lines.filter((l) => l.level === 40 && l.msg === msg);

describe('FileStorage: writing', () => {
  it('does no I/O in the constructor; the directory appears on first use', async () => {
    const s = storage({ dir: join(root, 'a', 'b') });
    expect(existsSync(join(root, 'a'))).toBe(false);
    await s.resume();
    expect(existsSync(join(root, 'a', 'b'))).toBe(true);
    const s2 = storage({ dir: join(root, 'c') });
    expect(existsSync(join(root, 'c'))).toBe(false);
    await s2.create(meta());
    expect(existsSync(join(root, 'c'))).toBe(true);
  });

  it('appends, reads, enqueues (renaming data and meta) and purges', async () => {
    const s = storage();
    const c = await s.create(meta());
    expect(c.hexId).toMatch(/^[0-9a-f]{32}$/);
    expect(await files()).toEqual([`buffer.b${c.hexId}.log.meta`]); // the meta comes first, the data file with the first append
    await c.append(entries(0, 2), 2);
    await c.append(entries(2, 3), 3);
    expect([c.records, c.bytes]).toEqual([5, entries(0, 5).length]);
    expect(await c.read()).toEqual(entries(0, 5));
    expect(await files()).toEqual([`buffer.b${c.hexId}.log`, `buffer.b${c.hexId}.log.meta`]);

    await c.enqueue();
    expect(c.state).toBe('queued');
    expect(await files()).toEqual([`buffer.q${c.hexId}.log`, `buffer.q${c.hexId}.log.meta`]);
    expect(await c.read()).toEqual(entries(0, 5));
    await expect(c.append(entry(9), 1)).rejects.toThrow(/queued/);

    await c.purge();
    expect(await files()).toEqual([]);
    await expect(c.read()).rejects.toThrow(/purged/);
  });

  it('writes the meta in Fluentd layout: 0xC1 0x00, uint32 length, msgpack map', async () => {
    const s = storage({ pathSuffix: '.buf' });
    const c = await s.create(meta({ timekey: 1_700_000_000, variables: { host: 'a' } }));
    await c.append(entries(0, 3), 3);
    c.progress = { sent: [0, 1] };
    await c.enqueue();
    await c.saveProgress();
    const bytes = await readFile(join(root, 'buf', `buffer.q${c.hexId}.buf.meta`));
    expect([bytes[0], bytes[1]]).toEqual([0xc1, 0x00]);
    expect(bytes.readUInt32BE(2)).toBe(bytes.length - 6);
    const map = decode(bytes.subarray(6)) as Record<string, unknown>;
    expect(Object.keys(map)).toEqual(['timekey', 'tag', 'variables', 'seq', 'id', 's', 'c', 'm', 'progress']);
    expect(map).toMatchObject({ timekey: 1_700_000_000, tag: 'app.log', variables: { host: 'a' }, seq: 0, s: 3, c: c.createdAt, progress: { sent: [0, 1] } });
    expect(Buffer.from(map.id as Uint8Array)).toEqual(c.id);
  });

  it('serialises concurrent appends in call order', async () => {
    const c = await storage().create(meta());
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.append(entry(i), 1)));
    expect(await c.read()).toEqual(entries(0, 20));
  });

  it('rejects a write that hits ENOSPC and leaves the chunk as it was', async () => {
    // The data file is a symlink to /dev/full, whose writes fail with ENOSPC.
    const s = storage();
    const c = await s.create(meta());
    await symlink('/dev/full', join(root, 'buf', `buffer.b${c.hexId}.log`));
    await expect(c.append(entries(0, 2), 2)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect([c.records, c.bytes]).toEqual([0, 0]);
    expect(await c.read()).toEqual(Buffer.alloc(0));
  });

  it('truncates a write that failed half-way (RLIMIT_FSIZE in a child process) back to the previous end', async () => {
    // `ulimit -f 4` (1 KiB blocks in bash) caps files at 4096 bytes: the 5th 1000-byte append is written in part, then fails
    // with EFBIG. The chunk must stay at 4 entries on disk and in memory, and keep accepting appends.
    const dir = join(root, 'buf');
    const script = join(root, 'child.mjs');
    const src = (p: string) => JSON.stringify('file://' + resolve('src', p));
    await writeFile(script, `
      import { FileStorage } from ${src('buffer/file.ts')};
      import { encode } from ${src('protocol/msgpack.ts')};
      const noop = () => {};
      const log = { warn: noop, info: noop, error: noop, debug: noop };
      const s = new FileStorage({ dir: ${JSON.stringify(dir)}, pluginId: 'x', log });
      const c = await s.create({ tag: 't', timekey: null, variables: null, seq: 0 });
      const e = (i, n) => encode([i, { pad: 'y'.repeat(n) }]);
      const out = { ok: 0 };
      for (let i = 1; i <= 5; i++) {
        try { await c.append(e(i, 990), 1); out.ok++; } catch (err) { out.code = err.code; out.after = [c.records, c.bytes]; }
      }
      await c.append(e(6, 20), 1);
      out.final = [c.records, c.bytes, (await c.read()).length];
      await s.close();
      console.log(JSON.stringify(out));
    `);
    const r = spawnSync('bash', ['-c', `ulimit -f 4 && exec "${process.execPath}" --import tsx "${script}"`], { encoding: 'utf8', cwd: resolve('.') });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: number; code: string; after: number[]; final: number[] };
    const one = encode([1, { pad: 'y'.repeat(990) }]).length;
    expect(one).toBe(1000);
    expect(out).toMatchObject({ ok: 4, code: 'EFBIG', after: [4, 4000] });
    const small = encode([6, { pad: 'y'.repeat(20) }]).length;
    expect(out.final).toEqual([5, 4000 + small, 4000 + small]);
    const s = storage();
    const { staged } = await s.resume();
    expect(staged.map((c) => [c.records, c.bytes])).toEqual([[5, 4000 + small]]);
  });
});

describe('FileStorage: resume', () => {
  it('resumes staged and queued chunks after a crash with metadata, progress, counts and bytes', async () => {
    const s1 = storage({ metaIntervalMs: 3_600_000 }); // stale metas: counts must come from the data
    const a = await s1.create(meta({ tag: 'a', timekey: 1_700_000_000, variables: { k: 'v' } }));
    const b = await s1.create(meta({ tag: 'b' }));
    await a.append(entries(0, 3), 3);
    await a.append(entries(3, 2), 2);
    await b.append(entries(10, 4), 4);
    b.progress = { done: 2 };
    await b.saveProgress();
    await b.enqueue();
    // Crash: s1 is not closed before the restart (afterEach closes it once the test is over).

    const s2 = storage();
    const { staged, queued } = await s2.resume();
    expect(staged.map((c) => c.hexId)).toEqual([a.hexId]);
    expect(queued.map((c) => c.hexId)).toEqual([b.hexId]);
    const [ra, rb] = [staged[0]!, queued[0]!];
    expect(ra.metadata).toEqual({ tag: 'a', timekey: 1_700_000_000, variables: { k: 'v' }, seq: 0 });
    expect([ra.records, ra.bytes, ra.state, ra.createdAt]).toEqual([5, entries(0, 5).length, 'staged', a.createdAt]);
    expect(await ra.read()).toEqual(entries(0, 5));
    expect([rb.records, rb.state, rb.progress]).toEqual([4, 'queued', { done: 2 }]);
    expect(await rb.read()).toEqual(entries(10, 4));
    // The resumed staged chunk keeps accepting appends.
    await ra.append(entry(5), 1);
    await s2.close();
    const s3 = storage();
    const again = await s3.resume();
    expect(await again.staged[0]!.read()).toEqual(entries(0, 6));
    expect(decodeMeta(await readFile(join(root, 'buf', `buffer.b${a.hexId}.log.meta`)))).toMatchObject({ records: 6 });
    expect(s3.quarantined).toBe(0);
  });

  it('sorts resumed chunks by modified time', async () => {
    const dir = join(root, 'buf');
    const s1 = storage();
    const ids: string[] = [];
    for (const [i, m] of [1_700_000_300, 1_700_000_100, 1_700_000_200].entries()) {
      const c = await s1.create(meta({ tag: `t${i}` }));
      await c.append(entry(i), 1);
      await c.enqueue();
      const name = join(dir, `buffer.q${c.hexId}.log.meta`);
      const parsed = decodeMeta(await readFile(name));
      if (typeof parsed === 'string') throw new Error(parsed);
      await writeFile(name, encodeMeta({ ...parsed, modifiedAt: m + 1e9 })); // later than the file mtime
      ids.push(c.hexId);
    }
    await s1.close();
    const { queued } = await storage().resume();
    expect(queued.map((c) => c.hexId)).toEqual([ids[1], ids[2], ids[0]]);
  });

  it('truncates a torn tail to the last complete entry, with one warning', async () => {
    const s1 = storage();
    const c = await s1.create(meta());
    await c.append(entries(0, 3), 3);
    await s1.close();
    const path = join(root, 'buf', `buffer.b${c.hexId}.log`);
    const cut = entries(0, 2).length + 5; // inside the third entry
    await truncate(path, cut);

    const { staged } = await storage().resume();
    expect([staged[0]!.records, staged[0]!.bytes]).toEqual([2, entries(0, 2).length]);
    expect((await stat(path)).size).toBe(entries(0, 2).length);
    expect(warnings('truncated torn tail of buffer chunk')).toEqual([expect.objectContaining({ file: path, droppedBytes: 5, tail: 'incomplete' })]);
    await staged[0]!.append(entry(7), 1);
    expect(decodeAll(await staged[0]!.read())).toHaveLength(3);
  });

  it('treats a zero-filled tail as torn', async () => {
    const s1 = storage();
    const c = await s1.create(meta());
    await c.append(entries(0, 2), 2);
    await s1.close();
    const path = join(root, 'buf', `buffer.b${c.hexId}.log`);
    await appendFile(path, Buffer.alloc(4096));
    const { staged } = await storage().resume();
    expect([staged[0]!.records, await staged[0]!.read()]).toEqual([2, entries(0, 2)]);
    expect(warnings('truncated torn tail of buffer chunk')).toEqual([expect.objectContaining({ droppedBytes: 4096, tail: 'zeros' })]);
  });

  it('scans a chunk larger than one read block with entries that straddle blocks', async () => {
    const s1 = storage();
    const c = await s1.create(meta());
    const big = entries(0, 300, 10_000); // ~3 MiB, entries cross the 1 MiB block boundaries
    await c.append(big, 300);
    await c.append(encode([1, { huge: 'z'.repeat(2_500_000) }]), 1); // one entry bigger than a block
    await s1.close();
    const { staged } = await storage().resume();
    expect([staged[0]!.records, staged[0]!.bytes]).toEqual([301, c.bytes]);
  });

  it('quarantines unreadable chunks with a reason and a count, and resumes the rest', async () => {
    const dir = join(root, 'buf');
    const s1 = storage();
    const good = await s1.create(meta({ tag: 'good' }));
    await good.append(entries(0, 2), 2);
    const mk = async (tag: string, data: Buffer | null): Promise<Chunk> => {
      const c = await s1.create(meta({ tag }));
      if (data) await c.append(data, 1);
      return c;
    };
    const garbage = await mk('garbage', Buffer.from('this is not msgpack at all'));
    const empty = await mk('empty', null);
    await writeFile(join(dir, `buffer.b${empty.hexId}.log`), '');
    const zeros = await mk('zeros', Buffer.alloc(100));
    const noMeta = await mk('nometa', entries(0, 1));
    const badMeta = await mk('badmeta', entries(0, 1));
    const wrongId = await mk('wrongid', entries(0, 1));
    await s1.close();
    await rm(join(dir, `buffer.b${noMeta.hexId}.log.meta`));
    await writeFile(join(dir, `buffer.b${badMeta.hexId}.log.meta`), Buffer.from([0xc1, 0x00, 0, 0, 0, 9, 0x81, 0xa1]));
    await rm(join(dir, `buffer.b${wrongId.hexId}.log.meta`));
    await writeFile(join(dir, `buffer.b${wrongId.hexId}.log.meta`), await readFile(join(dir, `buffer.b${good.hexId}.log.meta`)));
    // Ignored or cleaned up: unknown files, an orphan meta, an interrupted meta write.
    await writeFile(join(dir, 'notes.txt'), 'x');
    await writeFile(join(dir, 'buffer.bXYZ.log'), 'x');
    await writeFile(join(dir, `buffer.b${'ab'.repeat(16)}.log.meta`), 'x');
    await writeFile(join(dir, `buffer.b${good.hexId}.log.meta.tmp`), 'x');

    const seen: Array<[string, string]> = [];
    const s2 = storage({ onQuarantine: (file, reason) => seen.push([file, reason]) });
    const { staged, queued } = await s2.resume();
    expect(staged.map((c) => c.metadata.tag)).toEqual(['good']);
    expect(queued).toEqual([]);
    expect(await staged[0]!.read()).toEqual(entries(0, 2));
    expect(s2.quarantined).toBe(6);
    const reasons = Object.fromEntries(seen.map(([f, r]) => [f.match(/b([0-9a-f]{32})/)![1], r]));
    expect(reasons).toEqual({
      [garbage.hexId]: 'unreadable data at offset 0',
      [empty.hexId]: 'empty data file',
      [zeros.hexId]: 'data is all zeros',
      [noMeta.hexId]: 'no .meta file',
      [badMeta.hexId]: expect.stringMatching(/^meta is truncated/),
      [wrongId.hexId]: 'the id in the meta does not match the file name',
    });
    expect(warnings('moved unreadable buffer chunk to quarantine')).toHaveLength(6);
    const moved = await files(join(dir, 'quarantine'));
    expect(moved).toHaveLength(11); // six data files, five metas
    expect(moved).toContain(`buffer.b${garbage.hexId}.log.meta`);
    expect(await files()).toEqual(['buffer.bXYZ.log', `buffer.b${good.hexId}.log`, `buffer.b${good.hexId}.log.meta`, 'notes.txt', 'quarantine'].sort());
  });

  it('accepts a legacy meta that is a bare msgpack map', async () => {
    const dir = join(root, 'buf');
    const s1 = storage();
    const c = await s1.create(meta({ tag: 'legacy' }));
    await c.append(entries(0, 2), 2);
    await s1.close();
    await writeFile(join(dir, `buffer.b${c.hexId}.log.meta`), encode({ timekey: null, tag: 'legacy', variables: null, seq: 0, id: c.id, s: 2, c: 1, m: 2 }));
    const { staged } = await storage().resume();
    expect(staged.map((x) => [x.metadata.tag, x.records, x.createdAt])).toEqual([['legacy', 2, 1]]);
  });

  it('finishes an enqueue cut between its two renames', async () => {
    const dir = join(root, 'buf');
    const s1 = storage();
    const c = await s1.create(meta());
    await c.append(entries(0, 2), 2);
    await s1.close();
    await writeFile(join(dir, `buffer.q${c.hexId}.log`), await readFile(join(dir, `buffer.b${c.hexId}.log`)));
    await rm(join(dir, `buffer.b${c.hexId}.log`));
    const { staged, queued } = await storage().resume();
    expect([staged.length, queued.map((x) => x.records)]).toEqual([0, [2]]);
    expect(await files()).toEqual([`buffer.q${c.hexId}.log`, `buffer.q${c.hexId}.log.meta`]);
  });

  it('keeps one staged chunk per metadata and queues split-write leftovers', async () => {
    const s1 = storage();
    const older = await s1.create(meta({ tag: 'same' }));
    await older.append(entry(0), 1);
    const newer = await s1.create(meta({ tag: 'same' }));
    await newer.append(entry(1), 1);
    const extra = await s1.create(meta({ tag: 'other', seq: 1 }));
    await extra.append(entry(2), 1);
    await s1.close();
    // Both were modified within the same second: make `newer` later for sure.
    const metaPath = join(root, 'buf', `buffer.b${newer.hexId}.log.meta`);
    const m = decodeMeta(await readFile(metaPath));
    if (typeof m === 'string') throw new Error(m);
    await writeFile(metaPath, encodeMeta({ ...m, modifiedAt: m.modifiedAt + 100 }));
    const { staged, queued } = await storage().resume();
    expect(staged.map((c) => c.hexId)).toEqual([newer.hexId]);
    expect(queued.map((c) => c.hexId).sort()).toEqual([older.hexId, extra.hexId].sort());
    expect(queued.every((c) => c.state === 'queued')).toBe(true);
  });
});

describe('FileStorage: raw (custom format) chunks', () => {
  it('keeps the bytes as they are and takes the record count from the meta, rewritten on every append', async () => {
    const s1 = storage({ format: 'raw', metaIntervalMs: 3_600_000 });
    const c = await s1.create(meta());
    await c.append(Buffer.from('line one\nline two\n'), 2);
    await c.append(Buffer.from('line three\n'), 1);
    const { staged } = await storage({ format: 'raw' }).resume(); // s1 not closed: a crash
    expect([staged[0]!.records, (await staged[0]!.read()).toString()]).toEqual([3, 'line one\nline two\nline three\n']);
  });
});

describe('FileStorage: compressed chunks', () => {
  const member = (from: number, n: number) => gzipSync(entries(from, n));

  it('counts entries inside gzip members and truncates a torn last member', async () => {
    const s1 = storage({ compressed: true });
    const c = await s1.create(meta());
    const m1 = member(0, 3);
    const m2 = member(3, 2);
    await c.append(m1, 3);
    await c.append(m2, 2);
    await c.append(member(5, 4), 4);
    await s1.close();
    const path = join(root, 'buf', `buffer.b${c.hexId}.log`);
    await truncate(path, m1.length + m2.length + 7);
    const { staged } = await storage({ compressed: true }).resume();
    expect([staged[0]!.records, staged[0]!.bytes]).toEqual([5, m1.length + m2.length]);
    expect(warnings('truncated torn tail of buffer chunk')).toEqual([expect.objectContaining({ droppedBytes: 7, tail: 'incomplete' })]);
  });

  it('quarantines a chunk whose member fails its CRC', async () => {
    const s1 = storage({ compressed: true });
    const c = await s1.create(meta());
    const m = member(0, 3);
    m[m.length - 6] ^= 0xff; // CRC32 byte of the trailer
    await c.append(member(10, 1), 1);
    await c.append(m, 3);
    await s1.close();
    const s2 = storage({ compressed: true });
    const { staged } = await s2.resume();
    expect([staged.length, s2.quarantined]).toEqual([0, 1]);
  });
});
