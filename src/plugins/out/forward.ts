/**
 * `@type forward`: sends chunks to other Fluentd-compatible nodes over the forward protocol (spec §4):
 * weighted load balancing with standby servers, heartbeats with phi accrual failure detection,
 * at-least-once delivery with `require_ack_response`, kept-alive connections, gzip, `<security>` and
 * TLS. A chunk goes out as one PackedForward message built around its bytes. Parts live in
 * ./forward/: node (state machine), balancer, connection, pool, ack-tracker, heartbeat, phi.
 *
 * Sending never retries on its own: a chunk no node took is thrown back to BufferedOutput (the only
 * retry loop); "no nodes are available" keeps the chunk buffered and retried, never dropped.
 */
import { randomInt } from 'node:crypto';
import type { ChunkView, BufferedWriter } from '../../buffer/buffered-output.js';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { errorMessage, RetryableError } from '../../core/errors.js';
import { defineBufferedOutput, type BufferedPluginContext } from '../../core/plugin.js';
import { HandshakeError } from '../../protocol/handshake.js';
import { AckTracker } from './forward/ack-tracker.js';
import { Balancer } from './forward/balancer.js';
import { ForwardSocket, type SocketSettings, type Target } from './forward/connection.js';
import { Heartbeater } from './forward/heartbeat.js';
import { buildMessage } from './forward/message.js';
import { ForwardNode, type HeartbeatType, type NodeState } from './forward/node.js';
import { SocketPool } from './forward/pool.js';
import { TLS_VERSIONS, tlsClientSettings, validateForward } from './forward/settings.js';

