/**
 * record_transformer's `<record>` map, compiled once at configure time into expanders. Values that
 * start with `{` or `[` are JSON whose strings (keys too) are expanded; every other value is one
 * template: Fluentd's fixed placeholders (§4.2) without enable_ruby, a Ruby template with it (§4.3).
 */
import type { ConfigElement } from '../../../config/node.js';
import type { Record_ } from '../../../core/event-stream.js';
import { timeNanos, timeSeconds, type Time } from '../../../core/event-time.js';
import { strftime } from '../../../core/strftime.js';
import { compileTemplate, ExprSyntaxError, REventTime, type Scope, splitTag, timeAt, toS } from '../../../expr/index.js';
import { setOwn } from '../../../expr/values.js';

export const RUBY_VARIABLES = ['record', 'tag', 'time', 'tag_parts', 'tag_prefix', 'tag_suffix', 'hostname'] as const;

/** The tag-derived values, computed once per stream. */
export class TagValues {
  readonly parts: string[];
  readonly prefix: string[];
  readonly suffix: string[];
  constructor(readonly tag: string) {
    this.parts = splitTag(tag);
    this.prefix = this.parts.map((_, i) => this.parts.slice(0, i + 1).join('.'));
    this.suffix = this.parts.map((_, i) => this.parts.slice(i).join('.'));
  }
}

/** What one event's expansion reads. */
export interface EventInput {
  tags: TagValues;
  hostname: string;
  time: Time;
  record: Record_;
  env: Readonly<Record<string, string | undefined>>;
  /** Reports a placeholder that had no value for this event (rate-limited by the caller). */
  missing(placeholder: string): void;
}

type Expander = (e: EventInput) => unknown;

export interface CompiledMap {
  entries: Array<{ key: Expander; value: Expander }>;
  problems: string[];
  /** Told once at start: unknown placeholders, values that looked like JSON but were not. */
  warnings: string[];
}

export interface MapOptions {
  enableRuby: boolean;
  autoTypecast: boolean;
}

/** Ruby's `Time#to_s` in the local zone, as `${time}` shows without enable_ruby. */
export function timeString(t: Time): string {
  return strftime('%Y-%m-%d %H:%M:%S %z', timeSeconds(t), 0, 'local');
}

const own = (r: Record_, k: string): boolean => Object.hasOwn(r, k);

function at(list: string[], n: number): string | undefined {
  return n >= 0 ? list[n] : list[list.length + n];
}

/** One fixed placeholder (without enable_ruby) → its reader; null for an unknown one. */
function placeholder(token: string): Expander | null {
  if (token === '${tag}') return (e) => e.tags.tag;
  if (token === '${hostname}') return (e) => e.hostname;
  if (token === '${time}') return (e) => timeString(e.time);
  let m = /^\$\{(tag_parts|tag_prefix|tag_suffix)\[(0|-?[1-9][0-9]*)\]\}$/.exec(token);
  if (m) {
    const which = m[1] === 'tag_parts' ? 'parts' : m[1] === 'tag_prefix' ? 'prefix' : 'suffix';
    const n = Number(m[2]);
    return (e) => {
      const v = at(e.tags[which], n);
      if (v === undefined) e.missing(token);
      return v ?? null;
    };
  }
  // `${record["k"]}` is Fluentd's; `${record['k']}` is accepted too (issue 5 lists it)
  m = /^\$\{record\[(?:"(.*)"|'(.*)')\]\}$/s.exec(token);
  if (m) {
    const key = (m[1] ?? m[2])!;
    return (e) => {
      if (own(e.record, key)) return e.record[key] ?? null;
      e.missing(token);
      return null;
    };
  }
  return null;
}

const TOKEN = /(\$\{[^}]+\}|__[A-Z_]+__)/;

function plainTemplate(text: string, forceString: boolean, o: MapOptions, warnings: string[]): Expander {
  const pieces = text.split(TOKEN);
  const readers: Array<string | Expander> = pieces.map((p, i) => {
    if (i % 2 === 0) return p;
    const r = placeholder(p);
    if (r) return r;
    warnings.push(`unknown placeholder \`${p}\` found in \`${text}\`; it expands to nil`);
    return () => null;
  });
  if (readers.length === 1) return () => text;
  if (o.autoTypecast && !forceString && readers.length === 3 && readers[0] === '' && readers[2] === '') {
    return readers[1] as Expander;
  }
  return (e) => {
    let s = '';
    for (const r of readers) s += typeof r === 'string' ? r : toS(r(e));
    return s;
  };
}

/** The Ruby evaluation scope of one event. */
export function rubyScope(e: EventInput): Scope {
  return {
    vars: {
      record: e.record, tag: e.tags.tag, time: timeAt(new REventTime(timeSeconds(e.time), timeNanos(e.time))),
      tag_parts: e.tags.parts, tag_prefix: e.tags.prefix, tag_suffix: e.tags.suffix, hostname: e.hostname,
    },
    hostname: e.hostname,
    env: e.env,
    nowMs: () => Date.now(),
  };
}

function rubyTemplate(text: string, forceString: boolean, o: MapOptions): Expander {
  const t = compileTemplate(text, { variables: RUBY_VARIABLES, typecast: o.autoTypecast && !forceString, verbatimWithoutPlaceholder: false });
  if (t.constant) {
    const v = t.expand(null as never);
    return () => v;
  }
  return (e) => t.expand(rubyScope(e));
}

function compileValue(v: unknown, o: MapOptions, warnings: string[], forceString = false): Expander {
  if (typeof v === 'string') {
    const ex = o.enableRuby ? rubyTemplate(v, forceString, o) : plainTemplate(v, forceString, o, warnings);
    return forceString ? (e) => toS(ex(e)) : ex;
  }
  if (Array.isArray(v)) {
    const items = v.map((x) => compileValue(x, o, warnings));
    return (e) => items.map((x) => x(e));
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v).map(([k, x]) => [compileValue(k, o, warnings, true), compileValue(x, o, warnings)] as const);
    return (e) => {
      const out: Record_ = {};
      for (const [k, x] of entries) setOwn(out, k(e) as string, x(e));
      return out;
    };
  }
  return () => v;
}

/** Compiles every `<record>` section (in order; later keys win). Never throws: problems are returned. */
export function compileRecordMap(sections: ConfigElement[], o: MapOptions): CompiledMap {
  const out: CompiledMap = { entries: [], problems: [], warnings: [] };
  for (const section of sections) {
    for (const [key, param] of section.params) {
      let value: unknown = param.value;
      if (param.value.startsWith('{') || param.value.startsWith('[')) {
        try {
          value = JSON.parse(param.value);
        } catch {
          out.warnings.push(`failed to parse ${param.value} as json. Assuming ${param.value} is a string`);
        }
      }
      try {
        out.entries.push({ key: compileValue(key, o, out.warnings, true), value: compileValue(value, o, out.warnings) });
      } catch (e) {
        if (!(e instanceof ExprSyntaxError)) throw e;
        out.problems.push(`<record> ${key} (${param.file}:${param.line}): invalid expression in \`${e.source || param.value}\`: ${e.message}`);
      }
    }
  }
  return out;
}
