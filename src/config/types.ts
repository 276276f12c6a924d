/**
 * Value coercers for parameter types. Each takes the text a config gave and returns the typed value,
 * or throws a CoerceError whose message says what was expected. Stricter than Fluentd's non-strict
 * mode on purpose: a value Fluentd would silently turn into 0 is an error here.
 */
export class CoerceError extends Error {}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export function toString_(v: string): string {
  return v;
}

export function toInteger(v: string): number {
  const s = v.trim();
  if (!/^[-+]?\d+$/.test(s)) throw new CoerceError(`expected an integer, got ${JSON.stringify(v)}`);
  return parseInt(s, 10);
}

export function toFloat(v: string): number {
  const s = v.trim();
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new CoerceError(`expected a number, got ${JSON.stringify(v)}`);
  return parseFloat(s);
}

/** `1024`, `8k`, `8m`, `1.5g`, `2GB`, `10kb` (powers of 1024) ⇒ bytes. */
export function toSize(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$/i.exec(v);
  if (!m) throw new CoerceError(`expected a size such as 1024, 8k, 8m or 1g, got ${JSON.stringify(v)}`);
  return Math.floor(parseFloat(m[1]!) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

const TIME_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** `60s`, `5m`, `1h`, `1d`, `0.5` ⇒ seconds. */
export function toTime(v: string): number {
  const s = v.trim();
  if (/^\d+(\.\d+)?ms$/.test(s)) {
    throw new CoerceError(`${JSON.stringify(v)} is ambiguous (Fluentd reads "ms" as minutes); write seconds, e.g. 0.1 for 100 milliseconds`);
  }
  const m = /^(\d+(?:\.\d+)?|\.\d+)([smhd]?)$/.exec(s);
  if (!m) throw new CoerceError(`expected a duration such as 60s, 5m, 1h, 1d or 0.5, got ${JSON.stringify(v)}`);
  return parseFloat(m[1]!) * TIME_UNITS[m[2]!]!;
}

/** `true`/`yes`/`` ⇒ true, `false`/`no` ⇒ false (Fluentd's spellings). */
export function toBool(v: string): boolean {
  const s = v.trim();
  if (s === '' || s === 'true' || s === 'yes') return true;
  if (s === 'false' || s === 'no') return false;
  throw new CoerceError(`expected true or false, got ${JSON.stringify(v)}`);
}

export function toEnum<T extends string>(v: string, options: readonly T[]): T {
  const s = v.trim();
  if ((options as readonly string[]).includes(s)) return s as T;
  throw new CoerceError(`expected one of ${options.join(', ')}, got ${JSON.stringify(v)}`);
}

/** A JSON array, or a comma-separated list `a, b ,c`. */
export function toArray(v: string): string[] | unknown[] {
  const s = v.trim();
  if (s.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch {
      throw new CoerceError(`expected a JSON array, got ${JSON.stringify(v)}`);
    }
    if (!Array.isArray(parsed)) throw new CoerceError(`expected a JSON array, got ${JSON.stringify(v)}`);
    return parsed;
  }
  if (s === '') return [];
  return s.split(',').map((x) => x.trim());
}

/** A JSON object, or `k1:v1,k2:v2` (split on the first `:` of each pair). */
export function toHash(v: string): Record<string, unknown> {
  const s = v.trim();
  if (s.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch {
      throw new CoerceError(`expected a JSON object, got ${JSON.stringify(v)}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new CoerceError(`expected a JSON object, got ${JSON.stringify(v)}`);
    }
    return parsed as Record<string, unknown>;
  }
  if (s.startsWith('[')) throw new CoerceError(`expected a JSON object or k1:v1,k2:v2, got ${JSON.stringify(v)}`);
  const out: Record<string, unknown> = {};
  if (s === '') return out;
  for (const pair of s.split(',')) {
    const i = pair.indexOf(':');
    if (i < 0) out[pair.trim()] = null;
    else out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}
