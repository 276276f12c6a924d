/**
 * The `types`, `null_value_pattern` and `null_empty_string` of a `<parse>` section: Fluentd's
 * Parser#convert_values and build_type_converters (lib/fluent/plugin/parser.rb).
 */
import type { Record_ } from '../../../core/event-stream.js';
import { EventTime } from '../../../core/event-time.js';
import { floatData, numberOf, WholeFloat } from '../../../core/float.js';
import { translateRegex } from '../../../expr/regex.js';
import { strToF, strToI } from '../../../expr/methods.js';
import { toS } from '../../../expr/values.js';
import { createTimeParser, validTimezone, type TimeParserOptions } from './time-parser.js';

type Converter = (v: unknown) => unknown;

export interface ValueOptions {
  types: Record<string, unknown> | null;
  null_value_pattern: string | null;
  null_empty_string: boolean;
  /** localtime / utc of the section, used by `time` converters. */
  localtime: boolean;
  utc: boolean;
}

/** Ruby's String#split(delim): a single space splits on runs of whitespace; trailing empties dropped. */
export function rubySplit(s: string, delim: string | RegExp): string[] {
  const parts = delim === ' ' ? s.trim().split(/\s+/) : s.split(delim);
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function toInteger(v: unknown): number {
  if (typeof v === 'string') return strToI(v);
  const n = numberOf(v);
  if (n !== null) return Math.trunc(n);
  if (v instanceof EventTime) return v.sec;
  return strToI(toS(v));
}

function toFloat(v: unknown): number | WholeFloat {
  const n = numberOf(v);
  if (n !== null) return floatData(n);
  if (v instanceof EventTime) return floatData(v.toNumber());
  return floatData(strToF(toS(v)).v);
}

function converter(key: string, definition: string, o: ValueOptions): Converter {
  const colon = definition.indexOf(':');
  const type = colon < 0 ? definition : definition.slice(0, colon);
  const option = colon < 0 ? null : definition.slice(colon + 1);
  switch (type) {
    case 'string': return (v) => toS(v);
    case 'integer': return toInteger;
    case 'float': return toFloat;
    case 'bool': return (v) => ['true', 'yes', '1'].includes(toS(v).toLowerCase());
    case 'array': {
      const delimiter = option ?? ',';
      return (v) => rubySplit(toS(v), delimiter);
    }
    case 'time': {
      const t: TimeParserOptions = { type: 'string', format: null, timezone: null, localtime: true, utc: false };
      if (option !== null) {
        const c2 = option.indexOf(':');
        const zone = c2 < 0 ? option : option.slice(0, c2);
        let format: string | null = option;
        if (validTimezone(zone)) { t.timezone = zone; format = c2 < 0 ? null : option.slice(c2 + 1); }
        if (format === 'unixtime' || format === 'float') { t.type = format; format = null; }
        t.format = format;
      }
      const parse = createTimeParser(t);
      return (v) => { try { return parse(v); } catch { return null; } };
    }
    default: throw new Error(`unknown value conversion for key:'${key}', type:'${type}'`);
  }
}

export interface ValueConverter {
  /** Applies the conversions in place (the record is the parser's own). */
  convert(record: Record_): void;
  readonly active: boolean;
}

/** Compiles the options; throws Error with Fluentd's message for an unknown type or a bad pattern. */
export function valueConverter(o: ValueOptions): ValueConverter {
  const converters = new Map<string, Converter>();
  for (const [k, def] of Object.entries(o.types ?? {})) converters.set(k, converter(k, toS(def), o));
  const nullPattern = o.null_value_pattern === null ? null : translateRegex(o.null_value_pattern, '');
  const active = o.types !== null || nullPattern !== null || o.null_empty_string;
  return {
    active,
    convert(record) {
      if (!active) return;
      for (const key of Object.keys(record)) {
        const value = record[key];
        if (value === null || value === undefined || value === false) continue; // nil/false left as-is
        if (typeof value === 'string' && ((o.null_empty_string && value === '') || (nullPattern !== null && nullPattern.test(value)))) {
          record[key] = null;
          continue;
        }
        const conv = converters.get(key);
        if (conv) record[key] = conv(value);
      }
    },
  };
}
