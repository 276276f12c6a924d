/**
 * The `<parse>` section of filter_parser and the built-in parsers it names (Fluentd's parser_json,
 * parser_regexp, parser_none, parser_ltsv, parser_csv, parser_tsv, parser_msgpack). A parser gives
 * the first record it reads from a value, null when the value does not match (Fluentd's
 * `yield nil, nil`), or throws: ParseFailure for a ParserError, anything else for an unexpected one.
 */
import { p, type SectionValue } from '../../../config/schema.js';
import type { Record_ } from '../../../core/event-stream.js';
import { EventTime } from '../../../core/event-time.js';
import { WholeFloat } from '../../../core/float.js';
import { decodeAll } from '../../../protocol/msgpack.js';
import { parseJsonKeepingFloats } from '../../../protocol/json-parse.js';
import { parseRegexpLiteral } from '../grep.js';
import { createTimeParser, ParseFailure, validTimezone, type TimeParser } from './time-parser.js';
import { rubySplit, valueConverter, type ValueConverter } from './values.js';

export const PARSE_TYPES = ['json', 'regexp', 'none', 'ltsv', 'csv', 'tsv', 'msgpack'] as const;
export type ParseType = (typeof PARSE_TYPES)[number];

const parseParams = {
  '@type': p.enum(PARSE_TYPES, { required: true, desc: 'json, regexp, none, ltsv, csv, tsv or msgpack' }),
  expression: p.string({ default: null, desc: 'regexp: /pattern/flags with named captures; each capture becomes a field' }),
  ignorecase: p.bool({ default: false, deprecated: 'Use /pattern/i instead, this option is no longer effective', desc: 'regexp: no effect' }),
  multiline: p.bool({ default: false, deprecated: 'Use /pattern/m instead, this option is no longer effective', desc: 'regexp: no effect' }),
  message_key: p.string({ default: 'message', desc: 'none: the field the whole value goes into' }),
  keys: p.array({ default: null, desc: 'csv, tsv: the names of the fields, in order (required there)' }),
  delimiter: p.string({ default: null, desc: 'ltsv: between pairs (default TAB); csv: between values (default ,); tsv: (default TAB)' }),
  delimiter_pattern: p.string({ default: null, desc: 'ltsv: /regexp/ between pairs, instead of delimiter' }),
  label_delimiter: p.string({ default: ':', desc: 'ltsv: between a label and its value' }),
  parser_engine: p.enum(['normal', 'fast'], { default: 'normal', alias: ['parser_type'], desc: 'csv: accepted; both read RFC 4180 quoting' }),
  json_parser: p.enum(['oj', 'yajl', 'json'], { default: 'oj', desc: 'json: accepted for compatibility (one JSON reader)' }),
  stream_buffer_size: p.integer({ default: 8192, desc: 'json: accepted for compatibility' }),
  time_key: p.string({ default: null, desc: 'Field holding the event time (json, regexp, ltsv: default time)' }),
  time_format: p.string({ default: null, desc: 'strptime format of the time field (%Y %m %d %H %M %S %N %L %z %b %j %s …, or %iso8601)' }),
  time_type: p.enum(['string', 'unixtime', 'float'], { default: null, desc: 'How the time field is read (json: float unless time_format is given; others: string)' }),
  localtime: p.bool({ default: true, desc: 'A time without zone is local time' }),
  utc: p.bool({ default: false, desc: 'A time without zone is UTC' }),
  timezone: p.string({ default: null, desc: 'A time without zone is in this fixed offset (+09:00, -0300, UTC)' }),
  keep_time_key: p.bool({ default: false, desc: 'Keep the time field in the record' }),
  estimate_current_event: p.bool({ default: true, desc: 'Use the current time when the record has no time field' }),
  types: p.hash({ default: null, desc: 'Conversions: key:integer,key2:float,key3:bool,key4:time:%d/%b/%Y,key5:array:|' }),
  null_value_pattern: p.string({ default: null, desc: 'String values matching this regexp become null' }),
  null_empty_string: p.bool({ default: false, desc: 'Empty string values become null' }),
  timeout: p.time({ default: null, desc: 'Accepted for compatibility; parsing is not interrupted' }),
};
export const parseSection = p.section({ desc: 'How the field is parsed (required)', required: true }, parseParams);
export type ParseConfig = SectionValue<typeof parseParams>;

