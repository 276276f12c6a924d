/**
 * Fluentd's TimeParser and NumericTimeParser (lib/fluent/time.rb) for `<parse>`: `time_type string`
 * reads `time_format` with strptime (or, without a format, a Time.parse-like reader for ISO 8601 and
 * what JS Date understands); `unixtime` and `float` read epoch seconds. Failures throw ParseFailure
 * with Fluentd's TimeParseError messages.
 */
import { EventTime } from '../../../core/event-time.js';
import { numberOf, WholeFloat } from '../../../core/float.js';
import { parseOffset } from '../../../core/strftime.js';
import { strToI } from '../../../expr/methods.js';
import { toS } from '../../../expr/values.js';

/** A value the parser could not read; `message` is Fluentd's. */
export class ParseFailure extends Error {
  override name = 'ParserError';
}

export type TimeType = 'string' | 'unixtime' | 'float';
export type TimeParser = (v: unknown) => EventTime;

export interface TimeParserOptions {
  type: TimeType;
  format: string | null;
  localtime: boolean;
  utc: boolean;
  /** A fixed offset (`+09:00`, `-0300`, `UTC`); named zones are refused at configure time. */
  timezone: string | null;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH_RE = /^(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)/i;
const DAY_RE = /^(sun(?:day)?|mon(?:day)?|tue(?:sday)?|wed(?:nesday)?|thu(?:rsday)?|fri(?:day)?|sat(?:urday)?)/i;
const ZONE_RE = /^(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)/i;
const EXPANSIONS: Record<string, string> = { T: '%H:%M:%S', F: '%Y-%m-%d', D: '%m/%d/%y', R: '%H:%M', r: '%I:%M:%S %p', c: '%a %b %e %H:%M:%S %Y' };

interface Fields {
  year?: number; mon?: number; day?: number; yday?: number;
  hour?: number; min?: number; sec?: number; nsec?: number;
  pm?: boolean; offsetMin?: number; epoch?: number;
}

/** Minutes east of UTC for `Z`, `UTC`, `+09`, `+0900`, `+09:00`. */
function zoneOffset(z: string): number {
  const u = z.toUpperCase();
  if (u === 'Z' || u === 'UTC' || u === 'GMT') return 0;
  return parseOffset(z.length === 3 ? `${z}00` : z) ?? 0;
}

/** Ruby-like strptime: the fields read from `v`, or null when `v` does not fit `format`. */
export function strptimeFields(v: string, format: string): Fields | null {
  const f: Fields = {};
  let pos = 0;
  const num = (max: number, signed = false): number | null => {
    const m = new RegExp(`^${signed ? '[+-]?' : ''}\\d{1,${max}}`).exec(v.slice(pos));
    if (!m) return null;
    pos += m[0].length;
    return Number(m[0]);
  };
  const word = (re: RegExp): string | null => {
    const m = re.exec(v.slice(pos));
    if (!m) return null;
    pos += m[0].length;
    return m[0];
  };
  const fmt = format.replace(/%([TFDRrc])/g, (_a, c: string) => EXPANSIONS[c]!);
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (/\s/.test(c)) { while (pos < v.length && /\s/.test(v[pos]!)) pos++; continue; }
    if (c !== '%' || i === fmt.length - 1) { if (v[pos] !== c) return null; pos++; continue; }
    let d = fmt[++i]!;
    if (d === '-' || d === '_' || d === '0') d = fmt[++i]!; // padding flags: reading ignores them
    if (d === ':' && fmt[i + 1] === 'z') { d = 'z'; i++; }
    let n: number | null = null;
    switch (d) {
      case 'Y': n = num(5, true); if (n === null) return null; f.year = n; break;
      case 'y': n = num(2); if (n === null) return null; f.year = n < 69 ? 2000 + n : 1900 + n; break;
      case 'C': n = num(2); if (n === null) return null; f.year = n * 100 + ((f.year ?? 0) % 100); break;
      case 'm': n = num(2); if (n === null || n < 1 || n > 12) return null; f.mon = n; break;
      case 'd': case 'e':
        while (d === 'e' && v[pos] === ' ') pos++;
        n = num(2); if (n === null || n < 1 || n > 31) return null; f.day = n; break;
      case 'j': n = num(3); if (n === null || n < 1 || n > 366) return null; f.yday = n; break;
      case 'H': case 'k':
        while (d === 'k' && v[pos] === ' ') pos++;
        n = num(2); if (n === null || n > 24) return null; f.hour = n; break;
      case 'I': case 'l':
        while (d === 'l' && v[pos] === ' ') pos++;
        n = num(2); if (n === null || n < 1 || n > 12) return null; f.hour = n; break;
      case 'M': n = num(2); if (n === null || n > 59) return null; f.min = n; break;
      case 'S': n = num(2); if (n === null || n > 60) return null; f.sec = n; break;
      case 'L': case 'N': {
        const m = /^\d+/.exec(v.slice(pos));
        if (!m) return null;
        pos += m[0].length;
        f.nsec = Number(m[0].slice(0, 9).padEnd(9, '0'));
        break;
      }
      case 's': n = num(20, true); if (n === null) return null; f.epoch = n; break;
      case 'p': case 'P': { const w = word(/^[AaPp]\.?[Mm]\.?/); if (w === null) return null; f.pm = /^p/i.test(w); break; }
      case 'b': case 'h': case 'B': { const w = word(MONTH_RE); if (w === null) return null; f.mon = MONTHS.indexOf(w.slice(0, 3).toLowerCase()) + 1; break; }
      case 'a': case 'A': if (word(DAY_RE) === null) return null; break;
      case 'u': case 'w': if (num(1) === null) return null; break;
      case 'z': case 'Z': { const w = word(ZONE_RE); if (w === null) return null; f.offsetMin = zoneOffset(w); break; }
      case 'n': case 't': while (pos < v.length && /\s/.test(v[pos]!)) pos++; break;
      case '%': if (v[pos] !== '%') return null; pos++; break;
      default: return null; // a directive we do not read
    }
  }
  return f;
}

