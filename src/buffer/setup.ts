/**
 * Turns a buffered output's `<match>` into a BufferedOutput: resolves `<buffer>` with the plugin's
 * re-defaults and the storage defaults, checks chunk keys, paths and `<secondary>`, and — only when
 * the whole config is valid — builds storage, buffer and plugin. No I/O happens here.
 */
import { join } from 'node:path';
import type { ConfigProblem } from '../config/errors.js';
import { describeElement, newElement, type ConfigElement } from '../config/node.js';
import { resolveParams } from '../config/schema.js';
import type { AnyOutputDefinition, BufferedOutputDefinition, BufferDefaults, BufferedPluginContext, OutputInstance, PluginContext } from '../core/plugin.js';
import { errorMessage } from '../core/errors.js';
import { lookup } from '../core/registry.js';
import { backupBaseDir } from './backup.js';
import { ChunkBuffer } from './buffer.js';
import { BufferedOutput, type BufferedOutputOptions } from './buffered-output.js';
import { ChunkKeys, zoneOffsetMinutes } from './chunk-keys.js';
import { FileStorage } from './file.js';
import { resolveFlushMode } from './flush-scheduler.js';
import { registerReceiver } from './handover.js';
import { MemoryStorage } from './memory.js';
import { bufferParams, type BufferConfig } from './params.js';
import { buildSecondary, type SecondaryPlan } from './secondary.js';

const MIB = 1024 * 1024;
const STORAGE_DEFAULTS = {
  memory: { chunk_limit_size: 8 * MIB, total_limit_size: 512 * MIB },
  file: { chunk_limit_size: 256 * MIB, total_limit_size: 64 * 1024 * MIB },
};

export interface BufferSetupOptions {
  pluginId: string;
  explicitId: boolean;
  workerId: number;
  workers: number;
  rootDir: string | null;
  /** Buffer directories already claimed by other plugins (two may not share one). */
  claimedPaths: Map<string, string>;
}

/** Run-time settings that are not configuration: the agent passes none; tests drive time with them. */
export type BufferRuntimeOptions = Pick<BufferedOutputOptions, 'clock' | 'random' | 'shutdownDeadlineSec'>;

export interface PreparedBuffer {
  problems: ConfigProblem[];
  warnings: string[];
  /** Builds the output; call only when the whole config had no problems. */
  build(ctx: PluginContext, runtime?: BufferRuntimeOptions): OutputInstance;
}

