/**
 * `@type http`: events over HTTP, as Fluentd's in_http. The URL path is the tag (`/app/log` ⇒
 * `app.log`); records come from `json=` / `ndjson=` / `msgpack=` parameters (query string or form
 * body) or from a JSON, ndjson or msgpack body. A request is answered once its events are buffered.
 */
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { EmitError, errorMessage, ProtocolError } from '../../core/errors.js';
import { EventStream, type Event } from '../../core/event-stream.js';
import { claimListener, handoverActive, releaseListener, type ListenSpec } from '../../core/listeners.js';
import { LogThrottle } from '../../core/log.js';
import { defineInput, type InputInstance, type PluginContext, type ValidationProblem } from '../../core/plugin.js';
import { decodeBody, DecompressedTooLarge, readBody } from './http/body.js';
import { originAllowed } from './http/cors.js';
import { parseQuery, requestParams, splitTarget, tagFromPath, type Params } from './http/form.js';
import { eventTime, extractRecords, PARSER_TYPES, type RecordOptions } from './http/records.js';

export const params = defineParams({
  port: p.integer({ default: 9880, min: 0, max: 65535, desc: 'Port to listen on' }),
  bind: p.string({ default: '0.0.0.0', desc: 'Address to listen on' }),
  body_size_limit: p.size({ default: 32 * 1024 * 1024, min: 0, desc: 'Largest request body accepted; a larger one is answered 413' }),
  decompression_size_limit: p.size({ default: 256 * 1024 * 1024, min: 0, desc: 'Largest gzip/deflate body after decompression; a larger one is answered 413' }),
  keepalive_timeout: p.time({ default: 10, min: 0, desc: 'Close a kept-alive connection idle for this long (seconds)' }),
  backlog: p.integer({ default: null, min: 1, desc: 'Listen backlog (system default when unset)' }),
  add_http_headers: p.bool({ default: false, desc: 'Add every request header to the record as HTTP_<NAME>' }),
  add_remote_addr: p.bool({ default: false, desc: 'Add REMOTE_ADDR: the first X-Forwarded-For entry, else the peer address' }),
  add_query_params: p.bool({ default: false, desc: 'Add every query parameter to the record as QUERY_<NAME>' }),
  cors_allow_origins: p.array({ default: null, desc: 'Enable CORS for these origins (`*` for any; an entry may hold one `*` wildcard)' }),
  cors_allow_credentials: p.bool({ default: false, desc: 'Send Access-Control-Allow-Credentials (needs explicit origins)' }),
  respond_with_empty_img: p.bool({ default: false, desc: 'Answer a successful request with a 1x1 GIF' }),
  use_204_response: p.bool({ default: false, desc: 'Answer a successful request with 204 No Content' }),
  dump_error_log: p.bool({ default: true, desc: 'Log requests answered 400 or 500' }),
  add_tag_prefix: p.string({ default: null, desc: 'Prefix the tag: <prefix>.<tag>' }),
  blocking_timeout: p.time({ default: 0.5, desc: 'Accepted for compatibility with Fluentd; has no effect' }),
  parse: p.section({ desc: 'How the body is read (default @type in_http: json= / ndjson= / msgpack= parameters); another @type reads the raw body' }, {
    '@type': p.enum(PARSER_TYPES, { default: 'in_http', desc: 'in_http, json, msgpack or none' }),
    time_key: p.string({ default: 'time', desc: 'Record field holding the event time (numeric epoch seconds)' }),
    keep_time_key: p.bool({ default: false, desc: 'Keep the time field in the record' }),
    message_key: p.string({ default: 'message', desc: 'none: the field the body goes into' }),
  }),
  transport: p.section({ desc: 'Transport (tcp only; TLS is not supported)', argDesc: 'tcp' }, {}),
});
export type HttpConfig = ParamsOf<typeof params>;

/** A transparent 1x1 GIF, as Fluentd answers with `respond_with_empty_img`. */
const EMPTY_GIF = Buffer.from('47494638396101000100' + '80ff00ffffff000000' + '2c00000000010001000002024401003b', 'hex');

interface Reply {
  status: number;
  headers: OutgoingHttpHeaders;
  body: string | Buffer;
  /** Close the connection after answering. */
  close?: boolean;
}

const REASONS: Record<number, string> = { 413: 'Request Entity Too Large' };

