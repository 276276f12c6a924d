/** Ruby Time for the evaluator: `Time.at`, `time.strftime(…)`, `utc`, `getlocal`, `iso8601` … */
import { parseOffset, strftime } from '../core/strftime.js';
import { className, fail, float, isFloat, isInt, isNum, isStr, numOf, REventTime, RTime, timeToS } from './values.js';

/** `Time.at(x)`: a number of seconds, an EventTime or a Time, shown in the local zone. */
export function timeAt(x: unknown): RTime {
  if (x instanceof RTime) return new RTime(x.sec, x.nsec, 'local');
  if (x instanceof REventTime) return new RTime(x.sec, x.nsec, 'local');
  if (isInt(x)) return new RTime(x, 0, 'local');
  if (isFloat(x)) {
    const f = numOf(x);
    const sec = Math.floor(f);
    return new RTime(sec, Math.min(999_999_999, Math.round((f - sec) * 1e9)), 'local');
  }
  return fail(`can't convert ${className(x)} into an exact number`);
}

export function timeNow(nowMs: number): RTime {
  const sec = Math.floor(nowMs / 1000);
  return new RTime(sec, Math.round((nowMs - sec * 1000) * 1e6), 'local');
}

/** Ruby strftime conversions the core formatter does not know, rewritten into ones it does. */
const COMPOSITE: Record<string, string> = {
  D: '%m/%d/%y', R: '%H:%M', r: '%I:%M:%S %p', c: '%a %b %e %H:%M:%S %Y', x: '%m/%d/%y', X: '%H:%M:%S', n: '\n', t: '\t', '+': '%a %b %e %H:%M:%S %Z %Y',
};

export function rubyStrftime(t: RTime, format: string): string {
  const f = format.replace(/%(%|[DRrcxXnt+]|[lkCP])/g, (all, c: string) => {
    if (c === '%') return '%%';
    if (COMPOSITE[c] !== undefined) return COMPOSITE[c];
    const fields = strftime('%H %Y %p', t.sec, t.nsec, t.zone).split(' ');
    const h = Number(fields[0]);
    if (c === 'l') return String(h % 12 === 0 ? 12 : h % 12).padStart(2, ' ');
    if (c === 'k') return String(h).padStart(2, ' ');
    if (c === 'C') return String(Math.floor(Number(fields[1]) / 100)).padStart(2, '0');
    if (c === 'P') return fields[2]!.toLowerCase();
    return all;
  });
  return strftime(f, t.sec, t.nsec, t.zone);
}

/** A `getlocal`/`localtime` argument: '+09:00', '-0300', 'UTC' or seconds east of UTC. */
function zoneArg(v: unknown): string {
  if (isStr(v)) {
    const off = parseOffset(v);
    if (off === null) return fail(`"+HH:MM", "-HH:MM", "UTC" or "A".."I","K".."Z" expected for utc_offset: ${v}`);
    return offsetZone(off);
  }
  if (isInt(v)) return offsetZone(Math.trunc(v / 60));
  return fail(`no implicit conversion of ${className(v)} into String`);
}

function offsetZone(minutes: number): string {
  const a = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

const field = (t: RTime, f: string): number => Number(strftime(f, t.sec, t.nsec, t.zone));

type TimeMethod = { min: number; max: number; fn: (t: RTime, a: unknown[]) => unknown };
const m = (min: number, max: number, fn: TimeMethod['fn']): TimeMethod => ({ min, max, fn });

export const TIME_METHODS = new Map<string, TimeMethod>([
  ['to_i', m(0, 0, (t) => t.sec)],
  ['to_int', m(0, 0, (t) => t.sec)],
  ['to_f', m(0, 0, (t) => float(t.sec + t.nsec / 1e9))],
  ['to_s', m(0, 0, (t) => timeToS(t))],
  ['strftime', m(1, 1, (t, [f]) => (isStr(f) ? rubyStrftime(t, f) : fail(`no implicit conversion of ${className(f)} into String`)))],
  ['utc', m(0, 0, (t) => new RTime(t.sec, t.nsec, 'utc'))],
  ['gmtime', m(0, 0, (t) => new RTime(t.sec, t.nsec, 'utc'))],
  ['getutc', m(0, 0, (t) => new RTime(t.sec, t.nsec, 'utc'))],
  ['localtime', m(0, 1, (t, [z]) => new RTime(t.sec, t.nsec, z === undefined ? 'local' : zoneArg(z)))],
  ['getlocal', m(0, 1, (t, [z]) => new RTime(t.sec, t.nsec, z === undefined ? 'local' : zoneArg(z)))],
  ['iso8601', m(0, 1, (t, [n]) => iso8601(t, n))],
  ['xmlschema', m(0, 1, (t, [n]) => iso8601(t, n))],
  ['year', m(0, 0, (t) => field(t, '%Y'))],
  ['month', m(0, 0, (t) => field(t, '%m'))],
  ['mon', m(0, 0, (t) => field(t, '%m'))],
  ['day', m(0, 0, (t) => field(t, '%d'))],
  ['mday', m(0, 0, (t) => field(t, '%d'))],
  ['hour', m(0, 0, (t) => field(t, '%H'))],
  ['min', m(0, 0, (t) => field(t, '%M'))],
  ['sec', m(0, 0, (t) => field(t, '%S'))],
  ['wday', m(0, 0, (t) => field(t, '%w'))],
  ['yday', m(0, 0, (t) => field(t, '%j'))],
  ['usec', m(0, 0, (t) => Math.floor(t.nsec / 1000))],
  ['nsec', m(0, 0, (t) => t.nsec)],
  ['utc?', m(0, 0, (t) => t.zone === 'utc')],
  ['utc_offset', m(0, 0, (t) => offsetSeconds(t))],
  ['zone', m(0, 0, (t) => (t.zone === 'utc' ? 'UTC' : null))],
]);

function offsetSeconds(t: RTime): number {
  const z = strftime('%z', t.sec, 0, t.zone);
  return (z[0] === '-' ? -1 : 1) * (Number(z.slice(1, 3)) * 3600 + Number(z.slice(3, 5)) * 60);
}

function iso8601(t: RTime, n: unknown): string {
  const digits = n === undefined ? 0 : isInt(n) ? n : fail(`no implicit conversion of ${className(n)} into Integer`);
  const frac = digits > 0 ? `.%${Math.min(digits, 9)}N` : '';
  return strftime(`%Y-%m-%dT%H:%M:%S${frac}${t.zone === 'utc' ? 'Z' : '%:z'}`, t.sec, t.nsec, t.zone);
}

/** `time + n`, `time - n`, `time - time`. */
export function timeArith(op: string, t: RTime, other: unknown): unknown {
  if (op === '-' && other instanceof RTime) return float(t.sec - other.sec + (t.nsec - other.nsec) / 1e9);
  if (!isNum(other)) return fail(`can't convert ${className(other)} into an exact number`);
  const delta = (op === '+' ? 1 : -1) * numOf(other);
  const whole = Math.floor(delta);
  let sec = t.sec + whole;
  let nsec = t.nsec + Math.round((delta - whole) * 1e9);
  if (nsec >= 1e9) { sec++; nsec -= 1e9; }
  return new RTime(sec, nsec, t.zone);
}
