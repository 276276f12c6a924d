/**
 * `@type parser`: parses one string field of each record with a `<parse>` parser and replaces the
 * record with the result (Fluentd core filter_parser). With `reserve_data` the parsed fields are
 * merged over the original record; the event time comes from the parsed time field (or the
 * parser's "now"), unless `reserve_time`. A missing field or a value that does not parse goes to
 * @ERROR with Fluentd's message (`emit_invalid_record_to_error`) and is dropped — or, with
 * `reserve_data`, passes on unchanged. The parsers live in ./parser/.
 */
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import type { Event, Record_ } from '../../core/event-stream.js';
import { EventStream } from '../../core/event-stream.js';
import type { Time } from '../../core/event-time.js';
import { defineFilter, type PluginContext, type ValidationProblem } from '../../core/plugin.js';
import { recordAccessor, type RecordAccessor } from '../../core/record-accessor.js';
import { AccessorError, deletePath, parseAccessor, type AccessorPath } from '../../expr/record-accessor.js';
import { setOwn } from '../../expr/values.js';
import { buildParser, InvalidByteSequence, ParseConfigError, ParseFailure, parseSection, type TextParser } from './parser/parsers.js';

export const params = defineParams({
  key_name: p.string({ required: true, desc: 'Field to parse: a name, or a record_accessor path like $.log.inner' }),
  reserve_data: p.bool({ default: false, desc: 'Keep the original fields, with the parsed ones merged over them' }),
  reserve_time: p.bool({ default: false, desc: 'Keep the original event time instead of the parsed one' }),
  remove_key_name_field: p.bool({ default: false, desc: 'With reserve_data: drop key_name from the result when parsing succeeds' }),
  replace_invalid_sequence: p.bool({ default: false, desc: 'Replace invalid UTF-8 bytes with ? and parse again, instead of failing' }),
  inject_key_prefix: p.string({ default: null, desc: 'Prefix every parsed field name with this' }),
  hash_value_field: p.string({ default: null, desc: 'Put the parsed fields under this one field instead of at the top level' }),
  emit_invalid_record_to_error: p.bool({ default: true, desc: 'Send records whose field is missing or does not parse to @ERROR' }),
  parse: parseSection,
});
export type ParserFilterConfig = ParamsOf<typeof params>;

interface Compiled {
  parser: TextParser | null;
  access: RecordAccessor | null;
  path: AccessorPath | null;
  problems: ValidationProblem[];
}

const compiledByConfig = new WeakMap<ParserFilterConfig, Compiled>();

/** Compiles the config once; `validate` reports its problems and `create` reuses it. */
function compile(c: ParserFilterConfig): Compiled {
  let done = compiledByConfig.get(c);
  if (done) return done;
  const problems: ValidationProblem[] = [];
  let parser: TextParser | null = null;
  let access: RecordAccessor | null = null;
  let path: AccessorPath | null = null;
  try {
    path = parseAccessor(c.key_name);
    access = recordAccessor(c.key_name);
  } catch (e) {
    if (!(e instanceof AccessorError)) throw e;
    problems.push({ param: 'key_name', message: e.message });
  }
  try {
    parser = buildParser(c.parse);
  } catch (e) {
    if (!(e instanceof ParseConfigError)) throw e;
    const el = c.parse.element;
    const at = el.params.get(e.param) ?? el;
    problems.push({ message: `${at.file}:${at.line} <parse> ${e.param}: ${e.message}` });
  }
  done = { parser, access, path, problems };
  compiledByConfig.set(c, done);
  return done;
}

/** Ruby's String#scrub('?') over bytes that are not valid UTF-8. */
function scrub(v: unknown): unknown {
  return v instanceof Uint8Array ? new TextDecoder('utf-8').decode(v).replace(/\uFFFD/g, '?') : v;
}

/** Shows a raw value as Ruby interpolation would (`'#{raw_value}'`). */
function rawText(v: unknown): string {
  if (v instanceof Uint8Array) return new TextDecoder('utf-8').decode(v);
  return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
}

