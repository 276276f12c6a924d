/**
 * One destination of out_forward (a `<server>` or a server service discovery found) and its explicit
 * state machine:
 *
 *   up       available and used by the balancer
 *   suspect  available, but a send/connect/heartbeat failed or heartbeats went quiet since the last
 *            good one (still used: only the failure detector or an ack failure takes a node out)
 *   down     detached (phi over threshold, hard timeout, ack failure, handshake failure); comes back
 *            after more than recover_wait / heartbeat_interval heartbeats in a row
 *   standby  a standby server that is available and not needed (every primary is up)
 *
 * Every change of state logs exactly one line (Fluentd's wording where Fluentd logs one). The
 * balancer sets `inUse`; everything else happens here. Addresses are looked up on every new data
 * connection unless `expire_dns_cache` caches them, and forgotten on detach.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { defineParams, p, type ParamsOf } from '../../../config/schema.js';
import { ClientHandshake } from '../../../protocol/handshake.js';
import { FailureDetector } from './phi.js';

export type NodeState = 'up' | 'suspect' | 'down' | 'standby';
export type HeartbeatType = 'transport' | 'udp' | 'none';

/**
 * One destination: the parameters of `<server>`, of static service discovery's `<service>` and of
 * an entry in a service discovery file (Fluentd's `<server>` / `Service` fields and defaults).
 */
export const serverParams = defineParams({
  host: p.string({ required: true, desc: 'Receiver host name or address' }),
  name: p.string({ default: null, desc: 'Name in logs (default host:port); TLS name when host is an IP' }),
  port: p.integer({ default: 24224, min: 1, max: 65535, desc: 'Receiver port (TCP data and heartbeats, UDP heartbeats)' }),
  shared_key: p.string({ default: null, secret: true, desc: 'Handshake key of this server (default: <security> shared_key)' }),
  username: p.string({ default: '', desc: 'User for user_auth' }),
  password: p.string({ default: '', secret: true, desc: 'Password for user_auth' }),
  standby: p.bool({ default: false, desc: 'Used only while regular servers are down' }),
  weight: p.integer({ default: 60, min: 0, desc: 'Load-balancing weight (0 excludes the server)' }),
});
/** What a node needs of a `<server>` (or a discovered service). */
export type ServerConfig = ParamsOf<typeof serverParams>;

export interface ClientSecurity {
  readonly self_hostname: string;
  readonly shared_key: string;
}

export interface NodeOptions {
  heartbeatType: HeartbeatType;
  intervalSec: number;
  hardTimeoutSec: number;
  recoverWaitSec: number;
  phiFailureDetector: boolean;
  phiThreshold: number;
  /** null: look up on every new connection; N > 0: cache N seconds. */
  expireDnsCacheSec: number | null;
  dnsRoundRobin: boolean;
  log: Logger;
}

export interface Address {
  address: string;
  family: number;
}

/** Per-node counters (monitor_agent reads them through the plugin instance). */
export interface NodeCounters {
  sent_chunks: number;
  sent_records: number;
  sent_bytes: number;
  send_errors: number;
  heartbeats: number;
  acked_chunks: number;
  ack_errors: number;
  detached_count: number;
  recovered_count: number;
}

const nowSec = (): number => Date.now() / 1000;

export class ForwardNode {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly standby: boolean;
  /** Name sent as TLS SNI and verified against the certificate: the host, or `name` when host is an IP. */
  readonly tlsName: string | null;
  readonly handshake: ClientHandshake | null;
  readonly counters: NodeCounters = {
    sent_chunks: 0, sent_records: 0, sent_bytes: 0, send_errors: 0, heartbeats: 0,
    acked_chunks: 0, ack_errors: 0, detached_count: 0, recovered_count: 0,
  };
  state: NodeState;
  /** Set by the balancer: the node is in the weight array (always true for a used primary). */
  inUse = false;
  /** Set by service discovery: the node left the server list and gets no new chunk. */
  retired = false;
  /** Sends under way to this node (service discovery drops a removed node once none is left). */
  sending = 0;
  /** Keys of the kept-alive connections opened to this node (closed when the node is dropped). */
  readonly poolKeys = new Set<string>();
  private up = true;
  private suspicion: string | null = null;
  private readonly failure: FailureDetector;
  private readonly recoverSamples: number;
  private dns: { addr: Address; at: number } | null = null;

  constructor(server: ServerConfig, security: ClientSecurity | null, private readonly o: NodeOptions) {
    this.host = server.host;
    this.port = server.port;
    this.name = server.name ?? `${server.host}:${server.port}`;
    this.weight = server.weight;
    this.standby = server.standby;
    this.tlsName = isIP(server.host) === 0 ? server.host : server.name;
    this.handshake = security
      ? new ClientHandshake({
        selfHostname: security.self_hostname,
        sharedKey: server.shared_key ?? security.shared_key,
        username: server.username,
        password: server.password,
      })
      : null;
    this.failure = new FailureDetector(o.intervalSec, o.hardTimeoutSec, nowSec());
    this.recoverSamples = o.recoverWaitSec / o.intervalSec;
    this.state = this.computeState();
  }

