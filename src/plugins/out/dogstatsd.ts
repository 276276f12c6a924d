/**
 * `@type dogstatsd` (fluent-plugin-dogstatsd): a buffered output that turns each event into a
 * DogStatsD metric (or event) and sends it over UDP. Datagrams are built in ./dogstatsd/format.ts to
 * match the Ruby plugin byte for byte; hot-shots is the transport, configured so it adds nothing:
 * no `DD_*` environment tags, no origin detection, no client telemetry, no aggregation, no
 * batching of its own (`maxBufferSize 0`: we batch, 50 lines and `max_datagram_size` bytes).
 *
 * Unlike Ruby (which swallows send errors), a datagram the socket could not send (DNS failure,
 * EMSGSIZE, closed socket) fails the write so BufferedOutput retries the chunk; datagrams of that
 * chunk already sent are sent again.
 */
import StatsD from 'hot-shots';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { errorMessage, RetryableError } from '../../core/errors.js';
import { LogThrottle } from '../../core/log.js';
import { defineBufferedOutput, type BufferedPluginContext } from '../../core/plugin.js';
import type { BufferedWriter, ChunkView } from '../../buffer/buffered-output.js';
import { DatagramBatcher, formatRecord, METRIC_TYPES, tagText, type FormatOptions } from './dogstatsd/format.js';
import { PLAIN_STATSD_OPTIONS } from '../../metrics/statsd-options.js';

const LINES_PER_DATAGRAM = 50;
/** hot-shots' global-tag environment variables and the tag names it gives them. */
const DD_ENV_TAGS: Array<[string, string]> = [['DD_ENTITY_ID', 'dd.internal.entity_id'], ['DD_ENV', 'env'], ['DD_SERVICE', 'service'], ['DD_VERSION', 'version']];

export const params = defineParams({
  host: p.string({ default: null, desc: 'DogStatsD host (default 127.0.0.1)' }),
  port: p.integer({ default: null, min: 1, max: 65535, desc: 'DogStatsD UDP port (default 8125)' }),
  use_tag_as_key: p.bool({ default: false, desc: 'Metric name = event tag (the record\'s key field is then kept)' }),
  use_tag_as_key_if_missing: p.bool({ default: false, desc: 'Use the tag only when the record has no key field' }),
  flat_tags: p.bool({ default: false, desc: 'Every field left in the record becomes a k:v tag' }),
  flat_tag: p.bool({ default: false, deprecated: 'use flat_tags', desc: 'Obsolete spelling of flat_tags' }),
  metric_type: p.enum(METRIC_TYPES, { default: null, desc: 'Force the metric type (otherwise the record\'s type field)' }),
  value_key: p.string({ default: null, desc: 'Field holding the value (default value)' }),
  sample_rate: p.float({ default: null, min: 0, max: 1, desc: 'Force the sample rate (otherwise the record\'s sample_rate field); below 1 drops randomly and adds |@rate' }),
  key: p.string({ default: null, desc: 'logferry: fixed metric name; may use ${tag}, ${tag[N]}, ${field} and ${$.a.b} placeholders' }),
  namespace: p.string({ default: null, desc: 'logferry: prefix every metric name with this and a dot (the Ruby plugin has none)' }),
  include_datadog_tags: p.bool({ default: false, desc: 'logferry: add env/service/version/dd.internal.entity_id tags from DD_ENV, DD_SERVICE, DD_VERSION, DD_ENTITY_ID' }),
  max_datagram_size: p.size({ default: 8192, min: 512, max: 65507, desc: 'logferry: bytes per UDP datagram (the Agent reads 8192; 1432 is safe across networks)' }),
});
export type DogstatsdConfig = ParamsOf<typeof params>;

/** Tags hot-shots would add from the environment, in its order. */
export function datadogEnvTags(env: NodeJS.ProcessEnv): string[] {
  return DD_ENV_TAGS.filter(([k]) => env[k]).map(([k, name]) => tagText(name, env[k]));
}

/** What we use of hot-shots beyond its types: the send path every hot-shots datagram takes. */
interface RawSender {
  sendMessage(message: string, callback: (err?: Error | null) => void): void;
  close(callback?: (err?: Error) => void): void;
}

