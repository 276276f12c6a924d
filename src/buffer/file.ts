/**
 * `<buffer> @type file` in directory mode: one data file and one `.meta` file per chunk, named and
 * laid out as Fluentd does (see file-meta.ts), state in the name (`b` staged, `q` queued).
 *
 * - The data file is authoritative. An append is one positional write at the chunk's end through a
 *   kept-open descriptor and resolves once it returned; a failed write is truncated away.
 * - The meta is written (temp file + rename) when a chunk is created — before any data exists, so a
 *   data file never lacks its meta — then at most every `metaIntervalMs` after appends, and at
 *   enqueue, saveProgress and close. Resume recounts entries from the data, so a stale `s`/`m` is harmless.
 * - Resume validates every chunk (file-scan.ts), truncates torn tails, moves unreadable chunks to a
 *   quarantine folder, and never lets one bad file stop the others.
 * - The constructor does no I/O; the directory is created by the first resume() or create().
 */
import { constants } from 'node:fs';
import { type FileHandle, copyFile, mkdir, open, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { LogferryError, errorMessage } from '../core/errors.js';
import type { Chunk, ChunkMetadata, ChunkProgress, ChunkState, ChunkStorage, ResumeResult } from './chunk.js';
import { metadataKey, newChunkId } from './chunk.js';
import { type ChunkMeta, META_SUFFIX, META_TMP_SUFFIX, chunkNames, decodeMeta, encodeMeta, groupChunkFiles } from './file-meta.js';
import { scanChunkFile } from './file-scan.js';

export interface FileStorageOptions {
  /** The buffer directory (`path`); created on first use. */
  dir: string;
  /** `path_suffix`, default `.log`. */
  pathSuffix?: string;
  pluginId: string;
  log: Logger;
  /** Mode of new data and meta files (`file_permission`), default 0o644. */
  fileMode?: number;
  /** Mode of created directories (`dir_permission`), default 0o755. */
  dirMode?: number;
  /** Chunks hold gzip members (`compress gzip`): resume validates them member by member. */
  compressed?: boolean;
  /** Where unreadable chunks are moved; default `<dir>/quarantine`. */
  quarantineDir?: string;
  /**
   * `msgpack` (default): data is `[time, record]` entries, validated and counted at resume. `raw`: a
   * plugin's own format (out_file text), kept as it is; the record count comes from the meta, which is
   * then rewritten after every append.
   */
  format?: 'msgpack' | 'raw';
  /** Least time between meta rewrites caused by appends, default 1000; 0 rewrites it on every append (as Fluentd does). */
  metaIntervalMs?: number;
  /** Called for each chunk moved to quarantine (also counted in `quarantined`). */
  onQuarantine?: (file: string, reason: string) => void;
}

interface Ctx {
  dir: string;
  names: ReturnType<typeof chunkNames>;
  log: Logger;
  fileMode: number;
  metaIntervalMs: number;
  live: Set<FileChunk>;
}

const nowSec = (): number => Math.floor(Date.now() / 1000);
const isCode = (e: unknown, code: string): boolean => (e as { code?: unknown } | null)?.code === code;

async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if (!isCode(e, 'ENOENT')) throw e;
  }
}

