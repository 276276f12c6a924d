/**
 * A local Amazon Data Firehose for tests and for trying a config without AWS: an HTTP server that
 * speaks AWS JSON 1.1 `Firehose_20150804.PutRecordBatch` (and STS `AssumeRole`, query protocol, for
 * role credentials), checks every SigV4 signature against the credentials it knows, stores what it
 * accepted per stream, and fails on purpose when told to: a fraction of the records of each call
 * (`ServiceUnavailableException` "Slow down."), whole calls (throttling, 5xx), slow answers, unknown
 * streams, expired credentials. Limits are Firehose's: ≤ 500 records and ≤ 4 MiB per call,
 * ≤ 1,024,000 bytes per record. With `tls` (a certificate and key, e.g. self-signed) it serves
 * HTTPS instead of HTTP, and counts the TLS handshakes clients broke off (`stats.tlsClientErrors`).
 *
 *   node --import tsx test/helpers/firehose-endpoint.ts --port 4573 [--region us-west-2]
 *        [--streams a,b] [--fail-rate 0.3] [--throttle-rate 0.1] [--server-error-rate 0.05]
 *        [--delay-ms 50] [--out DIR] [--role ARN --external-id ID --role-ttl SEC]
 *        [--tls-cert cert.pem --tls-key key.pem]
 *
 * Credentials it accepts: the test pair below, credentials it issued (STS AssumeRole, or
 * `GET /_endpoint/credentials?ttl=SEC`, credential_process JSON) until they expire.
 * `GET /_endpoint/streams`: records and bytes accepted per stream.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { seededRandom } from '../../src/core/random.js';
import { verifySigV4, type KnownCredential } from './sigv4.js';
import { assumeRole, stsError, type Role } from './sts-endpoint.js';

export const TEST_ACCESS_KEY_ID = 'AKIDLOGFERRYTEST0001';
export const TEST_SECRET_ACCESS_KEY = 'logferry/test/secret+key/0123456789abcdef';
export const RECORD_LIMIT = 1_024_000;
const CALL_LIMIT = 4 * 1024 * 1024;
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,64}$/;
const ACCOUNT = '123456789012';

export interface EndpointOptions {
  port?: number;
  host?: string;
  /** Streams that exist; undefined: any valid name exists. */
  streams?: string[];
  /** Extra long-lived credentials (the test pair is always known). */
  credentials?: Array<{ accessKeyId: string; secretAccessKey: string }>;
  /** Roles STS AssumeRole may hand out. */
  roles?: Role[];
  /** Keep record bytes (default true); false only counts them (benchmarks). */
  keepRecords?: boolean;
  /** Append accepted records to `<dir>/<stream>.log`. */
  outDir?: string | null;
  seed?: number;
  /** Serve HTTPS with this certificate (PEM) and key instead of HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

/** Failures on purpose; tests may change these at any time. */
export interface Faults {
  /** Fraction of the records of each call answered with `partialErrorCode`. */
  partialFailureRate: number;
  partialErrorCode: string;
  /** Fraction of calls refused whole with ThrottlingException (400). */
  throttleRate: number;
  /** Fraction of calls refused whole with ServiceUnavailableException (503). */
  serverErrorRate: number;
  /** The next N calls are refused whole with this error (a queue, consumed in order). */
  nextCalls: Array<'ThrottlingException' | 'ServiceUnavailableException' | 'InternalFailure' | 'LimitExceededException'>;
  /** Answer after this many milliseconds. */
  delayMs: number;
}

export interface EndpointStats {
  calls: number;
  acceptedRecords: number;
  failedRecords: number;
  /** Whole-call refusals by error code (auth, throttling, not found …). */
  refused: Map<string, number>;
  /** Accepted calls per access key id (shows credential refresh). */
  callsByKey: Map<string, number>;
  assumeRoleCalls: number;
  /** TLS handshakes a client broke off or that failed (HTTPS only), e.g. a client refusing the certificate. */
  tlsClientErrors: number;
  /** Records and data bytes of every call that reached a stream (accepted or partly failed). */
  batches: Array<{ stream: string; records: number; bytes: number }>;
}

const WHOLE_CALL: Record<string, number> = { ThrottlingException: 400, LimitExceededException: 400, ServiceUnavailableException: 503, InternalFailure: 500 };

export class FirehoseEndpoint {
  url = '';
  port = 0;
  readonly faults: Faults = { partialFailureRate: 0, partialErrorCode: 'ServiceUnavailableException', throttleRate: 0, serverErrorRate: 0, nextCalls: [], delayMs: 0 };
  readonly stats: EndpointStats = { calls: 0, acceptedRecords: 0, failedRecords: 0, refused: new Map(), callsByKey: new Map(), assumeRoleCalls: 0, tlsClientErrors: 0, batches: [] };
  private readonly records = new Map<string, Buffer[]>();
  private readonly counts = new Map<string, { records: number; bytes: number }>();
  private readonly known = new Map<string, KnownCredential>();
  private readonly roles = new Map<string, Role>();
  private streams: Set<string> | null;
  private readonly random: () => number;
  private server: Server | null = null;

