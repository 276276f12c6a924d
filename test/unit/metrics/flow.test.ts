/** FlowCounters: per-tag records and bytes, bytes only from packed streams, bounded tag count. */
import { describe, expect, it } from 'vitest';
import { EventStream } from '../../../src/core/event-stream.js';
import { FlowCounters, OTHER_TAG } from '../../../src/metrics/flow.js';
import { packedStream } from '../../helpers/packed.js';

describe('FlowCounters', () => {
  it('counts records per tag, and msgpack bytes of packed streams without encoding decoded ones', () => {
    const f = new FlowCounters();
    const packed = packedStream([{ message: 'hello' }, { message: 'world' }], 1);
    f.add('a', packed);
    f.add('a', packed);
    const decoded = EventStream.fromEvents([{ time: 1, record: { x: 1 } }]);
    f.add('b', decoded);
    expect(f.get('a')).toEqual({ records: 4, bytes: 2 * packed.byteLength, unsized: 0 });
    expect(f.get('b')).toEqual({ records: 1, bytes: 0, unsized: 1 });
    expect(decoded.isDecoded).toBe(true);
    expect([...f.entries()].map(([t]) => t)).toEqual(['a', 'b']);
    expect(f.total()).toEqual({ records: 5, bytes: 2 * packed.byteLength, unsized: 1 });
  });

  it('keeps at most maxTags tags and adds the rest under OTHER_TAG', () => {
    const f = new FlowCounters(2);
    for (const t of ['a', 'b', 'c', 'd', 'a']) f.addCounts(t, 1, 10);
    expect([...f.entries()]).toEqual([['a', { records: 2, bytes: 20, unsized: 0 }], ['b', { records: 1, bytes: 10, unsized: 0 }], [OTHER_TAG, { records: 2, bytes: 20, unsized: 0 }]]);
    expect(f.overflowed).toBe(true);
    expect(f.get('c')).toBeUndefined();
  });
});
