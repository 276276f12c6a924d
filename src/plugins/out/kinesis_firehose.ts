/**
 * `@type kinesis_firehose` (awslabs/aws-fluent-plugin-kinesis 3.6.1) on the AWS SDK v3: each
 * flushed chunk is formatted record by record (./kinesis_firehose/encode.ts), split into
 * PutRecordBatch calls within the count and byte limits, and each batch is retried record by record
 * on partial failures (./kinesis_firehose/batch-retry.ts). Which records Firehose accepted is kept
 * with the chunk (its progress, persisted by file buffers), so when the chunk fails and
 * BufferedOutput retries it later, only the rest is sent: throttling costs time, not duplicates.
 *
 * Differences from the Ruby plugin (see README): records are formatted at flush time (chunks keep
 * `[time, record]`), so the default chunk key is `tag` (and `tag` is added to explicit chunk keys
 * when `<inject> tag_key` needs it); oversized records and records without
 * `data_key` go to @ERROR instead of being dropped; `max_record_size` defaults to Firehose's real
 * limit (1,024,000 bytes); `drop_failed_records_after_batch_request_retries` defaults to false; the
 * SDK's own retries are off; waits jitter ±12.5 % (Ruby: ±16.7 %).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PutRecordBatchCommand, type FirehoseClient } from '@aws-sdk/client-firehose';
import type { BufferedWriter, ChunkView } from '../../buffer/buffered-output.js';
import { checkPlaceholders } from '../../buffer/placeholders.js';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { errorMessage, RecordError, RetryableError } from '../../core/errors.js';
import type { Event } from '../../core/event-stream.js';
import { LogThrottle } from '../../core/log.js';
import { defineBufferedOutput, type BufferedPluginContext, type ValidationProblem } from '../../core/plugin.js';
import { createFormatter, formatParams } from '../../format/formatter.js';
import { createInjector, injectParamsWith, injectsTag } from '../../format/inject.js';
import { sendWithRetries, type CallResult, type Failure } from './kinesis_firehose/batch-retry.js';
import { DoneSet, splitBatches, type Pending } from './kinesis_firehose/batches.js';
import { createClient, errorCode, isThrottle, requestHandlerOptions, writeError } from './kinesis_firehose/client.js';
import { buildCredentials, credentialParams, type Credentials } from './kinesis_firehose/credentials.js';
import { createEncoder, truncate } from './kinesis_firehose/encode.js';

/** Firehose's per-record limit (1,000 KiB) and the plugin's maximum setting (1 MiB). */
export const FIREHOSE_RECORD_LIMIT = 1_024_000;
const PLUGIN_RECORD_MAX = 1_048_576;

export const params = defineParams({
  delivery_stream_name: p.string({ required: true, desc: 'Delivery stream; ${tag} and other buffer placeholders allowed (with matching chunk keys)' }),
  region: p.string({ default: null, desc: 'AWS region (default: AWS_REGION or the shared config profile)' }),
  append_new_line: p.bool({ default: true, desc: 'End each record with exactly one newline (after compression)' }),
  data_key: p.string({ default: null, desc: 'Send only this field of each record (no <format>, no <inject>)' }),
  chomp_record: p.bool({ default: false, desc: 'Remove a trailing newline from each record (with append_new_line false)' }),
  compression: p.string({ default: null, desc: 'zlib or gzip: compress each record (anything else: none)' }),
  log_truncate_max_size: p.integer({ default: 1024, min: 0, desc: 'Cut records quoted in log lines to this many characters (0: no limit)' }),
  max_record_size: p.size({ default: FIREHOSE_RECORD_LIMIT, min: 1, max: PLUGIN_RECORD_MAX, desc: 'Larger records (after formatting) are not sent: they go to @ERROR' }),
  retries_on_batch_request: p.integer({ default: 8, min: 0, desc: 'Retries of the failed records of one PutRecordBatch' }),
  reset_backoff_if_success: p.bool({ default: true, desc: 'Restart the batch backoff at 0.3 s after a response that accepted some records' }),
  batch_request_max_count: p.integer({ default: 500, min: 1, max: 500, desc: 'Records per PutRecordBatch' }),
  batch_request_max_size: p.size({ default: 4 * 1024 * 1024, min: 1, max: 4 * 1024 * 1024, desc: 'Data bytes per PutRecordBatch (before base64)' }),
  drop_failed_records_after_batch_request_retries: p.bool({ default: false, desc: 'After the batch retries, drop (to @ERROR, counted) what still fails instead of failing the chunk (Fluentd default: true)' }),
  monitor_num_of_batch_request_retries: p.bool({ default: false, desc: 'Count each batch retry into retry_count' }),
  endpoint: p.string({ default: null, desc: 'API endpoint override (VPC endpoint, LocalStack, a test endpoint)' }),
  endpoint_url: p.string({ default: null, desc: 'Same as endpoint' }),
  ssl_verify_peer: p.bool({ default: true, desc: 'Verify the endpoint\'s TLS certificate' }),
  http_proxy: p.string({ default: null, secret: true, desc: 'http:// proxy for API calls (CONNECT tunnel)' }),
  debug: p.bool({ default: false, desc: 'Log the SDK\'s request/response metadata at debug level' }),
  ...credentialParams,
  format: p.section({ desc: 'How each record is formatted (default @type json)' }, formatParams),
  inject: p.section({ desc: 'Add hostname, worker id, tag and time keys before formatting' }, injectParamsWith({ time_type: 'string', time_format: '%Y-%m-%dT%H:%M:%S.%N%z' })),
});
export type FirehoseConfig = ParamsOf<typeof params>;