export const params = defineParams({
  transport: p.enum(['tcp', 'tls'] as const, { default: 'tcp', desc: 'Data connection type' }),
  send_timeout: p.time({ default: 60, min: 0.001, desc: 'Abandon a socket write after this long' }),
  connect_timeout: p.time({ default: null, min: 0.001, desc: 'TCP connect timeout (default: send_timeout)' }),
  heartbeat_type: p.enum(['transport', 'tcp', 'udp', 'none'] as const, { default: 'transport', desc: 'How nodes are probed: transport (connect), udp, none (always available); tcp is an alias of transport' }),
  heartbeat_interval: p.time({ default: 1, min: 0.01, desc: 'Heartbeat (and failure check) period' }),
  recover_wait: p.time({ default: 10, min: 0, desc: 'A detached node returns after this long of steady heartbeats' }),
  hard_timeout: p.time({ default: 60, min: 0.01, desc: 'Detach a node silent for this long; also the handshake timeout' }),
  phi_threshold: p.integer({ default: 16, min: 1, desc: 'Phi accrual threshold for detaching a node' }),
  phi_failure_detector: p.bool({ default: true, desc: 'Use the phi accrual failure detector (hard_timeout always applies)' }),
  require_ack_response: p.bool({ default: false, desc: 'Wait for the receiver to ack each chunk (at-least-once)' }),
  ack_response_timeout: p.time({ default: 190, min: 1, desc: 'Roll a chunk back (and disable its node) when no ack came within this' }),
  read_interval_msec: p.integer({ default: 50, min: 0, desc: 'Accepted for compatibility; reads are event-driven here' }),
  read_length: p.size({ default: 512, min: 1, desc: 'Accepted for compatibility; reads are event-driven here' }),
  expire_dns_cache: p.time({ default: null, min: 0, desc: 'Cache looked-up addresses this long (default and 0: look up on every new connection)' }),
  dns_round_robin: p.bool({ default: false, desc: 'Pick a random address among those a host resolves to' }),
  ignore_network_errors_at_startup: p.bool({ default: false, desc: 'Accepted for compatibility; hosts are resolved on connect, so startup never fails on DNS' }),
  verify_connection_at_startup: p.bool({ default: false, desc: 'Connect (and authenticate) to every server at start; fail to start otherwise' }),
  compress: p.enum(['text', 'gzip', 'zstd'] as const, { default: 'text', desc: 'Compress chunks on the wire (gzip also makes a text buffer store gzip)' }),
  keepalive: p.bool({ default: false, desc: 'Reuse data connections between chunks' }),
  keepalive_timeout: p.time({ default: null, min: 0.01, desc: 'Recycle a kept-alive connection once it is this old (default: never)' }),
  send_keepalive_packet: p.bool({ default: false, desc: 'TCP keepalive probes on kept-alive connections (needs keepalive)' }),
  time_as_integer: p.bool({ default: false, desc: 'Not supported (chunks are forwarded as stored, with EventTime)' }),
  tls_version: p.enum(TLS_VERSIONS, { default: 'TLSv1_2', desc: 'TLS version (pins min and max)' }),
  tls_ciphers: p.string({ default: 'ALL:!aNULL:!eNULL:!SSLv2', desc: 'OpenSSL cipher list' }),
  tls_insecure_mode: p.bool({ default: false, desc: 'Skip every certificate check' }),
  tls_allow_self_signed_cert: p.bool({ default: false, desc: 'Accept a self-signed server certificate' }),
  tls_verify_hostname: p.bool({ default: true, desc: 'Check the certificate names the host (or <server> name when host is an IP)' }),
  tls_ca_cert_path: p.array({ default: null, desc: 'CA certificate files trusted besides the system roots' }),
  tls_cert_path: p.array({ default: null, desc: 'Legacy: replaces tls_ca_cert_path' }),
  tls_client_cert_path: p.string({ default: null, desc: 'Client certificate for mutual TLS' }),
  tls_client_private_key_path: p.string({ default: null, desc: 'Private key of tls_client_cert_path' }),
  tls_client_private_key_passphrase: p.string({ default: null, secret: true, desc: 'Passphrase of the client private key' }),
  tls_cert_thumbprint: p.string({ default: null, desc: 'Windows certificate store only (not supported)' }),
  tls_cert_logical_store_name: p.string({ default: null, desc: 'Windows certificate store only (not supported)' }),
  tls_cert_use_enterprise_store: p.bool({ default: true, desc: 'Windows certificate store only (ignored)' }),
  host: p.string({ default: null, desc: 'Obsoleted: use <server>' }),
  port: p.integer({ default: null, desc: 'Obsoleted: use <server>' }),
  server: p.section({ desc: 'A destination node', multi: true, required: true }, {
    host: p.string({ required: true, desc: 'Receiver host name or address' }),
    name: p.string({ default: null, desc: 'Name in logs (default host:port); TLS name when host is an IP' }),
    port: p.integer({ default: 24224, min: 1, max: 65535, desc: 'Receiver port (TCP data and heartbeats, UDP heartbeats)' }),
    shared_key: p.string({ default: null, secret: true, desc: 'Handshake key of this server (default: <security> shared_key)' }),
    username: p.string({ default: '', desc: 'User for user_auth' }),
    password: p.string({ default: '', secret: true, desc: 'Password for user_auth' }),
    standby: p.bool({ default: false, desc: 'Used only while regular servers are down' }),
    weight: p.integer({ default: 60, min: 0, desc: 'Load-balancing weight (0 excludes the server)' }),
  }),
  security: p.section({ desc: 'Authenticate to the servers with the handshake' }, {
    self_hostname: p.string({ required: true, desc: 'Hostname sent in PING (must differ from the server\'s)' }),
    shared_key: p.string({ required: true, secret: true, desc: 'Default shared key' }),
  }),
});
export type ForwardOutputConfig = ParamsOf<typeof params>;

/** What monitor_agent shows per node. */
export interface NodeStats {
  name: string;
  host: string;
  port: number;
  standby: boolean;
  weight: number;
  state: NodeState;
  available: boolean;
  phi: number;
  [counter: string]: unknown;
}

export class ForwardOutput implements BufferedWriter {
  readonly nodes: ForwardNode[];
  readonly balancer: Balancer;
  private readonly heartbeatType: HeartbeatType;
  private readonly pool: SocketPool | null;
  private readonly acks: AckTracker | null;
  private heartbeat: Heartbeater | null = null;
  private sockets: SocketSettings | null = null;
  private readonly live = new Set<ForwardSocket>();
  private stopped = false;

