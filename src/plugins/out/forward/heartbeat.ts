/**
 * Heartbeats of out_forward (spec §4.6). Every `heartbeat_interval` each node is probed, then ticked
 * (hard timeout, phi):
 *   transport  open a data connection (TCP or TLS, with the handshake when `<security>` is set),
 *              send nothing, close; success is a heartbeat. One probe per node at a time.
 *   udp        one 0x00 datagram from a shared socket; a datagram back from exactly that address
 *              and port is a heartbeat. Replies from elsewhere are logged (rate-limited).
 * (`none` runs no timer at all.)
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { Logger } from 'pino';
import { errorMessage } from '../../../core/errors.js';
import { LogThrottle } from '../../../core/log.js';
import type { ForwardNode } from './node.js';

const PING = Buffer.from([0]);

export interface HeartbeatOptions {
  type: 'transport' | 'udp';
  intervalMs: number;
  nodes: readonly ForwardNode[];
  /** transport: connect, authenticate, close. Rejects when the node cannot be reached. */
  probe(node: ForwardNode): Promise<void>;
  /** A node was detached or recovered: rebuild the weights. */
  changed(): void;
  log: Logger;
}

export class Heartbeater {
  private timer: NodeJS.Timeout | null = null;
  private readonly udp = new Map<number, UdpSocket>();
  private readonly probing = new Set<ForwardNode>();
  private readonly byAddress = new Map<string, ForwardNode>();
  private readonly throttle = new LogThrottle();
  private stopped = false;

  constructor(private readonly o: HeartbeatOptions) {}

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.round(), this.o.intervalMs);
    this.timer.unref();
    this.round();
  }

  private round(): void {
    let changed = false;
    for (const n of this.o.nodes) {
      if (this.o.type === 'transport') this.probe(n);
      else void this.ping(n);
      if (n.tick()) changed = true;
    }
    if (changed) this.o.changed();
  }

  private probe(n: ForwardNode): void {
    if (this.probing.has(n)) return;
    this.probing.add(n);
    this.o.probe(n).then(
      () => {
        if (!this.stopped && n.heartbeat(true)) this.o.changed();
      },
      (e) => {
        if (this.stopped) return;
        this.o.log.debug({ host: n.host, port: n.port, heartbeat_type: 'transport', error: errorMessage(e) }, 'failed to send heartbeat packet');
        n.failed(errorMessage(e));
      },
    ).finally(() => this.probing.delete(n));
  }

  private async ping(n: ForwardNode): Promise<void> {
    try {
      const a = await n.heartbeatAddress();
      if (this.stopped) return;
      const sock = this.socketFor(a.family);
      this.byAddress.set(`${a.address}:${n.port}`, n);
      sock.send(PING, n.port, a.address, (err) => {
        if (err && !this.stopped) n.failed(err.message);
      });
    } catch (e) {
      if (this.stopped) return;
      this.o.log.debug({ host: n.host, port: n.port, heartbeat_type: 'udp', error: errorMessage(e) }, 'failed to send heartbeat packet');
      n.failed(errorMessage(e));
    }
  }

  private socketFor(family: number): UdpSocket {
    let sock = this.udp.get(family);
    if (sock) return sock;
    sock = createSocket(family === 6 ? 'udp6' : 'udp4');
    sock.on('message', (_msg, rinfo) => {
      const n = this.byAddress.get(`${rinfo.address}:${rinfo.port}`);
      if (!n) {
        const from = `${rinfo.address}:${rinfo.port}`;
        if (this.throttle.shouldLog(from)) this.o.log.warn({ from }, 'unknown heartbeat response');
        return;
      }
      if (!this.stopped && n.heartbeat(true)) this.o.changed();
    });
    sock.on('error', (e) => this.o.log.debug({ error: e.message }, 'heartbeat socket error'));
    sock.unref();
    this.udp.set(family, sock);
    return sock;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const s of this.udp.values()) s.close();
    this.udp.clear();
  }
}
