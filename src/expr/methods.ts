/**
 * The supported methods, per receiver class. Dispatch is by the receiver's Ruby class at run time;
 * the parser accepts a method name only if some class here defines it (METHOD_NAMES). Tables are
 * Maps, so no name can ever resolve to a JS prototype member.
 */
import { deleteChars, split, squeeze, substitute, tr } from './regex.js';
import { TIME_METHODS } from './time.js';
import {
  className, compare, describe, equal, fail, float, floatToS, fromData, hashEntries, hashGet, hashHas, inspect, isArr, isFloat,
  isHash, isInt, isNil, isNum, isStr, numOf, REventTime, RFloat, RRange, RRegex, RTime, toS, type RHash,
} from './values.js';

type Fn<T> = (recv: T, args: unknown[]) => unknown;
interface Def<T> { min: number; max: number; fn: Fn<T> }
const d = <T>(min: number, max: number, fn: Fn<T>): Def<T> => ({ min, max, fn });

// ---- argument coercions, with Ruby's messages
export function str(v: unknown): string {
  return isStr(v) ? v : fail(`no implicit conversion of ${isNil(v) ? 'nil' : className(v)} into String`);
}
export function int(v: unknown): number {
  if (isInt(v)) return v;
  if (isFloat(v)) return Math.trunc(numOf(v));
  return fail(`no implicit conversion of ${isNil(v) ? 'nil' : className(v)} into Integer`);
}
/** Longest string a method may build. */
export const MAX_STRING = 16 * 1024 * 1024;
function width(v: unknown): number {
  const n = int(v);
  return n > MAX_STRING ? fail('argument too big') : n;
}
function pattern(v: unknown): string | RRegex {
  return v instanceof RRegex ? v : str(v);
}

/** Code points, so lengths and indexes count characters as Ruby does. */
const cps = (s: string): string[] => (/[\uD800-\uDFFF]/.test(s) ? Array.from(s) : s.split(''));

/** Ruby String#to_i / #to_f: the leading number, or 0. */
export function strToI(s: string, base = 10): number {
  const digits = base === 16 ? '[0-9a-fA-F]' : base === 8 ? '[0-7]' : base === 2 ? '[01]' : '[0-9]';
  const m = new RegExp(`^[\\s]*([+-]?${digits}+(?:_${digits}+)*)`).exec(s);
  return m ? parseInt(m[1]!.replace(/_/g, ''), base) : 0;
}
export function strToF(s: string): RFloat {
  const m = /^\s*([+-]?(?:\d[\d_]*(?:\.\d[\d_]*)?|\.\d+)(?:[eE][+-]?\d+)?)/.exec(s);
  return float(m ? parseFloat(m[1]!.replace(/_/g, '')) : 0);
}

const STRIP_L = /^[\0\t\n\v\f\r ]+/;
const STRIP_R = /[\0\t\n\v\f\r ]+$/;

/** `x[i]`, `x[start, len]`, `x[range]` on an Array or String (as code points). */
export function sliceSeq<T>(seq: T[], args: unknown[]): T | T[] | null {
  const n = seq.length;
  if (args.length === 2) {
    let start = int(args[0]);
    const len = int(args[1]);
    if (start < 0) start += n;
    if (start < 0 || start > n || len < 0) return null;
    return seq.slice(start, start + len);
  }
  const a = args[0];
  if (a instanceof RRange) {
    let b = isNil(a.begin) ? 0 : int(a.begin);
    let e = isNil(a.end) ? n : int(a.end);
    if (b < 0) b += n;
    if (b < 0 || b > n) return null;
    if (e < 0) e += n;
    if (!a.excl && !isNil(a.end)) e += 1;
    return seq.slice(b, Math.max(b, Math.min(e, n)));
  }
  let i = int(a);
  if (i < 0) i += n;
  return i >= 0 && i < n ? seq[i]! : null;
}