  constructor(private readonly o: EndpointOptions = {}) {
    this.streams = o.streams ? new Set(o.streams) : null;
    this.random = seededRandom(o.seed ?? 1); // failure patterns repeat
    this.known.set(TEST_ACCESS_KEY_ID, { secretAccessKey: TEST_SECRET_ACCESS_KEY });
    for (const c of o.credentials ?? []) this.known.set(c.accessKeyId, { secretAccessKey: c.secretAccessKey });
    for (const r of o.roles ?? []) this.roles.set(r.arn, r);
    if (o.outDir) mkdirSync(o.outDir, { recursive: true });
  }

  async start(): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    const tls = this.o.tls;
    const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : createServer(handler);
    if (tls) server.on('tlsClientError', () => void this.stats.tlsClientErrors++);
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.url = `${this.o.tls ? 'https' : 'http'}://${this.o.host ?? '127.0.0.1'}:${this.port}`;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  addStream(name: string): void {
    (this.streams ??= new Set()).add(name);
  }

  /** Accepted records of a stream, in arrival order. */
  recordsOf(stream: string): Buffer[] {
    return this.records.get(stream) ?? [];
  }

  /** Accepted records of a stream as UTF-8 text. */
  linesOf(stream: string): string[] {
    return this.recordsOf(stream).map((b) => b.toString('utf8'));
  }

  /** Records and bytes accepted per stream (also when keepRecords is false). */
  countOf(stream: string): { records: number; bytes: number } {
    return this.counts.get(stream) ?? { records: 0, bytes: 0 };
  }

  /** Issues temporary credentials (as STS would) that expire after `ttlSec`. */
  issueCredentials(ttlSec: number): { accessKeyId: string; secretAccessKey: string; sessionToken: string; expiration: Date } {
    const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(30).toString('base64');
    const sessionToken = randomBytes(48).toString('base64');
    const expiration = new Date(Date.now() + ttlSec * 1000);
    this.known.set(accessKeyId, { secretAccessKey, sessionToken, expiresAtMs: expiration.getTime() });
    return { accessKeyId, secretAccessKey, sessionToken, expiration };
  }

