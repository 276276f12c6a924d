/**
 * `<buffer> @type file` in directory mode: one data file and one `.meta` file per chunk, named and
 * laid out as Fluentd does (see file-meta.ts), state in the name (`b` staged, `q` queued).
 * FileStorage owns the directory; a chunk's own I/O (appends, meta writes, enqueue, purge) is in
 * file-chunk.ts.
 *
 * - The data file is authoritative; the meta is written before any data, so a data file never
 *   lacks its meta. Resume recounts entries from the data, so a stale `s`/`m` is harmless.
 * - Resume validates every chunk (file-scan.ts), truncates torn tails, moves unreadable chunks to a
 *   quarantine folder, and never lets one bad file stop the others.
 * - The constructor does no I/O; the directory is created by the first resume() or create().
 */
import { copyFile, mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import type { Chunk, ChunkMetadata, ChunkState, ChunkStorage, ResumeResult } from './chunk.js';
import { metadataKey, newChunkId } from './chunk.js';
import { FileChunk, type FileChunkContext, isCode, nowSec, unlinkIfExists } from './file-chunk.js';
import { META_SUFFIX, chunkNames, decodeMeta, groupChunkFiles } from './file-meta.js';
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

/** A chunk resume cannot use; the message is the reason logged with the quarantine. */
class BrokenChunk extends Error {}

export class FileStorage implements ChunkStorage {
  readonly persistent = true;
  readonly pluginId: string;
  /** Chunks moved to quarantine by resume(). */
  quarantined = 0;
  private readonly ctx: FileChunkContext;
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
