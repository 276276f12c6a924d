/**
 * v0.12 spellings → v1 (spec §5, §6): plain `type`/`id`/`log_level`, and flat buffer parameters in a
 * `<match>` turned into a synthetic `<buffer>`. Pure functions on the tree; they return warnings.
 */
import type { ConfigElement, ConfigParam } from './node.js';
import { describeElement, newElement, setParam } from './node.js';
import { ConfigError, problemAt } from './errors.js';

const TYPE_ALIASES: Array<[string, string]> = [['type', '@type'], ['id', '@id'], ['log_level', '@log_level']];

function where(el: ConfigElement, p: ConfigParam): string {
  return `${p.file}:${p.line} ${describeElement(el)}`;
}

/** Replaces a key in place, keeping the parameter order. */
function renameParam(el: ConfigElement, from: string, to: string): void {
  const entries = [...el.params.entries()];
  el.params.clear();
  for (const [k, v] of entries) el.params.set(k === from ? to : k, v);
}

/**
 * Plain `type`/`id`/`log_level` on this element become `@type`/`@id`/`@log_level` when the `@` form
 * is absent. Only call it on plugin directives (`<source>`, `<match>`, `<filter>`, `<store>` …): in
 * `<record>`, `type` is an ordinary field.
 */
export function applyTypeAlias(el: ConfigElement): string[] {
  const warnings: string[] = [];
  for (const [plain, reserved] of TYPE_ALIASES) {
    const p = el.params.get(plain);
    if (!p || el.params.has(reserved)) continue;
    renameParam(el, plain, reserved);
    warnings.push(`${where(el, p)}: '${plain}' is deprecated; use '${reserved}' instead`);
  }
  return warnings;
}

/** v0.12 flat name → `<buffer>` name (spec §6; `retry_wait` added on purpose). */
const BUFFER_PARAMS: Record<string, string> = {
  buffer_type: '@type',
  buffer_path: 'path',
  num_threads: 'flush_thread_count',
  flush_interval: 'flush_interval',
  try_flush_interval: 'flush_thread_interval',
  queued_chunk_flush_interval: 'flush_thread_burst_interval',
  disable_retry_limit: 'retry_forever',
  retry_limit: 'retry_max_times',
  retry_wait: 'retry_wait',
  max_retry_wait: 'retry_max_interval',
  buffer_chunk_limit: 'chunk_limit_size',
  buffer_queue_limit: 'queue_limit_length',
  buffer_queue_full_action: 'overflow_action',
  flush_at_shutdown: 'flush_at_shutdown',
  time_slice_format: 'timekey',
  time_slice_wait: 'timekey_wait',
  timezone: 'timekey_zone',
};

/** `timekey` from the finest strftime field in `time_slice_format`. */
function timekeyFor(match: ConfigElement, format: string): string {
  if (format.includes('%S')) return '1';
  if (format.includes('%M')) return '60';
  if (format.includes('%H')) return '3600';
  if (format.includes('%d')) return '86400';
  throw new ConfigError([problemAt(match,
    'time_slice_format with only %Y or %m is too coarse; add %d, %H, %M or %S', { param: 'time_slice_format', code: 'LF_CONFIG_PARAM' })]);
}

/** Fluentd bool reading for `localtime`/`utc`: `false`/`no` are false, anything else given is true. */
const isTrue = (v: string): boolean => v !== 'false' && v !== 'no';

/** `timekey_use_utc` from `localtime`/`utc` (both given ⇒ error); null when neither is given. */
function useUtc(match: ConfigElement): ConfigParam | null {
  const local = match.params.get('localtime');
  const utc = match.params.get('utc');
  if (local && utc) {
    throw new ConfigError([problemAt(match, 'both utc and localtime are given; use only one of them', { param: 'utc' })]);
  }
  if (local) return { ...local, value: String(!isTrue(local.value)) };
  if (utc) return { ...utc, value: String(isTrue(utc.value)) };
  return null;
}

/** The v1 param(s) one flat param becomes. */
function convert(match: ConfigElement, flat: string, p: ConfigParam): Array<[string, ConfigParam]> {
  const name = BUFFER_PARAMS[flat];
  switch (flat) {
    case 'buffer_queue_full_action':
      return [[name, p.value === 'exception' ? { ...p, value: 'throw_exception' } : p]];
    case 'flush_interval':
      return [[name, p], ['flush_mode', { ...p, value: 'interval', special: undefined }]];
    case 'time_slice_format': {
      const out: Array<[string, ConfigParam]> = [[name, { ...p, value: timekeyFor(match, p.value), special: undefined }]];
      const utc = useUtc(match);
      if (utc) out.push(['timekey_use_utc', utc]);
      return out;
    }
    default:
      return [[name, p]];
  }
}

function stripUndefined(p: ConfigParam): ConfigParam {
  const out: ConfigParam = { value: p.value, file: p.file, line: p.line };
  if (p.special) out.special = p.special;
  return out;
}

/**
 * When `match` has no `<buffer>` and uses v0.12 flat buffer parameters, moves them into a synthetic
 * `<buffer>` (chunk keys: `time` with `time_slice_format`, else `defaultChunkKeys`). Each converted
 * param keeps its original file and line. Returns one deprecation warning per moved parameter.
 */
export function applyV0BufferCompat(match: ConfigElement, opts: { defaultChunkKeys: string[] }): string[] {
  if (match.elements.some((e) => e.name === 'buffer')) return [];
  const flat = [...match.params.entries()].filter(([k]) => k in BUFFER_PARAMS);
  if (flat.length === 0) return [];
  const first = flat.reduce((a, b) => (b[1].line < a[1].line ? b : a))[1];
  const arg = match.params.has('time_slice_format') ? 'time' : opts.defaultChunkKeys.join(',');
  const buffer = newElement('buffer', arg, first.file, first.line);
  const warnings: string[] = [];
  for (const [key, p] of flat) {
    for (const [name, v] of convert(match, key, p)) setParam(buffer, name, stripUndefined(v));
    match.params.delete(key);
    warnings.push(`${where(match, p)}: '${key}' is a v0.12 parameter; use '${BUFFER_PARAMS[key]}' in <buffer${arg ? ` ${arg}` : ''}> instead`);
  }
  match.elements.push(buffer);
  return warnings;
}
