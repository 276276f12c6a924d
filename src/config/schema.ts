/**
 * Declarative, typed parameter schemas. A plugin declares its parameters once with the `p.*`
 * builders; `resolveParams` turns a config element into a typed object (coercion, defaults,
 * validation, unknown-parameter warnings) and `docs.ts` renders the same schema as help text.
 */
import type { ConfigElement } from './node.js';
import { describeElement } from './node.js';
import type { ConfigProblem } from './errors.js';
import { CoerceError, toArray, toBool, toEnum, toFloat, toHash, toInteger, toSize, toTime } from './types.js';

export type ScalarKind = 'string' | 'integer' | 'float' | 'size' | 'time' | 'bool' | 'enum' | 'array' | 'hash';

interface Common {
  desc: string;
  required?: boolean;
  secret?: boolean;
  /** Other spellings accepted for this parameter (v0.12 names). */
  alias?: string[];
  /** Message shown when the parameter is used. */
  deprecated?: string;
}

export interface ScalarSpec<T> extends Common {
  kind: ScalarKind;
  default?: T | null;
  min?: number;
  max?: number;
  options?: readonly string[];
  valueType?: 'string' | 'integer' | 'float' | 'size' | 'time' | 'bool';
  /** Type marker only. */
  readonly __t?: T;
}

export interface SectionSpec<T> {
  kind: 'section';
  desc: string;
  multi: boolean;
  required: boolean;
  /** Description of the element argument (`<buffer ARG>`), if the section takes one. */
  argDesc?: string;
  /** The plugin interprets these elements itself (copy's `<store>`): no params resolved, none reported unused. */
  opaque?: boolean;
  params: Schema;
  readonly __t?: T;
}

export type ParamSpec = ScalarSpec<unknown> | SectionSpec<unknown>;
export type Schema = Record<string, ParamSpec>;

type Opt<T> = Common & { default?: T | null; min?: number; max?: number };
/** The resolved type: non-null when required or defaulted to a non-null value. */
type Out<T, O> = O extends { required: true } ? T : O extends { default: infer D } ? (null extends D ? T | null : T) : T | null;

function scalar<T>(kind: ScalarKind) {
  return <O extends Opt<T>>(o: O): ScalarSpec<Out<T, O>> => ({ ...o, kind }) as ScalarSpec<Out<T, O>>;
}

export type SectionValue<S extends Schema> = ParamsOf<S> & { readonly arg: string; readonly element: ConfigElement };

export const p = {
  string: scalar<string>('string'),
  integer: scalar<number>('integer'),
  float: scalar<number>('float'),
  size: scalar<number>('size'),
  time: scalar<number>('time'),
  bool: scalar<boolean>('bool'),
  enum<const E extends string, O extends Common & { default?: E | null }>(options: readonly E[], o: O): ScalarSpec<Out<E, O>> {
    return { ...o, kind: 'enum', options } as ScalarSpec<Out<E, O>>;
  },
  array<O extends Common & { default?: unknown[] | null; valueType?: ScalarSpec<unknown>['valueType'] }>(o: O): ScalarSpec<Out<string[], O>> {
    return { ...o, kind: 'array' } as ScalarSpec<Out<string[], O>>;
  },
  hash<O extends Common & { default?: Record<string, unknown> | null }>(o: O): ScalarSpec<Out<Record<string, unknown>, O>> {
    return { ...o, kind: 'hash' } as ScalarSpec<Out<Record<string, unknown>, O>>;
  },
  section<S extends Schema, const O extends { desc: string; multi?: boolean; required?: boolean; argDesc?: string; opaque?: boolean }>(
    o: O,
    params: S,
  ): SectionSpec<O extends { multi: true } ? SectionValue<S>[] : O extends { required: true } ? SectionValue<S> : SectionValue<S> | null> {
    return { kind: 'section', desc: o.desc, multi: o.multi ?? false, required: o.required ?? false, argDesc: o.argDesc, opaque: o.opaque, params } as never;
  },
};

export type ParamsOf<S extends Schema> = {
  readonly [K in keyof S]: S[K] extends ScalarSpec<infer T> ? T : S[K] extends SectionSpec<infer T> ? T : never;
};

export function defineParams<S extends Schema>(s: S): S {
  return s;
}

/** Parameters every plugin directive may carry; the agent reads them, schemas never declare them. */
export const RESERVED_PARAMS = new Set(['@type', '@id', '@label', '@log_level', 'type', 'id', 'log_level']);

export interface ResolveResult<T> {
  value: T;
  problems: ConfigProblem[];
  warnings: string[];
}

export interface ResolveOptions {
  /** Plugin type, for messages. */
  type?: string;
  /** Parameter names the caller consumes itself (not reported as unknown). */
  consumed?: Iterable<string>;
}

