/**
 * kinesis_firehose `ssl_verify_peer` against the local endpoint serving HTTPS with a self-signed
 * certificate made here by the openssl CLI: by default the certificate is refused (the chunk is
 * retried by the buffer, nothing reaches Firehose); with `ssl_verify_peer false` it is accepted and
 * records arrive, still SigV4-signed and checked (a wrong secret is still refused).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { driver, type Driver } from '../helpers/driver.js';
import { firehoseMatch, firehoseOf } from '../helpers/firehose-agent.js';
import { FirehoseEndpoint, TEST_ACCESS_KEY_ID } from '../helpers/firehose-endpoint.js';
import { waitFor } from '../helpers/wait.js';

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
const FLUSH_FAILED = /failed to flush the buffer\./g;
let dir = '';
let cert: Buffer;
let key: Buffer;
let ep: FirehoseEndpoint;
let d: Driver | null = null;

beforeAll(() => {
  if (!hasOpenssl) return;
  dir = mkdtempSync(join(tmpdir(), 'logferry-fh-tls-'));
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  cert = readFileSync(join(dir, 'cert.pem'));
  key = readFileSync(join(dir, 'key.pem'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  if (hasOpenssl) ep = await new FirehoseEndpoint({ tls: { cert, key } }).start();
});
afterEach(async () => {
  await d?.close();
  d = null;
  await ep?.close();
});

describe.runIf(hasOpenssl)('kinesis_firehose: ssl_verify_peer against a self-signed HTTPS endpoint', () => {
  it('refuses the self-signed certificate by default: the chunk is retried and nothing is delivered', async () => {
    expect(ep.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    d = await driver(firehoseMatch({ endpoint: ep.url }));
    await d.feed('app.x', [{ seq: 1 }, { seq: 2 }]);
    // the buffer retries the chunk (retry_wait 0.2 s): wait for several failed attempts
    await waitFor(() => (d!.logs().match(FLUSH_FAILED)?.length ?? 0) >= 3, 15000, '3 failed flushes');
    const logs = d.logs();
    expect(logs).toMatch(/failed to flush the buffer\..*PutRecordBatch to delivery stream \\?"test-stream\\?" in region us-west-2 failed \(DEPTH_ZERO_SELF_SIGNED_CERT: self[- ]signed certificate\)/);
    expect(logs).toMatch(/retry_times=[1-9]/);
    // the client broke off each TLS handshake (the server notices a moment after the client logs it):
    // no request got through, nothing was stored
    await waitFor(() => ep.stats.tlsClientErrors >= 3 || null, 5000, 'the endpoint to see 3 broken-off handshakes');
    expect(ep.stats.calls).toBe(0);
    expect(ep.stats.refused.size).toBe(0);
    expect(ep.recordsOf('test-stream')).toEqual([]);
    expect(firehoseOf(d).out.stats.records_sent).toBe(0);
    expect(d.agent.plugins.find((p) => p.id === 'fh')!.metrics.retry_count).toBeGreaterThanOrEqual(3);
  });

  it('delivers with ssl_verify_peer false; requests are still SigV4-signed and checked', async () => {
    d = await driver(firehoseMatch({ endpoint: ep.url, extra: 'ssl_verify_peer false' }));
    await d.feed('app.x', [{ seq: 1 }, { seq: 2, msg: 'über TLS' }]);
    await waitFor(() => ep.recordsOf('test-stream').length === 2, 10000, '2 records at the HTTPS endpoint');
    expect(ep.linesOf('test-stream')).toEqual(['{"seq":1}\n', '{"seq":2,"msg":"über TLS"}\n']);
    expect(ep.stats.callsByKey.get(TEST_ACCESS_KEY_ID)).toBe(ep.stats.calls); // every call verified against the test key
    expect(ep.stats.refused.size).toBe(0);
    expect(ep.stats.tlsClientErrors).toBe(0);
    expect(d.logs()).not.toMatch(/failed to flush the buffer/);
    await d.close();

    // the same TLS setting with a wrong secret: the connection is accepted, the signature is not
    d = await driver(firehoseMatch({ endpoint: ep.url, stream: 'bad-sig', extra: 'ssl_verify_peer false', credentials: `aws_key_id ${TEST_ACCESS_KEY_ID}\n  aws_sec_key not/the/right/secret` }));
    await d.feed('app.x', [{ seq: 3 }]);
    await waitFor(() => (ep.stats.refused.get('InvalidSignatureException') ?? 0) >= 1, 10000, 'a refused signature');
    await waitFor(() => /Firehose rejected the credentials/.test(d!.logs()), 10000, 'the credentials error in the log');
    expect(ep.recordsOf('bad-sig')).toEqual([]);
    expect(ep.stats.tlsClientErrors).toBe(0);
  });
});