export function prepareBufferedOutput(def: BufferedOutputDefinition, el: ConfigElement, pluginConfig: unknown, o: BufferSetupOptions): PreparedBuffer {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const bufEls = el.elements.filter((e) => e.name === 'buffer');
  const bufEl = bufEls[0] ?? newElement('buffer', '', el.file, el.line);
  const where = { file: bufEl.file, line: bufEl.line, directive: describeElement(bufEl), type: def.type };
  if (bufEls.length > 1) problems.push({ ...where, code: 'LF_CONFIG_STRUCTURE', message: 'only one <buffer> section is allowed' });
  const r = resolveParams(bufferParams, bufEl, { type: def.type });
  problems.push(...r.problems);
  warnings.push(...r.warnings);
  const given = (k: string) => bufEl.params.has(k);
  const cfg: Record<string, unknown> = { ...r.value, arg: bufEl.arg };
  for (const [k, v] of Object.entries(def.buffer.defaults ?? {})) if (!given(k)) cfg[k] = v;
  const storageType = cfg['@type'] as 'memory' | 'file';
  const sd = STORAGE_DEFAULTS[storageType];
  cfg.chunk_limit_size ??= sd.chunk_limit_size;
  if (cfg.total_limit_size === null) {
    cfg.total_limit_size = cfg.queue_limit_length !== null ? (cfg.chunk_limit_size as number) * (cfg.queue_limit_length as number) : sd.total_limit_size;
  }
  cfg.flush_at_shutdown ??= storageType === 'memory';
  Object.assign(cfg, (def.buffer as BufferDefaults).override?.(pluginConfig, cfg as BufferConfig) ?? {});
  const config = cfg as BufferConfig;

  let keyNames: string[] = [];
  try {
    keyNames = ChunkKeys.parseArg(bufEl.arg, def.buffer.chunkKeys);
  } catch (e) {
    problems.push({ ...where, code: 'LF_CONFIG_PARAM', message: `chunk keys: ${errorMessage(e)}` });
  }
  if (!keyNames.includes('tag') && (def.buffer as BufferDefaults).impliedTag?.(pluginConfig)) keyNames = [...keyNames, 'tag'];
  problems.push(...ChunkKeys.validate(keyNames, config.timekey, where));
  for (const k of def.buffer.requiredKeys ?? []) {
    if (!keyNames.includes(k)) problems.push({ ...where, code: 'LF_CONFIG_PARAM', message: `${k} must be a chunk key of @type ${def.type}` });
  }
  if (keyNames.length >= 4) warnings.push(`${bufEl.file}:${bufEl.line} ${where.directive}: ${keyNames.length} chunk keys make many small chunks; use fewer`);
  let zone = config.timekey_zone;
  if (zone !== null && zoneOffsetMinutes(zone) === null) {
    problems.push({ ...where, code: 'LF_CONFIG_PARAM', param: 'timekey_zone', message: `unknown time zone '${zone}': use an offset like +0900 or a name like Asia/Tokyo` });
    zone = null;
  }
  const keys = new ChunkKeys(keyNames, config.timekey, { useUtc: config.timekey_use_utc, zone });
  const mode = resolveFlushMode(config.flush_mode, { timeKey: keys.time, v0FlushInterval: false });
  if (given('flush_interval') && mode !== 'interval') {
    if (given('flush_mode')) {
      problems.push({ ...where, code: 'LF_CONFIG_PARAM', param: 'flush_interval', message: `cannot be set when flush_mode is '${mode}'; it needs flush_mode interval` });
    } else {
      warnings.push(`${bufEl.file}:${bufEl.line} ${where.directive}: flush_interval is ignored with the time chunk key unless flush_mode interval is set`);
    }
  }
  if (!config.flush_at_shutdown && storageType === 'memory') {
    warnings.push(`${bufEl.file}:${bufEl.line} ${where.directive}: flush_at_shutdown false with a memory buffer loses buffered events at shutdown`);
  }

  let dir: string | null = null;
  if (storageType === 'file' || config.path) {
    // file: the buffer itself; memory with a path: where unflushed chunks are written at shutdown
    if (config.path) dir = o.workers > 1 ? join(config.path, `worker${o.workerId}`) : config.path;
    else if (o.rootDir && o.explicitId) dir = join(o.rootDir, `worker${o.workerId}`, o.pluginId, 'buffer');
    else problems.push({ ...where, code: 'LF_CONFIG_PARAM', param: 'path', message: 'buffer path is not configured: set path, or <system> root_dir and @id' });
    if (dir) {
      const other = o.claimedPaths.get(dir);
      if (other) problems.push({ ...where, code: 'LF_CONFIG_PARAM', param: 'path', message: `buffer path ${dir} is already used by ${other}` });
      o.claimedPaths.set(dir, `${describeElement(el)} at ${el.file}:${el.line}`);
    }
  }

  const secondary = prepareSecondary(def, el, config, problems, warnings);

  return {
    problems, warnings,
    build(ctx, runtime = {}) {
      const files = () => new FileStorage({ dir: dir!, pathSuffix: config.path_suffix, pluginId: o.pluginId, log: ctx.log, compressed: config.compress === 'gzip' });
      // a reload hands memory chunks to the output with the same id (auto ids: and pattern), type and chunk keys
      const handoverKey = storageType === 'memory' ? [o.pluginId, o.explicitId ? '' : describeElement(el), def.type, keyNames.join(','), config.timekey].join('\0') : undefined;
      if (handoverKey !== undefined) registerReceiver(handoverKey);
      const storage = storageType === 'file' ? files() : new MemoryStorage(dir ? files() : null, handoverKey);
      const buffer = new ChunkBuffer(storage, {
        chunkLimitSize: config.chunk_limit_size!, chunkLimitRecords: config.chunk_limit_records,
        totalLimitSize: config.total_limit_size!, chunkFullThreshold: config.chunk_full_threshold, compress: config.compress === 'gzip',
      });
      const bo: BufferedOutput = new BufferedOutput({
        config, buffer, keys,
        mode,
        flushAtShutdown: config.flush_at_shutdown!,
        delayedCommit: (def.buffer as BufferDefaults).delayedCommit?.(pluginConfig) ?? false,
        type: def.type,
        secondary: secondary ? buildSecondary(secondary, ctx, keys) : null,
        backup: { baseDir: backupBaseDir(ctx.rootDir), workerId: ctx.workerId, pluginId: ctx.id, disabled: config.disable_chunk_backup },
        log: ctx.log, metrics: ctx.metrics, emitError: ctx.emitError, handoverKey,
        ...runtime,
      });
      const bctx: BufferedPluginContext = { ...ctx, buffer: bo };
      bo.writer = def.create(pluginConfig as never, bctx);
      return bo;
    },
  };
}

function prepareSecondary(def: BufferedOutputDefinition, el: ConfigElement, config: BufferConfig, problems: ConfigProblem[], warnings: string[]): SecondaryPlan | null {
  const els = el.elements.filter((e) => e.name === 'secondary');
  if (els.length === 0) return null;
  const sel = els[0]!;
  const where = { file: sel.file, line: sel.line, directive: '<secondary>' };
  if (els.length > 1) problems.push({ ...where, code: 'LF_CONFIG_STRUCTURE', message: 'only one <secondary> section is allowed' });
  for (const c of sel.elements) {
    if (c.name === 'buffer' || c.name === 'secondary') problems.push({ ...where, line: c.line, code: 'LF_CONFIG_STRUCTURE', message: `<${c.name}> is not allowed inside <secondary>` });
  }
  const type = sel.params.get('@type')?.value ?? sel.params.get('type')?.value ?? def.type;
  const sdef = lookup('output', type) as AnyOutputDefinition | undefined;
  if (!sdef) {
    problems.push({ ...where, code: 'LF_CONFIG_PLUGIN', param: '@type', message: `unknown output plugin '${type}'` });
    return null;
  }
  if (config.retry_forever) warnings.push(`${sel.file}:${sel.line} <secondary>: with retry_forever the secondary is used only for unrecoverable errors`);
  if (!(config.retry_secondary_threshold > 0 && config.retry_secondary_threshold < 1)) {
    problems.push({ ...where, code: 'LF_CONFIG_PARAM', param: 'retry_secondary_threshold', message: 'must be between 0 and 1 (exclusive) with a <secondary>' });
  }
  const r = resolveParams(sdef.params, sel, { type, consumed: ['<buffer>', '<secondary>'] });
  const directive = `<secondary> in ${describeElement(el)}`;
  problems.push(...r.problems.map((p) => ({ ...p, directive })));
  warnings.push(...r.warnings);
  if (r.problems.length === 0 && sdef.validate) {
    for (const v of sdef.validate(r.value)) {
      const at = v.param ? sel.params.get(v.param) : undefined;
      problems.push({ code: 'LF_CONFIG_PARAM', file: at?.file ?? sel.file, line: at?.line ?? sel.line, directive, type, param: v.param, message: v.message });
    }
  }
  return { def: sdef, config: r.value, el: sel };
}