export function index(obj: unknown, args: unknown[]): unknown {
  obj = fromData(obj);
  if (isHash(obj)) {
    if (args.length !== 1) fail(`wrong number of arguments (given ${args.length}, expected 1)`);
    return hashGet(obj, args[0]);
  }
  if (args.length < 1 || args.length > 2) fail(`wrong number of arguments (given ${args.length}, expected 1..2)`);
  if (isArr(obj)) return fromData(sliceSeq(obj, args));
  if (isStr(obj)) {
    const a = args[0];
    if (args.length === 1 && isStr(a)) return obj.includes(a) ? a : null;
    if (args.length === 1 && a instanceof RRegex) return a.re.exec(obj)?.[0] ?? null;
    const r = sliceSeq(cps(obj), args);
    return r === null ? null : Array.isArray(r) ? r.join('') : r;
  }
  return fail(`undefined method \`[]' for ${describe(obj)}`);
}

function dig(recv: unknown, keys: unknown[]): unknown {
  let cur = recv;
  for (const k of keys) {
    if (isNil(cur)) return null;
    if (isHash(cur)) cur = hashGet(cur, k);
    else if (isArr(cur)) cur = fromData(sliceSeq(cur, [k]));
    else fail(`${className(cur)} does not have #dig method`);
  }
  return cur;
}

export function toJson(v: unknown): string {
  v = fromData(v);
  if (isNil(v)) return 'null';
  if (isStr(v)) return JSON.stringify(v);
  if (isInt(v) || typeof v === 'boolean') return String(v);
  if (isFloat(v)) {
    const n = numOf(v);
    return Number.isFinite(n) ? floatToS(n) : fail(`${floatToS(n)} not allowed in JSON`);
  }
  if (isArr(v)) return `[${v.map(toJson).join(',')}]`;
  if (isHash(v)) return `{${hashEntries(v).map(([k, x]) => `${JSON.stringify(toS(k))}:${toJson(x)}`).join(',')}}`;
  return JSON.stringify(toS(v));
}

function isA(v: unknown, cls: string): boolean {
  switch (cls) {
    case 'Numeric': return isNum(v);
    case 'Integer': return isInt(v);
    case 'Float': return isFloat(v);
    case 'NilClass': return isNil(v);
    case 'TrueClass': return v === true;
    case 'FalseClass': return v === false;
    default: return className(v) === cls;
  }
}

const GENERIC = new Map<string, Def<unknown>>([
  ['to_s', d(0, 0, (v) => toS(v))],
  ['inspect', d(0, 0, (v) => inspect(v))],
  ['to_json', d(0, 0, (v) => toJson(v))],
  ['nil?', d(0, 0, (v) => isNil(v))],
  ['is_a?', d(1, 1, (v, [c]) => isA(v, c as string))],
  ['kind_of?', d(1, 1, (v, [c]) => isA(v, c as string))],
  ['instance_of?', d(1, 1, (v, [c]) => className(v) === c)],
  ['dup', d(0, 0, (v) => v)],
  ['clone', d(0, 0, (v) => v)],
  ['freeze', d(0, 0, (v) => v)],
]);

const NIL = new Map<string, Def<null>>([
  ['to_a', d(0, 0, () => [])],
  ['to_h', d(0, 0, () => new Map())],
  ['to_i', d(0, 0, () => 0)],
  ['to_f', d(0, 0, () => float(0))],
]);

