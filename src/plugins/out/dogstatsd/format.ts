/**
 * DogStatsD datagrams exactly as fluent-plugin-dogstatsd 0.0.6 + dogstatsd-ruby 1.4.1 write them
 * (spec outputs.md §1): one record → one metric line or one event datagram; lines batched 50 to a
 * datagram, joined by `\n`. Deviations, on purpose: `|`, `,` and line breaks are stripped from tag
 * text (Ruby sends them and corrupts the line); event lengths are UTF-8 byte counts; records Ruby
 * would crash on (event without title/text, event over 8 KiB, `tags` neither map nor array, a
 * non-numeric sample_rate) are skipped with a reason instead of failing the whole chunk.
 */
import type { Record_ } from '../../../core/event-stream.js';
import { numberOf, WholeFloat } from '../../../core/float.js';
import { recordAccessor } from '../../../core/record-accessor.js';
import { toS, truthy } from '../../../expr/values.js';

export const METRIC_TYPES = ['increment', 'decrement', 'count', 'gauge', 'histogram', 'timing', 'set', 'event'] as const;
export type MetricType = (typeof METRIC_TYPES)[number];

const CODES: Record<Exclude<MetricType, 'event'>, string> = { increment: 'c', decrement: 'c', count: 'c', gauge: 'g', histogram: 'h', timing: 'ms', set: 's' };
const EVENT_LIMIT = 8 * 1024;

export interface FormatOptions {
  /** Fixed metric name with `${tag}`, `${tag[N]}`, `${field}`, `${$.a.b}` placeholders (logferry extension). */
  key: string | null;
  useTagAsKey: boolean;
  useTagAsKeyIfMissing: boolean;
  flatTags: boolean;
  metricType: MetricType | null;
  valueKey: string;
  sampleRate: number | null;
  /** Prefix joined with `.` (logferry extension; the Ruby plugin has none). */
  namespace: string | null;
  /** Tags put before the record's (DD_* environment tags when asked for). */
  globalTags: string[];
  random: () => number;
}

export type Formatted =
  | { kind: 'line'; text: string }
  | { kind: 'event'; text: string }
  | { kind: 'sampled_out' }
  | { kind: 'skip'; reason: string };

/** dogstatsd-ruby's name sanitising: `::` → `.`, then `:`, `|`, `@` → `_`. */
export function sanitizeName(name: string): string {
  return name.replace(/::/g, '.').replace(/[:|@]/g, '_');
}

/** `"#{k}:#{v}"` with the protocol-breaking characters removed. */
export function tagText(k: unknown, v: unknown): string {
  return `${toS(k)}:${toS(v)}`.replace(/[|,\r\n]/g, '');
}

const PLACEHOLDER = /\$\{([^}]+)\}/g;

/** Expands a metric-name template for one event; unknown placeholders are left as written. */
export function expandKey(template: string, tag: string, record: Record_): string {
  return template.replace(PLACEHOLDER, (all, name: string) => {
    if (name === 'tag') return tag;
    const tm = /^tag(?:_parts)?\[(-?\d+)\]$/.exec(name);
    if (tm) {
      const parts = tag.split('.');
      const i = Number(tm[1]);
      return parts[i < 0 ? parts.length + i : i] ?? all;
    }
    const v = name.startsWith('$') ? recordAccessor(name)(record) : Object.hasOwn(record, name) ? record[name] : undefined;
    return v === undefined ? all : toS(v);
  });
}

function take(record: Record_, key: string): unknown {
  if (!Object.hasOwn(record, key)) return undefined;
  const v = record[key];
  delete record[key];
  return v;
}

function tagsOf(source: unknown): string[] | null {
  if (source === null || source === undefined) return [];
  if (Array.isArray(source)) return source.map((x) => (Array.isArray(x) ? tagText(x[0], x[1]) : tagText(x, null)));
  if (typeof source === 'object' && !(source instanceof Uint8Array) && !(source instanceof WholeFloat)) return Object.entries(source as Record_).map(([k, v]) => tagText(k, v));
  return null;
}

/** Ruby `sub("\n", "\\n")`: only the first line break. */
function escapeEventText(s: string): string {
  return s.replace('\n', '\\n');
}

