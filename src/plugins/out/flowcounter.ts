/**
 * `@type flowcounter` (fluent-plugin-flowcounter): counts events (and bytes) per tag or in total and,
 * once per `unit`, emits summary records with rates back into its router under `tag`. It never
 * forwards the events it counts. Record shapes and key order follow spec §3 exactly.
 *
 * Choices where Ruby fails: a tag equal to `input_tag_remove_prefix` counts under the empty name
 * (Ruby raises); a non-string value of a `count_keys` field counts the bytes of its Ruby `to_s`
 * (Ruby raises NoMethodError). Rates are JS numbers: integral ones print as `5`, Ruby prints `5.0`.
 */
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { errorMessage } from '../../core/errors.js';
import { EventStream, type Record_ } from '../../core/event-stream.js';
import { EventTime } from '../../core/event-time.js';
import { floatData, type WholeFloat } from '../../core/float.js';
import { LogThrottle } from '../../core/log.js';
import { defineOutput, type OutputInstance, type PluginContext, type ValidationProblem } from '../../core/plugin.js';
import { toS } from '../../expr/values.js';
import { packedRecordsSize, valueSize } from './flowcounter/record-size.js';

const TICKS = { second: 1, minute: 60, hour: 3600, day: 86400 } as const;
const WATCH_INTERVAL_MS = 500;
/** Names in the table after which the "every name is reported forever" warning is logged (once). */
const MANY_NAMES = 1000;

export const params = defineParams({
  unit: p.enum(['second', 'minute', 'hour', 'day'] as const, { default: 'minute', desc: 'Length of one counting interval' }),
  aggregate: p.enum(['tag', 'all'] as const, { default: 'tag', desc: 'Count per tag, or one counter for everything' }),
  output_style: p.enum(['joined', 'tagged'] as const, { default: 'joined', desc: 'One record with every tag, or one record per tag (needs aggregate tag)' }),
  tag: p.string({ default: 'flowcount', desc: 'Tag of the emitted summary events' }),
  input_tag_remove_prefix: p.string({ default: null, desc: 'Strip this prefix (and its dot) from counted tags' }),
  count_keys: p.array({ default: [], desc: 'Fields whose byte sizes are summed into bytes; * = the whole record\'s msgpack size; empty = count events only' }),
  delimiter: p.string({ default: '_', desc: 'Joins tag and count/bytes in joined records' }),
  delete_idle: p.bool({ default: false, desc: 'Forget names after each interval (otherwise names seen once are reported with 0 forever)' }),
  timestamp_counting: p.bool({ default: false, desc: 'Align intervals to wall-clock boundaries (not with unit second)' }),
  timestamp_timezone: p.string({ default: null, desc: 'Offset like -0700 or +09:00 for the day boundary (required with timestamp_counting and unit day)' }),
});
export type FlowCounterConfig = ParamsOf<typeof params>;

/** `-0700`, `+09:00` → seconds east of UTC; null when malformed. */
export function parseZoneOffset(text: string): number | null {
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(text.trim());
  if (!m) return null;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60);
}

function validate(c: FlowCounterConfig): ValidationProblem[] {
  const out: ValidationProblem[] = [];
  if (c.output_style === 'tagged' && c.aggregate !== 'tag') out.push({ param: 'output_style', message: "flowcounter aggregate must be 'tag' when output_style is 'tagged'" });
  if (c.timestamp_counting && c.unit === 'second') out.push({ param: 'timestamp_counting', message: 'timestamp_counting cannot be used with unit second' });
  if (c.timestamp_timezone !== null && parseZoneOffset(c.timestamp_timezone) === null) out.push({ param: 'timestamp_timezone', message: 'expected an offset like -0700 or +09:00' });
  if (c.timestamp_counting && c.unit === 'day' && c.timestamp_timezone === null) out.push({ param: 'timestamp_timezone', message: 'is required with timestamp_counting and unit day' });
  return out;
}

interface Counter {
  count: number;
  bytes: number;
}

/** floor(v × 100 / step) / 100, as Ruby computes it: a Float, so `5.0` stays `5.0` downstream. */
export function rate(v: number, stepSec: number): number | WholeFloat {
  return floatData(Math.floor((v * 100.0) / (1.0 * stepSec)) / 100.0);
}

export class FlowCounterOutput implements OutputInstance {
  private readonly tickSec: number;
  private readonly countBytes: boolean;
  private readonly countAll: boolean;
  private readonly prefix: string | null;
  private readonly zoneOffsetSec: number;
  private names = new Map<string, Counter>();
  private total: Counter = { count: 0, bytes: 0 };
  private lastSec = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;
  private warnedMany = false;
  private readonly throttle = new LogThrottle();

  constructor(private readonly c: FlowCounterConfig, private readonly ctx: PluginContext) {
    this.tickSec = TICKS[c.unit];
    this.countBytes = c.count_keys.length > 0;
    this.countAll = c.count_keys.length === 1 && c.count_keys[0] === '*';
    this.prefix = c.input_tag_remove_prefix === null ? null : `${c.input_tag_remove_prefix}.`;
    this.zoneOffsetSec = c.timestamp_timezone === null ? 0 : parseZoneOffset(c.timestamp_timezone) ?? 0;
  }