const STRING = new Map<string, Def<string>>([
  ['to_str', d(0, 0, (s) => s)],
  ['to_sym', d(0, 0, (s) => s)],
  ['to_i', d(0, 1, (s, [b]) => strToI(s, b === undefined ? 10 : int(b)))],
  ['to_f', d(0, 0, (s) => strToF(s))],
  ['upcase', d(0, 0, (s) => s.toUpperCase())],
  ['downcase', d(0, 0, (s) => s.toLowerCase())],
  ['capitalize', d(0, 0, (s) => s.charAt(0).toUpperCase() + s.slice(1).toLowerCase())],
  ['swapcase', d(0, 0, (s) => Array.from(s, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join(''))],
  ['strip', d(0, 0, (s) => s.replace(STRIP_L, '').replace(STRIP_R, ''))],
  ['lstrip', d(0, 0, (s) => s.replace(STRIP_L, ''))],
  ['rstrip', d(0, 0, (s) => s.replace(STRIP_R, ''))],
  ['chomp', d(0, 1, (s, [sep]) => {
    if (sep === undefined) return s.replace(/\r?\n$|\r$/, '');
    const x = str(sep);
    if (x === '') return s.replace(/(\r?\n)+$/, '');
    return s.endsWith(x) ? s.slice(0, s.length - x.length) : s;
  })],
  ['chop', d(0, 0, (s) => (s.endsWith('\r\n') ? s.slice(0, -2) : cps(s).slice(0, -1).join('')))],
  ['chars', d(0, 0, (s) => cps(s))],
  ['bytesize', d(0, 0, (s) => Buffer.byteLength(s))],
  ['length', d(0, 0, (s) => cps(s).length)],
  ['size', d(0, 0, (s) => cps(s).length)],
  ['empty?', d(0, 0, (s) => s === '')],
  ['include?', d(1, 1, (s, [x]) => s.includes(str(x)))],
  ['start_with?', d(1, 9, (s, xs) => xs.some((x) => (x instanceof RRegex ? new RegExp(`^(?:${x.re.source})`, x.re.flags.replace('m', '')).test(s) : s.startsWith(str(x)))))],
  ['end_with?', d(1, 9, (s, xs) => xs.some((x) => s.endsWith(str(x))))],
  ['index', d(1, 1, (s, [x]) => {
    const at = x instanceof RRegex ? (x.re.exec(s)?.index ?? -1) : s.indexOf(str(x));
    return at < 0 ? null : cps(s.slice(0, at)).length;
  })],
  ['reverse', d(0, 0, (s) => cps(s).reverse().join(''))],
  ['sub', d(2, 2, (s, [p, r]) => substitute(s, pattern(p), str(r), false))],
  ['gsub', d(2, 2, (s, [p, r]) => substitute(s, pattern(p), str(r), true))],
  ['split', d(0, 2, (s, [p, l]) => split(s, isNil(p) ? null : pattern(p), l === undefined ? 0 : int(l)))],
  ['tr', d(2, 2, (s, [a, b]) => tr(s, str(a), str(b)))],
  ['delete', d(1, 1, (s, [a]) => deleteChars(s, str(a)))],
  ['squeeze', d(0, 1, (s, [a]) => squeeze(s, a === undefined ? undefined : str(a)))],
  ['slice', d(1, 2, (s, a) => index(s, a))],
  ['match?', d(1, 1, (s, [p]) => { const x = pattern(p); return typeof x === 'string' ? s.includes(x) : x.re.test(s); })],
  ['ljust', d(1, 2, (s, [w, p]) => s.padEnd(width(w), p === undefined ? ' ' : str(p)))],
  ['rjust', d(1, 2, (s, [w, p]) => s.padStart(width(w), p === undefined ? ' ' : str(p)))],
  ['force_encoding', d(1, 1, (s) => s)],
  ['encode', d(0, 2, (s) => s)],
  ['scrub', d(0, 1, (s) => s)],
]);

const roundTo = (n: number, digits: number, how: (x: number) => number): number => {
  const f = 10 ** digits;
  return how(n * f) / f;
};
const roundHalfAway = (x: number): number => Math.sign(x) * Math.round(Math.abs(x));
function rounding(how: (x: number) => number): Fn<number | RFloat> {
  return (v, [dg]) => {
    const n = numOf(v);
    const digits = dg === undefined ? 0 : int(dg);
    if (isInt(v)) return digits >= 0 ? n : roundTo(n, digits, how);
    if (digits > 0) return float(roundTo(n, digits, how));
    return roundTo(n, digits, how);
  };
}

const NUMBER = new Map<string, Def<number | RFloat>>([
  ['to_i', d(0, 0, (v) => Math.trunc(numOf(v)))],
  ['to_int', d(0, 0, (v) => Math.trunc(numOf(v)))],
  ['truncate', d(0, 0, (v) => Math.trunc(numOf(v)))],
  ['to_f', d(0, 0, (v) => float(numOf(v)))],
  ['to_s', d(0, 1, (v, [b]) => (b !== undefined && isInt(v) ? v.toString(int(b)) : toS(v)))],
  ['round', d(0, 1, rounding(roundHalfAway))],
  ['floor', d(0, 1, rounding(Math.floor))],
  ['ceil', d(0, 1, rounding(Math.ceil))],
  ['abs', d(0, 0, (v) => (isInt(v) ? Math.abs(v) : float(Math.abs(numOf(v)))))],
  ['zero?', d(0, 0, (v) => numOf(v) === 0)],
  ['positive?', d(0, 0, (v) => numOf(v) > 0)],
  ['negative?', d(0, 0, (v) => numOf(v) < 0)],
  ['even?', d(0, 0, (v) => int(v) % 2 === 0)],
  ['odd?', d(0, 0, (v) => Math.abs(int(v) % 2) === 1)],
]);

function flatten(a: unknown[]): unknown[] {
  return a.flatMap((x) => (isArr(x) ? flatten(x) : [fromData(x)]));
}
function uniq(a: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const x of a) if (!out.some((y) => equal(x, y))) out.push(x);
  return out;
}
const join = (a: unknown[], sep: string): string => flatten(a).map(toS).join(sep);

