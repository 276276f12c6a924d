/**
 * Fluentd's record_accessor syntax for naming a field: `foo` (a top-level key, dots and all),
 * `$.a.b`, `$.a[0]`, `$['a']['b c']`, `$["a"]`. Parsed once at configure time into a path.
 */
import { WholeFloat } from '../core/float.js';
import { setOwn } from './values.js';

export type AccessorPath = Array<string | number>;

export class AccessorError extends Error {}

export function parseAccessor(text: string): AccessorPath {
  if (!text.startsWith('$.') && !text.startsWith('$[')) {
    if (text === '') throw new AccessorError('empty key');
    return [text];
  }
  const path: AccessorPath = [];
  let i = 1;
  while (i < text.length) {
    if (text[i] === '.') {
      const m = /^[^.[\]]+/.exec(text.slice(i + 1));
      if (!m) throw new AccessorError(`invalid record accessor '${text}': expected a key after '.'`);
      path.push(m[0]);
      i += 1 + m[0].length;
    } else if (text[i] === '[') {
      const m = /^\[(?:(\d+)|'([^']*)'|"([^"]*)")\]/.exec(text.slice(i));
      if (!m) throw new AccessorError(`invalid record accessor '${text}': expected [N], ['key'] or ["key"]`);
      path.push(m[1] !== undefined ? Number(m[1]) : (m[2] ?? m[3])!);
      i += m[0].length;
    } else {
      throw new AccessorError(`invalid record accessor '${text}' at '${text.slice(i)}'`);
    }
  }
  if (path.length === 0) throw new AccessorError(`invalid record accessor '${text}'`);
  return path;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof WholeFloat);

/**
 * Deletes the field at `path` from `record` (a record this caller owns). Missing paths are ignored.
 * Nested containers on the way are copied first, so objects shared with other records never change.
 */
export function deletePath(record: Record<string, unknown>, path: AccessorPath): void {
  if (path.length === 1) {
    if (typeof path[0] === 'string' && Object.hasOwn(record, path[0])) delete record[path[0]];
    return;
  }
  // find the parent first, so nothing is copied for a path that does not exist
  let cur: unknown = record;
  for (let i = 0; i < path.length - 1; i++) {
    cur = step(cur, path[i]!);
    if (cur === undefined) return;
  }
  const last = path[path.length - 1]!;
  if (!(isObj(cur) && typeof last === 'string' && Object.hasOwn(cur, last)) && !(Array.isArray(cur) && typeof last === 'number' && last < cur.length)) return;
  let parent: Record<string, unknown> | unknown[] = record;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const child = step(parent, key)!;
    const copy = Array.isArray(child) ? [...child] : { ...(child as object) };
    if (Array.isArray(parent)) parent[key as number] = copy;
    else setOwn(parent, key as string, copy);
    parent = copy as Record<string, unknown> | unknown[];
  }
  if (Array.isArray(parent)) parent.splice(last as number, 1);
  else delete parent[last as string];
}

function step(cur: unknown, key: string | number): unknown {
  if (typeof key === 'number' && Array.isArray(cur)) return key < cur.length ? cur[key] : undefined;
  if (typeof key === 'string' && isObj(cur) && Object.hasOwn(cur, key)) return cur[key];
  return undefined;
}
