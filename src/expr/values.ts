/**
 * The evaluator's value model: Ruby values over plain JS data. nil is `null`; Integer is an integral
 * JS number; Float is an `RFloat` (or any non-integral number, as records carry them; a record's
 * WholeFloat is read as an RFloat and a whole RFloat result is written back as one); String, Array,
 * true/false are themselves; a Hash is a `Map` (built by the evaluator) or a record object (only own
 * keys are ever read). Time, EventTime, Range and Regexp have small wrapper classes.
 */
import { EventTime } from '../core/event-time.js';
import { RecordError } from '../core/errors.js';
import { floatData, floatToS, WholeFloat } from '../core/float.js';
import { strftime } from '../core/strftime.js';

export class RFloat {
  constructor(readonly v: number) {}
}

/** A Ruby Time: seconds + nanoseconds, shown in `zone` ('local', 'utc' or a fixed offset '+05:30'). */
export class RTime {
  constructor(readonly sec: number, readonly nsec: number, readonly zone: string) {}
}

/** Fluent::EventTime as record_modifier's `time`: behaves as its Integer seconds. */
export class REventTime {
  constructor(readonly sec: number, readonly nsec: number) {}
}

export class RRange {
  constructor(readonly begin: unknown, readonly end: unknown, readonly excl: boolean) {}
}

/** A regexp literal, translated to JS once at parse time. */
export class RRegex {
  readonly global: RegExp;
  constructor(readonly source: string, readonly re: RegExp) {
    this.global = new RegExp(re.source, re.flags + 'g');
  }
}

export type RHash = Map<unknown, unknown> | Record<string, unknown>;

/** A runtime failure: the message reads like Ruby's (`undefined method `x' for nil`). */
export function fail(message: string): never {
  throw new RecordError(message);
}

export const isNil = (v: unknown): v is null | undefined => v === null || v === undefined;
export const isStr = (v: unknown): v is string => typeof v === 'string';
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
export const isFloat = (v: unknown): boolean => v instanceof RFloat || (typeof v === 'number' && !Number.isInteger(v)) || v instanceof WholeFloat;
export const isNum = (v: unknown): boolean => typeof v === 'number' || v instanceof RFloat || v instanceof WholeFloat;
export const isArr = (v: unknown): v is unknown[] => Array.isArray(v);

export function isHash(v: unknown): v is RHash {
  if (v instanceof Map) return true;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The numeric value of an Integer/Float (EventTime counts as its seconds). */
export function numOf(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v instanceof RFloat) return v.v;
  if (v instanceof WholeFloat) return v.value;
  if (v instanceof REventTime) return v.sec;
  return fail(`${className(v)} can't be coerced into a number`);
}

export const float = (n: number): RFloat => new RFloat(n);

/** A value read out of a record, made into an evaluator value. */
export function fromData(v: unknown): unknown {
  if (v === undefined) return null;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  if (v instanceof EventTime) return new REventTime(v.sec, v.nsec);
  if (v instanceof WholeFloat) return new RFloat(v.value);
  return v;
}

/** Reads a key of a Hash: own keys only, never a prototype property. */
export function hashGet(h: RHash, key: unknown): unknown {
  if (h instanceof Map) return fromData(h.get(key));
  if (typeof key !== 'string') return null;
  return Object.hasOwn(h, key) ? fromData(h[key]) : null;
}

export function hashHas(h: RHash, key: unknown): boolean {
  if (h instanceof Map) return h.has(key);
  return typeof key === 'string' && Object.hasOwn(h, key);
}

export function hashEntries(h: RHash): Array<[unknown, unknown]> {
  if (h instanceof Map) return [...h.entries()];
  return Object.keys(h).map((k) => [k, fromData(h[k])]);
}

export function className(v: unknown): string {
  if (isNil(v)) return 'NilClass';
  if (v === true) return 'TrueClass';
  if (v === false) return 'FalseClass';
  if (isInt(v)) return 'Integer';
  if (isFloat(v)) return 'Float';
  if (isStr(v)) return 'String';
  if (isArr(v)) return 'Array';
  if (v instanceof RTime) return 'Time';
  if (v instanceof REventTime) return 'Fluent::EventTime';
  if (v instanceof RRange) return 'Range';
  if (v instanceof RRegex) return 'Regexp';
  if (isHash(v)) return 'Hash';
  return 'Object';
}

/** How Ruby names a receiver in NoMethodError: `nil`, `true`, `an instance of String`. */
export function describe(v: unknown): string {
  if (isNil(v)) return 'nil';
  if (v === true || v === false) return String(v);
  return `an instance of ${className(v)}`;
}

export const truthy = (v: unknown): boolean => v !== null && v !== undefined && v !== false;

/** Float#to_s: `5.0`, `1.5`, `1.0e+16`, `1.0e-05`. */
export { floatToS };

