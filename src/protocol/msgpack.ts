import { Decoder, Encoder } from '@msgpack/msgpack';
import { extensionCodec } from '../core/event-time.js';

/** One shared encoder/decoder pair that knows EventTime. Not re-entrant across awaits (they are sync). */
const encoder = new Encoder({ extensionCodec, ignoreUndefined: true });
const decoder = new Decoder({ extensionCodec, useBigInt64: false });

export function encode(value: unknown): Buffer {
  const u8 = encoder.encode(value);
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

export function decode(buf: Uint8Array): unknown {
  return decoder.decode(buf);
}

/** Decodes every concatenated msgpack value in `buf`. */
export function decodeAll(buf: Uint8Array): unknown[] {
  return Array.from(decoder.decodeMulti(buf));
}
