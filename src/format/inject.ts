/**
 * `<inject>` sections (Fluentd's inject helper): copy a record and add the hostname, worker id, tag
 * and time under configured keys, in that order, at the end of the copy. Nothing is injected unless
 * a `*_key` is set. Declared once here and composed into the schemas of the outputs that format
 * records (Firehose …); an output changes the defaults with `injectParamsWith`, never by
 * redeclaring the fragment.
 */
import { p } from '../config/schema.js';
import type { ParamsOf } from '../config/schema.js';
import type { Record_ } from '../core/event-stream.js';
import type { Time } from '../core/event-time.js';
import { timeNanos, timeSeconds } from '../core/event-time.js';
import { floatData } from '../core/float.js';
import { strftime } from '../core/strftime.js';

export const TIME_TYPES = ['float', 'unixtime', 'unixtime_millis', 'unixtime_micros', 'unixtime_nanos', 'string'] as const;
export type InjectTimeType = (typeof TIME_TYPES)[number];

/** The `<inject>` fragment with the given defaults for `time_type` and `time_format`. */
export function injectParamsWith<T extends InjectTimeType>(d: { time_type: T; time_format: string | null }) {
  return {
    hostname_key: p.string({ default: null, desc: 'Add the hostname under this key' }),
    hostname: p.string({ default: null, desc: 'Hostname to add (default: this machine\'s)' }),
    worker_id_key: p.string({ default: null, desc: 'Add the worker id under this key' }),
    tag_key: p.string({ default: null, desc: 'Add the event tag under this key' }),
    time_key: p.string({ default: null, desc: 'Add the event time under this key' }),
    time_type: p.enum(TIME_TYPES, { default: d.time_type as InjectTimeType, desc: 'How the time is written: float, unixtime, unixtime_millis/micros/nanos or string (time_format)' }),
    time_format: p.string({ default: d.time_format, desc: 'strftime format when time_type is string (%N = nanoseconds)' }),
    localtime: p.bool({ default: true, desc: 'Format string times in local time' }),
    utc: p.bool({ default: false, desc: 'Format string times in UTC' }),
    timezone: p.string({ default: null, desc: 'Format string times in this offset, e.g. +0900' }),
  };
}

/** Fluentd's defaults: `time_type float`. */
export const injectParams = injectParamsWith({ time_type: 'float', time_format: null });

export type InjectConfig = ParamsOf<typeof injectParams>;
/** Returns the record to format: the same object when nothing is injected, else a copy. */
export type Injector = (tag: string, time: Time, record: Record_) => Record_;

const DEFAULT_STRING_FORMAT = '%Y-%m-%dT%H:%M:%S%z';

function timeFormatter(c: InjectConfig): (t: Time) => unknown {
  const sec = timeSeconds;
  const ns = timeNanos;
  switch (c.time_type) {
    // microsecond precision, as Fluentd; a Float even at a whole second (`1700000000.0`)
    case 'float': return (t) => floatData(sec(t) + Math.floor(ns(t) / 1000) / 1e6);
    case 'unixtime': return (t) => sec(t);
    case 'unixtime_millis': return (t) => sec(t) * 1000 + Math.floor(ns(t) / 1e6);
    case 'unixtime_micros': return (t) => sec(t) * 1e6 + Math.floor(ns(t) / 1e3);
    case 'unixtime_nanos': return (t) => sec(t) * 1e9 + ns(t);
    default: {
      const zone = c.timezone ?? (c.utc || !c.localtime ? 'utc' : 'local');
      const f = c.time_format ?? DEFAULT_STRING_FORMAT;
      return (t) => strftime(f, sec(t), ns(t), zone);
    }
  }
}

/** Builds the injector; `null` config (no `<inject>`) injects nothing. */
export function createInjector(c: InjectConfig | null, host: { hostname: string; workerId: number }): Injector {
  if (!c || !(c.hostname_key || c.worker_id_key || c.tag_key || c.time_key)) return (_tag, _time, r) => r;
  const hostname = c.hostname ?? host.hostname;
  const formatTime = c.time_key ? timeFormatter(c) : null;
  return (tag, time, record) => {
    const r: Record_ = { ...record };
    if (c.hostname_key) r[c.hostname_key] = hostname;
    if (c.worker_id_key) r[c.worker_id_key] = host.workerId;
    if (c.tag_key) r[c.tag_key] = tag;
    if (c.time_key) r[c.time_key] = formatTime!(time);
    return r;
  };
}

/** True when the injector needs the event tag (so the tag must be kept with the chunk). */
export function injectsTag(c: InjectConfig | null): boolean {
  return !!c?.tag_key;
}
