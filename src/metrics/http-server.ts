/**
 * The small read-only HTTP server the monitoring inputs (monitor_agent, prometheus) share: GET and
 * HEAD only, one handler returning status, content type and body, connections closed at stop. In a
 * reload (SIGUSR2) the listening socket is handed to the next pipeline's server of the same kind
 * and address (core/listeners.ts), so scrapes during the swap wait instead of being refused.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import { claimListener, handoverActive, releaseListener, type ListenSpec } from '../core/listeners.js';

export interface HttpReply {
  status: number;
  contentType: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

export type HttpHandler = (url: URL, req: IncomingMessage) => HttpReply | Promise<HttpReply>;

export function jsonReply(status: number, obj: unknown, pretty = false): HttpReply {
  return { status, contentType: 'application/json', body: pretty ? JSON.stringify(obj, null, 2) : JSON.stringify(obj) };
}

export class MonitorHttpServer {
  private server: Server | null = null;
  private spec: ListenSpec | null = null;
  /** The port actually listened on (differs from the configured one when that is 0). */
  port = 0;

  /** `kind`: which input serves (a parked socket goes only to the same kind). */
  constructor(private readonly kind: string, private readonly handler: HttpHandler, private readonly log: Logger) {}

  async listen(bind: string, port: number): Promise<number> {
    if (this.server) return this.port;
    const spec: ListenSpec = { proto: 'tcp', address: bind, port };
    const claimed = await claimListener<Server>(spec, this.kind);
    const server = claimed?.handle ?? createServer();
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.serve(req, res));
    server.keepAliveTimeout = 5000;
    if (claimed) claimed.resume();
    else {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host: bind }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
    server.on('error', (e) => this.log.error({ error: errorMessage(e) }, 'monitoring server error'));
    this.server = server;
    this.spec = spec;
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    return this.port;
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const send = (r: HttpReply) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(r.status, { 'Content-Type': r.contentType, 'Content-Length': Buffer.byteLength(r.body), ...r.headers });
      res.end(req.method === 'HEAD' ? undefined : r.body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send({ ...jsonReply(405, { message: 'Method Not Allowed' }), headers: { Allow: 'GET, HEAD' } });
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      send(jsonReply(400, { message: 'Invalid request target' }));
      return;
    }
    Promise.resolve()
      .then(() => this.handler(url, req))
      .then(send, (e: unknown) => {
        this.log.error({ path: url.pathname, error: errorMessage(e) }, 'unexpected error while answering a monitoring request');
        send(jsonReply(500, { message: 'Internal Server Error', error: errorMessage(e) }));
      });
  }

  /**
   * Stops listening and closes every connection (in a reload: hands the socket over instead); safe
   * when not listening and when repeated.
   */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closeForGood = () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return closed;
    };
    if (handoverActive() && this.spec) {
      await releaseListener(this.spec, this.kind, server, ['request', 'error'], closeForGood);
      return;
    }
    await closeForGood();
  }
}