  constructor(private readonly c: ForwardOutputConfig, private readonly ctx: BufferedPluginContext) {
    const log = ctx.log;
    this.heartbeatType = c.heartbeat_type === 'tcp' ? 'transport' : c.heartbeat_type;
    if (c.heartbeat_type === 'tcp') log.warn("heartbeat_type tcp is deprecated, use 'transport'");
    if (c.keepalive_timeout !== null && !c.keepalive) log.warn('keepalive_timeout is ignored without keepalive true');
    const nodeOptions = {
      heartbeatType: this.heartbeatType,
      intervalSec: c.heartbeat_interval,
      hardTimeoutSec: c.hard_timeout,
      recoverWaitSec: c.recover_wait,
      phiFailureDetector: c.phi_failure_detector,
      phiThreshold: c.phi_threshold,
      expireDnsCacheSec: c.expire_dns_cache,
      dnsRoundRobin: c.dns_round_robin,
      log,
    };
    this.nodes = c.server.map((s) => new ForwardNode(s, c.security, nodeOptions));
    this.balancer = new Balancer(this.nodes, randomInt(2 ** 31), log);
    this.pool = c.keepalive ? new SocketPool(c.keepalive_timeout !== null ? c.keepalive_timeout * 1000 : null) : null;
    this.acks = c.require_ack_response
      ? new AckTracker({
        timeoutMs: c.ack_response_timeout * 1000,
        control: ctx.buffer,
        log,
        disableNode: (node, reason) => this.disable(node, reason),
        idle: (sock) => (this.pool ? this.pool.release(sock) : sock.end()),
      })
      : null;
  }

  /** Nodes that are not detached (monitor_agent). */
  get healthy_nodes_count(): number {
    return this.nodes.filter((n) => n.available).length;
  }

  get registered_nodes_count(): number {
    return this.nodes.length;
  }

  nodeStats(): NodeStats[] {
    return this.nodes.map((n) => ({
      name: n.name, host: n.host, port: n.port, standby: n.standby, weight: n.weight,
      state: n.state, available: n.available, phi: n.phi(), ...n.counters,
    }));
  }

  /** Ack latency of the last acks (ms), with require_ack_response. */
  ackLatency(): { count: number; p50: number; p99: number } | null {
    return this.acks?.latency() ?? null;
  }

  async start(): Promise<void> {
    if (this.sockets) return;
    const c = this.c;
    const sendTimeoutMs = c.send_timeout * 1000;
    this.sockets = {
      tls: tlsClientSettings(c),
      connectTimeoutMs: (c.connect_timeout ?? c.send_timeout) * 1000,
      sendTimeoutMs,
      handshakeTimeoutMs: c.hard_timeout * 1000,
      // probe idle kept-alive connections well inside a load balancer's idle timeout
      keepAliveProbeMs: c.send_keepalive_packet ? Math.min(15_000, (c.keepalive_timeout ?? 30) * 500) : null,
    };
    this.balancer.rebuild();
    this.pool?.start();
    this.acks?.start();
    if (c.verify_connection_at_startup) {
      for (const n of this.nodes) {
        try {
          await this.probe(n);
        } catch (e) {
          throw new Error(`verify_connection_at_startup: cannot connect to ${n.name}: ${errorMessage(e)}`);
        }
      }
    }
    if (this.heartbeatType !== 'none') {
      this.heartbeat = new Heartbeater({
        type: this.heartbeatType,
        intervalMs: c.heartbeat_interval * 1000,
        nodes: this.nodes,
        probe: (n) => this.probe(n),
        changed: () => this.balancer.rebuild(),
        log: this.ctx.log,
      });
      this.heartbeat.start();
    }
  }

  write(chunk: ChunkView): Promise<void> {
    return this.send(chunk, false);
  }

  /** Delayed commit: resolves once written; the ack commits the chunk, a failure rolls it back. */
  tryWrite(chunk: ChunkView): Promise<void> {
    return this.send(chunk, true);
  }

  private async send(chunk: ChunkView, withAck: boolean): Promise<void> {
    if (this.stopped || this.sockets === null) throw new RetryableError('forward output is not running');
    if (chunk.records === 0) {
      if (withAck) this.ctx.buffer.commit(chunk.hexId);
      return;
    }
    const message = await buildMessage(chunk, this.c.compress, withAck && this.acks !== null);
    let last: unknown = null;
    for (const node of this.balancer.select()) {
      try {
        await this.sendTo(node, chunk, message);
        return;
      } catch (e) {
        if (e instanceof ChunkTakenBack) throw e;
        last = e;
        node.counters.send_errors++;
        node.failed(errorMessage(e));
      }
    }
    if (last !== null) throw last;
    throw new RetryableError('no nodes are available');
  }

