import { describe, expect, it } from 'vitest';
import { strftime } from '../../../src/core/strftime.js';
import { formatTextLine } from '../../../src/core/log.js';

describe('strftime', () => {
  const sec = Date.UTC(2026, 10, 24, 10, 0, 5) / 1000;
  it('formats in UTC and fixed offsets with exact nanoseconds', () => {
    expect(strftime('%Y-%m-%d %H:%M:%S.%N %z', sec, 123456789, 'utc')).toBe('2026-11-24 10:00:05.123456789 +0000');
    expect(strftime('%Y%m%d-%H %L %3N %:z', sec, 5_000_000, '+0930')).toBe('20261124-19 005 005 +09:30');
    expect(strftime('%a %b %e %j %s %%', sec, 0, 'utc')).toBe(`Tue Nov 24 328 ${sec} %`);
  });
  it('formats log lines in Fluentd\'s layout', () => {
    const line = formatTextLine({ level: 40, time: Date.now(), msg: 'failed to flush the buffer.', plugin_id: 'out_es', retry_times: 1, chunk: 'abc' }, 0);
    expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \[warn\]: #0 \[out_es\] failed to flush the buffer\. retry_times=1 chunk="abc"\n$/);
  });
});
