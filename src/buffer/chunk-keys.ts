/**
 * Chunk keys (`<buffer tag,time,key1>`): how a stream is split by metadata before it is buffered.
 * With no keys or only `tag` nothing is decoded; `time` and record keys need the records.
 */
import type { ConfigProblem } from '../config/errors.js';
import { toArray } from '../config/types.js';
import { EventStream } from '../core/event-stream.js';
import type { Event, Record_ } from '../core/event-stream.js';
import { timeSeconds } from '../core/event-time.js';
import { WholeFloat } from '../core/float.js';
import { parseOffset } from '../core/strftime.js';
import type { ChunkMetadata } from './chunk.js';
import { metadataKey } from './chunk.js';

export interface Partition {
  metadata: ChunkMetadata;
  stream: EventStream;
}

const KEY_NAME = /^(\$\.)?[-_.@a-zA-Z0-9]+$/;

/**
 * Minutes east of UTC of `timekey_zone` at `atMs`: a fixed offset (`+0900`, `-03:00`, `UTC`) or an
 * IANA name (`Asia/Tokyo`, its offset at that moment). Null for an unknown zone.
 */
export function zoneOffsetMinutes(zone: string, atMs = Date.now()): number | null {
  const fixed = parseOffset(zone);
  if (fixed !== null) return fixed;
  let name: string | undefined;
  try {
    name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }).formatToParts(atMs).find((x) => x.type === 'timeZoneName')?.value;
  } catch {
    return null;
  }
  if (name === 'GMT') return 0;
  return name?.startsWith('GMT') ? parseOffset(name.slice(3)) : null;
}

export class ChunkKeys {
  readonly tag: boolean;
  readonly time: boolean;
  /** Record keys as written (`host`, `$.kubernetes.pod`). */
  readonly keys: string[];
  private readonly paths: string[][];
  /** Seconds east of UTC used to align time ranges. */
  readonly zoneOffsetSec: number;

  constructor(keys: string[], readonly timekey: number | null, zone: { useUtc: boolean; zone: string | null }) {
    this.tag = keys.includes('tag');
    this.time = keys.includes('time');
    this.keys = keys.filter((k) => k !== 'tag' && k !== 'time');
    this.paths = this.keys.map((k) => (k.startsWith('$.') ? k.slice(2).split('.') : [k]));
    this.zoneOffsetSec = zone.useUtc ? 0 : zone.zone ? (zoneOffsetMinutes(zone.zone) ?? 0) * 60 : -new Date().getTimezoneOffset() * 60;
  }

  /** Parses the `<buffer ARG>` argument; an empty argument means the plugin's default keys. */
  static parseArg(arg: string, defaults: string[]): string[] {
    const s = arg.trim();
    if (s === '') return defaults;
    return (toArray(s) as unknown[]).map(String).filter((k) => k !== '');
  }

  /** Problems with the keys themselves (names, missing timekey). */
  static validate(keys: string[], timekey: number | null, where: Omit<ConfigProblem, 'message' | 'code'>): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    for (const k of keys) {
      if (k.startsWith("$['") || !KEY_NAME.test(k)) problems.push({ ...where, code: 'LF_CONFIG_PARAM', message: `invalid chunk key '${k}'` });
    }
    if (keys.includes('time') && timekey === null) problems.push({ ...where, code: 'LF_CONFIG_PARAM', param: 'timekey', message: 'timekey is required when time is a chunk key' });
    return problems;
  }

  get needsRecords(): boolean {
    return this.time || this.keys.length > 0;
  }

  /** Start of the time range holding `sec`. */
  alignTime(sec: number): number {
    const k = this.timekey!;
    return sec - ((((sec + this.zoneOffsetSec) % k) + k) % k);
  }

  /** Splits a stream by metadata; without time/record keys the stream passes through undecoded. */
  partition(tag: string, stream: EventStream): Partition[] {
    if (!this.needsRecords) {
      return [{ metadata: { tag: this.tag ? tag : null, timekey: null, variables: null, seq: 0 }, stream }];
    }
    const groups = new Map<string, { metadata: ChunkMetadata; events: Event[] }>();
    for (const e of stream.events()) {
      const metadata = this.metadataOf(tag, timeSeconds(e.time), e.record);
      const key = metadataKey(metadata);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { metadata, events: [] }));
      g.events.push(e);
    }
    if (groups.size === 1) {
      const g = groups.values().next().value!;
      return [{ metadata: g.metadata, stream }];
    }
    return [...groups.values()].map((g) => ({ metadata: g.metadata, stream: EventStream.fromEvents(g.events) }));
  }

  private metadataOf(tag: string, sec: number, record: Record_): ChunkMetadata {
    let variables: Record<string, string> | null = null;
    if (this.keys.length) {
      variables = {};
      for (let i = 0; i < this.keys.length; i++) {
        let v: unknown = record;
        for (const part of this.paths[i]!) v = v !== null && typeof v === 'object' && !(v instanceof WholeFloat) ? (v as Record_)[part] : undefined;
        // a float prints as Ruby's to_s (`2.0`): WholeFloat#toString
        variables[this.keys[i]!] = v === undefined || v === null ? '' : typeof v === 'object' && !(v instanceof WholeFloat) ? JSON.stringify(v) : String(v);
      }
    }
    return { tag: this.tag ? tag : null, timekey: this.time ? this.alignTime(sec) : null, variables, seq: 0 };
  }
}