export function timeToS(t: RTime): string {
  return strftime(t.zone === 'utc' ? '%Y-%m-%d %H:%M:%S UTC' : '%Y-%m-%d %H:%M:%S %z', t.sec, t.nsec, t.zone);
}

const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r', '\f': '\\f', '\v': '\\v', '\b': '\\b', '\x07': '\\a', '\x1b': '\\e' };

export function strInspect(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const code = c.charCodeAt(0);
    if (ESCAPES[c] !== undefined) out += ESCAPES[c];
    else if (c === '#' && (s[i + 1] === '{' || s[i + 1] === '$' || s[i + 1] === '@')) out += '\\#';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += c;
  }
  return out + '"';
}

/** Ruby `inspect`. */
export function inspect(v: unknown): string {
  v = fromData(v);
  if (isNil(v)) return 'nil';
  if (isStr(v)) return strInspect(v);
  if (isArr(v)) return `[${v.map(inspect).join(', ')}]`;
  if (isHash(v)) return `{${hashEntries(v).map(([k, x]) => `${inspect(k)}=>${inspect(x)}`).join(', ')}}`;
  if (v instanceof RTime) {
    const frac = v.nsec ? `.${String(v.nsec).padStart(9, '0').replace(/0+$/, '')}` : '';
    return strftime(`%Y-%m-%d %H:%M:%S${frac} ${v.zone === 'utc' ? 'UTC' : '%z'}`, v.sec, v.nsec, v.zone);
  }
  if (v instanceof RRegex) return `/${v.source}/`;
  return toS(v);
}

/** Ruby `to_s` (what string interpolation shows). */
export function toS(v: unknown): string {
  v = fromData(v);
  if (isNil(v)) return '';
  if (isStr(v)) return v;
  if (isInt(v)) return String(v);
  if (isFloat(v)) return floatToS(numOf(v));
  if (typeof v === 'boolean') return String(v);
  if (v instanceof RTime) return timeToS(v);
  if (v instanceof REventTime) return String(v.sec);
  if (v instanceof RRange) return `${toS(v.begin)}${v.excl ? '...' : '..'}${toS(v.end)}`;
  if (v instanceof RRegex) return `(?-mix:${v.source})`;
  return inspect(v);
}

/** Sets a key on a plain object without ever touching its prototype. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

/** An evaluation result made into record data: Float → number (WholeFloat when whole), Time → its to_s, Hash → object. */
export function toData(v: unknown): unknown {
  if (v === undefined) return null;
  if (v instanceof RFloat) return floatData(v.v);
  if (v instanceof RTime) return timeToS(v);
  if (v instanceof REventTime) return new EventTime(v.sec, v.nsec);
  if (v instanceof RRange || v instanceof RRegex) return toS(v);
  if (Array.isArray(v)) return v.some((x) => toData(x) !== x) ? v.map(toData) : v;
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) setOwn(out, toS(k), toData(x));
    return out;
  }
  return v;
}

/** Ruby `==`. */
export function equal(a: unknown, b: unknown): boolean {
  a = fromData(a);
  b = fromData(b);
  if (isNil(a) || isNil(b)) return isNil(a) && isNil(b);
  if (isNum(a) || a instanceof REventTime) return (isNum(b) || b instanceof REventTime) && numOf(a) === numOf(b);
  if (isArr(a)) return isArr(b) && a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isHash(a)) {
    if (!isHash(b)) return false;
    const ea = hashEntries(a);
    return ea.length === hashEntries(b).length && ea.every(([k, x]) => hashHas(b, k) && equal(x, hashGet(b, k)));
  }
  if (a instanceof RTime) return b instanceof RTime && a.sec === b.sec && a.nsec === b.nsec;
  if (a instanceof RRegex) return b instanceof RRegex && a.source === b.source;
  return a === b;
}

/** Ruby `<=>` for the comparable pairs; fails like Ruby for the others. */
export function compare(a: unknown, b: unknown): number {
  a = fromData(a);
  b = fromData(b);
  if ((isNum(a) || a instanceof REventTime) && (isNum(b) || b instanceof REventTime)) {
    const x = numOf(a), y = numOf(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (isStr(a) && isStr(b)) {
    const x = Buffer.from(a), y = Buffer.from(b);
    return Math.sign(Buffer.compare(x, y));
  }
  if (a instanceof RTime && b instanceof RTime) return Math.sign(a.sec - b.sec || a.nsec - b.nsec);
  if (isArr(a) && isArr(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compare(a[i], b[i]);
      if (c !== 0) return c;
    }
    return Math.sign(a.length - b.length);
  }
  return fail(`comparison of ${className(a)} with ${isNil(b) ? 'nil' : className(b)} failed`);
}
