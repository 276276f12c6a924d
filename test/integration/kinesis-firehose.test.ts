/**
 * kinesis_firehose through the real agent in-process, the real AWS SDK and the local SigV4-checking
 * endpoint: what arrives (format, inject, data_key, compression, ${tag} streams), how chunks are
 * split into calls, oversized records to @ERROR, credentials sources and the proxy, config errors.
 */
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configProblems, driver, type Driver } from '../helpers/driver.js';
import { FAST_BUFFER, firehoseMatch, firehoseOf, startConnectProxy } from '../helpers/firehose-agent.js';
import { FirehoseEndpoint, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY } from '../helpers/firehose-endpoint.js';
import { waitFor } from '../helpers/wait.js';

let ep: FirehoseEndpoint;
let d: Driver | null = null;

beforeEach(async () => {
  ep = await new FirehoseEndpoint().start();
});
afterEach(async () => {
  await d?.close();
  d = null;
  await ep.close();
});

describe('kinesis_firehose: records', () => {
  it('sends newline-terminated JSON per record to the stream named by ${tag}', async () => {
    d = await driver(firehoseMatch({ endpoint: ep.url, stream: 'logs-${tag}' }));
    await d.feed('app.web', [{ a: 1, msg: 'héllo' }, { a: 2 }]);
    await d.feed('app.db', [{ b: true }]);
    await waitFor(() => ep.recordsOf('logs-app.db').length === 1 && ep.recordsOf('logs-app.web').length === 2);
    expect(ep.linesOf('logs-app.web')).toEqual(['{"a":1,"msg":"héllo"}\n', '{"a":2}\n']);
    expect(ep.linesOf('logs-app.db')).toEqual(['{"b":true}\n']);
    await waitFor(() => firehoseOf(d!).out.stats.records_sent === 3); // counted when the response is read, just after the endpoint stored them
  });

  it('applies <inject>, <format> and data_key; compresses per record before the newline', async () => {
    d = await driver([
      // chunk keys without tag (a record key): <inject> tag_key adds tag to them, so the tag is known
      firehoseMatch({ pattern: 'app.inject', id: 'a', stream: 's-inject', endpoint: ep.url, extra: '<inject>\n tag_key tag\n time_key time\n utc true\n </inject>', buffer: FAST_BUFFER.replace('<buffer>', '<buffer a>') }),
      firehoseMatch({ pattern: 'app.ltsv', id: 'b', stream: 's-ltsv', endpoint: ep.url, extra: '<format>\n @type ltsv\n </format>' }),
      firehoseMatch({ pattern: 'app.single', id: 'c', stream: 's-single', endpoint: ep.url, extra: '<format>\n @type single_value\n message_key log\n </format>' }),
      firehoseMatch({ pattern: 'app.data', id: 'e', stream: 's-data', endpoint: ep.url, extra: 'data_key log' }),
      firehoseMatch({ pattern: 'app.gz', id: 'f', stream: 's-gz', endpoint: ep.url, extra: 'compression gzip' }),
    ].join('\n'));
    await d.feed('app.inject', [{ a: 1 }], 1704164645);
    await d.feed('app.ltsv', [{ a: 1, b: 'x' }]);
    await d.feed('app.single', [{ log: 'plain line' }]);
    await d.feed('app.data', [{ log: 'raw', other: 1 }, { other: 2 }]);
    await d.feed('app.gz', [{ z: 1 }]);
    await waitFor(() => ['s-inject', 's-ltsv', 's-single', 's-data', 's-gz'].every((s) => ep.recordsOf(s).length === 1));
    expect(ep.linesOf('s-inject')).toEqual(['{"a":1,"tag":"app.inject","time":"2024-01-02T03:04:05.000000000+0000"}\n']);
    expect(ep.linesOf('s-ltsv')).toEqual(['a:1\tb:x\n']);
    expect(ep.linesOf('s-single')).toEqual(['plain line\n']);
    expect(ep.linesOf('s-data')).toEqual(['raw\n']);
    const gz = ep.recordsOf('s-gz')[0]!;
    expect(gunzipSync(gz.subarray(0, gz.length - 1)).toString()).toBe('{"z":1}\n');
    // the record without data_key went to @ERROR, not to Firehose
    await waitFor(() => d!.errors.length === 1);
    expect(d.errors[0]!.record).toEqual({ other: 2 });
    expect(d.logs()).toContain("Key 'log' doesn't exist");
  });

  it('splits a chunk into calls of at most 500 records and batch_request_max_size bytes', async () => {
    d = await driver(firehoseMatch({ endpoint: ep.url, extra: 'batch_request_max_size 20k', buffer: '<buffer>\n flush_mode interval\n flush_interval 60\n </buffer>' }));
    const pad = 'x'.repeat(90);
    await d.feed('app.x', Array.from({ length: 1300 }, (_, seq) => ({ seq, pad })));
    await firehoseOf(d).bo.flushNow();
    await waitFor(() => ep.recordsOf('test-stream').length === 1300);
    const calls = ep.stats.batches.filter((b) => b.stream === 'test-stream');
    const recordBytes = ep.recordsOf('test-stream')[0]!.length;
    expect(calls.length).toBeGreaterThan(5);
    for (const c of calls) expect(c.bytes).toBeLessThanOrEqual(20 * 1024);
    for (const c of calls.slice(0, -1)) expect(c.bytes + recordBytes).toBeGreaterThan(20 * 1024); // full before a new one starts
    await d.close();
    d = await driver(firehoseMatch({ endpoint: ep.url, stream: 'counted', buffer: '<buffer>\n flush_mode interval\n flush_interval 60\n </buffer>' }));
    await d.feed('app.x', Array.from({ length: 1201 }, (_, seq) => ({ seq })));
    await firehoseOf(d).bo.flushNow();
    await waitFor(() => ep.recordsOf('counted').length === 1201);
    expect(ep.stats.batches.filter((b) => b.stream === 'counted').map((b) => b.records)).toEqual([500, 500, 201]);
    expect(ep.linesOf('counted').map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([...Array(1201).keys()]);
  });

  it('sends records over max_record_size to @ERROR with a warning naming tag and size, and the rest through', async () => {
    d = await driver(firehoseMatch({ endpoint: ep.url }));
    await d.feed('app.big', [{ seq: 0 }, { seq: 1, blob: 'y'.repeat(1_100_000) }, { seq: 2 }]);
    await waitFor(() => ep.recordsOf('test-stream').length === 2 && d!.errors.length === 1);
    expect(ep.linesOf('test-stream')).toEqual(['{"seq":0}\n', '{"seq":2}\n']);
    expect(d.errors[0]).toMatchObject({ tag: 'app.big', record: { seq: 1 } });
    expect(d.logs()).toMatch(/Record size limit exceeded.*tag="app\.big".*size=1100020/);
    const { out } = firehoseOf(d);
    expect(out.stats.records_oversized).toBe(1);
    expect(d.agent.plugins.find((p) => p.id === 'fh')!.metrics.dropped.get('record_over_max_record_size')).toBe(1);
  });
});

describe('kinesis_firehose: credentials and transport', () => {
  it('logs which provider supplied the credentials, never the secret (static keys, SDK chain from the environment)', async () => {
    d = await driver(firehoseMatch({ endpoint: ep.url }));
    await waitFor(() => d!.logs().includes('AWS credentials loaded'));
    expect(d.logs()).toMatch(/AWS credentials loaded provider="static keys \(aws_key_id \/ aws_sec_key\)" access_key_id="AKID…0001"/);
    expect(d.logs()).not.toContain(TEST_SECRET_ACCESS_KEY);
    await d.close();

    process.env.AWS_ACCESS_KEY_ID = TEST_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = TEST_SECRET_ACCESS_KEY;
    try {
      d = await driver(firehoseMatch({ endpoint: ep.url, credentials: '' }));
      await d.feed('app.env', [{ via: 'env' }]);
      await waitFor(() => ep.recordsOf('test-stream').length === 1);
      expect(d.logs()).toMatch(/AWS credentials loaded provider="SDK default chain: environment \(AWS_ACCESS_KEY_ID/);
      expect(d.logs()).not.toContain(TEST_SECRET_ACCESS_KEY);
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });

  it('goes through http_proxy with a CONNECT tunnel', async () => {
    const proxy = await startConnectProxy();
    try {
      d = await driver(firehoseMatch({ endpoint: ep.url, extra: `http_proxy ${proxy.url}` }));
      await d.feed('app.proxy', [{ p: 1 }]);
      await waitFor(() => ep.recordsOf('test-stream').length === 1);
      expect(proxy.targets).toContain(`127.0.0.1:${ep.port}`);
    } finally {
      await d?.close();
      d = null;
      await proxy.close();
    }
  });
});

describe('kinesis_firehose: configuration', () => {
  it('rejects limits Firehose does not allow and incomplete settings, each with its parameter', () => {
    const bad = (extra: string) => configProblems(firehoseMatch({ endpoint: 'http://127.0.0.1:1', extra })).problems.join('\n');
    expect(bad('batch_request_max_count 501')).toMatch(/batch_request_max_count.*at most 500/);
    expect(bad('batch_request_max_size 5m')).toMatch(/batch_request_max_size.*at most 4194304/);
    expect(bad('max_record_size 2m')).toMatch(/max_record_size.*at most 1048576/);
    expect(bad('compression lz4')).toMatch(/compression.*zlib or gzip/);
    expect(bad('http_proxy socks5://p:1080')).toMatch(/http_proxy.*http:\/\//);
    expect(configProblems(firehoseMatch({ endpoint: 'http://127.0.0.1:1', credentials: `aws_key_id ${TEST_ACCESS_KEY_ID}` })).problems.join('\n')).toMatch(/aws_sec_key.*together/);
    expect(configProblems(firehoseMatch({ endpoint: 'http://127.0.0.1:1', stream: '${tag}', buffer: '<buffer []>\n </buffer>' })).problems.join('\n')).toMatch(/delivery_stream_name/);
    expect(configProblems('<match x>\n @type kinesis_firehose\n region us-west-2\n</match>').problems.join('\n')).toMatch(/delivery_stream_name.*required/);
  });
});
