/**
 * One chunk of the directory-mode file buffer (file.ts) and its I/O: the data file and the `.meta`
 * file. FileStorage creates and resumes these chunks; everything after that happens here.
 *
 * - The data file is authoritative. An append is one positional write at the chunk's end through a
 *   kept-open descriptor and resolves once it returned; a failed write is truncated away.
 * - The meta is written (temp file + rename) when a chunk is created — before any data exists, so a
 *   data file never lacks its meta — then at most every `metaIntervalMs` after appends, and at
 *   enqueue, saveProgress and close. Resume recounts entries from the data, so a stale `s`/`m` is harmless.
 * - Operations on one chunk run one at a time, in call order.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { LogferryError, errorMessage } from '../core/errors.js';
import type { Chunk, ChunkMetadata, ChunkProgress, ChunkState } from './chunk.js';
import { type ChunkMeta, META_SUFFIX, META_TMP_SUFFIX, type chunkNames, encodeMeta } from './file-meta.js';

/** What every chunk of one FileStorage shares. */
export interface FileChunkContext {
  dir: string;
  names: ReturnType<typeof chunkNames>;
  log: Logger;
  fileMode: number;
  metaIntervalMs: number;
  live: Set<FileChunk>;
}

export const nowSec = (): number => Math.floor(Date.now() / 1000);
export const isCode = (e: unknown, code: string): boolean => (e as { code?: unknown } | null)?.code === code;

export async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if (!isCode(e, 'ENOENT')) throw e;
  }
}

export class FileChunk implements Chunk {
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

  constructor(private readonly ctx: FileChunkContext, readonly id: Buffer, readonly metadata: ChunkMetadata, readonly createdAt: number, init: {
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
