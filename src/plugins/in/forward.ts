/**
 * `@type forward`: receives events over the Fluentd forward protocol (spec §1–§3) on TCP or TLS
 * (`<transport tls>`), answers UDP heartbeats on the same port, optionally authenticates clients
 * (`<security>`). Connection handling is shared with in_unix (./forward/connection.ts); framing
 * lives in src/protocol/.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { errorMessage } from '../../core/errors.js';
import { claimListener, handoverActive, releaseListener, type ListenSpec } from '../../core/listeners.js';
import { LogThrottle } from '../../core/log.js';
import { defineInput, type InputInstance, type PluginContext, type ValidationProblem } from '../../core/plugin.js';
import { normalizeAddress, ServerAuth } from '../../protocol/handshake.js';
import { securitySection, transportSection, validateSecurity, validateTransport } from '../../protocol/params.js';
import { tlsServerOptions, transportKind } from '../../protocol/tls.js';
import { ChunkIdMemory } from './forward/chunk-memory.js';
import { ConnectionSet, type ForwardSettings, type HandedConnections, HostnameResolver } from './forward/connection.js';
import { decoderOptions, protocolParams, validateProtocol } from './forward/params.js';

const HEARTBEAT_REPLY = Buffer.from([0]);
const HEARTBEAT_KIND = 'forward-heartbeat';

export const params = defineParams({
  port: p.integer({ default: 24224, min: 0, max: 65535, desc: 'TCP port to listen on; UDP heartbeats are answered on the same port' }),
  bind: p.string({ default: '0.0.0.0', desc: 'Address to listen on (TCP and UDP)' }),
  backlog: p.integer({ default: null, min: 1, desc: 'Listen backlog (system default when unset)' }),
  linger_timeout: p.integer({ default: null, min: 0, deprecated: 'use <transport> linger_timeout', desc: 'Deprecated; accepted and not applied' }),
  blocking_timeout: p.time({ default: 0.5, desc: 'Accepted for compatibility with Fluentd; has no effect' }),
  resolve_hostname: p.bool({ default: null, desc: 'Reverse-resolve peer addresses (default: only when source_hostname_key is set)' }),
  send_keepalive_packet: p.bool({ default: false, desc: 'Enable TCP keepalive probes on accepted connections' }),
  source_address_key: p.string({ default: null, desc: 'Add the peer IP address to each record under this key' }),
  source_hostname_key: p.string({ default: null, desc: 'Add the peer hostname (reverse DNS) to each record under this key' }),
  chunk_id_memory_size: p.integer({ default: 100_000, min: 0, desc: 'Remember the ids of this many recently stored chunks: a chunk resent after a lost ack is acked again but stored once (0: off; logferry only)' }),
  chunk_id_memory_time: p.time({ default: 3600, min: 0, desc: 'How long a stored chunk id is remembered (keep it above the senders\' ack_response_timeout plus retry waits)' }),
  ...protocolParams,
  security: securitySection,
  transport: transportSection,
});
export type ForwardInputConfig = ParamsOf<typeof params>;

function validate(c: ForwardInputConfig): ValidationProblem[] {
  const out = [...validateProtocol(c), ...validateSecurity(c.security), ...validateTransport(c.transport)];
  if (c.deny_keepalive && c.send_keepalive_packet) {
    out.push({ param: 'send_keepalive_packet', message: 'send_keepalive_packet and deny_keepalive cannot both be true' });
  }
  if (c.source_hostname_key !== null && c.resolve_hostname === false) {
    out.push({ param: 'resolve_hostname', message: 'resolve_hostname must be true (or unset) when source_hostname_key is set' });
  }
  for (const key of ['source_address_key', 'source_hostname_key'] as const) {
    if (c[key] !== null && c[key]!.trim() === '') out.push({ param: key, message: `${key} must not be empty` });
  }
  return out;
}

export class ForwardInput implements InputInstance {
  private server: Server | null = null;
  private udp: UdpSocket | null = null;
  private readonly connections = new ConnectionSet();
  private settings: ForwardSettings | null = null;
  /** The TCP port actually listened on (differs from `port` when it is 0). */
  port = 0;

  get open_connections(): number {
    return this.connections.size;
  }
  /** What a reload matches listeners by (core/listeners.ts): a TLS listener is reused only with the same <transport>. */
  private readonly tcpSpec: ListenSpec;
  private readonly kind: string;
  private readonly tcpEvents: string[];

  constructor(private readonly c: ForwardInputConfig, private readonly ctx: PluginContext) {
    const tls = transportKind(c.transport) === 'tls';
    this.tcpSpec = { proto: 'tcp', address: c.bind, port: c.port };
    this.kind = tls ? `forward-tls ${JSON.stringify({ ...c.transport, element: undefined })}` : 'forward-tcp'; // settings, not where they were written
    this.tcpEvents = tls ? ['secureConnection', 'tlsClientError', 'error'] : ['connection', 'error'];
  }

  async start(): Promise<void> {
    if (this.server) return;
    const c = this.c;
    const resolve = c.resolve_hostname ?? c.source_hostname_key !== null;
    this.settings = {
      ctx: this.ctx,
      decoder: decoderOptions(c),
      auth: c.security ? await ServerAuth.create(c.security) : null,
      denyKeepalive: c.deny_keepalive,
      chunkSizeWarnLimit: c.chunk_size_warn_limit,
      sourceAddressKey: c.source_address_key,
      sourceHostnameKey: c.source_hostname_key,
      resolver: resolve ? new HostnameResolver() : null,
      throttle: new LogThrottle(),
      chunkIds: c.chunk_id_memory_size > 0 && c.chunk_id_memory_time > 0 ? new ChunkIdMemory(c.chunk_id_memory_size, c.chunk_id_memory_time * 1000) : null,
    };
    const tls = transportKind(c.transport) === 'tls';
    const claimed = await claimListener<Server>(this.tcpSpec, this.kind); // reload: the previous pipeline's socket
    const server = claimed?.handle ?? (tls ? createTlsServer({ ...tlsServerOptions(c.transport!), allowHalfOpen: true }) : createServer({ allowHalfOpen: true }));
    if (claimed && tls) (server as ReturnType<typeof createTlsServer>).setSecureContext(tlsServerOptions(c.transport!)); // certificates re-read
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => this.accept(socket));
    if (tls) {
      const throttle = new LogThrottle();
      server.on('tlsClientError', (e: Error, socket: Socket) => {
        const peer = socket.remoteAddress ? normalizeAddress(socket.remoteAddress) : 'unknown';
        this.ctx.metrics.countReject('tls');
        if (throttle.shouldLog(peer)) this.ctx.log.warn({ peer, error: e.message }, 'TLS handshake failed');
      });
    }
    if (!claimed) {
      await new Promise<void>((resolveListen, reject) => {
        server.once('error', reject);
        server.listen({ port: c.port, host: c.bind, backlog: c.backlog ?? undefined }, () => {
          server.off('error', reject);
          resolveListen();
        });
      });
    }
    server.on('error', (e) => this.ctx.log.error({ error: e.message }, 'forward server error'));
    this.server = server;
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : c.port;
    if (claimed) {
      if (claimed.carry) this.connections.adopt(claimed.carry as HandedConnections, this.settings);
      claimed.resume();
    }
    this.udp = await this.listenUdp(this.port);
    this.ctx.log.info({ port: this.port, bind: c.bind, transport: tls ? 'tls' : 'tcp' }, 'listening port');
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    if (this.c.send_keepalive_packet) socket.setKeepAlive(true);
    const address = socket.remoteAddress ? normalizeAddress(socket.remoteAddress) : null;
    const label = address ? `${address}:${socket.remotePort}` : 'unknown';
    this.connections.accept(socket, this.settings!, { address, label });
  }

  private async listenUdp(port: number): Promise<UdpSocket> {
    const claimed = await claimListener<UdpSocket>({ proto: 'udp', address: this.c.bind, port }, HEARTBEAT_KIND);
    const udp = claimed?.handle ?? createSocket(isIPv6(this.c.bind) ? 'udp6' : 'udp4');
    udp.on('message', (_msg, rinfo) => {
      udp.send(HEARTBEAT_REPLY, rinfo.port, rinfo.address, (err) => {
        if (err) this.ctx.log.debug({ peer: `${rinfo.address}:${rinfo.port}`, error: err.message }, 'failed to answer heartbeat');
      });
    });
    if (!claimed) {
      await new Promise<void>((resolveBind, reject) => {
        udp.once('error', reject);
        udp.bind(port, this.c.bind, () => {
          udp.off('error', reject);
          resolveBind();
        });
      }).catch((e) => {
        this.server?.close();
        this.server = null;
        throw new Error(`cannot listen for UDP heartbeats on ${this.c.bind}:${port}: ${errorMessage(e)}`);
      });
    }
    udp.on('error', (e) => this.ctx.log.warn({ error: e.message }, 'heartbeat socket error'));
    claimed?.resume();
    return udp;
  }

  /** Closes the sockets; during a reload parks them, and the open connections once stopped, for the next pipeline. */
  async stop(): Promise<void> {
    const server = this.server;
    const udp = this.udp;
    this.server = null;
    this.udp = null;
    const carry: HandedConnections = { conns: [], destroy() { for (const c of this.conns) c.destroy(); } };
    if (server) await releaseListener(this.tcpSpec, this.kind, server, this.tcpEvents, () => { server.close(); }, carry);
    if (udp) await releaseListener({ proto: 'udp', address: this.c.bind, port: this.port }, HEARTBEAT_KIND, udp, ['message', 'error'], () => { udp.close(); });
    await this.connections.stop();
    if (handoverActive()) carry.conns.push(...this.connections.handOff().conns);
  }

  close(): void {
    this.connections.destroyAll();
  }
}

export default defineInput({
  type: 'forward',
  desc: 'Receive events over the Fluentd forward protocol (TCP, UDP heartbeat, optional shared-key auth)',
  params,
  validate,
  create: (c, ctx) => new ForwardInput(c, ctx),
});