/** What the output did, per instance (tests, monitor views). */
export class FirehoseStats {
  batch_requests = 0;
  records_sent = 0;
  bytes_sent = 0;
  batch_retries = 0;
  records_dropped = 0;
  records_oversized = 0;
  records_invalid = 0;
  /** Records that failed per error code (per-record codes and whole-call throttling), every attempt counted. */
  readonly failed_records = new Map<string, number>();

  countFailure(code: string, n: number): void {
    this.failed_records.set(code, (this.failed_records.get(code) ?? 0) + n);
  }
}

type Entry = Pending;

export class KinesisFirehoseOutput implements BufferedWriter {
  readonly stats = new FirehoseStats();
  private client: FirehoseClient | null = null;
  private region = '';
  private readonly credentials: Credentials;
  private readonly encode: ReturnType<typeof createEncoder>;
  private readonly abort = new AbortController();
  private readonly throttle = new LogThrottle();

  constructor(private readonly c: FirehoseConfig, private readonly ctx: BufferedPluginContext) {
    const compression = c.compression === 'zlib' || c.compression === 'gzip' ? c.compression : null;
    this.encode = createEncoder({
      dataKey: c.data_key,
      format: createFormatter(c.format, { type: 'json' }),
      inject: createInjector(c.inject, { hostname: ctx.hostname, workerId: ctx.workerId }),
      compression,
      appendNewLine: c.append_new_line,
      chompRecord: c.chomp_record,
    });
    this.credentials = buildCredentials(c, {
      region: c.region ?? undefined,
      log: ctx.log,
      stsRequestHandler: (proxy) => requestHandlerOptions(proxy ?? c.http_proxy, c.ssl_verify_peer),
    });
  }

  async start(): Promise<void> {
    if (this.client) return;
    const client = createClient({
      region: this.c.region ?? undefined,
      endpoint: this.c.endpoint_url ?? this.c.endpoint,
      sslVerifyPeer: this.c.ssl_verify_peer,
      httpProxy: this.c.http_proxy,
      credentials: this.credentials.provider,
      log: this.c.debug ? this.ctx.log : null,
    });
    try {
      this.region = await client.config.region();
    } catch {
      this.region = '';
    }
    if (!this.region) {
      client.destroy();
      throw new Error('kinesis_firehose: no AWS region: set region, or AWS_REGION, or region in the shared config profile');
    }
    this.client = client;
    this.ctx.log.info({ region: this.region, delivery_stream_name: this.c.delivery_stream_name, endpoint: this.c.endpoint_url ?? this.c.endpoint ?? 'default' }, 'kinesis_firehose output started');
    // resolve once now so the log says where the credentials come from; failures show here and at each write
    this.credentials.provider().catch((e: unknown) => {
      this.ctx.log.error({ source: this.credentials.describe(), region: this.region, error: errorMessage(e) }, 'could not load AWS credentials');
    });
  }

  close(): void {
    this.abort.abort();
    this.client?.destroy();
    this.client = null;
  }

