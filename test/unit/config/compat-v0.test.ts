import { describe, expect, it } from 'vitest';
import { applyTypeAlias, applyV0BufferCompat } from '../../../src/config/compat-v0.js';
import { parseV1 } from '../../../src/config/parse-v1.js';
import { configError, plain } from './parser-helpers.js';

/** The forwarder config of Fluentd's high-availability guide, in v0.12 syntax. */
const HA_FORWARDER = `<source>
  type forward
  port 24224
</source>
<source>
  type http
  port 8888
</source>
<match mytag.**>
  type forward
  <server>
    host 192.168.0.1
    port 24224
  </server>
  <server>
    host 192.168.0.2
    port 24224
    standby
  </server>
  flush_interval 60s
</match>
`;

const matchOf = (text: string) => parseV1(`<match **>\n${text}\n</match>`, 'v0.conf').elements[0];

describe('applyTypeAlias', () => {
  it('renames type/id/log_level in place with a warning each', () => {
    const el = parseV1('<source>\n  port 1\n  type forward\n  id in1\n  log_level debug\n</source>', 'a.conf').elements[0];
    const warnings = applyTypeAlias(el);
    expect([...el.params.keys()]).toEqual(['port', '@type', '@id', '@log_level']);
    expect(el.params.get('@type')).toEqual({ value: 'forward', file: 'a.conf', line: 3 });
    expect(warnings).toEqual([
      "a.conf:3 <source>: 'type' is deprecated; use '@type' instead",
      "a.conf:4 <source>: 'id' is deprecated; use '@id' instead",
      "a.conf:5 <source>: 'log_level' is deprecated; use '@log_level' instead",
    ]);
  });

  it('leaves plain keys alone when the @ form exists', () => {
    const el = parseV1('<match x>\n  @type file\n  type other\n</match>', 'a.conf').elements[0];
    expect(applyTypeAlias(el)).toEqual([]);
    expect(plain(el).params).toEqual({ '@type': 'file', type: 'other' });
  });
});

describe('applyV0BufferCompat', () => {
  it('maps the HA guide forwarder config', () => {
    const root = parseV1(HA_FORWARDER, 'ha.conf');
    const warnings = root.elements.flatMap((el) => applyTypeAlias(el));
    expect(warnings).toHaveLength(3);
    const match = root.elements[2];
    const bufferWarnings = applyV0BufferCompat(match, { defaultChunkKeys: ['tag'] });
    expect(bufferWarnings).toEqual([
      "ha.conf:20 <match mytag.**>: 'flush_interval' is a v0.12 parameter; use 'flush_interval' in <buffer tag> instead",
    ]);
    expect(plain(root)).toEqual({
      name: 'ROOT', arg: '', params: {}, elements: [
        { name: 'source', arg: '', params: { '@type': 'forward', port: '24224' }, elements: [] },
        { name: 'source', arg: '', params: { '@type': 'http', port: '8888' }, elements: [] },
        {
          name: 'match', arg: 'mytag.**', params: { '@type': 'forward' }, elements: [
            { name: 'server', arg: '', params: { host: '192.168.0.1', port: '24224' }, elements: [] },
            { name: 'server', arg: '', params: { host: '192.168.0.2', port: '24224', standby: '' }, elements: [] },
            { name: 'buffer', arg: 'tag', params: { flush_interval: '60s', flush_mode: 'interval' }, elements: [] },
          ],
        },
      ],
    });
    const buffer = match.elements[2];
    expect(buffer).toMatchObject({ file: 'ha.conf', line: 20 });
    expect(buffer.params.get('flush_interval')).toEqual({ value: '60s', file: 'ha.conf', line: 20 });
    expect(buffer.params.get('flush_mode')).toEqual({ value: 'interval', file: 'ha.conf', line: 20 });
  });

  it('maps every flat name of the table, plus retry_wait', () => {
    const match = matchOf([
      '@type file',
      'buffer_type file',
      'buffer_path /var/buf',
      'num_threads 4',
      'try_flush_interval 1',
      'queued_chunk_flush_interval 0.5',
      'disable_retry_limit true',
      'retry_limit 17',
      'retry_wait 2s',
      'max_retry_wait 60',
      'buffer_chunk_limit 8m',
      'buffer_queue_limit 64',
      'buffer_queue_full_action exception',
      'flush_at_shutdown true',
      'path /out',
    ].join('\n'));
    const warnings = applyV0BufferCompat(match, { defaultChunkKeys: [] });
    expect(warnings).toHaveLength(13);
    expect(plain(match)).toEqual({
      name: 'match', arg: '**', params: { '@type': 'file', path: '/out' }, elements: [{
        name: 'buffer', arg: '', elements: [], params: {
          '@type': 'file',
          path: '/var/buf',
          flush_thread_count: '4',
          flush_thread_interval: '1',
          flush_thread_burst_interval: '0.5',
          retry_forever: 'true',
          retry_max_times: '17',
          retry_wait: '2s',
          retry_max_interval: '60',
          chunk_limit_size: '8m',
          queue_limit_length: '64',
          overflow_action: 'throw_exception',
          flush_at_shutdown: 'true',
        },
      }],
    });
    expect(match.elements[0].params.get('retry_max_times')?.line).toBe(9);
  });

  it('derives timekey and the time chunk key from time_slice_format', () => {
    const cases: Array<[string, string]> = [['%Y%m%d%H%M%S', '1'], ['%Y%m%d%H%M', '60'], ['%Y%m%d%H', '3600'], ['%Y%m%d', '86400']];
    for (const [format, timekey] of cases) {
      const match = matchOf(`time_slice_format ${format}\ntime_slice_wait 10m\ntimezone +0900\nlocaltime`);
      applyV0BufferCompat(match, { defaultChunkKeys: ['tag'] });
      expect(plain(match.elements[0])).toEqual({
        name: 'buffer', arg: 'time', elements: [],
        params: { timekey, timekey_use_utc: 'false', timekey_wait: '10m', timekey_zone: '+0900' },
      });
      expect(match.params.has('localtime')).toBe(true);
    }
    const utc = matchOf('time_slice_format %Y%m%d\nutc');
    applyV0BufferCompat(utc, { defaultChunkKeys: [] });
    expect(utc.elements[0].params.get('timekey_use_utc')?.value).toBe('true');
  });

  it('rejects a time_slice_format of only %Y/%m and both utc and localtime', () => {
    const err = configError(() => applyV0BufferCompat(matchOf('time_slice_format %Y%m'), { defaultChunkKeys: [] }));
    expect(err.message).toMatch(/^v0\.conf:2 <match \*\*>: time_slice_format: .*too coarse/);
    expect(configError(() => applyV0BufferCompat(matchOf('time_slice_format %d\nutc\nlocaltime'), { defaultChunkKeys: [] })).message)
      .toContain('both utc and localtime');
  });

  it('leaves the match untouched when it has a <buffer> or no flat names', () => {
    const withBuffer = matchOf('flush_interval 1s\n<buffer>\n</buffer>');
    const before = plain(withBuffer);
    expect(applyV0BufferCompat(withBuffer, { defaultChunkKeys: ['tag'] })).toEqual([]);
    expect(plain(withBuffer)).toEqual(before);
    const noFlat = matchOf('@type stdout');
    expect(applyV0BufferCompat(noFlat, { defaultChunkKeys: ['tag'] })).toEqual([]);
    expect(noFlat.elements).toEqual([]);
  });
});