class FileChunk implements Chunk {
  readonly hexId: string;
  state: ChunkState;
  bytes: number;
  records: number;
  modifiedAt: number;
  progress: ChunkProgress | null;
  /** Name of the meta file (it lags behind the data file's name only if a rename at enqueue failed). */
  metaName: string;
  private fd: FileHandle | null = null;
  private metaWrittenAt = 0;
  private metaDirty = false;
  /** A failed write could not be truncated away: do it before the next write. */
  private dirtyTail = false;
  private purged = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: Ctx, readonly id: Buffer, readonly metadata: ChunkMetadata, readonly createdAt: number, init: {
    state: ChunkState; bytes: number; records: number; modifiedAt: number; progress: ChunkProgress | null; metaName?: string; metaDirty?: boolean;
  }) {
    this.hexId = id.toString('hex');
    this.state = init.state;
    this.bytes = init.bytes;
    this.records = init.records;
    this.modifiedAt = init.modifiedAt;
    this.progress = init.progress;
    this.metaName = init.metaName ?? ctx.names.data(this.state, this.hexId) + META_SUFFIX;
    this.metaDirty = init.metaDirty ?? false;
  }

  get dataPath(): string {
    return join(this.ctx.dir, this.ctx.names.data(this.state, this.hexId));
  }

  /** Runs chunk operations one at a time, in call order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private check(op: string): void {
    if (this.purged) throw new LogferryError('LF_BUFFER_CHUNK', `cannot ${op} buffer chunk ${this.hexId}: it was purged`);
  }

  append(data: Buffer, records: number): Promise<void> {
    return this.serial(async () => {
      this.check('append to');
      if (this.state !== 'staged') throw new LogferryError('LF_BUFFER_CHUNK', `cannot append to buffer chunk ${this.hexId}: it is queued`);
      if (data.length === 0 && records === 0) return;
      this.fd ??= await open(this.dataPath, constants.O_WRONLY | constants.O_CREAT, this.ctx.fileMode);
      const fd = this.fd;
      if (this.dirtyTail) {
        await fd.truncate(this.bytes);
        this.dirtyTail = false;
      }
      try {
        for (let done = 0; done < data.length; ) {
          const { bytesWritten } = await fd.write(data, done, data.length - done, this.bytes + done);
          if (bytesWritten <= 0) throw new LogferryError('LF_BUFFER_IO', `buffer chunk ${this.hexId}: write stored nothing`);
          done += bytesWritten;
        }
      } catch (e) {
        try {
          await fd.truncate(this.bytes);
        } catch (e2) {
          this.dirtyTail = true;
          this.ctx.log.warn({ file: this.dataPath, err: errorMessage(e2) }, 'could not truncate a failed buffer write; retried before the next write');
        }
        throw e;
      }
      this.bytes += data.length;
      this.records += records;
      this.modifiedAt = nowSec();
      this.metaDirty = true;
      if (Date.now() - this.metaWrittenAt >= this.ctx.metaIntervalMs) await this.writeMetaQuietly();
    });
  }

  read(): Promise<Buffer> {
    return this.serial(async () => {
      this.check('read');
      const out = Buffer.alloc(this.bytes);
      if (this.bytes === 0) return out;
      const fh = await open(this.dataPath, 'r');
      try {
        for (let got = 0; got < out.length; ) {
          const { bytesRead } = await fh.read(out, got, out.length - got, got);
          if (bytesRead === 0) throw new LogferryError('LF_BUFFER_IO', `buffer chunk file ${this.dataPath} is shorter than ${this.bytes} bytes`);
          got += bytesRead;
        }
      } finally {
        await fh.close();
      }
      return out;
    });
  }

  enqueue(): Promise<void> {
    return this.serial(async () => {
      this.check('enqueue');
      if (this.state === 'queued') return;
      if (this.dirtyTail) await this.fd?.truncate(this.bytes).then(() => (this.dirtyTail = false), () => undefined);
      await this.closeFd();
      await this.writeMeta();
      const queuedName = this.ctx.names.data('queued', this.hexId);
      try {
        await rename(this.dataPath, join(this.ctx.dir, queuedName));
      } catch (e) {
        if (!(isCode(e, 'ENOENT') && this.bytes === 0)) throw e; // no data file: nothing was ever appended
      }
      this.state = 'queued';
      try {
        await rename(join(this.ctx.dir, this.metaName), join(this.ctx.dir, queuedName + META_SUFFIX));
        this.metaName = queuedName + META_SUFFIX;
      } catch (e) {
        // Resume pairs a queued data file with its staged-named meta, so this is not fatal.
        this.ctx.log.warn({ file: join(this.ctx.dir, this.metaName), err: errorMessage(e) }, 'could not rename buffer chunk metadata at enqueue');
      }
    });
  }

  saveProgress(): Promise<void> {
    return this.serial(async () => {
      this.check('save progress of');
      await this.writeMeta();
    });
  }

  purge(): Promise<void> {
    return this.serial(async () => {
      if (this.purged) return;
      await this.closeFd();
      await unlinkIfExists(this.dataPath); // data first: a meta left alone is removed at resume
      await unlinkIfExists(join(this.ctx.dir, this.metaName));
      this.purged = true;
      this.ctx.live.delete(this);
    });
  }

  /** Writes a pending meta update and closes the descriptor. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.purged) return;
      if (this.metaDirty) await this.writeMetaQuietly();
      await this.closeFd();
    });
  }

  /** Writes the meta through a temp file and a rename, so a crash leaves the old or the new one. */
  async writeMeta(): Promise<void> {
    const meta: ChunkMeta = {
      metadata: this.metadata, id: this.id, records: this.records, createdAt: this.createdAt, modifiedAt: this.modifiedAt, progress: this.progress,
    };
    const path = join(this.ctx.dir, this.metaName);
    const tmp = path.slice(0, -META_SUFFIX.length) + META_TMP_SUFFIX;
    try {
      await writeFile(tmp, encodeMeta(meta), { mode: this.ctx.fileMode });
      await rename(tmp, path);
    } catch (e) {
      await unlinkIfExists(tmp).catch(() => undefined);
      throw e;
    }
    this.metaWrittenAt = Date.now();
    this.metaDirty = false;
  }

  private async writeMetaQuietly(): Promise<void> {
    try {
      await this.writeMeta();
    } catch (e) {
      this.ctx.log.warn({ file: join(this.ctx.dir, this.metaName), err: errorMessage(e) }, 'could not update buffer chunk metadata; resume recounts from the data file');
    }
  }

  private async closeFd(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    if (fd) await fd.close().catch(() => undefined);
  }
}

