/**
 * `@type forward`: sends chunks to other Fluentd-compatible nodes over the forward protocol (spec §4):
 * weighted load balancing with standby servers, heartbeats with phi accrual failure detection,
 * at-least-once delivery with `require_ack_response`, kept-alive connections, gzip, `<security>` and
 * TLS. A chunk goes out as one PackedForward message built around its bytes. The servers come from
 * `<server>` sections and `<service_discovery>` (static, file, srv), whose changes add and drop nodes
 * while running. Parts live in ./forward/: node (state machine), balancer, connection, pool,
 * ack-tracker, heartbeat, phi, service-discovery (with sd-file, sd-srv).
 *
 * Sending never retries on its own: a chunk no node took is thrown back to BufferedOutput (the only
 * retry loop); "no nodes are available" keeps the chunk buffered and retried, never dropped.
 */
import { randomInt } from 'node:crypto';
import type { ChunkView, BufferedWriter } from '../../buffer/buffered-output.js';
import { ConfigError, problemAt } from '../../config/errors.js';
import { errorMessage, RetryableError } from '../../core/errors.js';
import { defineBufferedOutput, type BufferedPluginContext } from '../../core/plugin.js';
import { HandshakeError } from '../../protocol/handshake.js';
import { AckTracker } from './forward/ack-tracker.js';
import { Balancer } from './forward/balancer.js';
import { ForwardSocket, type SocketSettings, type Target } from './forward/connection.js';
import { Heartbeater } from './forward/heartbeat.js';
import { buildMessage } from './forward/message.js';
import { ForwardNode, type HeartbeatType, type NodeState } from './forward/node.js';
import { params, type ForwardOutputConfig } from './forward/params.js';
import { SocketPool } from './forward/pool.js';
import { configureDiscovery, ServiceDiscovery } from './forward/service-discovery.js';
import { tlsClientSettings, validateForward } from './forward/settings.js';

export { params, type ForwardOutputConfig };

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
  /** The live node list (service discovery changes it in place). */
  readonly nodes: ForwardNode[];
  readonly balancer: Balancer;
  readonly discovery: ServiceDiscovery;
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
    this.discovery = new ServiceDiscovery(configureDiscovery(c.service_discovery, c.server, log), {
      build: (s) => new ForwardNode(s, c.security, nodeOptions),
      changed: () => this.balancer.rebuild(),
      inFlight: (n) => n.sending + (this.acks?.outstandingFor(n) ?? 0),
      drop: (n) => this.pool?.drop(n.poolKeys),
      log,
    });
    this.nodes = this.discovery.nodes;
    if (this.nodes.length === 0 && !this.discovery.dynamic) {
      this.discovery.stop();
      throw new ConfigError([problemAt(ctx.element, 'forward output requires at least one node: every server list is empty', { param: '<server>', type: 'forward' })]);
    }
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
    await this.discovery.start();
    if (this.nodes.length === 0) throw new Error('forward output requires at least one node: service discovery found none');
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
      node.sending++;
      try {
        await this.sendTo(node, chunk, message);
        return;
      } catch (e) {
        if (e instanceof ChunkTakenBack) throw e;
        last = e;
        node.counters.send_errors++;
        node.failed(errorMessage(e));
      } finally {
        node.sending--;
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
      if (attempt > 0 && this.pool) {
        this.pool.add(key, sock);
        node.poolKeys.add(key);
      }
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
    this.discovery.stop();
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
