/**
 * in_http: the records a request carries and their event times. Pure functions over the request
 * parameters; a request that cannot be read throws ProtocolError, which the plugin answers with 400.
 */
import type { Record_ } from '../../../core/event-stream.js';
import { errorMessage, ProtocolError } from '../../../core/errors.js';
import { EventTime, timeFromFloat, type Time } from '../../../core/event-time.js';
import { numberOf, WholeFloat } from '../../../core/float.js';
import { decodeAll } from '../../../protocol/msgpack.js';
import { parseJsonKeepingFloats } from '../../../protocol/json-parse.js';
import type { Params } from './form.js';

/** `in_http` is the built-in reading of `json=` / `ndjson=` / `msgpack=` parameters. */
export const PARSER_TYPES = ['in_http', 'json', 'msgpack', 'none'] as const;
export type ParserType = (typeof PARSER_TYPES)[number];

export interface RecordOptions {
  parser: ParserType;
  /** The record field holding the event time (removed unless `keepTimeKey`). */
  timeKey: string;
  keepTimeKey: boolean;
  /** `none` parser: the field the raw body goes into. */
  messageKey: string;
}

function isRecord(v: unknown): v is Record_ {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof EventTime) && !(v instanceof WholeFloat);
}

/** An object is one record, an array gives its object elements; anything else gives none. */
function recordsOf(v: unknown, out: Record_[]): void {
  if (isRecord(v)) out.push(v);
  else if (Array.isArray(v)) for (const e of v) if (isRecord(e)) out.push(e);
}

function parseJson(text: string, out: Record_[], what = 'JSON'): void {
  let v: unknown;
  try {
    v = parseJsonKeepingFloats(text);
  } catch (e) {
    throw new ProtocolError(`invalid ${what}: ${errorMessage(e)}`);
  }
  recordsOf(v, out);
}

function parseMsgpack(buf: Buffer, out: Record_[]): void {
  let values: unknown[];
  try {
    values = decodeAll(buf);
  } catch (e) {
    throw new ProtocolError(`invalid msgpack: ${errorMessage(e)}`);
  }
  for (const v of values) recordsOf(v, out);
}

function parseNdjson(text: string, out: Record_[]): void {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '') parseJson(lines[i]!, out, `JSON on ndjson line ${i + 1}`);
  }
}

/**
 * The records of a request: with the built-in parser the first of `msgpack`, `json`, `ndjson`
 * present; with a `<parse>` parser the raw body.
 */
export function extractRecords(params: Params, body: Buffer, o: RecordOptions): Record_[] {
  const out: Record_[] = [];
  switch (o.parser) {
    case 'json': parseJson(body.toString('utf8'), out); return out;
    case 'msgpack': parseMsgpack(body, out); return out;
    case 'none': return [{ [o.messageKey]: body.toString('utf8') }];
    case 'in_http': break;
  }
  const msgpack = params.get('msgpack');
  const json = params.get('json');
  const ndjson = params.get('ndjson');
  if (msgpack !== undefined) parseMsgpack(msgpack, out);
  else if (json !== undefined) parseJson(json.toString('utf8'), out);
  else if (ndjson !== undefined) parseNdjson(ndjson.toString('utf8'), out);
  else throw new ProtocolError("'json', 'ndjson' or 'msgpack' parameter is required");
  return out;
}

/** Ruby's `String#to_f`: the leading number, 0 when there is none. */
function toF(text: string): number {
  const f = Number.parseFloat(text.trim());
  return Number.isFinite(f) ? f : 0;
}

/**
 * The event time of one record. A `time` parameter wins (float epoch seconds, `0` ⇒ now); else the
 * record's time field, taken out of the record unless `keepTimeKey`; else now.
 */
export function eventTime(record: Record_, timeParam: Buffer | undefined, o: RecordOptions): Time {
  if (timeParam !== undefined) {
    const f = toF(timeParam.toString('utf8'));
    return f === 0 ? EventTime.now() : timeFromFloat(f);
  }
  if (!Object.hasOwn(record, o.timeKey)) return EventTime.now();
  const t = record[o.timeKey];
  if (!o.keepTimeKey) delete record[o.timeKey];
  if (t === null || t === undefined || t === false) return EventTime.now();
  if (t instanceof EventTime) return t;
  const n = numberOf(t); // msgpack 1700000000.0 is a WholeFloat
  if (n !== null && Number.isFinite(n)) return timeFromFloat(n);
  throw new ProtocolError(`'${o.timeKey}' field must be a number of seconds since the epoch, got ${JSON.stringify(t) ?? typeof t}`);
}
