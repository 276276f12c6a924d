import { describe, expect, it } from 'vitest';
import { ChunkKeys, zoneOffsetMinutes } from '../../../src/buffer/chunk-keys.js';
import type { ChunkMetadata } from '../../../src/buffer/chunk.js';
import { checkPlaceholders, expandPlaceholders, timePlaceholderProblem } from '../../../src/buffer/placeholders.js';
import { EventStream } from '../../../src/core/event-stream.js';
import { EventTime } from '../../../src/core/event-time.js';
import { encode } from '../../../src/protocol/msgpack.js';
import { buildFromText } from '../../helpers/agent.js';

const UTC = { useUtc: true, zone: null };
const at = (iso: string): number => Date.parse(iso) / 1000;

/** A packed stream, as in_forward hands it over: nothing decoded yet. */
function packed(events: Array<[number, Record<string, unknown>]>): EventStream {
  return EventStream.fromPacked(Buffer.concat(events.map(([t, r]) => encode([new EventTime(t, 0), r]))), events.length);
}

describe('ChunkKeys.partition', () => {
  it('without keys passes the packed stream through undecoded, with empty metadata', () => {
    const keys = new ChunkKeys([], null, UTC);
    const s = packed([[at('2024-01-01T00:00:00Z'), { a: 1 }], [at('2024-01-01T00:00:01Z'), { a: 2 }]]);
    const parts = keys.partition('app.web', s);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.stream).toBe(s);
    expect(parts[0]!.metadata).toEqual({ tag: null, timekey: null, variables: null, seq: 0 });
    expect(s.isDecoded).toBe(false);
  });

  it('with only the tag key sets the tag and still does not decode', () => {
    const keys = new ChunkKeys(['tag'], null, UTC);
    const s = packed([[at('2024-01-01T00:00:00Z'), { a: 1 }]]);
    const parts = keys.partition('app.web', s);
    expect(parts.map((p) => p.metadata.tag)).toEqual(['app.web']);
    expect(parts[0]!.stream).toBe(s);
    expect(s.isDecoded).toBe(false);
  });

  it('time key (UTC) splits by aligned range and keeps each range in order', () => {
    const keys = new ChunkKeys(['time'], 3600, UTC);
    const s = packed([
      [at('2024-01-01T10:30:00Z'), { n: 1 }],
      [at('2024-01-01T11:00:00Z'), { n: 2 }],
      [at('2024-01-01T10:59:59Z'), { n: 3 }],
    ]);
    const parts = keys.partition('t', s);
    expect(parts.map((p) => [p.metadata.timekey, p.stream.events().map((e) => e.record.n)])).toEqual([
      [at('2024-01-01T10:00:00Z'), [1, 3]],
      [at('2024-01-01T11:00:00Z'), [2]],
    ]);
    expect(parts.every((p) => p.metadata.tag === null)).toBe(true);
  });

  it('timekey_zone +0900 aligns daily ranges to local midnight (also by zone name)', () => {
    for (const zone of ['+0900', '+09:00', 'Asia/Tokyo']) {
      const keys = new ChunkKeys(['time'], 86400, { useUtc: false, zone });
      expect(keys.zoneOffsetSec).toBe(9 * 3600);
      // 01:00 on Jan 2 in Tokyo, and 23:00 on Jan 1 in Tokyo
      expect(keys.alignTime(at('2024-01-01T16:00:00Z'))).toBe(at('2024-01-01T15:00:00Z'));
      expect(keys.alignTime(at('2024-01-01T14:00:00Z'))).toBe(at('2023-12-31T15:00:00Z'));
    }
    const utc = new ChunkKeys(['time'], 86400, UTC);
    expect(utc.alignTime(at('2024-01-01T16:00:00Z'))).toBe(at('2024-01-01T00:00:00Z'));
    // timekey_use_utc wins over a zone
    expect(new ChunkKeys(['time'], 86400, { useUtc: true, zone: '+0900' }).zoneOffsetSec).toBe(0);
  });

  it('record keys, including $.a.b nested access, make one chunk per distinct value', () => {
    const keys = new ChunkKeys(['tag', 'host', '$.k8s.pod'], null, UTC);
    const t = at('2024-01-01T00:00:00Z');
    const s = packed([
      [t, { n: 1, host: 'h1', k8s: { pod: 'p1' } }],
      [t, { n: 2, host: 'h2', k8s: { pod: 'p1' } }],
      [t, { n: 3, host: 'h1', k8s: { pod: 'p1' } }],
      [t, { n: 4, host: 'h1' }],
    ]);
    const parts = keys.partition('app', s);
    expect(parts.map((p) => [p.metadata.tag, p.metadata.variables, p.stream.events().map((e) => e.record.n)])).toEqual([
      ['app', { host: 'h1', '$.k8s.pod': 'p1' }, [1, 3]],
      ['app', { host: 'h2', '$.k8s.pod': 'p1' }, [2]],
      ['app', { host: 'h1', '$.k8s.pod': '' }, [4]],
    ]);
  });

  it('a keyed stream that falls into one chunk is passed on as it came', () => {
    const keys = new ChunkKeys(['host'], null, UTC);
    const s = packed([[1, { host: 'a' }], [2, { host: 'a' }]]);
    const parts = keys.partition('t', s);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.stream).toBe(s);
  });
});

