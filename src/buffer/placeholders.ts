/**
 * Per-chunk placeholders in plugin parameters: strftime fields (from the chunk's timekey),
 * `${tag}`, `${tag[N]}`, `${tag[-N]}`, `${key}` for record chunk keys, and `${chunk_id}`.
 */
import { strftime } from '../core/strftime.js';
import type { ChunkMetadata } from './chunk.js';
import type { ChunkKeys } from './chunk-keys.js';

const PLACEHOLDER = /\$\{([^}]+)\}/g;
const STRFTIME = /%[-:]?[a-zA-Z]/;

export function hasPlaceholders(template: string): boolean {
  return /\$\{[^}]+\}/.test(template) || STRFTIME.test(template);
}

/** Problems a template has given the chunk keys (checked at configure time). */
export function checkPlaceholders(template: string, keys: ChunkKeys): string[] {
  const problems: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) {
    const name = m[1]!;
    if (name === 'chunk_id') continue;
    if (name === 'tag' || /^tag\[-?\d+\]$/.test(name)) {
      if (!keys.tag) problems.push(`\${${name}} needs tag in the <buffer> chunk keys`);
    } else if (!keys.keys.includes(name)) {
      const all = [...(keys.tag ? ['tag'] : []), ...(keys.time ? ['time'] : []), ...keys.keys];
      problems.push(`\${${name}} is not a <buffer> chunk key (keys: ${all.join(', ') || 'none'})`);
    }
  }
  if (STRFTIME.test(template.replace(PLACEHOLDER, '')) && !keys.time) problems.push('time placeholders (%Y, %m, …) need time in the <buffer> chunk keys');
  return problems;
}

/** Fluentd's thresholds: the finest time field a template prints, found by formatting two instants. */
const GRANULARITY: Array<[number, string]> = [[1, 'second'], [60, 'minute'], [3600, 'hour'], [86400, 'day']];
const CHECK_BASE = Date.UTC(2016, 0, 1) / 1000;

/**
 * The problem with a template's time placeholders given the timekey, or null: with the `time` key,
 * a template that prints time more coarsely than one range (only `%Y%m%d` with `timekey 1h`) would
 * merge several chunks' ranges into one name. Templates without time placeholders are not checked.
 */
export function timePlaceholderProblem(template: string, keys: ChunkKeys): string | null {
  const fixed = template.replace(PLACEHOLDER, '');
  if (!STRFTIME.test(fixed) || !keys.time || keys.timekey === null) return null;
  const base = strftime(fixed, CHECK_BASE, 0, 'utc');
  const hit = GRANULARITY.find(([sec]) => strftime(fixed, CHECK_BASE + sec, 0, 'utc') !== base);
  if (hit && hit[0] <= keys.timekey) return null;
  return `time placeholders are coarser than timekey ${keys.timekey}: the finest is the ${hit ? hit[1] : 'month'}, so several time ranges would share one name`;
}

/**
 * Expands a template for one chunk: strftime fields from the timekey first (so `%` in a tag or key
 * value is kept), then `${tag}`, `${tag[N]}`, `${key}`, `${chunk_id}`. Unknown placeholders are left as written.
 */
export function expandPlaceholders(template: string, metadata: ChunkMetadata, keys: ChunkKeys, chunkHexId = ''): string {
  let out = template;
  if (metadata.timekey !== null && STRFTIME.test(out)) {
    const zone = keys.zoneOffsetSec === 0 ? 'utc' : offsetText(keys.zoneOffsetSec);
    out = strftime(out, metadata.timekey, 0, zone);
  }
  return out.replace(PLACEHOLDER, (all, name: string) => {
    if (name === 'chunk_id') return chunkHexId;
    if (name === 'tag') return metadata.tag ?? all;
    const tm = /^tag\[(-?\d+)\]$/.exec(name);
    if (tm && metadata.tag !== null) {
      const parts = metadata.tag.split('.');
      const i = Number(tm[1]);
      return parts[i < 0 ? parts.length + i : i] ?? all;
    }
    return metadata.variables?.[name] ?? all;
  });
}

function offsetText(sec: number): string {
  const a = Math.abs(sec) / 60;
  return `${sec < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}${String(a % 60).padStart(2, '0')}`;
}