  start(): void {
    if (this.timer) return;
    if (this.c.timestamp_counting) {
      const now = Date.now() / 1000;
      let last = now - (now % this.tickSec) - this.zoneOffsetSec;
      if (last > now) last -= this.tickSec;
      this.lastSec = last;
    } else {
      this.lastSec = performance.now() / 1000;
    }
    this.timer = setInterval(() => void this.watch(), WATCH_INTERVAL_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  close(): void {
    this.stop();
  }

  process(tag: string, stream: EventStream): void {
    let name = tag;
    if (this.prefix !== null) {
      if (tag.startsWith(this.prefix) && tag.length > this.prefix.length) name = tag.slice(this.prefix.length);
      else if (tag === this.c.input_tag_remove_prefix) name = '';
    }
    const bytes = this.countBytes ? this.bytesOf(stream) : 0;
    let counter = this.total;
    if (this.c.aggregate === 'tag') {
      const found = this.names.get(name);
      if (found) counter = found;
      else {
        counter = { count: 0, bytes: 0 };
        this.names.set(name, counter);
        if (!this.warnedMany && !this.c.delete_idle && this.names.size > MANY_NAMES) {
          this.warnedMany = true;
          this.ctx.log.warn({ names: this.names.size }, 'flowcounter reports every tag it has seen in each interval; set delete_idle true or input_tag_remove_prefix for high-cardinality tags');
        }
      }
    }
    counter.count += stream.count;
    counter.bytes += bytes;
  }

  private bytesOf(stream: EventStream): number {
    if (this.countAll) return stream.isDecoded ? stream.events().reduce((s, e) => s + valueSize(e.record), 0) : packedRecordsSize(stream.packed());
    let sum = 0;
    for (const e of stream.events()) {
      for (const k of this.c.count_keys) {
        const v = e.record[k];
        if (v === null || v === undefined || v === false) continue;
        sum += typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v instanceof Uint8Array ? v.byteLength : Buffer.byteLength(toS(v), 'utf8');
      }
    }
    return sum;
  }

  /** Runs every 0.5 s: flushes when an interval has passed. */
  private async watch(): Promise<void> {
    if (this.flushing) return;
    let stepSec: number;
    let time: EventTime;
    if (this.c.timestamp_counting) {
      const now = Date.now() / 1000;
      if (now - this.lastSec < this.tickSec) return;
      this.lastSec += this.tickSec;
      stepSec = this.tickSec;
      time = new EventTime(Math.floor(this.lastSec), 0);
    } else {
      const now = performance.now() / 1000;
      if (now - this.lastSec < this.tickSec) return;
      stepSec = now - this.lastSec;
      this.lastSec = now;
      time = EventTime.now();
    }
    this.flushing = true;
    try {
      for (const record of this.takeRecords(stepSec)) await this.emit(time, record);
    } finally {
      this.flushing = false;
    }
  }

  /** The records of one interval (spec §3 shapes), resetting the counters. */
  takeRecords(stepSec: number): Record_[] {
    const withBytes = this.countBytes;
    if (this.c.aggregate === 'all') {
      const t = this.total;
      this.total = { count: 0, bytes: 0 };
      const r: Record_ = withBytes ? { count: t.count, bytes: t.bytes } : { count: t.count };
      r.count_rate = rate(t.count, stepSec);
      if (withBytes) r.bytes_rate = rate(t.bytes, stepSec);
      return [r];
    }
    const flushed = this.names;
    if (this.c.delete_idle) this.names = new Map();
    else {
      this.names = new Map();
      for (const name of flushed.keys()) this.names.set(name, { count: 0, bytes: 0 });
    }
    if (this.c.output_style === 'tagged') {
      const out: Record_[] = [];
      for (const [name, t] of flushed) {
        const r: Record_ = withBytes ? { count: t.count, bytes: t.bytes } : { count: t.count };
        r.count_rate = rate(t.count, stepSec);
        if (withBytes) r.bytes_rate = rate(t.bytes, stepSec);
        r.tag = name;
        out.push(r);
      }
      return out;
    }
    const d = this.c.delimiter;
    const r: Record_ = {};
    for (const [name, t] of flushed) {
      r[`${name}${d}count`] = t.count;
      if (withBytes) r[`${name}${d}bytes`] = t.bytes;
    }
    for (const [name, t] of flushed) {
      r[`${name}${d}count_rate`] = rate(t.count, stepSec);
      if (withBytes) r[`${name}${d}bytes_rate`] = rate(t.bytes, stepSec);
    }
    return [r];
  }

  private async emit(time: EventTime, record: Record_): Promise<void> {
    try {
      await this.ctx.emit(this.c.tag, EventStream.single(time, record));
    } catch (e) {
      if (this.throttle.shouldLog('emit')) this.ctx.log.warn({ tag: this.c.tag, error: errorMessage(e) }, 'failed to emit flowcount event');
    }
  }
}

export default defineOutput({
  type: 'flowcounter',
  desc: 'Count events and bytes per tag and emit per-interval totals and rates',
  params,
  validate,
  create: (c, ctx) => new FlowCounterOutput(c, ctx),
});