describe('ChunkKeys configuration', () => {
  const where = { file: 'f.conf', line: 3, directive: '<buffer>' };

  it('parses the <buffer> argument; empty means the plugin default, [] means none', () => {
    expect(ChunkKeys.parseArg('', ['tag'])).toEqual(['tag']);
    expect(ChunkKeys.parseArg('[]', ['tag'])).toEqual([]);
    expect(ChunkKeys.parseArg('tag, time ,$.a.b', [])).toEqual(['tag', 'time', '$.a.b']);
    expect(ChunkKeys.parseArg('["tag","host"]', [])).toEqual(['tag', 'host']);
  });

  it('rejects bracket record accessors, bad names and time without timekey', () => {
    expect(ChunkKeys.validate(['tag', 'host', '$.a.b', 'x-y_z.w@1'], null, where)).toEqual([]);
    const bad = ChunkKeys.validate(["$['a']", 'a b', 'time'], null, where);
    expect(bad.map((p) => p.message)).toEqual([
      "invalid chunk key '$['a']'",
      "invalid chunk key 'a b'",
      'timekey is required when time is a chunk key',
    ]);
    expect(bad[2]!.param).toBe('timekey');
  });

  it('knows fixed offsets and zone names, and refuses unknown zones', () => {
    expect(zoneOffsetMinutes('+0900')).toBe(540);
    expect(zoneOffsetMinutes('-03:30')).toBe(-210);
    expect(zoneOffsetMinutes('UTC')).toBe(0);
    expect(zoneOffsetMinutes('Asia/Kolkata')).toBe(330);
    expect(zoneOffsetMinutes('Mars/Olympus')).toBeNull();
  });

  it('reports <buffer> problems through the agent at configure time', () => {
    const problems = (buffer: string) =>
      buildFromText(`<match **>\n  @type test_sink\n  <buffer ${buffer}</buffer>\n</match>\n`).problems.map((p) => `${p.param ?? ''}: ${p.message}`);
    expect(problems('time>\n')).toEqual(['timekey: timekey is required when time is a chunk key']);
    expect(problems("$['a']>\n")).toEqual([": invalid chunk key '$['a']'"]);
    expect(problems('time>\n timekey 60\n timekey_zone Nowhere/Else\n')).toEqual(["timekey_zone: unknown time zone 'Nowhere/Else': use an offset like +0900 or a name like Asia/Tokyo"]);
    expect(problems('>\n flush_mode lazy\n flush_interval 5\n')).toEqual(["flush_interval: cannot be set when flush_mode is 'lazy'; it needs flush_mode interval"]);
    expect(problems('[tag>\n')[0]).toContain('chunk keys: expected a JSON array');
    expect(problems('>\n flush_mode interval\n flush_interval 5\n')).toEqual([]);
    const r = buildFromText('<match **>\n  @type test_sink\n  <buffer time>\n timekey 60\n flush_interval 5\n  </buffer>\n</match>\n');
    expect(r.problems).toEqual([]);
    expect(r.warnings.join('\n')).toContain('flush_interval is ignored with the time chunk key');
  });
});

describe('placeholders', () => {
  const keys = new ChunkKeys(['tag', 'time', 'host', '$.k8s.pod'], 3600, { useUtc: false, zone: '+0900' });
  const meta: ChunkMetadata = { tag: 'app.web.front', timekey: at('2024-01-01T15:00:00Z'), variables: { host: 'h%d1', '$.k8s.pod': 'pod-7' }, seq: 0 };

  it('expands tag parts, record keys, chunk_id and strftime fields in the chunk zone', () => {
    expect(expandPlaceholders('/logs/${tag}/${tag[0]}/${tag[-1]}/${host}/${$.k8s.pod}/%Y%m%d-%H/${chunk_id}.log', meta, keys, 'abc123'))
      .toBe('/logs/app.web.front/app/front/h%d1/pod-7/20240102-00/abc123.log');
  });

  it('leaves unknown placeholders as written, and time fields when the chunk has no timekey', () => {
    expect(expandPlaceholders('${nope}/${tag[9]}/%Y', { ...meta, timekey: null }, keys)).toBe('${nope}/${tag[9]}/%Y');
  });

  it('configure-time checks: tag, key and time placeholders need their chunk keys', () => {
    expect(checkPlaceholders('/x/${tag}/${host}/%Y/${chunk_id}', keys)).toEqual([]);
    const none = new ChunkKeys(['host'], null, UTC);
    expect(checkPlaceholders('/x/${tag[1]}/${user}/%Y%m%d', none)).toEqual([
      '${tag[1]} needs tag in the <buffer> chunk keys',
      '${user} is not a <buffer> chunk key (keys: host)',
      'time placeholders (%Y, %m, …) need time in the <buffer> chunk keys',
    ]);
  });

  it('configure-time checks: time placeholders must not be coarser than the timekey', () => {
    const hourly = new ChunkKeys(['time'], 3600, UTC);
    const daily = new ChunkKeys(['time'], 86400, UTC);
    expect(timePlaceholderProblem('/x/%Y%m%d/%H', hourly)).toBeNull();
    expect(timePlaceholderProblem('/x/%Y%m%d%H%M', hourly)).toBeNull();
    expect(timePlaceholderProblem('/x/%Y%m%d', hourly)).toBe('time placeholders are coarser than timekey 3600: the finest is the day, so several time ranges would share one name');
    expect(timePlaceholderProblem('/x/%Y%m%d', daily)).toBeNull();
    expect(timePlaceholderProblem('/x/%Y-%m', daily)).toContain('the finest is the month');
    expect(timePlaceholderProblem('/x/${tag}', daily)).toBeNull();
  });
});
