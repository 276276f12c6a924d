/** Packed forms: streams as in_forward hands them on (msgpack `[time, record]` entries), and PackedForward messages as out_forward sends them. */
import { spawnSync } from 'node:child_process';
import { EventStream, type Record_ } from '../../src/core/event-stream.js';
import type { Time } from '../../src/core/event-time.js';
import { encode } from '../../src/protocol/msgpack.js';

export function packedStream(records: Record_[], time: Time = Math.floor(Date.now() / 1000)): EventStream {
  return EventStream.fromPacked(Buffer.concat(records.map((r) => encode([time, r]))), records.length);
}

/** `[tag, <str32 entries>, option]` exactly as out_forward writes it. */
export function packedStr32(tag: string, entries: Buffer, option: Record<string, unknown>): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(entries.length);
  return Buffer.concat([Buffer.from([0x93]), encode(tag), Buffer.from([0xdb]), len, entries, encode(option)]);
}

/** Compresses with the real zstd command line tool (Debian package zstd; .ci/run installs it). */
export function zstdCli(data: Buffer, args: string[] = []): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 64 * 1024 * 1024 });
  if (r.error || r.status !== 0) throw new Error(`zstd failed (install the Debian package zstd): ${r.error?.message ?? r.stderr.toString()}`);
  return r.stdout;
}
