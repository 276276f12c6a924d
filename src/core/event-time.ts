import { ExtensionCodec } from '@msgpack/msgpack';

/**
 * Fluentd's EventTime: whole seconds plus nanoseconds, carried as msgpack ext type 0
 * (uint32 BE seconds, uint32 BE nanoseconds). Never squeezed through a float.
 */
export class EventTime {
  constructor(readonly sec: number, readonly nsec: number) {}

  static now(): EventTime {
    const ms = performance.timeOrigin + performance.now(); // sub-millisecond wall clock
    const sec = Math.floor(ms / 1000);
    return new EventTime(sec, Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6)));
  }

  static fromBytes(b: Uint8Array): EventTime {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return new EventTime(v.getUint32(0), v.getUint32(4));
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(8);
    const v = new DataView(out.buffer);
    v.setUint32(0, this.sec >>> 0);
    v.setUint32(4, this.nsec >>> 0);
    return out;
  }

  /** Seconds as a float: for display and arithmetic only, never for storage. */
  toNumber(): number { return this.sec + this.nsec / 1e9; }
  toMillis(): number { return this.sec * 1000 + Math.floor(this.nsec / 1e6); }
  valueOf(): number { return this.toNumber(); }
  toJSON(): number { return this.sec; }
}

/** An event time as it travels: integer seconds, or an EventTime. */
export type Time = number | EventTime;

export function timeSeconds(t: Time): number {
  return typeof t === 'number' ? t : t.sec;
}
export function timeNanos(t: Time): number {
  return typeof t === 'number' ? 0 : t.nsec;
}

/** Converts a float epoch (HTTP `time=1.5`) into an EventTime without losing the fraction. */
export function timeFromFloat(f: number): EventTime {
  const sec = Math.floor(f);
  return new EventTime(sec, Math.round((f - sec) * 1e9) % 1_000_000_000);
}

export const EVENT_TIME_EXT = 0;

/** The msgpack extension codec that maps ext type 0 <-> EventTime. */
export const extensionCodec = new ExtensionCodec();
extensionCodec.register({
  type: EVENT_TIME_EXT,
  encode: (input: unknown) => (input instanceof EventTime ? input.toBytes() : null),
  decode: (data: Uint8Array) => {
    if (data.byteLength !== 8) throw new RangeError(`EventTime ext must be 8 bytes, got ${data.byteLength}`);
    return EventTime.fromBytes(data);
  },
});