/** A chunk resume cannot use; the message is the reason logged with the quarantine. */
class BrokenChunk extends Error {}

export class FileStorage implements ChunkStorage {
  readonly persistent = true;
  readonly pluginId: string;
  /** Chunks moved to quarantine by resume(). */
  quarantined = 0;
  private readonly ctx: Ctx;
  private readonly dirMode: number;
  private readonly quarantineDir: string;
  private dirReady: Promise<void> | null = null;

  constructor(private readonly opts: FileStorageOptions) {
    this.pluginId = opts.pluginId;
    this.dirMode = opts.dirMode ?? 0o755;
    this.quarantineDir = opts.quarantineDir ?? join(opts.dir, 'quarantine');
    const raw = opts.format === 'raw';
    this.ctx = {
      dir: opts.dir,
      names: chunkNames(opts.pathSuffix ?? '.log'),
      log: opts.log,
      fileMode: opts.fileMode ?? 0o644,
      metaIntervalMs: raw ? 0 : (opts.metaIntervalMs ?? 1000),
      live: new Set(),
    };
  }

  private ensureDir(): Promise<void> {
    this.dirReady ??= mkdir(this.opts.dir, { recursive: true, mode: this.dirMode }).then(
      () => undefined,
      (e: unknown) => {
        this.dirReady = null;
        throw e;
      },
    );
    return this.dirReady;
  }

  async create(metadata: ChunkMetadata): Promise<Chunk> {
    await this.ensureDir();
    const now = nowSec();
    const chunk = new FileChunk(this.ctx, newChunkId(), metadata, now, { state: 'staged', bytes: 0, records: 0, modifiedAt: now, progress: null });
    await chunk.writeMeta(); // before any data: every data file has a meta
    this.ctx.live.add(chunk);
    return chunk;
  }

  async resume(): Promise<ResumeResult> {
    await this.ensureDir();
    const { dir, names, log } = this.ctx;
    const { byId, temps } = groupChunkFiles(await readdir(dir), names);
    for (const name of temps) await unlinkIfExists(join(dir, name)).catch(() => undefined); // interrupted meta writes
    const chunks: FileChunk[] = [];
    for (const [hexId, f] of byId) {
      const used = new Set<string>();
      for (const state of ['queued', 'staged'] as const) {
        const dataName = f.data[state];
        if (!dataName) continue;
        // A queued data file with a staged-named meta: a crash between the two renames of enqueue.
        const metaName = f.meta[state] ?? (state === 'queued' && !f.data.staged ? f.meta.staged : undefined);
        if (metaName) used.add(metaName);
        const files = metaName ? [dataName, metaName] : [dataName];
        try {
          if (state === 'staged' && f.data.queued) throw new BrokenChunk('a queued chunk has the same id');
          chunks.push(await this.load(hexId, state, dataName, metaName));
        } catch (e) {
          await this.quarantine(files, e instanceof BrokenChunk ? e.message : `cannot read: ${errorMessage(e)}`);
        }
      }
      for (const metaName of Object.values(f.meta)) {
        if (used.has(metaName)) continue;
        // Meta without data: a chunk that never got an append, or a purge cut short.
        await unlinkIfExists(join(dir, metaName)).catch((e) => log.warn({ file: join(dir, metaName), err: errorMessage(e) }, 'could not remove orphan buffer chunk metadata'));
      }
    }
    const stagedByMeta = new Map<string, FileChunk>();
    const queued: FileChunk[] = [];
    const toEnqueue: FileChunk[] = [];
    for (const c of chunks.sort(byModified)) {
      this.ctx.live.add(c);
      if (c.state === 'queued') queued.push(c);
      else if (c.metadata.seq > 0) toEnqueue.push(c); // the extra chunks of a split write are never staged
      else {
        // One staged chunk per metadata: the newest stays, older ones are queued.
        const key = metadataKey(c.metadata);
        const older = stagedByMeta.get(key);
        if (older) toEnqueue.push(older);
        stagedByMeta.set(key, c);
      }
    }
    const staged = [...stagedByMeta.values()];
    for (const c of toEnqueue) {
      try {
        await c.enqueue();
        queued.push(c);
      } catch (e) {
        log.warn({ file: c.dataPath, err: errorMessage(e) }, 'could not enqueue a resumed buffer chunk; left staged');
        staged.push(c);
      }
    }
    staged.sort(byModified);
    queued.sort(byModified);
    log.info({ dir, staged: staged.length, queued: queued.length, quarantined: this.quarantined }, 'resumed file buffer');
    return { staged, queued };
  }

