/**
 * The record modification shared by the record_modifier filter and output (spec §5): `<record>`
 * entries applied in order and in place (each sees the ones before it), then `remove_keys` or
 * `whitelist_keys`, then `<replace>`, then `char_encoding`. Every `${…}` is Ruby, run by src/expr/.
 */
import type { ConfigElement } from '../../../config/node.js';
import { p } from '../../../config/schema.js';
import type { Record_ } from '../../../core/event-stream.js';
import { timeNanos, timeSeconds, type Time } from '../../../core/event-time.js';
import type { ValidationProblem } from '../../../core/plugin.js';
import { compileTemplate, ExprSyntaxError, REventTime, splitTag, type Scope, type Template } from '../../../expr/index.js';
import { AccessorError, deletePath, parseAccessor, type AccessorPath } from '../../../expr/record-accessor.js';
import { substitute, translateRegex } from '../../../expr/regex.js';
import { RRegex, setOwn } from '../../../expr/values.js';

export const VARIABLES = ['tag', 'time', 'record', 'tag_parts'] as const;

/** Parameters both forms declare (remove_keys and tag differ and are declared by each). */
export const sharedParams = {
  record: p.section({ desc: 'KEY VALUE pairs set in order, in place; ${…} holds Ruby (tag, time, record, tag_parts)', multi: true, opaque: true }, {}),
  replace: p.section({ desc: 'Regexp substitution on one field', multi: true }, {
    key: p.string({ required: true, desc: 'Field to change (only if present and matching)' }),
    expression: p.string({ required: true, desc: 'A /regexp/' }),
    replace: p.string({ required: true, desc: 'Replacement; \\1 and \\k<name> refer to groups' }),
  }),
  whitelist_keys: p.string({ default: null, desc: 'Comma-separated keys to keep (plus the <record> keys); exclusive with remove_keys' }),
  char_encoding: p.string({ default: null, desc: '`utf-8`, or `FROM:utf-8` to decode binary fields from FROM' }),
  prepare_value: p.string({ default: null, desc: 'Not supported: Ruby run at configure time' }),
};

export interface ModifierConfig {
  record: ReadonlyArray<{ element: ConfigElement }>;
  replace: ReadonlyArray<{ key: string; expression: string; replace: string }>;
  whitelist_keys: string | null;
  char_encoding: string | null;
  prepare_value: string | null;
  remove_keys: readonly string[] | null;
}

export interface CompiledModifier {
  problems: ValidationProblem[];
  warnings: string[];
  /** Modifies `record` in place and returns it (a new object when whitelisting). Throws RecordError. */
  modify(tag: string, time: Time, record: Record_): Record_;
  /** Builds the Ruby scope for a record (the output's dynamic tag uses it too). */
  scope(tag: string, time: Time, record: Record_): Scope;
  /** What `Socket.gethostname` answers; the plugin sets it from its context. */
  hostname: string;
}

function charEncoder(spec: string, problems: ValidationProblem[]): ((v: unknown) => unknown) | null {
  const [from, to] = spec.split(':').map((x) => x.trim().toLowerCase());
  const isUtf8 = (x: string | undefined) => x === 'utf-8' || x === 'utf8';
  if (to !== undefined && !isUtf8(to)) {
    problems.push({ param: 'char_encoding', message: `only utf-8 is supported as the target encoding, got '${to}'` });
    return null;
  }
  if (to === undefined && !isUtf8(from)) {
    problems.push({ param: 'char_encoding', message: `labelling strings as '${from}' has no meaning here; use '${from}:utf-8' to decode them` });
    return null;
  }
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(from);
  } catch {
    problems.push({ param: 'char_encoding', message: `unknown encoding '${from}'` });
    return null;
  }
  // strings already arrived as Unicode text; binary fields are decoded from FROM
  const walk = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return decoder.decode(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const obj = v as Record_;
      for (const k of Object.keys(obj)) obj[k] = walk(obj[k]);
    }
    return v;
  };
  return walk;
}