type Outcome = { time: Time; record: Record_ } | null;

export class ParserFilter {
  constructor(
    private readonly c: ParserFilterConfig,
    private readonly parser: TextParser,
    private readonly access: RecordAccessor,
    private readonly path: AccessorPath,
    private readonly ctx: PluginContext,
  ) {}

  filter(tag: string, stream: EventStream): EventStream | null {
    const out: Event[] = [];
    for (const ev of stream.events()) {
      const r = this.one(tag, ev.time, ev.record);
      if (r) out.push(r);
    }
    return out.length === 0 ? null : EventStream.fromEvents(out);
  }

  /** Fluentd's filter_with_time for one event: the new event, or null to drop it. */
  one(tag: string, time: Time, record: Record_): Outcome {
    const c = this.c;
    let raw = this.access(record);
    if (raw === undefined || raw === null) {
      this.error(tag, time, record, Object.assign(new Error(`${c.key_name} does not exist`), { name: 'ArgumentError' }));
      return c.reserve_data ? { time, record: this.merge(record, {}) } : null;
    }
    for (;;) {
      try {
        const parsed = this.parser(raw);
        if (parsed === null) {
          this.error(tag, time, record, new ParseFailure(`pattern not matched with data '${rawText(raw)}'`));
          return c.reserve_data ? { time, record: this.merge(record, {}) } : null;
        }
        const t = c.reserve_time ? time : (parsed.time ?? time);
        let base = record;
        if (c.remove_key_name_field) {
          base = structuredCloneRecord(record, this.path);
          deletePath(base, this.path);
        }
        return { time: t, record: this.merge(base, parsed.record) };
      } catch (e) {
        if (e instanceof InvalidByteSequence) {
          if (!c.replace_invalid_sequence) { this.ctx.emitError(tag, time, record, e); return null; }
          raw = scrub(raw);
          continue;
        }
        const failure = e instanceof ParseFailure ? e : new ParseFailure(`parse failed ${(e as Error).message}`);
        this.error(tag, time, record, failure);
        return null;
      }
    }
  }

  private error(tag: string, time: Time, record: Record_, e: Error): void {
    if (this.c.emit_invalid_record_to_error) this.ctx.emitError(tag, time, record, e);
  }

  /** Fluentd's handle_parsed: prefix, nest under hash_value_field, merge over the record with reserve_data. */
  private merge(record: Record_, values: Record_): Record_ {
    const c = this.c;
    let v = values;
    if (c.inject_key_prefix !== null) {
      v = {};
      for (const [k, x] of Object.entries(values)) setOwn(v, c.inject_key_prefix + k, x);
    }
    const r: Record_ = c.hash_value_field !== null ? { [c.hash_value_field]: v } : v;
    if (!c.reserve_data) return r;
    const merged: Record_ = { ...record };
    for (const [k, x] of Object.entries(r)) setOwn(merged, k, x);
    return merged;
  }
}

/** A copy of `record` deep enough that deleting `path` leaves the original untouched. */
function structuredCloneRecord(record: Record_, path: AccessorPath): Record_ {
  const top: Record_ = { ...record };
  let cur: unknown = top;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    const container = cur as Record<string | number, unknown>;
    const next = container[k];
    if (next === null || typeof next !== 'object') break;
    container[k] = Array.isArray(next) ? [...next] : { ...(next as Record_) };
    cur = container[k];
  }
  return top;
}

export default defineFilter({
  type: 'parser',
  desc: 'Parse a string field (json, regexp, none, ltsv, csv, tsv, msgpack) into the record',
  params,
  validate: (c) => compile(c).problems,
  create(c, ctx) {
    const { parser, access, path, problems } = compile(c);
    if (problems.length > 0 || !parser || !access || !path) throw new Error(problems.map((x) => x.message).join('; '));
    return new ParserFilter(c, parser, access, path, ctx);
  },
});

