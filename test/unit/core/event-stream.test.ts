import { describe, expect, it } from 'vitest';
import { EventStream } from '../../../src/core/event-stream.js';
import { EventTime } from '../../../src/core/event-time.js';
import { encode } from '../../../src/protocol/msgpack.js';

describe('EventTime', () => {
  it('round-trips through msgpack ext 0 as fixext8 with exact nanoseconds', () => {
    const t = new EventTime(1700000000, 123456789);
    const bytes = encode(t);
    expect([...bytes]).toEqual([0xd7, 0x00, ...[0x65, 0x53, 0xf1, 0x00], ...[0x07, 0x5b, 0xcd, 0x15]]);
    const s = EventStream.fromPacked(encode([t, { a: 1 }]), 1);
    const back = s.events()[0]!.time as EventTime;
    expect(back).toBeInstanceOf(EventTime);
    expect([back.sec, back.nsec]).toEqual([1700000000, 123456789]);
  });
  it('now() is close to the wall clock', () => {
    const t = EventTime.now();
    expect(Math.abs(t.sec - Date.now() / 1000)).toBeLessThan(2);
    expect(t.nsec).toBeGreaterThanOrEqual(0);
    expect(t.nsec).toBeLessThan(1e9);
  });
});

describe('EventStream', () => {
  it('keeps packed bytes untouched until records are asked for, then decodes once', () => {
    const packed = Buffer.concat([encode([1, { a: 1 }]), encode([2, { b: 'x' }])]);
    const s = EventStream.fromPacked(packed, 2);
    expect(s.isDecoded).toBe(false);
    expect(s.packed()).toBe(packed);
    const ev = s.events();
    expect(ev).toEqual([{ time: 1, record: { a: 1 } }, { time: 2, record: { b: 'x' } }]);
    expect(s.isDecoded).toBe(true);
    expect(s.events()).toBe(ev);
    expect(s.packed()).toBe(packed);
  });
  it('encodes decoded events once', () => {
    const s = EventStream.fromEvents([{ time: 5, record: { k: 'v' } }]);
    const p1 = s.packed();
    expect(p1).toEqual(encode([5, { k: 'v' }]));
    expect(s.packed()).toBe(p1);
    expect(s.count).toBe(1);
    expect(s.byteLength).toBe(p1.byteLength);
  });
});