  private async load(hexId: string, state: ChunkState, dataName: string, metaName: string | undefined): Promise<FileChunk> {
    const { dir, log } = this.ctx;
    const dataPath = join(dir, dataName);
    const st = await stat(dataPath);
    if (st.size === 0) throw new BrokenChunk('empty data file');
    if (!metaName) throw new BrokenChunk('no .meta file');
    const meta = decodeMeta(await readFile(join(dir, metaName)));
    if (typeof meta === 'string') throw new BrokenChunk(meta);
    if (meta.id.toString('hex') !== hexId) throw new BrokenChunk('the id in the meta does not match the file name');
    const fh = await open(dataPath, 'r+');
    let records: number;
    let bytes: number;
    try {
      const scan = await scanChunkFile(fh, st.size, { compressed: this.opts.compressed ?? false, msgpack: this.opts.format !== 'raw' });
      if (scan.tail === 'corrupt') throw new BrokenChunk(`unreadable data at offset ${scan.validBytes}`);
      if (scan.validBytes === 0) throw new BrokenChunk(scan.tail === 'zeros' ? 'data is all zeros' : 'no complete entry');
      if (scan.tail !== 'none') {
        await fh.truncate(scan.validBytes);
        log.warn({ file: dataPath, droppedBytes: st.size - scan.validBytes, tail: scan.tail }, 'truncated torn tail of buffer chunk');
      }
      records = scan.records ?? meta.records;
      bytes = scan.validBytes;
    } finally {
      await fh.close();
    }
    if (metaName !== dataName + META_SUFFIX) {
      try {
        await rename(join(dir, metaName), dataPath + META_SUFFIX); // finish the interrupted enqueue
        metaName = dataName + META_SUFFIX;
      } catch (e) {
        log.warn({ file: join(dir, metaName), err: errorMessage(e) }, 'could not rename buffer chunk metadata');
      }
    }
    return new FileChunk(this.ctx, meta.id, meta.metadata, meta.createdAt, {
      state, bytes, records, progress: meta.progress, metaName,
      modifiedAt: Math.max(meta.modifiedAt, Math.floor(st.mtimeMs / 1000)),
      metaDirty: records !== meta.records,
    });
  }

  /** Moves a chunk's files aside; logs and counts, never throws. */
  private async quarantine(files: string[], reason: string): Promise<void> {
    const file = join(this.ctx.dir, files[0]!);
    this.quarantined++;
    try {
      await mkdir(this.quarantineDir, { recursive: true, mode: this.dirMode });
      for (const name of files) {
        const from = join(this.ctx.dir, name);
        const to = join(this.quarantineDir, name);
        try {
          await rename(from, to);
        } catch (e) {
          if (!isCode(e, 'EXDEV')) throw e;
          await copyFile(from, to);
          await unlink(from);
        }
      }
      this.ctx.log.warn({ file, reason, quarantineDir: this.quarantineDir }, 'moved unreadable buffer chunk to quarantine');
    } catch (e) {
      this.ctx.log.error({ file, reason, err: errorMessage(e) }, 'unreadable buffer chunk could not be moved to quarantine; left in place');
    }
    this.opts.onQuarantine?.(file, reason);
  }

  /** Writes pending meta updates and closes every open descriptor. */
  async close(): Promise<void> {
    for (const c of [...this.ctx.live]) await c.close();
  }
}

function byModified(a: FileChunk, b: FileChunk): number {
  return a.modifiedAt - b.modifiedAt || (a.hexId < b.hexId ? -1 : a.hexId > b.hexId ? 1 : 0);
}