export class DogstatsdOutput implements BufferedWriter {
  private client: RawSender | null = null;
  private closed = false;
  private readonly format: FormatOptions;
  private readonly throttle = new LogThrottle();
  /** Datagrams sent, and records skipped (by reason), for tests and metrics. */
  datagrams_sent = 0;
  readonly skipped = new Map<string, number>();

  constructor(private readonly c: DogstatsdConfig, private readonly ctx: BufferedPluginContext) {
    this.format = {
      key: c.key,
      useTagAsKey: c.use_tag_as_key,
      useTagAsKeyIfMissing: c.use_tag_as_key_if_missing,
      flatTags: c.flat_tags || c.flat_tag,
      metricType: c.metric_type,
      valueKey: c.value_key ?? 'value',
      sampleRate: c.sample_rate,
      namespace: c.namespace,
      globalTags: c.include_datadog_tags ? datadogEnvTags(process.env) : [],
      random: Math.random,
    };
  }

  /** True from start until close: the hot-shots client and its UDP socket exist. */
  get open(): boolean {
    return this.client !== null;
  }

  start(): void {
    if (this.client || this.closed) return;
    const client = new StatsD({
      host: this.c.host ?? '127.0.0.1',
      port: this.c.port ?? 8125,
      ...PLAIN_STATSD_OPTIONS,
      maxBufferSize: 0,
      errorHandler: (e: Error) => {
        if (this.throttle.shouldLog('socket')) this.ctx.log.warn({ error: errorMessage(e) }, 'dogstatsd socket error');
      },
    }) as unknown as RawSender;
    if (typeof client.sendMessage !== 'function') throw new Error('this hot-shots version has no sendMessage; logferry needs hot-shots 17');
    this.client = client;
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = null;
    if (client) await new Promise<void>((resolve) => client.close(() => resolve()));
  }

  async write(chunk: ChunkView): Promise<void> {
    const client = this.client;
    if (!client) throw new RetryableError('dogstatsd client is not started');
    const tag = chunk.metadata.tag ?? '';
    const sends: Array<Promise<void>> = [];
    const send = (d: string) => {
      sends.push(new Promise<void>((resolve, reject) => client.sendMessage(d, (err) => (err ? reject(err) : resolve()))));
    };
    const batch = new DatagramBatcher(LINES_PER_DATAGRAM, this.c.max_datagram_size, send);
    for (const e of (await chunk.stream()).events()) {
      const f = formatRecord(tag, e.record, this.format);
      if (f.kind === 'line') {
        if (!batch.add(f.text)) this.skip(tag, `metric line over max_datagram_size ${this.c.max_datagram_size}`);
      } else if (f.kind === 'event') {
        if (Buffer.byteLength(f.text) > this.c.max_datagram_size) this.skip(tag, `event over max_datagram_size ${this.c.max_datagram_size}`);
        else send(f.text); // events bypass the batch, as in dogstatsd-ruby
      } else if (f.kind === 'skip') {
        this.skip(tag, f.reason);
      }
    }
    batch.flush();
    const results = await Promise.allSettled(sends);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    this.datagrams_sent += results.length - failed.length;
    if (failed.length > 0) {
      throw new RetryableError(`${failed.length} of ${results.length} dogstatsd datagrams could not be sent: ${errorMessage(failed[0]!.reason)}`);
    }
  }

  private skip(tag: string, reason: string): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
    this.ctx.metrics.countDrop('dogstatsd_skipped');
    if (this.throttle.shouldLog(reason)) this.ctx.log.warn({ tag, reason }, 'skip this record');
  }
}

export default defineBufferedOutput({
  type: 'dogstatsd',
  desc: 'Send events as DogStatsD metrics or events over UDP',
  params,
  // one chunk per tag: metric names and the Ruby plugin's per-event tag come from it. flush_interval
  // keeps the <buffer> default (60 s, as the v0.12 plugin); retry_limit 17 was its retry default
  buffer: { chunkKeys: ['tag'], requiredKeys: ['tag'], defaults: { retry_max_times: 17 } },
  create: (c, ctx) => new DogstatsdOutput(c, ctx),
});
