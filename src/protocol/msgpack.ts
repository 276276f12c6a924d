import { DecodeError, Decoder, Encoder } from '@msgpack/msgpack';
import { extensionCodec } from '../core/event-time.js';
import { WholeFloat } from '../core/float.js';

/**
 * The Decoder/Encoder members overridden below. In @msgpack/msgpack 3.1.3 they are plain prototype
 * methods at run time (dist.esm/Decoder.mjs `readF32`/`readF64`, Encoder.mjs `encodeObject`,
 * `writeU8`/`writeF64`, and both `clone`s) but `private` in the typings, so a subclass cannot declare
 * them. This cast is the only place that reaches them; re-check these names when upgrading.
 */
interface DecoderInternals {
  readF32(): number | WholeFloat;
  readF64(): number | WholeFloat;
  clone(): Decoder;
}
interface EncoderInternals {
  encodeObject(object: unknown, depth: number): void;
  writeU8(v: number): void;
  writeF64(v: number): void;
  clone(): Encoder;
}

/**
 * Decodes a float32/float64 with a whole value as a WholeFloat (see src/core/float.ts), so `2.0`
 * stays a Float. A whole float used as a map key becomes its Ruby to_s (`"2.0"`), as Fluentd's
 * JSON prints such a key.
 */
class FloatKeepingDecoder extends Decoder {
  constructor() {
    super({
      extensionCodec,
      useBigInt64: false,
      mapKeyConverter: (key) => {
        if (typeof key === 'string' || typeof key === 'number') return key;
        if (key instanceof WholeFloat) return key.toString();
        throw new DecodeError(`The type of key must be string or number but ${typeof key}`); // the library's own check
      },
    });
  }
}

/** Encodes a WholeFloat as a float64 (what Ruby's msgpack writes for any Float). */
class FloatKeepingEncoder extends Encoder {
  constructor() {
    super({ extensionCodec, ignoreUndefined: true });
  }
}

{
  const baseDecoder = Decoder.prototype as unknown as DecoderInternals;
  const decoder = FloatKeepingDecoder.prototype as unknown as DecoderInternals;
  decoder.readF32 = function readF32(this: DecoderInternals) {
    const v = baseDecoder.readF32.call(this) as number;
    return Number.isInteger(v) ? new WholeFloat(v) : v;
  };
  decoder.readF64 = function readF64(this: DecoderInternals) {
    const v = baseDecoder.readF64.call(this) as number;
    return Number.isInteger(v) ? new WholeFloat(v) : v;
  };
  decoder.clone = () => new FloatKeepingDecoder(); // the base clone would build a plain Decoder

  const baseEncoder = Encoder.prototype as unknown as EncoderInternals;
  const encoder = FloatKeepingEncoder.prototype as unknown as EncoderInternals;
  encoder.encodeObject = function encodeObject(this: EncoderInternals, object: unknown, depth: number) {
    if (object instanceof WholeFloat) {
      this.writeU8(0xcb);
      this.writeF64(object.value);
      return;
    }
    baseEncoder.encodeObject.call(this, object, depth);
  };
  encoder.clone = () => new FloatKeepingEncoder();
}

/** One shared encoder/decoder pair that knows EventTime and WholeFloat. Not re-entrant across awaits (they are sync). */
const encoder = new FloatKeepingEncoder();
const decoder = new FloatKeepingDecoder();

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
