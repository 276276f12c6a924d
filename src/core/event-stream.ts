import { decodeAll, encode } from '../protocol/msgpack.js';
import type { Time } from './event-time.js';
import { WholeFloat } from './float.js';

export type Record_ = Record<string, unknown>;
export interface Event {
  time: Time;
  record: Record_;
}

/**
 * The time of a decoded entry. A float time (old Fluent Bit sends `1700000000.0`) decodes to a
 * WholeFloat when whole; it is read as its number, as before floats were kept.
 */
export function entryTime(t: unknown): Time {
  return t instanceof WholeFloat ? t.value : (t as Time);
}

/**
 * The unit that moves through the pipeline. Either packed (a Buffer of concatenated msgpack
 * `[time, record]` entries, as PackedForward carries and a chunk stores) or decoded (events).
 * Packed → decoded happens lazily and at most once; decoded → packed likewise.
 */
export class EventStream {
  private packedBuf: Buffer | null;
  private decoded: Event[] | null;
  /** Number of entries. */
  readonly count: number;

  private constructor(packed: Buffer | null, decoded: Event[] | null, count: number) {
    this.packedBuf = packed;
    this.decoded = decoded;
    this.count = count;
  }

  /** Wraps packed entries; `count` must be the real number of entries (count them, never trust a hint). */
  static fromPacked(packed: Buffer, count: number): EventStream {
    return new EventStream(packed, null, count);
  }

  static fromEvents(events: Event[]): EventStream {
    return new EventStream(null, events, events.length);
  }

  static single(time: Time, record: Record_): EventStream {
    return new EventStream(null, [{ time, record }], 1);
  }

  static empty(): EventStream {
    return new EventStream(Buffer.alloc(0), [], 0);
  }

  /** True while the stream has not been decoded (nothing asked for records yet). */
  get isDecoded(): boolean {
    return this.decoded !== null;
  }

  /** The packed entries, encoding the events once if the stream was built from objects. */
  packed(): Buffer {
    if (this.packedBuf === null) {
      const parts = this.decoded!.map((e) => encode([e.time, e.record]));
      this.packedBuf = Buffer.concat(parts);
    }
    return this.packedBuf;
  }

  /** The events, decoding the packed bytes once. Callers must not mutate records they did not create. */
  events(): Event[] {
    if (this.decoded === null) {
      const values = decodeAll(this.packedBuf!);
      const out: Event[] = new Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const entry = values[i] as [unknown, Record_];
        out[i] = { time: entryTime(entry[0]), record: entry[1] };
      }
      this.decoded = out;
    }
    return this.decoded;
  }

  /** Size of the packed bytes when the stream has them, else null (never encodes). */
  get packedLength(): number | null {
    return this.packedBuf === null ? null : this.packedBuf.byteLength;
  }

  /** Size in bytes of the packed form (encodes if needed). */
  get byteLength(): number {
    return this.packed().byteLength;
  }

  [Symbol.iterator](): Iterator<Event> {
    return this.events()[Symbol.iterator]();
  }
}