function coerce(spec: ScalarSpec<unknown>, text: string): unknown {
  switch (spec.kind) {
    case 'string': return text;
    case 'integer': return checkRange(spec, toInteger(text));
    case 'float': return checkRange(spec, toFloat(text));
    case 'size': return checkRange(spec, toSize(text));
    case 'time': return checkRange(spec, toTime(text));
    case 'bool': return toBool(text);
    case 'enum': return toEnum(text, spec.options ?? []);
    case 'hash': return toHash(text);
    case 'array': {
      const arr = toArray(text);
      if (!spec.valueType || spec.valueType === 'string') return arr.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
      const inner = { kind: spec.valueType, desc: '' } as ScalarSpec<unknown>;
      return arr.map((x) => coerce(inner, typeof x === 'string' ? x : String(x)));
    }
  }
}

function checkRange(spec: ScalarSpec<unknown>, n: number): number {
  if (spec.min !== undefined && n < spec.min) throw new CoerceError(`must be at least ${spec.min}, got ${n}`);
  if (spec.max !== undefined && n > spec.max) throw new CoerceError(`must be at most ${spec.max}, got ${n}`);
  return n;
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

export function nearest(name: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(name, c);
    if (dd < bestD) { bestD = dd; best = c; }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

/** Resolves an element against a schema: every problem is collected, none thrown. */
export function resolveParams<S extends Schema>(schema: S, el: ConfigElement, opts: ResolveOptions = {}): ResolveResult<ParamsOf<S>> {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const out: Record<string, unknown> = {};
  const known = new Set<string>();
  const consumed = new Set(opts.consumed ?? []);
  const where = describeElement(el);
  const problem = (message: string, param?: string, file = el.file, line = el.line) =>
    problems.push({ code: 'LF_CONFIG_PARAM', file, line, directive: where, type: opts.type, param, message });

  for (const [name, spec] of Object.entries(schema)) {
    if (spec.kind === 'section') {
      known.add(name);
      const children = el.elements.filter((c) => c.name === name);
      const resolved = children.map((c) => {
        if (spec.opaque) return { arg: c.arg, element: c };
        const r = resolveParams(spec.params, c, { type: opts.type });
        problems.push(...r.problems);
        warnings.push(...r.warnings);
        return Object.assign(r.value as object, { arg: c.arg, element: c });
      });
      if (spec.multi) {
        if (spec.required && resolved.length === 0) problem(`at least one <${name}> section is required`, `<${name}>`);
        out[name] = resolved;
      } else {
        if (resolved.length > 1) problem(`only one <${name}> section is allowed`, `<${name}>`, children[1]!.file, children[1]!.line);
        if (spec.required && resolved.length === 0) problem(`a <${name}> section is required`, `<${name}>`);
        out[name] = resolved[0] ?? null;
      }
      continue;
    }
    const names = [name, ...(spec.alias ?? [])];
    names.forEach((n) => known.add(n));
    const key = names.find((n) => el.params.has(n));
    const param = key !== undefined ? el.params.get(key)! : undefined;
    if (param === undefined || param.special === 'default') {
      if (spec.required) {
        problem(param ? 'use_default given but the parameter has no default' : 'is required', name, param?.file, param?.line);
        out[name] = null;
      } else {
        out[name] = spec.default ?? null;
      }
      continue;
    }
    if (key !== name) warnings.push(`${where}: '${key}' is deprecated, use '${name}'`);
    if (spec.deprecated) warnings.push(`${where}: '${name}' is deprecated: ${spec.deprecated}`);
    if (param.special === 'nil') {
      if (spec.required || (spec.default !== undefined && spec.default !== null)) {
        problem('parameter is required but nil is specified', name, param.file, param.line);
      }
      out[name] = null;
      continue;
    }
    try {
      out[name] = coerce(spec, param.value);
    } catch (e) {
      if (!(e instanceof CoerceError)) throw e;
      problem(e.message, name, param.file, param.line);
      out[name] = spec.default ?? null;
    }
  }

  for (const [key, param] of el.params) {
    if (known.has(key) || consumed.has(key) || RESERVED_PARAMS.has(key)) continue;
    const hint = nearest(key, known);
    warnings.push(`${param.file}:${param.line} ${where}: parameter '${key}' is not used${hint ? ` (did you mean '${hint}'?)` : ''}`);
  }
  for (const child of el.elements) {
    if (known.has(child.name) || consumed.has(`<${child.name}>`)) continue;
    warnings.push(`${child.file}:${child.line} ${where}: section <${child.name}> is not used`);
  }
  return { value: out as ParamsOf<S>, problems, warnings };
}

/** Renders a parameter value for logs and config dumps, masking secrets. */
export function maskSecrets(schema: Schema, el: ConfigElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of el.params) {
    const spec = schema[k];
    out[k] = spec && spec.kind !== 'section' && spec.secret ? 'xxxxxx' : v.value;
  }
  return out;
}