const ARRAY = new Map<string, Def<unknown[]>>([
  ['first', d(0, 1, (a, [n]) => (n === undefined ? fromData(a[0]) : a.slice(0, int(n)).map(fromData)))],
  ['last', d(0, 1, (a, [n]) => (n === undefined ? fromData(a[a.length - 1]) : a.slice(Math.max(0, a.length - int(n))).map(fromData)))],
  ['join', d(0, 1, (a, [s]) => join(a, isNil(s) ? '' : str(s)))],
  ['size', d(0, 0, (a) => a.length)],
  ['length', d(0, 0, (a) => a.length)],
  ['count', d(0, 1, (a, x) => (x.length === 0 ? a.length : a.filter((y) => equal(y, x[0])).length))],
  ['empty?', d(0, 0, (a) => a.length === 0)],
  ['include?', d(1, 1, (a, [x]) => a.some((y) => equal(y, x)))],
  ['index', d(1, 1, (a, [x]) => { const i = a.findIndex((y) => equal(y, x)); return i < 0 ? null : i; })],
  ['compact', d(0, 0, (a) => a.filter((x) => !isNil(x)))],
  ['uniq', d(0, 0, (a) => uniq(a))],
  ['reverse', d(0, 0, (a) => [...a].reverse())],
  ['sort', d(0, 0, (a) => a.map(fromData).sort(compare))],
  ['flatten', d(0, 0, (a) => flatten(a))],
  ['min', d(0, 0, (a) => (a.length ? a.map(fromData).reduce((x, y) => (compare(y, x) < 0 ? y : x)) : null))],
  ['max', d(0, 0, (a) => (a.length ? a.map(fromData).reduce((x, y) => (compare(y, x) > 0 ? y : x)) : null))],
  ['sum', d(0, 0, (a) => a.reduce<unknown>((acc, x) => {
    const y = fromData(x);
    if (!isNum(y)) return fail(`${className(y)} can't be coerced into Integer`);
    const n = numOf(acc) + numOf(y);
    return isFloat(acc) || isFloat(y) ? float(n) : n;
  }, 0))],
  ['take', d(1, 1, (a, [n]) => a.slice(0, int(n)))],
  ['drop', d(1, 1, (a, [n]) => a.slice(int(n)))],
  ['to_a', d(0, 0, (a) => a)],
  ['dig', d(1, 9, (a, ks) => dig(a, ks))],
  ['slice', d(1, 2, (a, ks) => index(a, ks))],
]);

function pick(h: RHash, keep: (k: unknown) => boolean): Map<unknown, unknown> {
  return new Map(hashEntries(h).filter(([k]) => keep(k)));
}

