/**
 * One client connection of out_forward (data or transport heartbeat): TCP or TLS connect within
 * connect_timeout, certificate checks, the HELO/PING/PONG handshake within hard_timeout when
 * `<security>` is set, then whole PackedForward messages written within send_timeout and acks read
 * as they come (any order; the ack tracker matches them by chunk id).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { ForwardDecoder } from '../../../protocol/framing.js';
import { type ClientHandshake, HandshakeError, parseHelo } from '../../../protocol/handshake.js';
import { decode } from '../../../protocol/msgpack.js';

export interface TlsClientSettings {
  /** ca, cert, key, passphrase, ciphers, min/max version. */
  options: ConnectionOptions;
  insecure: boolean;
  allowSelfSigned: boolean;
  verifyHostname: boolean;
}

export interface SocketSettings {
  tls: TlsClientSettings | null;
  connectTimeoutMs: number;
  sendTimeoutMs: number;
  handshakeTimeoutMs: number;
  /** TCP keepalive probes after this much idle time (null: off). */
  keepAliveProbeMs: number | null;
}

export interface Target {
  address: string;
  family: number;
  port: number;
  /** Name sent as SNI and checked against the certificate (null: the address). */
  tlsName: string | null;
  handshake: ClientHandshake | null;
}

const SELF_SIGNED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN']);
const MAX_RESPONSE = 64 * 1024;

/** A response that is not what the protocol allows (closes the connection). */
export class ResponseError extends Error {}

export class ForwardSocket {
  readonly createdAt = Date.now();
  /** Chunk ids (option.chunk) written here and not acknowledged yet. */
  readonly pending = new Set<string>();
  closed = false;
  /** Set when the peer ended the connection. */
  peerClosed = false;
  onAck: (id: string) => void = () => undefined;
  /** `reason` is null when we closed it on purpose. */
  onClose: (reason: string | null) => void = () => undefined;
  private readonly decoder = new ForwardDecoder({ maxRequestBytes: MAX_RESPONSE });
  private handshaking = true;
  private inbox: unknown[] = [];
  private waiter: { resolve(v: unknown): void; reject(e: Error): void } | null = null;
  private reason: string | null = null;
  /** We closed it (end or destroy without a reason). */
  private intentional = false;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('end', () => {
      this.peerClosed = true;
      this.reason ??= 'destination node closed the connection';
    });
    socket.on('error', (e) => {
      this.reason ??= e.message;
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.reject(new Error(this.reason ?? 'connection closed'));
      this.waiter = null;
      this.onClose(this.intentional ? null : (this.reason ?? 'connection closed'));
    });
  }

  /** Connects (and authenticates). Rejects with the reason; HandshakeError for a refused handshake. */
  static async open(t: Target, s: SocketSettings): Promise<ForwardSocket> {
    const raw = s.tls
      ? tlsConnect({
        ...s.tls.options,
        host: t.address,
        port: t.port,
        servername: t.tlsName ?? undefined,
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      })
      : tcpConnect({ host: t.address, port: t.port, family: t.family });
    const fs = new ForwardSocket(raw);
    try {
      await fs.connected(s, t);
      if (s.keepAliveProbeMs !== null) raw.setKeepAlive(true, s.keepAliveProbeMs);
      if (t.handshake) await fs.authenticate(t.handshake, Date.now() + s.handshakeTimeoutMs);
      fs.handshaking = false;
      if (fs.inbox.length > 0) throw new ResponseError('unexpected data after the handshake');
    } catch (e) {
      fs.destroy(e instanceof Error ? e.message : String(e));
      throw e;
    }
    return fs;
  }

  private connected(s: SocketSettings, t: Target): Promise<void> {
    const sock = this.socket;
    const event = s.tls ? 'secureConnect' : 'connect';
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`connect timeout (${s.connectTimeoutMs / 1000}s)`)), s.connectTimeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        sock.off(event, ok);
        reject(e);
      };
      const ok = () => {
        clearTimeout(timer);
        sock.off('error', fail);
        const problem = s.tls ? verifyPeer(sock as TLSSocket, s.tls, t.tlsName ?? t.address) : null;
        if (problem) reject(new Error(problem));
        else resolve();
      };
      sock.once(event, ok);
      sock.once('error', fail);
    });
  }

  private async authenticate(hs: ClientHandshake, deadline: number): Promise<void> {
    const helo = parseHelo(await this.next(deadline));
    this.socket.write(hs.ping(helo));
    hs.verifyPong(await this.next(deadline), helo);
  }

  /** The next value received during the handshake. */
  private next(deadline: number): Promise<unknown> {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift());
    if (this.closed) return Promise.reject(new HandshakeError(this.reason ?? 'connection closed during the handshake'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new HandshakeError('handshake timeout (hard_timeout)'));
      }, Math.max(0, deadline - Date.now()));
      this.waiter = {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(new HandshakeError(`connection closed during the handshake: ${e.message}`)); },
      };
    });
  }

  private receive(d: Buffer): void {
    try {
      this.decoder.push(d);
      for (let raw = this.decoder.nextRaw(); raw !== null; raw = this.socket.destroyed ? null : this.decoder.nextRaw()) {
        this.dispatch(decode(raw));
      }
    } catch (e) {
      this.destroy(`invalid response: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private dispatch(value: unknown): void {
    if (this.handshaking) {
      const w = this.waiter;
      this.waiter = null;
      if (w) w.resolve(value);
      else this.inbox.push(value);
      return;
    }
    const ack = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>).ack : undefined;
    if (typeof ack === 'string') this.onAck(ack);
    else if (ack instanceof Uint8Array) this.onAck(Buffer.from(ack).toString('utf8'));
    else throw new ResponseError('a response that is not an ack');
  }

  /** Writes one message (its parts in order, uncopied); rejects after send_timeout. */
  write(parts: readonly Buffer[], sendTimeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed || this.socket.destroyed) {
        reject(new Error(this.reason ?? 'connection closed'));
        return;
      }
      const timer = setTimeout(() => {
        this.destroy(`send timeout (${sendTimeoutMs / 1000}s)`);
        reject(new Error(`send timeout (${sendTimeoutMs / 1000}s)`));
      }, sendTimeoutMs);
      const sock = this.socket;
      sock.cork();
      for (let i = 0; i < parts.length - 1; i++) sock.write(parts[i]!);
      sock.write(parts[parts.length - 1]!, (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
      sock.uncork();
    });
  }

  /** Closes after what was written has been sent. */
  end(): void {
    if (this.closed) return;
    this.intentional = true;
    this.socket.end();
  }

  destroy(reason: string | null = null): void {
    if (this.closed) return;
    if (reason !== null) this.reason ??= reason;
    else this.intentional = true;
    this.socket.destroy();
  }
}

/** Certificate checks after the TLS handshake; returns the problem or null. */
function verifyPeer(sock: TLSSocket, tls: TlsClientSettings, name: string): string | null {
  if (tls.insecure) return null;
  if (!sock.authorized) {
    const err = sock.authorizationError as unknown;
    const code = err instanceof Error ? ((err as { code?: string }).code ?? err.message) : String(err);
    if (!(tls.allowSelfSigned && SELF_SIGNED.has(code))) return `TLS certificate verification failed: ${code}`;
  }
  if (tls.verifyHostname) {
    const e = checkServerIdentity(name, sock.getPeerCertificate());
    if (e) return `TLS certificate does not match ${name}: ${e.message}`;
  }
  return null;
}
