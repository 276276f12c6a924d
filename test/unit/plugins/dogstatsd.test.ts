/**
 * The dogstatsd output through the real agent, sending real UDP datagrams to a socket on
 * 127.0.0.1: the exact lines of the Ruby plugin's documented examples, the flow-metrics shape,
 * batching (50 lines, byte cap), events sent on their own, no DD_* tags unless asked, tag order,
 * sampling, placeholders, skipped records, send failures retried, and the socket closed at close.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BufferedOutput } from '../../../src/buffer/buffered-output.js';
import type { DogstatsdOutput } from '../../../src/plugins/out/dogstatsd.js';
import { driver, type Driver } from '../../helpers/driver.js';
import { udpCapture, type UdpCapture } from '../../helpers/udp-capture.js';
import { waitFor } from '../../helpers/wait.js';

let d: Driver | null = null;
let udp: UdpCapture;
const savedEnv = { ...process.env };

beforeEach(async () => {
  udp = await udpCapture();
});
afterEach(async () => {
  await d?.close();
  d = null;
  await udp.close();
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
});

async function start(body: string, host = '127.0.0.1'): Promise<Driver> {
  d = await driver(`
<match **>
  @type dogstatsd
  @id ds
  host ${host}
  port ${udp.port}
${body}
  <buffer>
    flush_mode immediate
  </buffer>
</match>
`);
  return d;
}

const datagrams = (n: number) => waitFor(() => (udp.datagrams.length >= n ? udp.datagrams : null), 5000, `${n} datagrams`);

describe('dogstatsd output', () => {
  // The Ruby plugin checks for a key before the type, so an event record needs a key too (or use_tag_as_key).
  it('sends the lines of the Ruby plugin\'s examples; an event goes out at once, on its own', async () => {
    await start('');
    await d!.feed('dogstatsd.hello', [
      { type: 'increment', key: 'apache.requests', tags: { url: '/' } },
      { type: 'histogram', key: 'apache.response_time', value: 10.5, tags: { url: '/hello' } },
      { type: 'event', key: 'deploys', title: 'Deploy', text: 'New revision' },
      { type: 'timing', key: 'db.q', value: 12 },
      { type: 'decrement', key: 'jobs', value: 7 },
      { type: 'gauge', key: 'temp', value: -3 },
      { type: 'set', key: 'users', value: 'bob' },
      { type: 'count', key: 'k' },
    ]);
    expect(await datagrams(2)).toEqual([
      '_e{6,12}:Deploy|New revision',
      'apache.requests:1|c|#url:/\napache.response_time:10.5|h|#url:/hello\ndb.q:12|ms\njobs:-1|c\ntemp:-3|g\nusers:bob|s\nk:|c',
    ]);
  });

  it('use_tag_as_key, flat_tags, metric_type, value_key: the flow-metrics lines', async () => {
    await start('  use_tag_as_key true\n  flat_tags true\n  metric_type count\n  value_key value');
    await d!.feed('quantico.fluentd.messages.bytes', [{ value: 87, 'fluentd-tag': 'nginx.access' }]);
    await d!.feed('dogstatsd.hello', [{ value: 5, host: 'a', type: 'x' }]);
    expect(await datagrams(2)).toEqual(['quantico.fluentd.messages.bytes:87|c|#fluentd-tag:nginx.access', 'dogstatsd.hello:5|c|#host:a,type:x']);
  });

  it('keeps the record\'s tag order and strips | , and line breaks from tag text', async () => {
    await start('  use_tag_as_key true\n  flat_tags true\n  metric_type gauge');
    await d!.feed('m', [{ value: 1, z: '1', a: 2, m: null, b: 'x|y,z\nw', h: { k: 1 } }]);
    expect(await datagrams(1)).toEqual(['m:1|g|#z:1,a:2,m:,b:xyzw,h:{"k"=>1}']);
  });

  it('batches at most 50 lines per datagram, joined by \\n without a trailing newline', async () => {
    await start('  use_tag_as_key true\n  metric_type count');
    await d!.feed('c', Array.from({ length: 120 }, (_, i) => ({ value: i })));
    const got = await datagrams(3);
    expect(got.map((d) => d.split('\n').length)).toEqual([50, 50, 20]);
    expect(got.every((d) => !d.endsWith('\n'))).toBe(true);
    expect(udp.lines()).toEqual(Array.from({ length: 120 }, (_, i) => `c:${i}|c`));
  });

  it('keeps every datagram within max_datagram_size', async () => {
    await start('  use_tag_as_key true\n  metric_type count\n  flat_tags true\n  max_datagram_size 600');
    const records = Array.from({ length: 40 }, (_, i) => ({ value: i, note: 'x'.repeat(30) }));
    await d!.feed('sized.metric', records);
    await waitFor(() => udp.lines().length === 40, 5000, '40 lines');
    expect(udp.datagrams.length).toBeGreaterThan(2);
    for (const d of udp.datagrams) expect(Buffer.byteLength(d)).toBeLessThanOrEqual(600);
    expect(udp.lines()).toEqual(records.map((r) => `sized.metric:${r.value}|c|#note:${r.note}`));
  });

  it('adds no tags from DD_* environment variables unless include_datadog_tags is set', async () => {
    Object.assign(process.env, { DD_ENV: 'prod', DD_SERVICE: 'svc', DD_VERSION: '1.2', DD_TAGS: 'team:x', DD_ENTITY_ID: 'e1', DD_AGENT_HOST: '10.9.9.9', DD_DOGSTATSD_PORT: '1' });
    await start('');
    await d!.feed('t', [{ type: 'increment', key: 'hits', tags: { url: '/' } }]);
    expect(await datagrams(1)).toEqual(['hits:1|c|#url:/']);
    await d!.close();
    await start('  include_datadog_tags true');
    await d!.feed('t', [{ type: 'increment', key: 'hits', tags: { url: '/' } }]);
    expect((await datagrams(2))[1]).toBe('hits:1|c|#dd.internal.entity_id:e1,env:prod,service:svc,version:1.2,url:/');
  });

  it('sample_rate below 1 drops randomly and marks what it sends with |@rate', async () => {
    await start('  use_tag_as_key true\n  metric_type count\n  sample_rate 0.5');
    await d!.feed('s', Array.from({ length: 200 }, () => ({ value: 1 })));
    const entry = d!.agent.plugins.find((p) => p.id === 'ds')!;
    await waitFor(() => entry.metrics.write_count >= 1 && udp.datagrams.length > 0, 5000, 'the chunk written');
    const lines = udp.lines();
    expect(lines.every((l) => l === 's:1|c|@0.5')).toBe(true);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(200);
  });

  it('expands ${tag[N]}, ${field} and ${$.path} in key; namespace and Ruby name sanitising apply', async () => {
    await start('  key app.${tag[1]}.${service}.${$.req.method}.${nope}\n  namespace ns\n  metric_type increment');
    await d!.feed('dogstatsd.hello', [{ service: 'api', req: { method: 'GET' } }]);
    await d!.close();
    await start('  metric_type gauge');
    await d!.feed('t', [{ key: 'a::b:c|d@e', value: 1 }]);
    expect(await datagrams(2)).toEqual(['ns.app.hello.api.GET.${nope}:1|c', 'a.b_c_d_e:1|g']);
  });

  it('skips records it cannot send, with a warning, and sends the rest', async () => {
    await start('');
    await d!.feed('t', [
      { type: 'count', value: 1 },
      { type: 'bogus', key: 'x', value: 1 },
      { key: 'untyped', value: 1 },
      { type: 'event', key: 'e', text: 'no title' },
      { type: 'count', key: 'ok', value: 2, tags: 'not-a-map' },
      { type: 'count', key: 'ok', value: 3 },
    ]);
    expect(await datagrams(1)).toEqual(['ok:3|c']);
    const logs = await waitFor(() => (/an event needs title/.test(d!.logs()) ? d!.logs() : null), 3000, 'warnings');
    expect(logs).toMatch(/'key' is not specified/);
    expect(logs).toMatch(/Type 'bogus' is unknown/);
    expect(logs).toMatch(/type is not provided/);
    expect(logs).toMatch(/tags field must be a map or an array/);
  });

  it('fails the write when a datagram cannot be sent, so the chunk is retried', async () => {
    await start('  use_tag_as_key true\n  metric_type count\n  retry_wait 30s', 'no-such-host.invalid');
    await d!.feed('t', [{ value: 1 }]);
    const entry = d!.agent.plugins.find((p) => p.id === 'ds')!;
    await waitFor(() => entry.metrics.retry_count >= 1, 5000, 'a retry');
    expect(d!.logs()).toMatch(/failed to flush the buffer/);
    expect(d!.logs()).toMatch(/could not be sent/);
  });

  it('opens its client at start and closes it at close', async () => {
    await start('');
    const writer = (d!.agent.plugins.find((p) => p.id === 'ds')!.instance as BufferedOutput).writer as DogstatsdOutput;
    expect(writer.open).toBe(true);
    await d!.close();
    d = null;
    expect(writer.open).toBe(false);
  });
});