  async write(chunk: ChunkView): Promise<void> {
    const client = this.client;
    if (!client) throw new RetryableError('kinesis_firehose output is not started');
    const stream = chunk.expand(this.c.delivery_stream_name);
    const tag = chunk.metadata.tag ?? '';
    const events = (await chunk.stream()).events();
    const done = new DoneSet(events.length, chunk.progress);
    const save = async () => {
      chunk.progress = done.toProgress(chunk.progress);
      await chunk.saveProgress();
    };
    const resumed = done.size;
    const pending: Entry[] = [];
    let settled = false;
    for (let i = 0; i < events.length; i++) {
      if (done.has(i)) continue;
      const e = events[i]!;
      const enc = this.encode(tag, e.time, e.record);
      if (!enc.ok) {
        this.invalid(tag, e, enc.reason);
      } else if (enc.data.length > this.c.max_record_size) {
        this.oversized(tag, e, enc.data);
      } else {
        pending.push({ index: i, data: enc.data });
        continue;
      }
      done.add(i);
      settled = true;
    }
    const bytes = pending.reduce((n, r) => n + r.data.length, 0);
    this.ctx.log.debug({ delivery_stream: stream, chunk: chunk.hexId, records: pending.length, kb: Math.round(bytes / 1024), already_done: resumed }, 'Write chunk');
    if (settled && pending.length > 0) await save(); // a retry must not send these to @ERROR again

    for (const batch of splitBatches(pending, this.c.batch_request_max_count, this.c.batch_request_max_size)) {
      const failed = await sendWithRetries(batch, (recs) => this.put(client, stream, recs, done, save), {
        retries: this.c.retries_on_batch_request,
        resetBackoffIfSuccess: this.c.reset_backoff_if_success,
        sleep: (sec) => sleep(sec * 1000, undefined, { signal: this.abort.signal }),
        onRetry: (n, records, waitSec) => this.retrying(n, records, waitSec),
      });
      if (failed.length > 0) await this.giveUp(tag, stream, events, failed, done, save);
    }
    this.ctx.log.debug({ delivery_stream: stream, chunk: chunk.hexId }, 'Finish writing chunk');
  }

  /** One PutRecordBatch: marks accepted records done (saved with the chunk), returns the failed ones. */
  private async put(client: FirehoseClient, stream: string, recs: Entry[], done: DoneSet, save: () => Promise<void>): Promise<CallResult<Entry>> {
    this.stats.batch_requests++;
    let res;
    try {
      res = await client.send(new PutRecordBatchCommand({ DeliveryStreamName: stream, Records: recs.map((r) => ({ Data: r.data })) }), { abortSignal: this.abort.signal });
    } catch (e) {
      if (!isThrottle(e) || this.abort.signal.aborted) throw writeError(e, { stream, region: this.region, credentials: this.credentials.describe() });
      const code = errorCode(e);
      this.stats.countFailure(code, recs.length);
      return { failed: recs.map((record) => ({ record, code, message: errorMessage(e) })), accepted: 0 };
    }
    const responses = res.RequestResponses ?? [];
    if (responses.length !== recs.length) {
      throw new RetryableError(`PutRecordBatch to delivery stream "${stream}" in region ${this.region} answered ${responses.length} results for ${recs.length} records`);
    }
    const failed: Array<Failure<Entry>> = [];
    let accepted = 0;
    for (let i = 0; i < recs.length; i++) {
      const r = responses[i]!;
      const rec = recs[i]!;
      if (r.ErrorCode) {
        failed.push({ record: rec, code: r.ErrorCode, message: r.ErrorMessage ?? '' });
        this.stats.countFailure(r.ErrorCode, 1);
      } else {
        done.add(rec.index);
        accepted++;
        this.stats.records_sent++;
        this.stats.bytes_sent += rec.data.length;
      }
    }
    if (accepted > 0 && failed.length > 0) await save();
    return { failed, accepted };
  }

  private retrying(n: number, records: number, waitSec: number): void {
    this.stats.batch_retries++;
    if (this.c.monitor_num_of_batch_request_retries) this.ctx.metrics.retry_count++;
    const line = `Retrying to request batch. Retry count: ${String(n).padStart(3)}, Retry records: ${String(records).padStart(3)}, Wait seconds ${waitSec.toFixed(2).padStart(3)}`;
    this.ctx.log.warn(line);
  }

