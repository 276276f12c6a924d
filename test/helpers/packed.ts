/** Streams in the packed form in_forward hands on (msgpack `[time, record]` entries), for feeding a driver's agent. */
import { EventStream, type Record_ } from '../../src/core/event-stream.js';
import type { Time } from '../../src/core/event-time.js';
import { encode } from '../../src/protocol/msgpack.js';

export function packedStream(records: Record_[], time: Time = Math.floor(Date.now() / 1000)): EventStream {
  return EventStream.fromPacked(Buffer.concat(records.map((r) => encode([time, r]))), records.length);
}
