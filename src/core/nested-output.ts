/**
 * Builds an output plugin from a nested element (copy's `<store>`), buffered or not, the way the
 * agent builds a `<match>`: v0.12 spellings, schema resolution, `validate`, `<buffer>` setup, then
 * `create`. The nested plugin gets a context derived from its parent's: it re-emits into its own
 * `@label`, else where the parent emits; errors go where the parent's go.
 *
 * Not (yet) done here, because only the agent knows: duplicate `@id` checks against other
 * plugins, checking that a nested `@label` is declared, buffer path clashes with top-level outputs.
 */
import { applyTypeAlias, applyV0BufferCompat } from '../config/compat-v0.js';
import { ConfigError, problemAt, type ConfigProblem } from '../config/errors.js';
import { describeElement, type ConfigElement } from '../config/node.js';
import { resolveParams } from '../config/schema.js';
import { prepareBufferedOutput } from '../buffer/setup.js';
import { errorMessage } from './errors.js';
import { LOG_LEVELS, pluginLogger, type LogLevel } from './log.js';
import { PluginMetrics } from './metrics.js';
import type { AnyOutputDefinition, OutputDefinition, OutputInstance, PluginContext } from './plugin.js';
import { lookup, unknownPluginMessage } from './registry.js';

export interface NestedOutput {
  readonly id: string;
  readonly type: string;
  readonly element: ConfigElement;
  readonly metrics: PluginMetrics;
  readonly instance: OutputInstance;
}

export interface NestedOutputOptions {
  /** Section name for messages (`store`). */
  section: string;
  /** Position among its siblings (1-based), for the generated id `<parent id>/<section><n>`. */
  index: number;
}

/**
 * Resolves and builds one nested output. Throws ConfigError listing every problem found; returns
 * the config warnings (unknown parameters, deprecated spellings) for the caller to log.
 */
export function buildNestedOutput(el: ConfigElement, parent: PluginContext, o: NestedOutputOptions): { output: NestedOutput; warnings: string[] } {
  const warnings = applyTypeAlias(el);
  const problems: ConfigProblem[] = [];
  const type = el.params.get('@type')?.value;
  if (!type) throw new ConfigError([problemAt(el, `Missing '@type' parameter in <${o.section}> section`, { code: 'LF_CONFIG_PARAM' })]);
  const def = lookup('output', type) as AnyOutputDefinition | undefined;
  if (!def) throw new ConfigError([problemAt(el, unknownPluginMessage('output', type), { param: '@type', code: 'LF_CONFIG_PLUGIN' })]);
  if (def.secondaryOnly) throw new ConfigError([problemAt(el, `${type} can only be used inside <secondary>`, { param: '@type', code: 'LF_CONFIG_PLUGIN' })]);
  if (def.buffered) warnings.push(...applyV0BufferCompat(el, { defaultChunkKeys: def.buffer.chunkKeys })); // throws ConfigError
  const r = resolveParams(def.params, el, { type, consumed: def.buffered ? ['<buffer>', '<secondary>'] : [] });
  problems.push(...r.problems);
  warnings.push(...r.warnings);
  if (r.problems.length === 0 && def.validate) {
    for (const v of def.validate(r.value)) problems.push(problemAt(el, v.message, { param: v.param, type }));
  }
  const idParam = el.params.get('@id');
  const id = idParam?.value ?? `${parent.id}/${o.section}${o.index}`;
  let logLevel: LogLevel | null = null;
  const levelParam = el.params.get('@log_level');
  if (levelParam) {
    if ((LOG_LEVELS as readonly string[]).includes(levelParam.value)) logLevel = levelParam.value as LogLevel;
    else problems.push(problemAt(el, `expected one of ${LOG_LEVELS.join(', ')}`, { param: '@log_level', type }));
  }
  const prepared = def.buffered
    ? prepareBufferedOutput(def, el, r.value, { pluginId: id, explicitId: !!idParam, workerId: parent.workerId, workers: parent.workers, rootDir: parent.rootDir, claimedPaths: new Map() })
    : null;
  if (prepared) {
    problems.push(...prepared.problems);
    warnings.push(...prepared.warnings);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const label = el.params.get('@label')?.value ?? null;
  const metrics = new PluginMetrics(id, type, 'output');
  const ctx: PluginContext = {
    id,
    type,
    hasExplicitId: !!idParam,
    log: pluginLogger(parent.log, id, type, !!idParam, logLevel),
    metrics,
    workerId: parent.workerId,
    workers: parent.workers,
    rootDir: parent.rootDir,
    hostname: parent.hostname,
    label,
    element: el,
    emit: label ? (tag, stream) => parent.emitToLabel(label, tag, stream) : (tag, stream) => parent.emit(tag, stream),
    emitError: (tag, time, record, error) => parent.emitError(tag, time, record, error),
    emitToLabel: (l, tag, stream) => parent.emitToLabel(l, tag, stream),
  };
  let instance: OutputInstance;
  try {
    instance = prepared ? prepared.build(ctx) : (def as OutputDefinition).create(r.value as never, ctx);
  } catch (e) {
    throw new ConfigError([{ code: 'LF_CONFIG_PARAM', file: el.file, line: el.line, directive: describeElement(el), type, message: errorMessage(e) }]);
  }
  return { output: { id, type, element: el, metrics, instance }, warnings };
}
