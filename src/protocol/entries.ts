/**
 * Event-level normalisation of forward-protocol entries, done on bytes (spec §1.5): `[time, meta]`
 * times are unwrapped, nil or zero times become "now", nil records are dropped, and under
 * skip_invalid_event events with a float or non-time time or a non-map record are dropped.
 * Entries that need no change stay slices of the input; only changed ones are rebuilt.
 */
import { EventTime } from '../core/event-time.js';
import { ProtocolError } from '../core/errors.js';
import { type Cursor, MsgType, TimeKind, classifyTime, newCursor, readArrayHeader, skipValue, typeOf } from './msgpack-scan.js';

const FIXARRAY2 = Buffer.from([0x92]);
export const EMPTY = Buffer.alloc(0);

export interface NormalizeOptions {
  skipInvalidEvent: boolean;
  /** Clock for nil/zero times (injectable for tests). */
  now: () => EventTime;
}

/** What normalising a run of entries produced. */
export interface Normalized {
  entries: Buffer;
  count: number;
  /** Invalid events dropped under skip_invalid_event. */
  skipped: number;
  /** Events with a nil (or missing) record, dropped silently. */
  dropped: number;
}

/** Encodes an EventTime as fixext8 (10 bytes). */
export function eventTimeBytes(t: EventTime): Buffer {
  const out = Buffer.allocUnsafe(10);
  out[0] = 0xd7;
  out[1] = 0x00;
  out.writeUInt32BE(t.sec >>> 0, 2);
  out.writeUInt32BE(t.nsec >>> 0, 6);
  return out;
}

/** Outcome of `examineEvent`, kept in fields so the hot loop allocates nothing. */
const enum Verdict { KEEP = 0, REBUILD = 1, DROP_NIL = 2, DROP_INVALID = 3 }

export class EntryNormalizer {
  private readonly c: Cursor = newCursor();
  private nowBuf: Buffer | null = null;
  // set by examineEvent
  private timeStart = 0;
  private timeEnd = 0;
  private replaceTime = false;

  constructor(private readonly opts: NormalizeOptions) {}

  /** Call once per request so every nil/zero time of one request gets the same "now". */
  beginRequest(): void {
    this.nowBuf = null;
  }

  private now(): Buffer {
    return (this.nowBuf ??= eventTimeBytes(this.opts.now()));
  }

  /**
   * Looks at one event given its time span (-1 when absent) and record span. Sets the time span to
   * write (unwrapped) and whether it must be replaced by now.
   */
  private examineEvent(b: Buffer, tStart: number, tEnd: number, rStart: number, rEnd: number): Verdict {
    if (rStart < 0 || b[rStart] === 0xc0) return Verdict.DROP_NIL;
    const c = this.c;
    this.timeStart = tStart;
    this.timeEnd = tEnd;
    this.replaceTime = false;
    let unwrapped = false;
    let kind: TimeKind = tStart < 0 ? TimeKind.NIL : classifyTime(b, tStart, tEnd, c);
    if (kind === TimeKind.ARRAY) {
      unwrapped = true;
      this.timeStart = c.start;
      this.timeEnd = skipValue(b, c.start, tEnd);
      kind = classifyTime(b, this.timeStart, this.timeEnd, c);
      if (kind === TimeKind.ARRAY) kind = TimeKind.INVALID;
    }
    if (this.opts.skipInvalidEvent) {
      if (kind === TimeKind.INVALID || kind === TimeKind.FLOAT) return Verdict.DROP_INVALID;
      if (typeOf(b[rStart]!) !== MsgType.MAP) return Verdict.DROP_INVALID;
    }
    if (kind === TimeKind.NIL || kind === TimeKind.ZERO) {
      this.replaceTime = true;
      return Verdict.REBUILD;
    }
    return unwrapped ? Verdict.REBUILD : Verdict.KEEP;
  }

  private rebuilt(b: Buffer, rStart: number, rEnd: number): Buffer[] {
    const time = this.replaceTime ? this.now() : b.subarray(this.timeStart, this.timeEnd);
    return [FIXARRAY2, time, b.subarray(rStart, rEnd)];
  }

  /** One Message-mode event: time span (or -1), record span (or -1). */
  message(b: Buffer, tStart: number, tEnd: number, rStart: number, rEnd: number): Normalized {
    const v = this.examineEvent(b, tStart, tEnd, rStart, rEnd);
    if (v === Verdict.DROP_NIL) return { entries: EMPTY, count: 0, skipped: 0, dropped: 1 };
    if (v === Verdict.DROP_INVALID) return { entries: EMPTY, count: 0, skipped: 1, dropped: 0 };
    return { entries: Buffer.concat(this.rebuilt(b, rStart, rEnd)), count: 1, skipped: 0, dropped: 0 };
  }

  /**
   * A run of concatenated `[time, record]` entries in `start`..`end` (the inside of a Forward array
   * or a PackedForward blob). Returns a slice of `b` when nothing had to change.
   */
  entries(b: Buffer, start: number, end: number): Normalized {
    const c = this.c;
    let parts: Buffer[] | null = null;
    let runStart = start;
    let count = 0;
    let skipped = 0;
    let dropped = 0;
    let pos = start;
    while (pos < end) {
      const entStart = pos;
      let verdict: Verdict;
      let rStart = -1;
      let rEnd = -1;
      if (typeOf(b[entStart]!) !== MsgType.ARRAY) {
        pos = skipValue(b, pos, end);
        verdict = Verdict.DROP_INVALID;
      } else {
        // Walk the entry's elements once: time, record, then any extras.
        pos = readArrayHeader(b, pos, end, c);
        const len = c.n;
        let tStart = -1;
        let tEnd = -1;
        for (let i = 0; i < len && pos >= 0; i++) {
          const next = skipValue(b, pos, end);
          if (i === 0) { tStart = pos; tEnd = next; } else if (i === 1) { rStart = pos; rEnd = next; }
          pos = next;
        }
        verdict = pos < 0 ? Verdict.KEEP : this.examineEvent(b, tStart, tEnd, rStart, rEnd);
        if (verdict === Verdict.KEEP && len !== 2) verdict = Verdict.REBUILD;
      }
      if (pos < 0) throw new ProtocolError('packed entries end in the middle of an event');
      const entEnd = pos;
      if (verdict === Verdict.KEEP) {
        count++;
        continue;
      }
      parts ??= [];
      if (runStart < entStart) parts.push(b.subarray(runStart, entStart));
      runStart = entEnd;
      if (verdict === Verdict.REBUILD) {
        parts.push(...this.rebuilt(b, rStart, rEnd));
        count++;
      } else if (verdict === Verdict.DROP_NIL) {
        dropped++;
      } else {
        skipped++;
      }
    }
    if (parts === null) return { entries: b.subarray(start, end), count, skipped, dropped };
    if (runStart < end) parts.push(b.subarray(runStart, end));
    return { entries: parts.length === 1 ? parts[0]! : Buffer.concat(parts), count, skipped, dropped };
  }
}
