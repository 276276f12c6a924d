/**
 * Where a chunk goes when the primary cannot take it (retries exhausted, or UnrecoverableError):
 * the `<secondary>` output once, else a backup file (backup.ts). Also builds the secondary from
 * its plan; its lifecycle is driven by the BufferedOutput that owns it.
 */
import type { Logger } from 'pino';
import type { ConfigElement } from '../config/node.js';
import { errorMessage } from '../core/errors.js';
import type { EventStream } from '../core/event-stream.js';
import type { PluginMetrics } from '../core/metrics.js';
import type { AnyOutputDefinition, Lifecycle, PluginContext } from '../core/plugin.js';
import { backupChunk, type BackupOptions } from './backup.js';
import type { Chunk } from './chunk.js';
import type { ChunkKeys } from './chunk-keys.js';
import type { ChunkView } from './chunk-view.js';

/** A `<secondary>` target: writes a chunk once, synchronously (no delayed commit). */
export interface SecondaryTarget extends Lifecycle {
  type: string;
  write(chunk: ChunkView): Promise<void>;
}

/** A resolved `<secondary>` section, built only when the whole config is valid. */
export interface SecondaryPlan {
  def: AnyOutputDefinition;
  config: unknown;
  el: ConfigElement;
}

export function buildSecondary(plan: SecondaryPlan, ctx: PluginContext, keys: ChunkKeys): SecondaryTarget {
  const sctx: PluginContext = { ...ctx, id: `${ctx.id}.secondary`, type: plan.def.type, element: plan.el };
  if (plan.def.buffered) {
    const writer = plan.def.create(plan.config as never, { ...sctx, buffer: { commit() {}, rollback() {}, keys } });
    return {
      type: plan.def.type,
      write: (chunk) => writer.write(chunk),
      start: () => writer.start?.(),
      stop: () => writer.stop?.(),
      close: () => writer.close?.(),
    };
  }
  const out = plan.def.create(plan.config as never, sctx);
  return {
    type: plan.def.type,
    async write(chunk) {
      const stream: EventStream = await chunk.stream();
      await out.process(chunk.metadata.tag ?? '', stream);
    },
    start: () => out.start?.(),
    stop: () => out.stop?.(),
    close: () => out.close?.(),
  };
}

export interface EvacuateDeps {
  secondary: SecondaryTarget | null;
  backup: BackupOptions;
  log: Logger;
  metrics: PluginMetrics;
  /** Counts a write attempt on the secondary. */
  countSecondaryWrite(): void;
}

/**
 * Sends a chunk the primary cannot take to the secondary (when `useSecondary`), else backs it up.
 * True when the chunk may leave the buffer; false when it must stay (the backup failed too).
 */
export async function evacuate(chunk: Chunk, view: ChunkView, error: unknown, useSecondary: boolean, d: EvacuateDeps): Promise<boolean> {
  if (useSecondary && d.secondary) {
    d.countSecondaryWrite();
    try {
      await d.secondary.write(view);
      d.log.warn({ chunk: chunk.hexId, records: chunk.records, secondary: d.secondary.type, error: errorMessage(error) }, 'chunk written to <secondary> after primary failure');
      return true;
    } catch (e) {
      d.log.error({ chunk: chunk.hexId, secondary: d.secondary.type, error: errorMessage(e) }, 'failed to write the chunk to <secondary>');
    }
  }
  try {
    const path = await backupChunk(chunk, error, d.backup);
    d.metrics.countDrop(path === null ? 'discarded' : 'backup', chunk.records);
    return true;
  } catch (e) {
    d.log.error({ chunk: chunk.hexId, error: errorMessage(e) }, 'failed to back up the chunk; it stays in the buffer');
    return false;
  }
}
