/**
 * kinesis_firehose when Firehose says no: partial failures and throttling cost retries, not records
 * (each record counted, duplicates counted); a chunk that still fails goes back to the buffer and its
 * retry sends only what was not accepted; opt-in drops; unknown streams and rejected credentials are
 * clear errors; refreshed credentials (assumed role with external id, credential process) keep
 * working past their expiry.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { driver, type Driver } from '../helpers/driver.js';
import { FAST_BUFFER, firehoseMatch, firehoseOf, lossAndDuplicates, seqs } from '../helpers/firehose-agent.js';
import { FirehoseEndpoint, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY } from '../helpers/firehose-endpoint.js';
import { waitFor } from '../helpers/wait.js';

const ROLE = 'arn:aws:iam::123456789012:role/logferry-firehose';
const IRSA_ROLE = 'arn:aws:iam::123456789012:role/logferry-irsa';
const RETRY_LINE = /Retrying to request batch\. Retry count: +(\d+), Retry records: +(\d+), Wait seconds (\d+\.\d\d)/g;
const records = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ seq: from + i, pad: 'p'.repeat(50) }));

let ep: FirehoseEndpoint;
let d: Driver | null = null;

beforeEach(async () => {
  ep = await new FirehoseEndpoint({ seed: 7, roles: [{ arn: ROLE, externalId: 'ext-123', ttlSec: 1 }, { arn: IRSA_ROLE, webIdentityToken: 'oidc-token-1', ttlSec: 1 }] }).start();
});
afterEach(async () => {
  ep.faults.partialFailureRate = 0;
  ep.faults.nextCalls.length = 0;
  await d?.close();
  d = null;
  await ep.close();
});

describe('kinesis_firehose: partial failures and throttling', () => {
  it('retries only the failed records (30 % per call) and delivers every record once', async () => {
    ep.faults.partialFailureRate = 0.3;
    d = await driver(firehoseMatch({ endpoint: ep.url }));
    await d.feed('app.x', records(600));
    await waitFor(() => ep.recordsOf('test-stream').length >= 600, 20000);
    const { lost, duplicates } = lossAndDuplicates(seqs(ep.linesOf('test-stream')), 600);
    expect(lost).toEqual([]);
    expect(duplicates).toBe(0);
    const lines = [...d.logs().matchAll(RETRY_LINE)];
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]![1]).toBe('1');
    for (const m of lines) {
      // 0.3 s x 2^k, k reset to 0 after a response that shipped records: the first retry of a batch waits ~0.3 s
      const count = Number(m[1]);
      expect(Number(m[3])).toBeLessThanOrEqual(count === 1 ? 0.34 : 0.34 * 2 ** (count - 1));
    }
    const { out } = firehoseOf(d);
    expect(out.stats.failed_records.get('ServiceUnavailableException')).toBe(ep.stats.failedRecords);
    expect(ep.stats.acceptedRecords).toBe(600);
  });

  it('returns a chunk still failing after retries_on_batch_request to the buffer; its retry sends only unaccepted records', async () => {
    ep.faults.partialFailureRate = 0.6;
    // the buffer retries after 1 s: time to read what was accepted before the chunk is sent again
    d = await driver(firehoseMatch({ endpoint: ep.url, extra: 'retries_on_batch_request 1', buffer: FAST_BUFFER.replace('retry_wait 0.2', 'retry_wait 1').replace('retry_max_interval 0.5', 'retry_max_interval 1') }));
    await d.feed('app.x', records(400));
    await waitFor(() => d!.logs().includes('failed to flush the buffer'), 10000);
    const acceptedBefore = ep.stats.acceptedRecords;
    expect(acceptedBefore).toBeGreaterThan(0);
    expect(acceptedBefore).toBeLessThan(400);
    ep.faults.partialFailureRate = 0;
    await waitFor(() => ep.recordsOf('test-stream').length >= 400, 10000);
    const { lost, duplicates } = lossAndDuplicates(seqs(ep.linesOf('test-stream')), 400);
    expect({ lost, duplicates }).toEqual({ lost: [], duplicates: 0 });
    expect(d.logs()).toMatch(/returning the chunk to the buffer/);
    expect(d.logs()).toMatch(/still failed after 1 batch retries \(ServiceUnavailableException: Slow down\.\)/);
    // the resent call carried exactly the records Firehose had not accepted
    const after = ep.stats.batches.slice(-1)[0]!;
    expect(after.records).toBe(400 - acceptedBefore);
  });

  it('drops (to @ERROR, counted per code) only when drop_failed_records_after_batch_request_retries is set', async () => {
    ep.faults.partialFailureRate = 1;
    d = await driver(firehoseMatch({ endpoint: ep.url, extra: 'retries_on_batch_request 1\n  drop_failed_records_after_batch_request_retries true' }));
    await d.feed('app.drop', records(5));
    await waitFor(() => d!.errors.length === 5, 10000);
    expect(d.errors.map((e) => e.record.seq)).toEqual([0, 1, 2, 3, 4]);
    const entry = d.agent.plugins.find((p) => p.id === 'fh')!;
    await waitFor(() => firehoseOf(d!).out.stats.records_dropped === 5);
    expect(entry.metrics.dropped.get('kinesis_firehose:ServiceUnavailableException')).toBe(5);
    expect(d.logs()).toContain('Could not put record, Error: ServiceUnavailableException/Slow down.');
    expect(d.logs()).not.toContain('failed to flush the buffer');
  });

  it('backs off the same way when a whole call is throttled or refused with 5xx', async () => {
    ep.faults.nextCalls.push('ThrottlingException', 'ServiceUnavailableException', 'InternalFailure');
    d = await driver(firehoseMatch({ endpoint: ep.url }));
    await d.feed('app.t', records(10));
    await waitFor(() => ep.recordsOf('test-stream').length === 10, 10000);
    const lines = [...d.logs().matchAll(RETRY_LINE)].map((m) => [m[1], m[2]]);
    expect(lines).toEqual([['1', '10'], ['2', '10'], ['3', '10']]);
    const waits = [...d.logs().matchAll(RETRY_LINE)].map((m) => Number(m[3]));
    expect(waits[1]! / waits[0]!).toBeGreaterThan(1.5); // nothing shipped: the wait doubles
    const failed = firehoseOf(d).out.stats.failed_records;
    expect([failed.get('ThrottlingException'), failed.get('ServiceUnavailableException'), failed.get('InternalFailure')]).toEqual([10, 10, 10]);
    expect(lossAndDuplicates(seqs(ep.linesOf('test-stream')), 10)).toEqual({ lost: [], duplicates: 0 });
  });
});

describe('kinesis_firehose: errors that retrying the batch cannot fix', () => {
  it('an unknown stream is an unrecoverable error naming stream and region; the chunk goes to a backup file', async () => {
    const backup = mkdtempSync(join(tmpdir(), 'logferry-fh-backup-'));
    process.env.FLUENT_BACKUP_DIR = backup;
    try {
      const strict = await new FirehoseEndpoint({ streams: ['exists'] }).start();
      try {
        d = await driver(firehoseMatch({ endpoint: strict.url, stream: 'missing-stream' }));
        await d.feed('app.nf', records(3));
        await waitFor(() => d!.logs().includes('bad chunk is moved to backup file'), 10000);
        expect(d.logs()).toMatch(/Firehose delivery stream \\?"missing-stream\\?" in region us-west-2 does not exist \(ResourceNotFoundException/);
        expect(d.logs()).not.toContain('failed to flush the buffer');
        expect(readdirSync(join(backup, 'backup', 'worker0', 'fh')).some((f) => f.endsWith('.log'))).toBe(true);
      } finally {
        await d?.close();
        d = null;
        await strict.close();
      }
    } finally {
      delete process.env.FLUENT_BACKUP_DIR;
    }
  });

  it('rejected credentials (signature mismatch) are a clear, retried error naming stream, region and source', async () => {
    d = await driver(firehoseMatch({ endpoint: ep.url, credentials: `aws_key_id ${TEST_ACCESS_KEY_ID}\n  aws_sec_key not-the-secret` }));
    await d.feed('app.c', records(2));
    await waitFor(() => (d!.logs().match(/failed to flush the buffer/g) ?? []).length >= 2, 10000);
    expect(d.logs()).toMatch(/rejected the credentials from static keys .*delivery stream \\?"test-stream\\?" in region us-west-2 \(InvalidSignatureException: The request signature we calculated does not match/);
    expect(ep.stats.refused.get('InvalidSignatureException')).toBeGreaterThanOrEqual(2);
    expect(ep.recordsOf('test-stream')).toEqual([]);
  });
});

describe('kinesis_firehose: credentials that expire', () => {
  it('assumes a role with an external id and keeps sending as the 1-second credentials expire', async () => {
    process.env.AWS_ACCESS_KEY_ID = TEST_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = TEST_SECRET_ACCESS_KEY;
    try {
      const section = `<assume_role_credentials>\n role_arn ${ROLE}\n role_session_name logferry\n external_id ext-123\n sts_endpoint_url ${ep.url}\n </assume_role_credentials>`;
      d = await driver(firehoseMatch({ endpoint: ep.url, credentials: section }));
      for (let i = 0; i < 6; i++) {
        await d.feed('app.role', records(10, i * 10));
        await new Promise((r) => setTimeout(r, 500));
      }
      await waitFor(() => ep.recordsOf('test-stream').length >= 60, 10000);
      expect(lossAndDuplicates(seqs(ep.linesOf('test-stream')), 60)).toEqual({ lost: [], duplicates: 0 });
      const roleKeys = [...ep.stats.callsByKey.keys()].filter((k) => k.startsWith('ASIA'));
      expect(roleKeys.length).toBeGreaterThanOrEqual(2); // refreshed, not reused past expiry
      expect(ep.stats.callsByKey.has(TEST_ACCESS_KEY_ID)).toBe(false); // the base keys only sign STS calls
      expect(ep.stats.refused.get('ExpiredTokenException') ?? 0).toBe(0);
      expect(d.logs()).toMatch(/AWS credentials loaded provider="assume_role_credentials \(arn:aws:iam::123456789012:role\/logferry-firehose, with external_id\)"/);
      expect(d.logs()).not.toContain('ext-123');
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });

  it('says why when the role refuses the external id', async () => {
    process.env.AWS_ACCESS_KEY_ID = TEST_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = TEST_SECRET_ACCESS_KEY;
    try {
      const section = `<assume_role_credentials>\n role_arn ${ROLE}\n role_session_name logferry\n external_id wrong\n sts_endpoint_url ${ep.url}\n </assume_role_credentials>`;
      d = await driver(firehoseMatch({ endpoint: ep.url, credentials: section }));
      await waitFor(() => d!.logs().includes('could not load AWS credentials'), 10000);
      expect(d.logs()).toMatch(/could not load AWS credentials .*not authorized to perform: sts:AssumeRole/);
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });

  it('assumes a role with a web identity token file (IRSA) and refreshes it', async () => {
    const token = join(mkdtempSync(join(tmpdir(), 'logferry-irsa-')), 'token');
    writeFileSync(token, 'oidc-token-1');
    const section = `<web_identity_credentials>\n role_arn ${IRSA_ROLE}\n role_session_name logferry\n web_identity_token_file ${token}\n sts_endpoint_url ${ep.url}\n </web_identity_credentials>`;
    d = await driver(firehoseMatch({ endpoint: ep.url, credentials: section }));
    for (let i = 0; i < 3; i++) {
      await d.feed('app.irsa', records(5, i * 5));
      await new Promise((r) => setTimeout(r, 600));
    }
    await waitFor(() => ep.recordsOf('test-stream').length >= 15, 10000);
    expect(lossAndDuplicates(seqs(ep.linesOf('test-stream')), 15)).toEqual({ lost: [], duplicates: 0 });
    expect([...ep.stats.callsByKey.keys()].filter((k) => k.startsWith('ASIA')).length).toBeGreaterThanOrEqual(2);
    expect(d.logs()).toMatch(/AWS credentials loaded provider="web_identity_credentials \(arn:aws:iam::123456789012:role\/logferry-irsa\)"/);
  });

  it('runs <process_credentials> again when its credentials expire', async () => {
    const cmd = `${process.execPath} -e "fetch('${ep.url}/_endpoint/credentials?ttl=1').then((r) => r.text()).then((t) => process.stdout.write(t))"`;
    d = await driver(firehoseMatch({ endpoint: ep.url, credentials: `<process_credentials>\n process ${cmd}\n </process_credentials>` }));
    for (let i = 0; i < 4; i++) {
      await d.feed('app.proc', records(5, i * 5));
      await new Promise((r) => setTimeout(r, 600));
    }
    await waitFor(() => ep.recordsOf('test-stream').length >= 20, 10000);
    expect(lossAndDuplicates(seqs(ep.linesOf('test-stream')), 20)).toEqual({ lost: [], duplicates: 0 });
    expect([...ep.stats.callsByKey.keys()].filter((k) => k.startsWith('ASIA')).length).toBeGreaterThanOrEqual(2);
    expect(d.logs()).toMatch(/AWS credentials loaded provider="process_credentials"/);
  });
});
