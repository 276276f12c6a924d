/**
 * One event → the bytes of one Firehose record, as aws-fluent-plugin-kinesis builds them:
 * `data_key` (the field alone, no formatter, no inject) or inject → formatter; then compression
 * (zlib or gzip, per record); then append_new_line (drop one trailing `\n`, `\r\n` or `\r`, add `\n`
 * — after compression, so the newline is outside the compressed bytes) or, with `chomp_record`,
 * only the chomp. The size limit is checked by the caller on the result.
 */
import { deflateSync, gzipSync } from 'node:zlib';
import type { Record_ } from '../../../core/event-stream.js';
import type { Time } from '../../../core/event-time.js';
import { WholeFloat } from '../../../core/float.js';
import type { Formatter } from '../../../format/formatter.js';
import { toJson } from '../../../format/formatter.js';
import type { Injector } from '../../../format/inject.js';

export type Compression = 'zlib' | 'gzip' | null;

export interface EncoderOptions {
  dataKey: string | null;
  format: Formatter;
  inject: Injector;
  compression: Compression;
  appendNewLine: boolean;
  chompRecord: boolean;
}

/** The record's bytes, or why it cannot be sent (logged and sent to @ERROR by the caller). */
export type Encoded = { ok: true; data: Buffer } | { ok: false; reason: string };

const LF = 0x0a;
const CR = 0x0d;

/** Ruby's String#chomp on bytes: removes one trailing `\r\n`, `\n` or `\r`. */
export function chomp(b: Buffer): Buffer {
  const n = b.length;
  if (n === 0) return b;
  if (b[n - 1] === LF) return b.subarray(0, n >= 2 && b[n - 2] === CR ? n - 2 : n - 1);
  if (b[n - 1] === CR) return b.subarray(0, n - 1);
  return b;
}

/** `chomp` then a `\n`. */
export function withNewLine(b: Buffer): Buffer {
  const c = chomp(b);
  const out = Buffer.allocUnsafe(c.length + 1);
  c.copy(out, 0);
  out[c.length] = LF;
  return out;
}

/** Ruby `to_s` of a data_key value: strings and binary as they are, numbers as to_s (`2.0`), containers as JSON. */
function valueBytes(v: unknown): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'object' && !(v instanceof WholeFloat)) return Buffer.from(toJson(v), 'utf8');
  return Buffer.from(String(v), 'utf8');
}

function compress(b: Buffer, c: Compression): Buffer {
  if (c === 'zlib') return deflateSync(b);
  if (c === 'gzip') return gzipSync(b);
  return b;
}

export function createEncoder(o: EncoderOptions): (tag: string, time: Time, record: Record_) => Encoded {
  const finish = (raw: Buffer): Buffer => {
    const data = compress(raw, o.compression);
    if (o.appendNewLine) return withNewLine(data);
    return o.chompRecord ? chomp(data) : data;
  };
  if (o.dataKey !== null) {
    const key = o.dataKey;
    return (_tag, _time, record) => {
      if (record === null || typeof record !== 'object' || Array.isArray(record)) return { ok: false, reason: 'Invalid type of record' };
      const v = record[key];
      if (v === undefined || v === null) return { ok: false, reason: `Key '${key}' doesn't exist` };
      return { ok: true, data: finish(valueBytes(v)) };
    };
  }
  return (tag, time, record) => ({ ok: true, data: finish(Buffer.from(o.format(tag, time, o.inject(tag, time, record)), 'utf8')) });
}

/** Text for a log line, cut at `max` characters (0 = no limit), as the plugin's `truncate`. */
export function truncate(text: string, max: number): string {
  return max > 0 && text.length > max ? `${text.slice(0, max)}...` : text;
}