  private refuse(res: ServerResponse, status: number, code: string, message: string): void {
    this.stats.refused.set(code, (this.stats.refused.get(code) ?? 0) + 1);
    const body = JSON.stringify({ __type: code, message });
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code, 'x-amzn-requestid': randomBytes(16).toString('hex'), 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method === 'GET' && req.url === '/_endpoint/streams') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(Object.fromEntries(this.counts)));
      return;
    }
    if (req.method === 'GET' && req.url?.startsWith('/_endpoint/credentials')) {
      // fresh temporary credentials in credential_process format (for <process_credentials> tests)
      const c = this.issueCredentials(Number(new URL(req.url, 'http://x').searchParams.get('ttl') ?? 3600));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ Version: 1, AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, SessionToken: c.sessionToken, Expiration: c.expiration.toISOString() }));
      return;
    }
    const signed = { method: req.method ?? 'GET', url: req.url ?? '/', rawHeaders: req.rawHeaders, body };
    const target = String(req.headers['x-amz-target'] ?? '');
    const lookup = (id: string) => this.known.get(id) ?? null;
    if (!target && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      const q = new URLSearchParams(body.toString('utf8'));
      if (q.get('Action') !== 'AssumeRoleWithWebIdentity') { // the one STS call that is not signed
        const v = verifySigV4(signed, 'sts', lookup);
        if (!v.ok) return stsError(res, v.status, v.code, v.message);
      }
      this.stats.assumeRoleCalls++;
      return assumeRole(res, q, this.roles, (ttl) => this.issueCredentials(ttl));
    }
    const v = verifySigV4(signed, 'firehose', lookup);
    if (!v.ok) return this.refuse(res, v.status, v.code, v.message);
    if (this.faults.delayMs > 0) await new Promise((r) => setTimeout(r, this.faults.delayMs));
    if (target !== 'Firehose_20150804.PutRecordBatch') return this.refuse(res, 400, 'UnknownOperationException', `operation ${target} is not supported by this test endpoint`);
    let input: { DeliveryStreamName?: string; Records?: Array<{ Data?: string }> };
    try {
      input = JSON.parse(body.toString('utf8')) as typeof input;
    } catch {
      return this.refuse(res, 400, 'SerializationException', 'body is not JSON');
    }
    this.putRecordBatch(res, input, v.auth.accessKeyId);
  }

  private putRecordBatch(res: ServerResponse, input: { DeliveryStreamName?: string; Records?: Array<{ Data?: string }> }, keyId: string): void {
    const name = input.DeliveryStreamName ?? '';
    const records = input.Records ?? [];
    if (!STREAM_NAME.test(name)) return this.refuse(res, 400, 'ValidationException', `1 validation error detected: Value '${name}' at 'deliveryStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+`);
    if (records.length < 1 || records.length > 500) return this.refuse(res, 400, 'ValidationException', `1 validation error detected: Value '[${records.length} records]' at 'records' failed to satisfy constraint: Member must have length between 1 and 500`);
    const data = records.map((r) => Buffer.from(r.Data ?? '', 'base64'));
    const big = data.findIndex((d) => d.length > RECORD_LIMIT);
    if (big >= 0) return this.refuse(res, 400, 'ValidationException', `1 validation error detected: Value at 'records.${big + 1}.member.data' failed to satisfy constraint: Member must have length less than or equal to ${RECORD_LIMIT}`);
    if (data.reduce((n, d) => n + d.length, 0) > CALL_LIMIT) return this.refuse(res, 400, 'InvalidArgumentException', 'Records size exceeds 4 MiB limit');
    if (this.streams && !this.streams.has(name)) return this.refuse(res, 400, 'ResourceNotFoundException', `Firehose ${name} under account ${ACCOUNT} not found.`);
    this.stats.calls++;
    this.stats.batches.push({ stream: name, records: data.length, bytes: data.reduce((n, b) => n + b.length, 0) });
    const forced = this.faults.nextCalls.shift();
    const whole = forced ?? (this.random() < this.faults.throttleRate ? 'ThrottlingException' : this.random() < this.faults.serverErrorRate ? 'ServiceUnavailableException' : null);
    if (whole) return this.refuse(res, WHOLE_CALL[whole] ?? 400, whole, whole === 'ServiceUnavailableException' ? 'Slow down.' : 'Rate exceeded for stream ' + name);
    this.stats.callsByKey.set(keyId, (this.stats.callsByKey.get(keyId) ?? 0) + 1);
    const responses: Array<Record<string, string>> = [];
    let failed = 0;
    const kept = this.records.get(name) ?? [];
    const count = this.counts.get(name) ?? { records: 0, bytes: 0 };
    let out = '';
    for (const d of data) {
      if (this.faults.partialFailureRate > 0 && this.random() < this.faults.partialFailureRate) {
        failed++;
        responses.push({ ErrorCode: this.faults.partialErrorCode, ErrorMessage: 'Slow down.' });
        continue;
      }
      if (this.o.keepRecords !== false) kept.push(d);
      if (this.o.outDir) out += d.toString('utf8');
      count.records++;
      count.bytes += d.length;
      responses.push({ RecordId: randomBytes(42).toString('base64') });
    }
    this.records.set(name, kept);
    this.counts.set(name, count);
    if (out) appendFileSync(join(this.o.outDir!, `${name}.log`), out);
    this.stats.acceptedRecords += data.length - failed;
    this.stats.failedRecords += failed;
    const body = JSON.stringify({ Encrypted: false, FailedPutCount: failed, RequestResponses: responses });
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomBytes(16).toString('hex'), 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const ep = new FirehoseEndpoint({
    port: Number(arg(argv, 'port') ?? 4573),
    host: arg(argv, 'host') ?? '127.0.0.1',
    streams: arg(argv, 'streams')?.split(',').filter(Boolean),
    keepRecords: false,
    outDir: arg(argv, 'out') ?? null,
    roles: arg(argv, 'role') ? [{ arn: arg(argv, 'role')!, externalId: arg(argv, 'external-id'), ttlSec: Number(arg(argv, 'role-ttl') ?? 3600) }] : [],
    tls: arg(argv, 'tls-cert') ? { cert: readFileSync(arg(argv, 'tls-cert')!), key: readFileSync(arg(argv, 'tls-key') ?? arg(argv, 'tls-cert')!) } : undefined,
  });
  ep.faults.partialFailureRate = Number(arg(argv, 'fail-rate') ?? 0);
  ep.faults.throttleRate = Number(arg(argv, 'throttle-rate') ?? 0);
  ep.faults.serverErrorRate = Number(arg(argv, 'server-error-rate') ?? 0);
  ep.faults.delayMs = Number(arg(argv, 'delay-ms') ?? 0);
  await ep.start();
  process.stdout.write(`firehose test endpoint on ${ep.url} (region: any)\n`
    + `  credentials: AWS_ACCESS_KEY_ID=${TEST_ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY=${TEST_SECRET_ACCESS_KEY}\n`
    + `  in fluent.conf: endpoint_url ${ep.url}; counts: GET ${ep.url}/_endpoint/streams\n`);
  const timer = setInterval(() => {
    const s = ep.stats;
    process.stdout.write(`calls=${s.calls} accepted=${s.acceptedRecords} failed=${s.failedRecords} refused=${JSON.stringify(Object.fromEntries(s.refused))}\n`);
  }, 5000);
  const stop = () => { clearInterval(timer); void ep.close().then(() => process.exit(0)); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main(process.argv.slice(2));