  /** Detached nodes are skipped; with `heartbeat_type none` a node is always available. */
  get available(): boolean {
    return this.o.heartbeatType === 'none' || this.up;
  }

  phi(now = nowSec()): number {
    return this.failure.phi(now);
  }

  /** The address for a new data connection (looked up unless cached per expire_dns_cache). */
  async resolve(): Promise<Address> {
    const family = isIP(this.host);
    if (family !== 0) return { address: this.host, family };
    const ttl = this.o.expireDnsCacheSec;
    const now = Date.now();
    if (this.dns && ttl !== null && ttl > 0 && now - this.dns.at < ttl * 1000) return this.dns.addr;
    const all = await lookup(this.host, { all: true });
    if (all.length === 0) throw new Error(`${this.host} resolves to no address`);
    const addr = this.o.dnsRoundRobin ? all[Math.floor(Math.random() * all.length)]! : all[0]!;
    this.dns = { addr, at: now };
    return addr;
  }

  /** The address heartbeats use: the last one the data path looked up (or a fresh lookup). */
  heartbeatAddress(): Promise<Address> {
    return this.dns && isIP(this.host) === 0 ? Promise.resolve(this.dns.addr) : this.resolve();
  }

  /**
   * A heartbeat arrived (`detect`), or a data send succeeded (not `detect`: a sample, never a
   * recovery). Returns true when the node recovered (the weight array must be rebuilt).
   */
  heartbeat(detect = true): boolean {
    this.failure.add(nowSec());
    if (detect) this.counters.heartbeats++;
    if (detect || this.o.heartbeatType === 'none') this.suspicion = null;
    let recovered = false;
    if (detect && !this.up && this.failure.sampleSize > this.recoverSamples) {
      this.up = true;
      this.counters.recovered_count++;
      recovered = true;
    }
    this.refresh();
    return recovered;
  }

  /** A send, connect or heartbeat attempt failed: the node becomes suspect (not detached). */
  failed(error: string): void {
    this.suspicion = error;
    this.refresh({ error });
  }

  /** The heartbeat timer: detaches on hard timeout or phi. Returns true when the node was detached. */
  tick(): boolean {
    if (this.o.heartbeatType === 'none') return false;
    const now = nowSec();
    if (!this.up) {
      if (this.failure.hardTimeout(now)) this.failure.clear();
      return false;
    }
    if (this.failure.hardTimeout(now)) return this.detach({ hard_timeout: true });
    if (this.o.phiFailureDetector) {
      const phi = this.failure.phi(now);
      if (phi > this.o.phiThreshold) return this.detach({ phi, phi_threshold: this.o.phiThreshold });
    }
    const silence = this.failure.silence(now);
    if (this.suspicion === null && silence > 3 * this.o.intervalSec) {
      this.failed(`no heartbeat for ${silence.toFixed(1)}s`);
    }
    return false;
  }

  /** Takes the node out after an ack or handshake failure. Returns true when it was available. */
  disable(reason: string): boolean {
    if (this.o.heartbeatType === 'none' || !this.up) return false;
    return this.detach({ reason });
  }

  private detach(fields: Record<string, unknown>): boolean {
    this.up = false;
    this.suspicion = null;
    this.dns = null;
    this.failure.clear();
    this.counters.detached_count++;
    this.refresh(fields);
    return true;
  }

  /** Recomputes the state after `inUse` changed (the balancer calls it). */
  refresh(fields: Record<string, unknown> = {}): void {
    const next = this.computeState();
    const prev = this.state;
    if (next === prev) return;
    this.state = next;
    const where = { host: this.host, port: this.port };
    const log = this.o.log;
    if (next === 'down') log.warn({ ...where, ...fields }, `detached forwarding server '${this.name}'`);
    else if (prev === 'down') log.warn(where, `recovered forwarding server '${this.name}'`);
    else if (prev === 'standby') log.warn({ ...where, weight: this.weight }, `using standby node ${this.host}:${this.port}`);
    else if (next === 'standby') log.info(where, `standby forwarding server '${this.name}' is idle again`);
    else if (next === 'suspect') log.warn({ ...where, ...fields }, `forwarding server '${this.name}' is suspect`);
    else log.info(where, `forwarding server '${this.name}' answers again`);
  }

  private computeState(): NodeState {
    if (!this.available) return 'down';
    if (this.standby && !this.inUse) return 'standby';
    return this.suspicion !== null ? 'suspect' : 'up';
  }
}
