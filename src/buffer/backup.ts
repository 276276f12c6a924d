/**
 * Where chunks go when they cannot be delivered (retries exhausted, or an unrecoverable error):
 * a `<secondary>` output, or a backup file that keeps the chunk bytes and its metadata. Never
 * dropped unlogged.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import type { Chunk } from './chunk.js';

export interface BackupOptions {
  /** `<system> root_dir`, else $FLUENT_BACKUP_DIR, else /tmp/fluent. */
  baseDir: string;
  workerId: number;
  pluginId: string;
  disabled: boolean;
  compressed: boolean;
  log: Logger;
}

export function backupBaseDir(rootDir: string | null): string {
  return rootDir ?? process.env.FLUENT_BACKUP_DIR ?? '/tmp/fluent';
}

/** `<base>/backup/worker<N>/<plugin_id>/`, with characters unsafe in paths replaced by `_`. */
export function backupDir(o: Pick<BackupOptions, 'baseDir' | 'workerId' | 'pluginId'>): string {
  return join(o.baseDir, 'backup', `worker${o.workerId}`, o.pluginId.replace(/[ "/\\:;|*<>?]/g, '_'));
}

/**
 * Writes the chunk's bytes to `<hex>.log` and its metadata (tag, timekey, variables, records) to
 * `<hex>.log.meta.json`, logging the file at error level. Returns the path, or null when backups
 * are disabled (the chunk is then discarded with a warning).
 */
export async function backupChunk(chunk: Chunk, reason: unknown, o: BackupOptions): Promise<string | null> {
  const fields = { chunk: chunk.hexId, tag: chunk.metadata.tag, records: chunk.records, error: errorMessage(reason) };
  if (o.disabled) {
    o.log.warn(fields, 'disable_chunk_backup is true: chunk discarded');
    return null;
  }
  const dir = backupDir(o);
  const path = join(dir, `${chunk.hexId}.log${o.compressed ? '.gz' : ''}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path, await chunk.read());
  const meta = { ...chunk.metadata, id: chunk.hexId, records: chunk.records, created_at: chunk.createdAt, compressed: o.compressed ? 'gzip' : 'text', reason: errorMessage(reason) };
  await writeFile(`${path}.meta.json`, JSON.stringify(meta) + '\n');
  o.log.error({ ...fields, path }, 'bad chunk is moved to backup file');
  return path;
}
