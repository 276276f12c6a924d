/**
 * `@type record_transformer`: adds, rewrites and removes fields (Fluentd core, spec §4). `<record>`
 * values are expanded from the ORIGINAL record; the input record is never changed. With
 * `enable_ruby` the `${…}` parts are Ruby expressions run by our own evaluator (src/expr/), parsed
 * at configure time. A record whose expansion fails goes to @ERROR; the rest of the stream goes on.
 */
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import type { Event, Record_ } from '../../core/event-stream.js';
import { EventStream } from '../../core/event-stream.js';
import { EventTime, timeFromFloat, type Time } from '../../core/event-time.js';
import { WholeFloat } from '../../core/float.js';
import { RecordError } from '../../core/errors.js';
import { LogThrottle } from '../../core/log.js';
import { defineFilter, type ValidationProblem } from '../../core/plugin.js';
import { AccessorError, deletePath, parseAccessor, type AccessorPath } from '../../expr/record-accessor.js';
import { strToF } from '../../expr/methods.js';
import { describe, setOwn } from '../../expr/values.js';
import { compileRecordMap, TagValues, type CompiledMap, type EventInput } from './record_transformer/record-map.js';

export const params = defineParams({
  record: p.section({ desc: 'NEW_KEY NEW_VALUE pairs merged into each record; keys and values may hold ${…} placeholders', multi: true, opaque: true }, {}),
  enable_ruby: p.bool({ default: false, desc: 'Read ${…} as Ruby expressions (run by the built-in safe evaluator)' }),
  auto_typecast: p.bool({ default: true, desc: 'A value that is exactly one ${…} keeps the type of its result' }),
  renew_record: p.bool({ default: false, desc: 'Start from an empty record instead of a copy of the input' }),
  renew_time_key: p.string({ default: null, desc: 'Take the event time (unix seconds) from this key of the new record' }),
  keep_keys: p.array({ default: null, desc: 'With renew_record: keys copied from the input record first' }),
  remove_keys: p.array({ default: null, desc: 'Keys removed after the merge (record_accessor syntax: foo, $.a.b, $.a[0])' }),
});
export type RecordTransformerConfig = ParamsOf<typeof params>;

interface Compiled {
  map: CompiledMap;
  removers: AccessorPath[];
  problems: ValidationProblem[];
}

const compiledByConfig = new WeakMap<RecordTransformerConfig, Compiled>();

/** Compiles the whole config once; `validate` reports its problems and `create` reuses it. */
function compile(c: RecordTransformerConfig): Compiled {
  let done = compiledByConfig.get(c);
  if (done) return done;
  const map = compileRecordMap(c.record.map((s) => s.element), { enableRuby: c.enable_ruby, autoTypecast: c.auto_typecast });
  const problems: ValidationProblem[] = map.problems.map((message) => ({ message }));
  if (c.keep_keys && !c.renew_record) problems.push({ param: 'keep_keys', message: '`renew_record` must be true to use `keep_keys`' });
  const removers: AccessorPath[] = [];
  for (const k of c.remove_keys ?? []) {
    try {
      removers.push(parseAccessor(k));
    } catch (e) {
      if (!(e instanceof AccessorError)) throw e;
      problems.push({ param: 'remove_keys', message: e.message });
    }
  }
  done = { map, removers, problems };
  compiledByConfig.set(c, done);
  return done;
}

/** Ruby `value.to_f` for renew_time_key. */
function toFloat(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (v instanceof WholeFloat) return v.value;
  if (typeof v === 'string') return strToF(v).v;
  if (v instanceof EventTime) return v.toNumber();
  throw new RecordError(`undefined method \`to_f' for ${describe(v)}`);
}

export default defineFilter({
  type: 'record_transformer',
  desc: 'Add, change or remove record fields, with placeholders or (enable_ruby) Ruby expressions',
  params,
  validate: (c) => compile(c).problems,
  create(c, ctx) {
    const { map, removers, problems } = compile(c);
    if (problems.length > 0) throw new Error(problems.map((x) => x.message).join('; '));
    for (const w of new Set(map.warnings)) ctx.log.warn({ warning: w }, 'record_transformer configuration');
    const throttle = new LogThrottle();
    const missing = (placeholder: string) => {
      if (throttle.shouldLog(placeholder)) ctx.log.warn({ placeholder }, 'unknown placeholder found');
    };
    let tags = new TagValues('');

    const transform = (input: EventInput): { time: Time; record: Record_ } => {
      const { record } = input;
      let out: Record_;
      if (c.renew_record) {
        out = {};
        for (const k of c.keep_keys ?? []) if (Object.hasOwn(record, k)) setOwn(out, k, record[k]);
      } else {
        out = { ...record };
      }
      const expanded: Array<[string, unknown]> = map.entries.map((e) => [e.key(input) as string, e.value(input)]);
      for (const [k, v] of expanded) setOwn(out, k, v);
      let time = input.time;
      if (c.renew_time_key !== null && Object.hasOwn(out, c.renew_time_key)) time = timeFromFloat(toFloat(out[c.renew_time_key]));
      for (const path of removers) deletePath(out, path);
      return { time, record: out };
    };

    return {
      filter(tag: string, stream: EventStream): EventStream {
        if (tags.tag !== tag) tags = new TagValues(tag);
        const out: Event[] = [];
        const input: EventInput = { tags, hostname: ctx.hostname, time: 0, record: {}, env: process.env, missing };
        for (const ev of stream.events()) {
          input.time = ev.time;
          input.record = ev.record;
          try {
            out.push(transform(input));
          } catch (e) {
            ctx.emitError(tag, ev.time, ev.record, e);
          }
        }
        return EventStream.fromEvents(out);
      },
    };
  },
});
