/**
 * Ruby keeps Integer and Float apart; a JS number cannot: msgpack float64 `2.0` and int `2` both
 * decode to `2`. Fluentd prints the float as `2.0` (JSON, `to_s`) and re-encodes it as a float64, so
 * the shared msgpack decoder (src/protocol/msgpack.ts) returns a `WholeFloat` for every float32/
 * float64 whose value is whole, and the encoder writes one back as a float64. Non-whole floats stay
 * plain numbers: they already print with a fraction. Instances are immutable, so records share them.
 *
 * Consumers of record values: `numberOf` reads either form; `toS` (src/expr) and `String(v)` give
 * Ruby's `to_s`; output JSON goes through `toJson` (src/format/formatter.ts), which prints `2.0`.
 */
export class WholeFloat {
  constructor(readonly value: number) {}

  /** Arithmetic and `<`/`>` comparisons see the number (`===` does not: use `numberOf`). */
  valueOf(): number {
    return this.value;
  }

  /** Ruby's Float#to_s: `2.0`, `-3.0`, `1.0e+16`. */
  toString(): string {
    return floatToS(this.value);
  }

  /** Plain `JSON.stringify` (logs, metrics) sees the number; output formatters print `2.0` instead. */
  toJSON(): number {
    return this.value;
  }
}

/** The number in a record value: a JS number or a WholeFloat's value; null for anything else. */
export function numberOf(v: unknown): number | null {
  if (typeof v === 'number') return v;
  return v instanceof WholeFloat ? v.value : null;
}

/** A computed Ruby Float as record data: whole → WholeFloat (stays a Float downstream), else the number. */
export function floatData(n: number): number | WholeFloat {
  return Number.isInteger(n) ? new WholeFloat(n) : n;
}

/** Ruby's Float#to_s: `5.0`, `1.5`, `1.0e+16`, `1.0e-05`. */
export function floatToS(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const a = Math.abs(n);
  if (a >= 1e16 || a < 1e-4) {
    const [m, e] = n.toExponential().split('e') as [string, string];
    const exp = Number(e);
    return `${m.includes('.') ? m : `${m}.0`}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const s = String(n);
  return s.includes('.') ? s : `${s}.0`;
}

const LONG_LONG = 2 ** 63;

/**
 * A whole float as Fluentd's JSON formatter (Oj, compat mode) prints it: `0.0` for ±0, C's `%.1f`
 * while the value fits a long long (`10000000000000000.0`), Ruby's to_s beyond (`1.0e+19`).
 */
export function wholeFloatJson(n: number): string {
  if (n === 0) return '0.0';
  if (n >= -LONG_LONG && n < LONG_LONG) return n.toFixed(1); // exact digits below 1e21, as %.1f
  return floatToS(n);
}