function replaceRegex(text: string, warnings: string[]): RegExp {
  if (text.length >= 2 && text.startsWith('/') && text.endsWith('/')) return translateRegex(text.slice(1, -1), '');
  warnings.push(`<replace> expression ${text} is not written as /regexp/; it is used as a regexp anyway`);
  return translateRegex(text, '');
}

/** Compiles a record_modifier config. `accessorKeys`: remove_keys in record_accessor syntax (the filter). */
export function compileModifier(c: ModifierConfig, accessorKeys: boolean): CompiledModifier {
  const problems: ValidationProblem[] = [];
  const warnings: string[] = [];
  if (c.prepare_value !== null) {
    problems.push({ param: 'prepare_value', message: 'runs Ruby at configure time and is not supported; compute the value with ${…} in <record> instead' });
  }
  if (c.remove_keys && c.whitelist_keys !== null) problems.push({ param: 'whitelist_keys', message: 'remove_keys and whitelist_keys are exclusive' });

  const entries: Array<{ key: string; value: Template }> = [];
  for (const section of c.record) {
    for (const [key, param] of section.element.params) {
      try {
        entries.push({ key, value: compileTemplate(param.value, { variables: VARIABLES, typecast: true, verbatimWithoutPlaceholder: true }) });
      } catch (e) {
        if (!(e instanceof ExprSyntaxError)) throw e;
        problems.push({ message: `<record> ${key} (${param.file}:${param.line}): invalid expression in \`${e.source || param.value}\`: ${e.message}` });
      }
    }
  }
  const removers: AccessorPath[] = [];
  for (const k of c.remove_keys ?? []) {
    try {
      removers.push(accessorKeys ? parseAccessor(k) : [k]);
    } catch (e) {
      if (!(e instanceof AccessorError)) throw e;
      problems.push({ param: 'remove_keys', message: e.message });
    }
  }
  const whitelist = c.whitelist_keys === null ? null
    : new Set([...c.whitelist_keys.split(',').map((k) => k.trim()).filter((k) => k !== ''), ...entries.map((e) => e.key)]);
  const replaces: Array<{ key: string; re: RRegex; replace: string }> = [];
  for (const r of c.replace) {
    try {
      const re = replaceRegex(r.expression, warnings);
      replaces.push({ key: r.key, re: new RRegex(re.source, re), replace: r.replace });
    } catch (e) {
      problems.push({ param: 'expression', message: `<replace> ${r.key}: invalid regexp ${r.expression}: ${(e as Error).message}` });
    }
  }
  const encode = c.char_encoding === null ? null : charEncoder(c.char_encoding, problems);

  let lastTag = '';
  let lastParts: string[] = [];
  const scope = (tag: string, time: Time, record: Record_): Scope => {
    if (tag !== lastTag) { lastTag = tag; lastParts = splitTag(tag); }
    return {
      vars: { tag, time: new REventTime(timeSeconds(time), timeNanos(time)), record, tag_parts: lastParts },
      hostname: compiled.hostname,
      env: process.env,
      nowMs: () => Date.now(),
    };
  };

  const modify = (tag: string, time: Time, input: Record_): Record_ => {
    let record = input;
    if (entries.length > 0) {
      const s = scope(tag, time, record);
      for (const e of entries) setOwn(record, e.key, e.value.expand(s));
    }
    if (removers.length > 0) {
      for (const path of removers) deletePath(record, path);
    } else if (whitelist) {
      const kept: Record_ = {};
      for (const k of Object.keys(record)) if (whitelist.has(k)) setOwn(kept, k, record[k]);
      record = kept;
    }
    for (const r of replaces) {
      const v = Object.hasOwn(record, r.key) ? record[r.key] : undefined;
      if (typeof v === 'string' && r.re.re.test(v)) setOwn(record, r.key, substitute(v, r.re, r.replace, true));
    }
    if (encode) encode(record);
    return record;
  };
  const compiled: CompiledModifier = { problems, warnings, modify, scope, hostname: '' };
  return compiled;
}