export interface Parsed {
  time: EventTime | null;
  record: Record_;
}
export type TextParser = (value: unknown) => Parsed | null;

const isHash = (v: unknown): v is Record_ =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof EventTime) && !(v instanceof WholeFloat);

/** Ruby CSV.parse_line: null for an empty line; unquoted empty fields are null. */
export function parseCsvLine(text: string, sep: string): Array<string | null> | null {
  const line = text.replace(/\r?\n$/, '');
  if (line === '') return null;
  const out: Array<string | null> = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new Error('Unclosed quoted field in line 1.');
        if (line[i] === '"') {
          if (line[i + 1] === '"') { v += '"'; i += 2; continue; }
          i++;
          break;
        }
        v += line[i++];
      }
      if (i < line.length && !line.startsWith(sep, i)) throw new Error('Any value after quoted field isn\'t allowed in line 1.');
      out.push(v);
    } else {
      const end = line.indexOf(sep, i);
      const v = end < 0 ? line.slice(i) : line.slice(i, end);
      if (v.includes('"')) throw new Error('Illegal quoting in line 1.');
      out.push(v === '' ? null : v);
      i = end < 0 ? line.length : end;
    }
    if (i >= line.length) return out;
    i += sep.length;
    if (i >= line.length) { out.push(null); return out; }
  }
}

/** The section's time field name: json, regexp and ltsv default to `time`. */
function timeKeyOf(c: ParseConfig): string | null {
  if (c.time_key !== null) return c.time_key;
  return c['@type'] === 'json' || c['@type'] === 'regexp' || c['@type'] === 'ltsv' ? 'time' : null;
}

/** Runs a configure step, turning its Error into a ParseConfigError for `param`. */
function configured<T>(param: string, build: () => T): T {
  try {
    return build();
  } catch (e) {
    if (e instanceof ParseConfigError || !(e instanceof Error)) throw e;
    throw new ParseConfigError(param, e.message);
  }
}