function eventDatagram(title: string, text: string, alertType: unknown, tags: string[]): string | null {
  const t = escapeEventText(title);
  const x = escapeEventText(text);
  let out = `_e{${Buffer.byteLength(t)},${Buffer.byteLength(x)}}:${t}|${x}`;
  if (truthy(alertType)) out += `|t:${toS(alertType).replace('|', '')}`;
  if (tags.length > 0) out += `|#${tags.join(',')}`;
  return Buffer.byteLength(out) > EVENT_LIMIT ? null : out;
}

/**
 * Turns one record into its datagram text. The record is consumed (fields are removed as the Ruby
 * plugin removes them): pass a record nobody else holds.
 */
export function formatRecord(tag: string, record: Record_, o: FormatOptions): Formatted {
  let key: unknown;
  if (o.key !== null) key = expandKey(o.key, tag, record);
  else if (o.useTagAsKey) key = tag;
  else key = take(record, 'key');
  if (!truthy(key) && o.useTagAsKeyIfMissing) key = tag;
  if (!truthy(key)) return { kind: 'skip', reason: "'key' is not specified. skip this record" };
  const value = take(record, o.valueKey);
  const title = take(record, 'title');
  const text = take(record, 'text');
  const type = o.metricType ?? take(record, 'type');
  const rateRaw = o.sampleRate ?? take(record, 'sample_rate');
  const tags = tagsOf(o.flatTags ? record : record.tags);
  if (tags === null) return { kind: 'skip', reason: 'the tags field must be a map or an array' };
  const allTags = o.globalTags.length > 0 ? [...o.globalTags, ...tags] : tags;

  if (type === 'event') {
    if (title === undefined || title === null || text === undefined || text === null) return { kind: 'skip', reason: 'an event needs title and text' };
    const d = eventDatagram(toS(title), toS(text), record.alert_type, allTags);
    return d === null ? { kind: 'skip', reason: 'event payload is too big (more than 8KB)' } : { kind: 'event', text: d };
  }
  if (type === undefined || type === null) {
    return { kind: 'skip', reason: 'type is not provided (You can provide type via `metric_type` in config or `type` field in a record.' };
  }
  const code = typeof type === 'string' ? CODES[type as Exclude<MetricType, 'event'>] : undefined;
  if (code === undefined) return { kind: 'skip', reason: `Type '${toS(type)}' is unknown.` };

  let rateText = '';
  if (truthy(rateRaw)) {
    const rate = numberOf(rateRaw) ?? (typeof rateRaw === 'string' && rateRaw.trim() !== '' ? Number(rateRaw) : NaN);
    if (Number.isNaN(rate)) return { kind: 'skip', reason: 'sample_rate is not a number' };
    if (rate !== 1) {
      if (!(o.random() < rate)) return { kind: 'sampled_out' };
      rateText = `|@${toS(rateRaw)}`;
    }
  }
  const v = type === 'increment' ? '1' : type === 'decrement' ? '-1' : toS(value);
  let name = toS(key);
  if (o.namespace !== null) name = `${o.namespace}.${name}`;
  const tagPart = allTags.length > 0 ? `|#${allTags.join(',')}` : '';
  return { kind: 'line', text: `${sanitizeName(name)}:${v}|${code}${rateText}${tagPart}` };
}

/**
 * Groups metric lines into datagrams: at most `maxLines` lines (Ruby's batch of 50) and
 * `maxBytes` UTF-8 bytes each, lines joined by `\n`, no trailing newline, never empty.
 */
export class DatagramBatcher {
  private lines: string[] = [];
  private bytes = 0;

  constructor(private readonly maxLines: number, private readonly maxBytes: number, private readonly send: (datagram: string) => void) {}

  /** False (and nothing queued) when the line alone exceeds maxBytes. */
  add(line: string): boolean {
    const n = Buffer.byteLength(line);
    if (n > this.maxBytes) return false;
    if (this.lines.length > 0 && this.bytes + 1 + n > this.maxBytes) this.flush();
    this.bytes += (this.lines.length > 0 ? 1 : 0) + n;
    this.lines.push(line);
    if (this.lines.length >= this.maxLines) this.flush();
    return true;
  }

  flush(): void {
    if (this.lines.length === 0) return;
    const d = this.lines.join('\n');
    this.lines = [];
    this.bytes = 0;
    this.send(d);
  }
}