/** Epoch seconds of wall-clock fields in a zone: `offsetMin` east of UTC, or the local zone when null. */
function epochOf(y: number, mo: number, d: number, h: number, mi: number, s: number, offsetMin: number | null): number {
  if (offsetMin === null) return Math.floor(new Date(y, mo - 1, d, h, mi, s).getTime() / 1000);
  return Date.UTC(y, mo - 1, d, h, mi, s) / 1000 - offsetMin * 60;
}

function timeOfFields(f: Fields, defaultOffset: number | null): EventTime {
  if (f.epoch !== undefined) return new EventTime(f.epoch, f.nsec ?? 0);
  const now = new Date();
  const year = f.year ?? now.getFullYear();
  let mon = f.mon ?? (f.year === undefined ? now.getMonth() + 1 : 1);
  let day = f.day ?? (f.year === undefined && f.mon === undefined ? now.getDate() : 1);
  if (f.yday !== undefined) {
    const d = new Date(Date.UTC(year, 0, f.yday));
    mon = d.getUTCMonth() + 1;
    day = d.getUTCDate();
  }
  let hour = f.hour ?? 0;
  if (f.pm !== undefined) hour = (hour % 12) + (f.pm ? 12 : 0);
  const offset = f.offsetMin ?? defaultOffset;
  return new EventTime(epochOf(year, mon, day, hour, f.min ?? 0, f.sec ?? 0, offset), f.nsec ?? 0);
}

const ISO = /^\s*([+-]?\d{4})-(\d{1,2})-(\d{1,2})(?:[T\s]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$/i;

/** Ruby's Time.parse, for the shapes logs use: ISO 8601 / `2013-10-31 12:34:03 +0900`, else JS Date. */
export function parseLooseTime(v: string, defaultOffset: number | null): EventTime {
  const m = ISO.exec(v);
  if (m) {
    const f: Fields = { year: Number(m[1]), mon: Number(m[2]), day: Number(m[3]), hour: Number(m[4] ?? 0), min: Number(m[5] ?? 0), sec: Number(m[6] ?? 0) };
    if (m[7]) f.nsec = Number(m[7].slice(0, 9).padEnd(9, '0'));
    if (m[8]) f.offsetMin = zoneOffset(m[8]);
    return timeOfFields(f, defaultOffset);
  }
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new Error(`no time information in ${JSON.stringify(v)}`);
  const sec = Math.floor(ms / 1000);
  return new EventTime(sec, (ms - sec * 1000) * 1e6);
}

/** True when `tz` is a zone this parser can use (fixed offsets and UTC). */
export function validTimezone(tz: string): boolean {
  return /^[+-]\d{2}$/.test(tz) || parseOffset(tz) !== null;
}

const isNumeric = (v: unknown) => typeof v === 'number' || v instanceof WholeFloat;

/** Builds the parser; throws Error (a config problem) for combinations Fluentd refuses. */
export function createTimeParser(o: TimeParserOptions): TimeParser {
  if (o.type === 'unixtime' || o.type === 'float') {
    const type = o.type;
    return (v) => {
      if (typeof v !== 'string' && !isNumeric(v)) throw new ParseFailure(`value must be a string or a number: ${toS(v)}(${Array.isArray(v) ? 'Array' : typeof v === 'object' && v !== null ? 'Hash' : 'Object'})`);
      if (type === 'unixtime') return new EventTime(typeof v === 'string' ? strToI(v) : Math.trunc(numberOf(v)!), 0);
      const [secS = '', nsecS] = toS(v).split('.', 2);
      return new EventTime(strToI(secS), nsecS === undefined ? 0 : strToI(nsecS.slice(0, 9).padEnd(9, '0')));
    };
  }
  if (o.format === null && (o.timezone !== null || o.utc || !o.localtime)) throw new Error('specifying timezone requires time format');
  const defaultOffset = o.timezone !== null ? zoneOffset(o.timezone) : o.utc || !o.localtime ? 0 : null;
  const format = o.format;
  const read = (v: string): EventTime => {
    if (format === null) return parseLooseTime(v, defaultOffset);
    if (format === '%iso8601') return parseLooseTime(v, defaultOffset);
    const f = strptimeFields(v, format);
    if (f === null) throw new Error(`invalid date or strptime format - \`${v}' \`${format}'`);
    return timeOfFields(f, defaultOffset);
  };
  return (v) => {
    if (typeof v !== 'string') throw new ParseFailure(`value must be string: ${toS(v)}`);
    try {
      return read(v);
    } catch (e) {
      throw new ParseFailure(`invalid time format: value = ${v}, error_class = ArgumentError, error = ${(e as Error).message}`);
    }
  };
}