  private async sendTo(node: ForwardNode, chunk: ChunkView, m: Awaited<ReturnType<typeof buildMessage>>): Promise<void> {
    const target = await this.target(node);
    const key = `${target.address}:${target.port}:${target.tlsName ?? ''}`;
    const pooled = this.pool?.get(key) ?? null;
    // a kept-alive connection the peer dropped a moment ago gets one fresh connection in its place
    for (let attempt = pooled ? 0 : 1; ; attempt++) {
      const sock = attempt === 0 ? pooled! : await this.connect(node, target);
      if (attempt > 0) this.pool?.add(key, sock);
      if (m.ackId !== null) this.acks!.expect(sock, node, m.ackId, chunk.hexId);
      try {
        await sock.write(m.parts, this.sockets!.sendTimeoutMs);
      } catch (e) {
        if (m.ackId !== null && !this.acks!.forget(m.ackId)) throw new ChunkTakenBack(errorMessage(e));
        sock.destroy(errorMessage(e));
        if (attempt === 0) continue;
        throw e;
      }
      if (m.ackId === null && this.pool === null) sock.end();
      break;
    }
    node.counters.sent_chunks++;
    node.counters.sent_records += chunk.records;
    node.counters.sent_bytes += m.bytes;
    node.heartbeat(false);
  }

  private async target(node: ForwardNode, forHeartbeat = false): Promise<Target> {
    const a = forHeartbeat ? await node.heartbeatAddress() : await node.resolve();
    return { address: a.address, family: a.family, port: node.port, tlsName: node.tlsName, handshake: node.handshake };
  }

  /** A new data connection; a refused handshake disables the node. */
  private async connect(node: ForwardNode, target: Target): Promise<ForwardSocket> {
    let sock: ForwardSocket;
    try {
      sock = await ForwardSocket.open(target, this.sockets!);
    } catch (e) {
      if (e instanceof HandshakeError) this.disable(node, `handshake failed: ${e.message}`);
      throw e;
    }
    if (this.stopped) {
      sock.destroy();
      throw new RetryableError('forward output is stopping');
    }
    this.live.add(sock);
    sock.onAck = (id) => this.acks?.ack(sock, id);
    sock.onClose = (reason) => {
      this.live.delete(sock);
      this.pool?.remove(sock);
      this.acks?.closed(sock, reason);
    };
    return sock;
  }

  /** Transport heartbeat (and verify_connection_at_startup): connect, authenticate, close. */
  private async probe(node: ForwardNode): Promise<void> {
    const sock = await this.connect(node, await this.target(node, true));
    sock.end();
  }

  private disable(node: ForwardNode, reason: string): void {
    if (node.disable(reason)) this.balancer.rebuild();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.heartbeat?.stop();
    const lat = this.acks?.latency();
    if (lat && lat.count > 0) this.ctx.log.info({ acked: lat.count, p50_ms: lat.p50, p99_ms: lat.p99 }, 'forward ack latency');
    this.acks?.stop();
    this.pool?.closeAll();
    for (const s of [...this.live]) s.destroy();
  }

  close(): Promise<void> {
    return this.stop();
  }
}

/** The connection closed under a write and its chunk was already rolled back: stop trying nodes. */
class ChunkTakenBack extends RetryableError {}

export default defineBufferedOutput({
  type: 'forward',
  desc: 'Forward chunks to Fluentd-compatible nodes (load balancing, standby, heartbeats, acks, TLS, handshake)',
  params,
  buffer: {
    chunkKeys: ['tag'],
    requiredKeys: ['tag'],
    defaults: { flush_mode: 'interval', flush_interval: 60 },
    delayedCommit: (c) => c.require_ack_response,
    override: (c) => ({
      ...(c.require_ack_response ? { delayed_commit_timeout: c.ack_response_timeout + 2 } : {}),
      ...(c.compress === 'gzip' ? { compress: 'gzip' as const } : {}),
    }),
  },
  validate: (c) => validateForward(c),
  create: (c, ctx) => new ForwardOutput(c, ctx),
});