const HASH = new Map<string, Def<RHash>>([
  ['dig', d(1, 9, (h, ks) => dig(h, ks))],
  ['fetch', d(1, 2, (h, [k, def]) => (hashHas(h, k) ? hashGet(h, k) : def !== undefined ? def : fail(`key not found: ${inspect(k)}`)))],
  ['key?', d(1, 1, (h, [k]) => hashHas(h, k))],
  ['has_key?', d(1, 1, (h, [k]) => hashHas(h, k))],
  ['include?', d(1, 1, (h, [k]) => hashHas(h, k))],
  ['member?', d(1, 1, (h, [k]) => hashHas(h, k))],
  ['keys', d(0, 0, (h) => hashEntries(h).map(([k]) => k))],
  ['values', d(0, 0, (h) => hashEntries(h).map(([, v]) => v))],
  ['values_at', d(0, 9, (h, ks) => ks.map((k) => hashGet(h, k)))],
  ['size', d(0, 0, (h) => hashEntries(h).length)],
  ['length', d(0, 0, (h) => hashEntries(h).length)],
  ['count', d(0, 0, (h) => hashEntries(h).length)],
  ['empty?', d(0, 0, (h) => hashEntries(h).length === 0)],
  ['to_h', d(0, 0, (h) => h)],
  ['to_a', d(0, 0, (h) => hashEntries(h).map(([k, v]) => [k, v]))],
  ['merge', d(1, 1, (h, [o]) => (isHash(o) ? new Map([...hashEntries(h), ...hashEntries(o)]) : fail(`no implicit conversion of ${className(o)} into Hash`)))],
  ['slice', d(0, 9, (h, ks) => pick(h, (k) => ks.some((x) => equal(x, k))))],
  ['except', d(0, 9, (h, ks) => pick(h, (k) => !ks.some((x) => equal(x, k))))],
  ['compact', d(0, 0, (h) => new Map(hashEntries(h).filter(([, v]) => !isNil(v))))],
]);

const EVENT_TIME = new Map<string, Def<REventTime>>([
  ['to_f', d(0, 0, (t) => float(t.sec + t.nsec / 1e9))],
  ['sec', d(0, 0, (t) => t.sec)],
  ['nsec', d(0, 0, (t) => t.nsec)],
]);

/** Every method name the parser accepts. */
export const METHOD_NAMES: ReadonlySet<string> = new Set(
  [GENERIC, NIL, STRING, NUMBER, ARRAY, HASH, TIME_METHODS, EVENT_TIME].flatMap((t) => [...t.keys()]),
);

function table(v: unknown): Map<string, Def<never>> | null {
  if (isNil(v)) return NIL as Map<string, Def<never>>;
  if (isStr(v)) return STRING as Map<string, Def<never>>;
  if (isNum(v)) return NUMBER as Map<string, Def<never>>;
  if (isArr(v)) return ARRAY as Map<string, Def<never>>;
  if (v instanceof RTime) return TIME_METHODS as Map<string, Def<never>>;
  if (isHash(v)) return HASH as Map<string, Def<never>>;
  return null;
}

export function callMethod(recv: unknown, name: string, args: unknown[]): unknown {
  recv = fromData(recv);
  let def = table(recv)?.get(name);
  if (recv instanceof REventTime) {
    // Fluent::EventTime forwards what it does not define to its Integer seconds
    def = EVENT_TIME.get(name) as Def<never> | undefined;
    if (!def) return callMethod(recv.sec, name, args);
  }
  def ??= GENERIC.get(name) as Def<never> | undefined;
  if (!def) return fail(`undefined method \`${name}' for ${describe(recv)}`);
  if (args.length < def.min || args.length > def.max) {
    const expected = def.min === def.max ? String(def.min) : def.max >= 9 ? `${def.min}+` : `${def.min}..${def.max}`;
    fail(`wrong number of arguments (given ${args.length}, expected ${expected})`);
  }
  return def.fn(recv as never, args);
}