  /** Records still failing after the batch retries: dropped (opt-in) or the chunk fails. */
  private async giveUp(tag: string, stream: string, events: Event[], failed: Array<Failure<Entry>>, done: DoneSet, save: () => Promise<void>): Promise<void> {
    const codes = [...new Set(failed.map((f) => f.code))];
    if (!this.c.drop_failed_records_after_batch_request_retries) {
      this.ctx.log.warn({ delivery_stream: stream, records: failed.length, error_codes: codes.join(',') }, 'records still failing after retries_on_batch_request; returning the chunk to the buffer (only records not yet accepted are sent again)');
      throw new RetryableError(`${failed.length} records to delivery stream "${stream}" in region ${this.region} still failed after ${this.c.retries_on_batch_request} batch retries (${failed[0]!.code}: ${failed[0]!.message})`);
    }
    for (const f of failed) {
      const e = events[f.record.index]!;
      if (this.throttle.shouldLog(`drop:${f.code}`)) {
        this.ctx.log.error({ delivery_stream: stream, record: truncate(f.record.data.toString('utf8'), this.c.log_truncate_max_size) }, `Could not put record, Error: ${f.code}/${f.message}`);
      }
      this.ctx.metrics.countDrop(`kinesis_firehose:${f.code}`);
      this.ctx.emitError(tag, e.time, e.record, new RecordError(`Could not put record to delivery stream "${stream}" after ${this.c.retries_on_batch_request} batch retries: ${f.code}/${f.message}`));
      done.add(f.record.index);
    }
    this.stats.records_dropped += failed.length;
    this.ctx.metrics.retry_count++; // Fluentd: num_errors += 1 per give-up
    await save();
  }

  private oversized(tag: string, e: Event, data: Buffer): void {
    this.stats.records_oversized++;
    this.ctx.metrics.countDrop('record_over_max_record_size');
    if (this.throttle.shouldLog(`oversize:${tag}`)) {
      this.ctx.log.warn({ tag, size: data.length, size_kb: Math.floor(data.length / 1024), max_record_size: this.c.max_record_size, record: truncate(data.toString('utf8'), this.c.log_truncate_max_size) }, 'Record size limit exceeded; the record is sent to @ERROR');
    }
    this.ctx.emitError(tag, e.time, e.record, new RecordError(`record of ${data.length} bytes after formatting is over max_record_size ${this.c.max_record_size}`));
  }

  private invalid(tag: string, e: Event, reason: string): void {
    this.stats.records_invalid++;
    this.ctx.metrics.countDrop('kinesis_firehose:invalid_record');
    if (this.throttle.shouldLog(`invalid:${reason}`)) this.ctx.log.error({ tag, record: truncate(JSON.stringify(e.record) ?? '', this.c.log_truncate_max_size) }, reason);
    this.ctx.emitError(tag, e.time, e.record, new RecordError(reason));
  }
}

export default defineBufferedOutput({
  type: 'kinesis_firehose',
  desc: 'Send events to Amazon Data Firehose (PutRecordBatch), retrying only the records that failed',
  params,
  // records are formatted at flush time: the tag must stay with the chunk for ${tag}, <inject> tag_key and @ERROR
  buffer: { chunkKeys: ['tag'], impliedTag: (c) => injectsTag(c.inject) },
  validate(c): ValidationProblem[] {
    const problems: ValidationProblem[] = [];
    if ((c.aws_key_id === null) !== (c.aws_sec_key === null)) problems.push({ param: c.aws_key_id ? 'aws_sec_key' : 'aws_key_id', message: 'aws_key_id and aws_sec_key must be given together' });
    if (c.aws_ses_token && !c.aws_key_id) problems.push({ param: 'aws_ses_token', message: 'needs aws_key_id and aws_sec_key' });
    if (c.endpoint && c.endpoint_url && c.endpoint !== c.endpoint_url) problems.push({ param: 'endpoint_url', message: 'endpoint and endpoint_url are the same setting; give one' });
    for (const [param, v] of [['endpoint', c.endpoint], ['endpoint_url', c.endpoint_url]] as const) {
      if (v !== null && !/^https?:\/\/[^/]/.test(v)) problems.push({ param, message: `must be an http:// or https:// URL, got ${JSON.stringify(v)}` });
    }
    if (c.http_proxy !== null && !/^http:\/\/[^/]/.test(c.http_proxy)) problems.push({ param: 'http_proxy', message: 'must be an http:// URL (https:// and socks proxies are not supported)' });
    if (c.compression !== null && c.compression !== 'zlib' && c.compression !== 'gzip') problems.push({ param: 'compression', message: `must be zlib or gzip, got ${JSON.stringify(c.compression)}` });
    if (c.delivery_stream_name.trim() === '') problems.push({ param: 'delivery_stream_name', message: 'must not be empty' });
    return problems;
  },
  create(c, ctx) {
    const keys = ctx.buffer.keys;
    const problems = checkPlaceholders(c.delivery_stream_name, keys);
    if (problems.length > 0) throw new Error(`delivery_stream_name: ${problems.join('; ')}`);
    return new KinesisFirehoseOutput(c, ctx);
  },
});
