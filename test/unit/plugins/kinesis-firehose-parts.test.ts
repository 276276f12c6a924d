/**
 * The Firehose output's parts on their own: record bytes (newline, compression, data_key), batch
 * splitting at the count and byte limits, the per-chunk progress bitset, the batch backoff and the
 * partial-failure loop; and the test endpoint's SigV4 verifier against AWS's published vectors.
 */
import { gunzipSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { batchWait, sendWithRetries, type CallResult } from '../../../src/plugins/out/kinesis_firehose/batch-retry.js';
import { DoneSet, splitBatches } from '../../../src/plugins/out/kinesis_firehose/batches.js';
import { chomp, createEncoder, withNewLine } from '../../../src/plugins/out/kinesis_firehose/encode.js';
import { createFormatter } from '../../../src/format/formatter.js';
import { createInjector } from '../../../src/format/inject.js';
import { EventTime } from '../../../src/core/event-time.js';
import { sign, verifySigV4 } from '../../helpers/sigv4.js';

const text = (b: Buffer) => b.toString('utf8');

describe('record encoding', () => {
  const base = { dataKey: null, format: createFormatter(null), inject: createInjector(null, { hostname: 'h', workerId: 0 }), compression: null, appendNewLine: true, chompRecord: false } as const;

  it('chomps one line ending and appends exactly one newline', () => {
    expect(text(withNewLine(Buffer.from('a\r\n')))).toBe('a\n');
    expect(text(withNewLine(Buffer.from('a\n\n')))).toBe('a\n\n');
    expect(text(withNewLine(Buffer.from('a\r')))).toBe('a\n');
    expect(text(chomp(Buffer.from('a')))).toBe('a');
    const enc = createEncoder(base);
    expect(enc('t', 1, { a: 1, msg: 'héllo' })).toEqual({ ok: true, data: Buffer.from('{"a":1,"msg":"héllo"}\n') });
  });

  it('injects tag and time (string, %N) at the end of a copy', () => {
    const inject = createInjector({ hostname_key: null, hostname: null, worker_id_key: null, tag_key: 'tag', time_key: 'time', time_type: 'string', time_format: '%Y-%m-%dT%H:%M:%S.%N%z', localtime: true, utc: true, timezone: null }, { hostname: 'h', workerId: 0 });
    const rec = { a: 1 };
    const enc = createEncoder({ ...base, inject });
    const r = enc('app.x', new EventTime(1704164645, 123456789), rec);
    expect(r.ok && text(r.data)).toBe('{"a":1,"tag":"app.x","time":"2024-01-02T03:04:05.123456789+0000"}\n');
    expect(rec).toEqual({ a: 1 });
  });

  it('compresses before the newline, per record (gzip, zlib)', () => {
    for (const [compression, undo] of [['gzip', gunzipSync], ['zlib', inflateSync]] as const) {
      const r = createEncoder({ ...base, compression })('t', 1, { a: 1 });
      if (!r.ok) throw new Error('not encoded');
      expect(r.data[r.data.length - 1]).toBe(0x0a);
      expect(text(undo(r.data.subarray(0, r.data.length - 1)))).toBe('{"a":1}\n');
    }
  });

  it('data_key sends the field alone and refuses records without it', () => {
    const enc = createEncoder({ ...base, dataKey: 'log' });
    const r = enc('t', 1, { log: 'line one', other: 2 });
    expect(r.ok && text(r.data)).toBe('line one\n');
    expect(enc('t', 1, { other: 2 })).toEqual({ ok: false, reason: "Key 'log' doesn't exist" });
    const raw = createEncoder({ ...base, dataKey: 'log', appendNewLine: false, chompRecord: true })('t', 1, { log: 'x\n' });
    expect(raw.ok && text(raw.data)).toBe('x');
  });
});

describe('batches and progress', () => {
  const rec = (n: number) => ({ data: Buffer.alloc(n) });

  it('starts a new batch before a record that would pass the count or byte limit', () => {
    const b = splitBatches(Array.from({ length: 1201 }, () => rec(1)), 500, 4 * 1024 * 1024);
    expect(b.map((x) => x.length)).toEqual([500, 500, 201]);
    const s = splitBatches([rec(6), rec(4), rec(1), rec(10), rec(3)], 500, 10);
    expect(s.map((x) => x.map((r) => r.data.length))).toEqual([[6, 4], [1], [10], [3]]);
  });

  it('keeps done records across a save and restore, and ignores progress of another shape', () => {
    const d = new DoneSet(20);
    for (const i of [0, 3, 19]) d.add(i);
    const progress = d.toProgress({ other: 1 });
    const back = new DoneSet(20, progress);
    expect([...Array(20).keys()].filter((i) => back.has(i))).toEqual([0, 3, 19]);
    expect(back.size).toBe(3);
    expect(progress.other).toBe(1);
    expect(new DoneSet(21, progress).size).toBe(0);
  });
});

describe('the batch retry loop', () => {
  it('waits 0.3 s x 2^k with jitter from the shared backoff', () => {
    expect(batchWait(0, () => 0.5)).toBeCloseTo(0.3);
    expect(batchWait(3, () => 0.5)).toBeCloseTo(2.4);
    for (let i = 0; i < 50; i++) {
      const w = batchWait(0);
      expect(w).toBeGreaterThanOrEqual(0.3 * 0.875);
      expect(w).toBeLessThanOrEqual(0.3 * 1.125);
    }
  });

  it('resends only failed records, resets the backoff after partial success, and returns what still fails', async () => {
    const sent: number[][] = [];
    const waits: number[] = [];
    const lines: string[] = [];
    // every call accepts the first record it gets and fails the rest
    const call = async (recs: number[]): Promise<CallResult<number>> => {
      sent.push(recs);
      return { accepted: 1, failed: recs.slice(1).map((record) => ({ record, code: 'ServiceUnavailableException', message: 'Slow down.' })) };
    };
    const left = await sendWithRetries([1, 2, 3, 4, 5], call, {
      retries: 3, resetBackoffIfSuccess: true, random: () => 0.5,
      sleep: async (s) => { waits.push(s); },
      onRetry: (n, m, w) => lines.push(`${n}:${m}:${w.toFixed(2)}`),
    });
    expect(sent).toEqual([[1, 2, 3, 4, 5], [2, 3, 4, 5], [3, 4, 5], [4, 5]]);
    expect(left.map((f) => f.record)).toEqual([5]);
    expect(lines).toEqual(['1:4:0.30', '2:3:0.30', '3:2:0.30']);
    expect(waits).toHaveLength(3);
  });

  it('doubles the wait when nothing gets through', async () => {
    const waits: number[] = [];
    const left = await sendWithRetries([1], async (recs) => ({ accepted: 0, failed: recs.map((record) => ({ record, code: 'X', message: '' })) }), {
      retries: 3, resetBackoffIfSuccess: true, random: () => 0.5, sleep: async (s) => { waits.push(s); }, onRetry: () => undefined,
    });
    expect(left).toHaveLength(1);
    expect(waits.map((w) => w.toFixed(2))).toEqual(['0.30', '0.60', '1.20']);
  });
});

describe('SigV4 verification (test endpoint)', () => {
  const AKID = 'AKIDEXAMPLE';
  const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
  const scope = { accessKeyId: AKID, date: '20150830', region: 'us-east-1', service: 'service', signedHeaders: ['host', 'x-amz-date'] };
  const now = Date.UTC(2015, 7, 30, 12, 36, 0);
  const req = (url: string, sig: string) => ({
    method: 'GET', url, body: Buffer.alloc(0),
    rawHeaders: ['Host', 'example.amazonaws.com', 'X-Amz-Date', '20150830T123600Z', 'Authorization', `AWS4-HMAC-SHA256 Credential=${AKID}/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${sig}`],
  });

  it('matches the AWS test suite vectors get-vanilla and get-vanilla-query-order-key-case', () => {
    expect(sign(req('/', ''), scope, SECRET, '20150830T123600Z')).toBe('5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
    expect(sign(req('/?Param2=value2&Param1=value1', ''), scope, SECRET, '20150830T123600Z')).toBe('b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500');
  });

  it('accepts the right signature and answers AWS errors for a wrong secret, an unknown key and an expired token', () => {
    const good = req('/', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
    expect(verifySigV4(good, 'service', () => ({ secretAccessKey: SECRET }), now).ok).toBe(true);
    expect(verifySigV4(good, 'service', () => ({ secretAccessKey: 'other' }), now)).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
    expect(verifySigV4(good, 'service', () => null, now)).toMatchObject({ ok: false, code: 'UnrecognizedClientException' });
    expect(verifySigV4(good, 'firehose', () => ({ secretAccessKey: SECRET }), now)).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
    expect(verifySigV4(good, 'service', () => ({ secretAccessKey: SECRET }), now + 3600_000)).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
    const tampered = { ...good, url: '/?x=1' };
    expect(verifySigV4(tampered, 'service', () => ({ secretAccessKey: SECRET }), now)).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
  });
});
