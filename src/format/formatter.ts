/**
 * Formatters (`<format>` sections): turn one event into a line. Declared once here and composed
 * into the schemas of the outputs that write text (stdout, file, Firehose …).
 */
import { randomBytes } from 'node:crypto';
import { p } from '../config/schema.js';
import type { ParamsOf } from '../config/schema.js';
import type { Record_ } from '../core/event-stream.js';
import type { Time } from '../core/event-time.js';
import { timeNanos, timeSeconds } from '../core/event-time.js';
import { WholeFloat, wholeFloatJson } from '../core/float.js';
import { strftime } from '../core/strftime.js';

export const FORMAT_TYPES = ['stdout', 'json', 'ltsv', 'single_value', 'hash', 'csv', 'tsv', 'out_file'] as const;

export const formatParams = {
  '@type': p.enum(FORMAT_TYPES, { default: 'json', desc: 'Formatter' }),
  output_type: p.enum(['json', 'hash', 'ltsv', 'single_value'] as const, { default: 'json', desc: 'stdout formatter: how the record is printed' }),
  message_key: p.string({ default: 'message', desc: 'single_value: the field to print' }),
  add_newline: p.bool({ default: true, desc: 'Append a newline to each line' }),
  delimiter: p.string({ default: null, desc: 'ltsv: field delimiter (tab); csv: column delimiter (,); out_file: (tab)' }),
  label_delimiter: p.string({ default: ':', desc: 'ltsv: label delimiter' }),
  fields: p.array({ default: [], desc: 'csv/tsv: the fields to print, in order' }),
  time_format: p.string({ default: null, desc: 'strftime format of the time (stdout, out_file)' }),
  localtime: p.bool({ default: true, desc: 'Format times in local time' }),
  utc: p.bool({ default: false, desc: 'Format times in UTC' }),
  timezone: p.string({ default: null, desc: 'Format times in this offset, e.g. +0900' }),
  output_time: p.bool({ default: true, desc: 'out_file: print the time column' }),
  output_tag: p.bool({ default: true, desc: 'out_file: print the tag column' }),
};

export type FormatConfig = ParamsOf<typeof formatParams>;
export type Formatter = (tag: string, time: Time, record: Record_) => string;

/**
 * Stands in for a whole float during JSON.stringify (Node 20 has no JSON.rawJSON): the replacer
 * returns `FLOAT_MARK + "2.0"`, and one pass afterwards swaps each `"<mark>2.0"` for `2.0`. The
 * random nonce keeps record text from ever matching; the pass runs only when a float was seen.
 */
const FLOAT_MARK = `@lf-float-${randomBytes(12).toString('hex')}:`;
const FLOAT_STRING = new RegExp(`"${FLOAT_MARK}([^"]*)"`, 'g');
let sawFloat = false;

function jsonReplacer(this: unknown, key: string, v: unknown): unknown {
  if (typeof v === 'number') {
    // WholeFloat#toJSON already ran, so the holder tells a whole float from an integer
    if (Number.isInteger(v) && (this as Record<string, unknown>)[key] instanceof WholeFloat) {
      sawFloat = true;
      return FLOAT_MARK + wholeFloatJson(v);
    }
    return v;
  }
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8') : v;
}

/**
 * JSON as Fluentd's JSON formatter (Oj compat mode) writes it: binary values as UTF-8 text, and
 * whole floats with their `.0` (`{"i":2,"f":2.0}`).
 */
export function toJson(record: unknown): string {
  sawFloat = false;
  const text = JSON.stringify(record, jsonReplacer);
  if (!sawFloat) return text;
  sawFloat = false;
  return text.replace(FLOAT_STRING, '$1');
}

/** Ruby `to_s` of a field value (ltsv, single_value, csv/tsv); containers as JSON. */
function valueText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (v instanceof WholeFloat) return v.toString();
  return typeof v === 'object' ? toJson(v) : String(v);
}

export function createFormatter(c: FormatConfig | null, defaults: { type?: FormatConfig['@type'] } = {}): Formatter {
  const type = c?.['@type'] ?? defaults.type ?? 'json';
  const nl = (c?.add_newline ?? true) ? '\n' : '';
  const zone = c?.timezone ?? (c?.utc ? 'utc' : c?.localtime === false ? 'utc' : 'local');
  const fmtTime = (t: Time, f: string) => strftime(f, timeSeconds(t), timeNanos(t), zone);
  const record = (r: Record_, kind: string): string => {
    switch (kind) {
      case 'ltsv': return Object.entries(r).map(([k, v]) => `${k}${c?.label_delimiter ?? ':'}${valueText(v)}`).join(c?.delimiter ?? '\t');
      case 'single_value': return valueText(r[c?.message_key ?? 'message']);
      case 'hash': return toJson(r);
      default: return toJson(r);
    }
  };
  switch (type) {
    case 'stdout': {
      const tf = c?.time_format ?? '%Y-%m-%d %H:%M:%S.%N %z';
      const ot = c?.output_type ?? 'json';
      return (tag, t, r) => `${fmtTime(t, tf)} ${tag}: ${record(r, ot)}\n`;
    }
    case 'out_file': {
      const tf = c?.time_format ?? '%Y-%m-%dT%H:%M:%S%z';
      const d = c?.delimiter ?? '\t';
      return (tag, t, r) => [c?.output_time !== false ? fmtTime(t, tf) : null, c?.output_tag !== false ? tag : null, toJson(r)].filter((x) => x !== null).join(d) + nl;
    }
    case 'csv':
    case 'tsv': {
      const d = c?.delimiter ?? (type === 'csv' ? ',' : '\t');
      const fields = c?.fields ?? [];
      const quote = (s: string) => (type === 'csv' ? `"${s.replace(/"/g, '""')}"` : s);
      return (_tag, _t, r) => fields.map((f) => quote(valueText(r[f]))).join(d) + nl;
    }
    default:
      return (_tag, _t, r) => record(r, type) + nl;
  }
}
