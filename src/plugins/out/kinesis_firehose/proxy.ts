/**
 * `http_proxy` for the AWS SDK without an extra package: HTTP agents whose connections are tunnels
 * opened with `CONNECT host:port` through the proxy (TLS to the endpoint runs inside the tunnel, so
 * the proxy never sees the signed request). `http://user:pass@proxy:3128` sends Basic
 * Proxy-Authorization. Only `http://` proxies are supported (the common case, and what the Ruby
 * SDK's `http_proxy` does).
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import tls from 'node:tls';

type Callback = (err: Error | null, socket?: Socket) => void;
interface ConnectOptions {
  host?: string | null;
  hostname?: string | null;
  port?: number | string | null;
  servername?: string;
  [k: string]: unknown;
}

export function parseProxyUrl(text: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`http_proxy: ${JSON.stringify(text)} is not a URL; write it like http://proxy.example:3128`);
  }
  if (u.protocol !== 'http:') throw new Error(`http_proxy: only http:// proxies are supported (CONNECT tunnels), got ${u.protocol}//`);
  return u;
}

/** Opens a CONNECT tunnel to `host:port` through `proxy`. */
export function openTunnel(proxy: URL, host: string, port: number, timeoutMs: number, cb: Callback): void {
  const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: target };
  if (proxy.username) {
    const cred = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers['proxy-authorization'] = `Basic ${Buffer.from(cred).toString('base64')}`;
  }
  let done = false;
  const finish = (err: Error | null, s?: Socket) => {
    if (done) return;
    done = true;
    cb(err, s);
  };
  const req = http.request({ host: proxy.hostname, port: Number(proxy.port || 80), method: 'CONNECT', path: target, headers, agent: false });
  req.setTimeout(timeoutMs, () => req.destroy(new Error(`proxy ${proxy.host}: CONNECT to ${target} timed out after ${timeoutMs} ms`)));
  req.once('connect', (res, socket) => {
    req.setTimeout(0);
    if (res.statusCode !== 200) {
      socket.destroy();
      finish(new Error(`proxy ${proxy.host} refused CONNECT to ${target}: HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trim()));
      return;
    }
    finish(null, socket);
  });
  req.once('error', (e) => finish(new Error(`proxy ${proxy.host}: ${e.message}`)));
  req.end();
}

function hostPort(o: ConnectOptions, defaultPort: number): { host: string; port: number } {
  return { host: String(o.host ?? o.hostname ?? 'localhost'), port: Number(o.port ?? defaultPort) };
}

/** An https.Agent whose sockets are TLS over a CONNECT tunnel. */
export class TunnelingHttpsAgent extends https.Agent {
  constructor(private readonly proxy: URL, opts: https.AgentOptions, private readonly timeoutMs = 15000) {
    super(opts);
  }

  override createConnection(...args: unknown[]): Socket | undefined {
    const [options, cb] = args as [ConnectOptions, Callback];
    const { host, port } = hostPort(options, 443);
    openTunnel(this.proxy, host, port, this.timeoutMs, (err, socket) => {
      if (err || !socket) return cb(err ?? new Error('no tunnel'));
      const servername = options.servername ?? (/^[\d.]+$|:/.test(host) ? undefined : host);
      cb(null, tls.connect({ ...(options as tls.ConnectionOptions), socket, servername }));
    });
    return undefined;
  }
}

/** An http.Agent whose sockets are CONNECT tunnels (plain-HTTP endpoints, e.g. a local test endpoint). */
export class TunnelingHttpAgent extends http.Agent {
  constructor(private readonly proxy: URL, opts: http.AgentOptions, private readonly timeoutMs = 15000) {
    super(opts);
  }

  override createConnection(...args: unknown[]): Socket | undefined {
    const [options, cb] = args as [ConnectOptions, Callback];
    const { host, port } = hostPort(options, 80);
    openTunnel(this.proxy, host, port, this.timeoutMs, cb);
    return undefined;
  }
}