/** Compiles a `<parse>` section; throws ParseConfigError for what Fluentd refuses. */
export function buildParser(c: ParseConfig): TextParser {
  const type = c['@type'];
  const timeKey = timeKeyOf(c);
  const timeType = c.time_type ?? (type === 'json' && c.time_format === null ? 'float' : 'string');
  if (c.timezone !== null && !validTimezone(c.timezone)) throw new ParseConfigError('timezone', `unsupported timezone '${c.timezone}' (use a fixed offset like +09:00)`);
  const timeParser: TimeParser = configured('time_format', () => createTimeParser({ type: timeType, format: c.time_format, localtime: c.localtime, utc: c.utc, timezone: c.timezone }));
  const values: ValueConverter = configured('types', () => valueConverter(c));

  /** Parser#parse_time then convert_values, on a record the parser built. */
  const finish = (record: Record_): Parsed => {
    let time: EventTime | null;
    if (timeKey !== null && Object.hasOwn(record, timeKey)) {
      const src = record[timeKey];
      if (!c.keep_time_key) delete record[timeKey];
      time = timeParser(src);
    } else {
      time = c.estimate_current_event ? EventTime.now() : null;
    }
    values.convert(record);
    return { time, record };
  };

  switch (type) {
    case 'json':
      return (v) => {
        let parsed: unknown;
        try {
          parsed = parseJsonKeepingFloats(textOf(v));
        } catch (e) {
          if (e instanceof SyntaxError) return null;
          throw e;
        }
        const first = Array.isArray(parsed) ? parsed[0] : parsed;
        return isHash(first) ? finish(first) : null;
      };
    case 'regexp': {
      if (c.expression === null) throw new ParseConfigError('expression', "'expression' parameter is required");
      const expression = c.expression;
      const re = configured('expression', () => parseRegexpLiteral(expression));
      if (!/\(\?<[A-Za-z_]/.test(re.source)) throw new ParseConfigError('expression', `no named captures in ${c.expression}: the regexp must have at least one (?<name>…) group`);
      return (v) => {
        const m = re.exec(textOf(v));
        if (!m) return null;
        const r: Record_ = {};
        for (const [k, val] of Object.entries(m.groups ?? {})) if (val !== undefined) r[k] = val;
        return finish(r);
      };
    }
    case 'none':
      return (v) => ({ time: c.estimate_current_event ? EventTime.now() : null, record: { [c.message_key]: noneValue(v) } });
    case 'ltsv': {
      const pattern = c.delimiter_pattern;
      const delim = pattern !== null ? configured('delimiter_pattern', () => parseRegexpLiteral(pattern)) : (c.delimiter ?? '\t');
      const label = c.label_delimiter;
      return (v) => {
        const r: Record_ = {};
        for (const pair of rubySplit(textOf(v), delim)) {
          const i = pair.indexOf(label);
          if (i >= 0) r[pair.slice(0, i)] = pair.slice(i + label.length);
        }
        return finish(r);
      };
    }
    case 'csv':
    case 'tsv': {
      const keys = c.keys;
      if (keys === null) throw new ParseConfigError('keys', `'keys' parameter is required for @type ${type}`);
      const sep = c.delimiter ?? (type === 'csv' ? ',' : '\t');
      return (v) => {
        const text = textOf(v);
        const cols = type === 'csv' ? parseCsvLine(text, sep) : splitLimit(text, sep, keys.length);
        if (cols === null) return null;
        const r: Record_ = {};
        keys.forEach((k, i) => { r[k] = cols[i] ?? null; });
        return finish(r);
      };
    }
    case 'msgpack':
      return (v) => {
        const bytes = v instanceof Uint8Array ? v : Buffer.from(textOf(v), 'utf8');
        for (const obj of decodeAll(bytes)) {
          const first = Array.isArray(obj) ? obj[0] : obj;
          return isHash(first) ? finish(first) : null;
        }
        return null;
      };
  }
}

/** none keeps the value as it is (bytes that are not UTF-8 stay bytes, as Ruby keeps the string). */
function noneValue(v: unknown): unknown {
  if (!(v instanceof Uint8Array)) return typeof v === 'string' ? v : textOf(v);
  try {
    return textOf(v);
  } catch {
    return v;
  }
}

/** Ruby's split(delim, limit): at most `limit` parts, the last holding the rest. */
function splitLimit(text: string, sep: string, limit: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (out.length < limit - 1) {
    const i = rest.indexOf(sep);
    if (i < 0) break;
    out.push(rest.slice(0, i));
    rest = rest.slice(i + sep.length);
  }
  out.push(rest);
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A value as text: bytes must be valid UTF-8 (Ruby's ArgumentError otherwise). */
export function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) {
    try {
      return strictUtf8.decode(v);
    } catch {
      throw new InvalidByteSequence();
    }
  }
  throw new Error(`no implicit conversion of ${rubyClass(v)} into String`);
}

/** A `<parse>` parameter Fluentd refuses at configure time. */
export class ParseConfigError extends Error {
  constructor(readonly param: string, message: string) { super(message); }
}

export class InvalidByteSequence extends Error {
  constructor() { super('invalid byte sequence in UTF-8'); this.name = 'ArgumentError'; }
}

function rubyClass(v: unknown): string {
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'number') return Number.isInteger(v) ? 'Integer' : 'Float';
  if (v instanceof WholeFloat) return 'Float';
  if (Array.isArray(v)) return 'Array';
  if (v instanceof EventTime) return 'Fluent::EventTime';
  return 'Hash';
}

export { ParseFailure };
