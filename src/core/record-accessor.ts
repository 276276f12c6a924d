/**
 * Reading a field named in Fluentd's record_accessor syntax (`foo`, `$.a.b`, `$.a[0]`,
 * `$['a']['b c']`); parsing is src/expr/record-accessor.ts's. A missing step gives undefined.
 */
import { parseAccessor } from '../expr/record-accessor.js';
import type { Record_ } from './event-stream.js';
import { WholeFloat } from './float.js';

export { AccessorError } from '../expr/record-accessor.js';

export type RecordAccessor = (record: Record_) => unknown;

function step(v: unknown, s: string | number): unknown {
  if (typeof s === 'number') return Array.isArray(v) ? v[s] : undefined;
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof WholeFloat) return undefined;
  return Object.hasOwn(v, s) ? (v as Record_)[s] : undefined;
}

/** Builds a reader for `key`; throws AccessorError for malformed `$` paths. */
export function recordAccessor(key: string): RecordAccessor {
  const path = parseAccessor(key);
  if (path.length === 1) {
    const only = path[0]!;
    return (r) => step(r, only);
  }
  return (r) => {
    let v: unknown = r;
    for (const s of path) {
      v = step(v, s);
      if (v === undefined) return undefined;
    }
    return v;
  };
}