function reply(status: number, body: string | Buffer = '', headers: OutgoingHttpHeaders = {}, close = false): Reply {
  return { status, headers, body, close };
}

const ERROR_REASONS = { 400: '400 Bad Request', 500: '500 Internal Server Error', 503: '503 Service Unavailable' };

function errorReply(status: 400 | 500 | 503, message: string, close = false): Reply {
  const headers: OutgoingHttpHeaders = status === 503 ? { 'Retry-After': '1' } : {};
  return reply(status, `${ERROR_REASONS[status]}\n${message}\n`, headers, close);
}

/** A full buffer is a temporary refusal (503, retry later); any other emit failure is a 500. */
function isBufferFull(e: unknown): boolean {
  const cause = e instanceof EmitError ? e.cause_ : e;
  return (cause as { code?: string } | null)?.code === 'LF_BUFFER_OVERFLOW';
}

const TOO_LARGE = reply(413, 'Too large', {}, true);
/** How long the rest of a too-large body is read and dropped before the connection is closed. */
const LINGER_MS = 5000;

function peerAddress(socket: Socket): string | null {
  const a = socket.remoteAddress;
  if (a === undefined) return null;
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The handlers a reload moves from the old input to the new one (core/listeners.ts). */
const SERVER_EVENTS = ['request', 'checkContinue', 'checkExpectation', 'clientError', 'error'];

export class HttpInput implements InputInstance {
  private server: Server | null = null;
  private closed: Promise<void> | null = null;
  /** Requests being answered (a reload waits for them before the old pipeline stops). */
  private readonly inflight = new Set<Promise<void>>();
  private readonly throttle = new LogThrottle();
  private readonly records: RecordOptions;
  /** Client connections accepted by this input and still open (the metrics registry reads the count). */
  private readonly sockets = new Set<Socket>();

  constructor(private readonly c: HttpConfig, private readonly ctx: PluginContext) {
    this.records = {
      parser: c.parse?.['@type'] ?? 'in_http',
      timeKey: c.parse?.time_key ?? 'time',
      keepTimeKey: c.parse?.keep_time_key ?? false,
      messageKey: c.parse?.message_key ?? 'message',
    };
  }

  get open_connections(): number {
    return this.sockets.size;
  }

  private get spec(): ListenSpec {
    return { proto: 'tcp', address: this.c.bind, port: this.c.port };
  }

  /** The port listened on (the configured one, or the ephemeral one with port 0); 0 before start. */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const claimed = await claimListener<Server>(this.spec, 'http'); // reload: the previous pipeline's socket and keep-alive connections
    const server = claimed?.handle ?? createServer();
    server.on('request', (req, res) => this.serve(req, res));
    server.on('connection', (s: Socket) => { this.sockets.add(s); s.once('close', () => this.sockets.delete(s)); });
    this.server = server;
    const secs = this.c.keepalive_timeout;
    server.keepAliveTimeout = secs > 0 ? secs * 1000 : 1000;
    server.on('checkContinue', (req, res) => {
      if (Number(req.headers['content-length']) > this.c.body_size_limit) {
        this.ctx.metrics.countReject('body_too_large');
        this.send(res, TOO_LARGE);
        return;
      }
      res.writeContinue();
      this.serve(req, res);
    });
    server.on('checkExpectation', (_req, res) => this.send(res, reply(417, '', {}, true)));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    if (!claimed) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: this.c.port, host: this.c.bind, backlog: this.c.backlog ?? undefined }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
    server.on('error', (err) => this.ctx.log.error({ error: errorMessage(err) }, 'http server error'));
    claimed?.resume();
    const bound = server.address();
    this.ctx.log.info({ port: bound && typeof bound === 'object' ? bound.port : this.c.port, bind: this.c.bind }, 'listening port');
  }

  async stop(): Promise<void> {
    if (!this.server || this.closed) return;
    const server = this.server;
    if (handoverActive()) {
      // reload: the socket (and its keep-alive connections) go to the next pipeline; requests under way finish here
      this.server = null;
      await releaseListener(this.spec, 'http', server, SERVER_EVENTS, () => new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      return;
    }
    this.closed = new Promise((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
  }

  async close(): Promise<void> {
    if (!this.server) return;
    await this.stop();
    this.server?.closeAllConnections();
    await this.closed;
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const peer = peerAddress(socket);
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
      this.ctx.metrics.countReject('bad_http');
      if (this.throttle.shouldLog(`client:${peer}`)) this.ctx.log.warn({ peer, error: errorMessage(err) }, 'bad HTTP request, closing connection');
    }
    // answer only when no response is under way on this socket (Node's own default does the same)
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroySoon();
  }

  /** Answers one request; never throws. */
  private serve(req: IncomingMessage, res: ServerResponse): void {
    const done = this.handle(req, res).then(
      (r) => this.send(res, r),
      (e: unknown) => {
        this.ctx.log.error({ error: errorMessage(e) }, 'unexpected error while handling a request');
        this.send(res, errorReply(500, errorMessage(e), true));
      },
    );
    this.inflight.add(done);
    void done.finally(() => this.inflight.delete(done));
  }

  private send(res: ServerResponse, r: Reply | null): void {
    if (r === null || res.headersSent || res.destroyed) return;
    res.statusCode = r.status;
    const reason = REASONS[r.status];
    if (reason) res.statusMessage = reason;
    const headers: OutgoingHttpHeaders = r.status === 204 ? { ...r.headers } : { 'Content-Type': 'text/plain', ...r.headers };
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) res.setHeader(k, v);
    if (r.status !== 204) res.setHeader('Content-Length', Buffer.byteLength(r.body));
    if (r.close) res.setHeader('Connection', 'close');
    res.end(r.status === 204 ? undefined : r.body);
  }

  /** The reply to one request, or null when its connection is gone. */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<Reply | null> {
    const c = this.c;
    if (Number(req.headers['content-length']) > c.body_size_limit) return this.tooLarge(req, res);
    const read = await readBody(req, c.body_size_limit);
    if (read.kind === 'aborted' || res.destroyed) return null;
    if (read.kind === 'too_large') return this.tooLarge(req, res);

    if (req.method === 'GET') return reply(200, '', {}, true);
    const origin = header(req, 'origin');
    if (req.method === 'OPTIONS') return this.preflight(req, origin);
    const cors = c.cors_allow_origins;
    if (cors !== null && origin !== undefined && !cors.includes('*') && !originAllowed(cors, origin)) {
      return this.reject('cors_origin', reply(403, '', {}, true));
    }

    let body: Buffer;
    try {
      body = await decodeBody(read.body, header(req, 'content-encoding') ?? '', c.decompression_size_limit);
    } catch (e) {
      if (e instanceof DecompressedTooLarge) return this.reject('body_too_large', TOO_LARGE);
      this.logError('failed to decode payload', req, e);
      return this.reject('bad_encoding', errorReply(400, `failed to decode payload: ${errorMessage(e)}`, true));
    }

    const { path, query } = splitTarget(req.url ?? '/');
    const r = await this.process(req, path, query, body);
    return { ...r, headers: { ...r.headers, ...this.corsHeaders(origin) } };
  }

  /** Parses, emits and picks the success answer. */
  private async process(req: IncomingMessage, path: string, query: string, body: Buffer): Promise<Reply> {
    const c = this.c;
    const params = this.records.parser === 'in_http' ? requestParams(query, header(req, 'content-type') ?? '', body) : requestParams(query, '', body);
    let tag = tagFromPath(path);
    if (c.add_tag_prefix !== null) tag = `${c.add_tag_prefix}.${tag}`;
    let events: Event[];
    try {
      events = this.toEvents(req, params, query, body);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.logError('failed to process request', req, e);
      return this.reject('bad_request', errorReply(400, e.message));
    }
    if (events.length > 0) {
      try {
        await this.ctx.emit(tag, EventStream.fromEvents(events));
        this.ctx.metrics.countEmit(events.length);
      } catch (e) {
        this.logError('failed to emit data', req, e);
        return errorReply(isBufferFull(e) ? 503 : 500, errorMessage(e));
      }
    }
    if (c.respond_with_empty_img) return reply(200, EMPTY_GIF, { 'Content-Type': 'image/gif; charset=utf-8' });
    if (c.use_204_response) return reply(204);
    return reply(200);
  }

  private toEvents(req: IncomingMessage, params: Params, query: string, body: Buffer): Event[] {
    const records = extractRecords(params, body, this.records);
    if (records.length === 0) return [];
    const extra = this.extraFields(req, query);
    const timeParam = params.get('time');
    return records.map((record) => {
      Object.assign(record, extra);
      return { time: eventTime(record, timeParam, this.records), record };
    });
  }

  /** HTTP_*, QUERY_* and REMOTE_ADDR fields, as configured. */
  private extraFields(req: IncomingMessage, query: string): Record<string, unknown> {
    const c = this.c;
    const extra: Record<string, unknown> = {};
    if (c.add_http_headers) {
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
        const key = `HTTP_${req.rawHeaders[i]!.replace(/-/g, '_').toUpperCase()}`;
        const value = req.rawHeaders[i + 1]!;
        const prev = extra[key];
        extra[key] = prev === undefined ? value : Array.isArray(prev) ? [...(prev as string[]), value] : [prev, value];
      }
    }
    if (c.add_query_params) {
      for (const [k, v] of parseQuery(Buffer.from(query, 'latin1'))) extra[`QUERY_${k.replace(/-/g, '_').toUpperCase()}`] = v.toString('utf8');
    }
    if (c.add_remote_addr) {
      const forwarded = header(req, 'x-forwarded-for')?.split(',')[0]?.trim();
      extra.REMOTE_ADDR = forwarded || peerAddress(req.socket);
    }
    return extra;
  }

  /** CORS preflight: 200 with the Access-Control headers, or 403. Always closes, as Fluentd. */
  private preflight(req: IncomingMessage, origin: string | undefined): Reply {
    const cors = this.c.cors_allow_origins;
    if (cors === null || header(req, 'access-control-request-method') !== 'POST') return reply(403, '', {}, true);
    const allow = this.corsHeaders(origin);
    if (!allow['Access-Control-Allow-Origin']) return reply(403, '', {}, true);
    return reply(200, '', {
      'Access-Control-Allow-Methods': 'POST',
      'Access-Control-Allow-Headers': header(req, 'access-control-request-headers') ?? '',
      ...allow,
    }, true);
  }

  private corsHeaders(origin: string | undefined): OutgoingHttpHeaders {
    const cors = this.c.cors_allow_origins;
    if (cors === null) return {};
    if (cors.includes('*')) return { 'Access-Control-Allow-Origin': '*' };
    if (!originAllowed(cors, origin)) return {};
    return this.c.cors_allow_credentials
      ? { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true' }
      : { 'Access-Control-Allow-Origin': origin };
  }

  /**
   * 413 for a body still arriving. Nothing more of it is kept, but it is read and dropped until the
   * client stops sending (at most LINGER_MS) before the connection closes: closing with unread bytes
   * makes the kernel send a reset, and the client then sees EPIPE instead of the answer.
   */
  private tooLarge(req: IncomingMessage, res: ServerResponse): null {
    this.ctx.metrics.countReject('body_too_large');
    if (res.headersSent || res.destroyed) return null;
    res.writeHead(413, REASONS[413], { 'Content-Type': 'text/plain', 'Content-Length': TOO_LARGE.body.length, Connection: 'close' });
    res.write(TOO_LARGE.body);
    const finish = () => {
      clearTimeout(timer);
      res.end();
    };
    const timer = setTimeout(finish, LINGER_MS).unref();
    req.once('end', finish);
    req.once('close', finish);
    req.resume();
    return null;
  }

  private reject(reason: string, r: Reply): Reply {
    this.ctx.metrics.countReject(reason);
    return r;
  }

  private logError(msg: string, req: IncomingMessage, e: unknown): void {
    if (!this.c.dump_error_log) return;
    const peer = peerAddress(req.socket);
    if (this.throttle.shouldLog(`${msg}:${peer}`)) this.ctx.log.error({ peer, path: req.url, error: errorMessage(e) }, msg);
  }
}

export default defineInput({
  type: 'http',
  desc: 'Receive events over HTTP (Fluentd in_http)',
  params,
  validate(c) {
    const problems: ValidationProblem[] = [];
    if (c.cors_allow_credentials && (c.cors_allow_origins === null || c.cors_allow_origins.includes('*'))) {
      problems.push({ param: 'cors_allow_credentials', message: 'needs cors_allow_origins listing specific origins (not *)' });
    }
    if (c.add_tag_prefix === '') problems.push({ param: 'add_tag_prefix', message: 'must not be empty' });
    if (c.transport && c.transport.arg !== '' && c.transport.arg !== 'tcp') {
      problems.push({ param: '<transport>', message: `transport '${c.transport.arg}' is not supported; only tcp` });
    }
    return problems;
  },
  create: (c, ctx) => new HttpInput(c, ctx),
});
