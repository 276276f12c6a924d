/**
 * One forward-protocol connection, whatever the socket (TCP for in_forward, unix for in_unix):
 * optional handshake, then requests decoded in order; each is emitted (the socket is paused while
 * an emit is pending, so a full buffer slows only this sender) and acked once the emit resolved.
 * Bad input closes only this connection, with one rate-limited warning naming the peer; nothing
 * thrown here ever leaves the connection. Resent chunks are detected in chunk-dedupe.ts; the
 * source address/hostname fields are added by source-fields.ts.
 */
import type { Socket } from 'node:net';
import { errorMessage, ProtocolError } from '../../../core/errors.js';
import { EventStream } from '../../../core/event-stream.js';
import type { LogThrottle } from '../../../core/log.js';
import type { PluginContext } from '../../../core/plugin.js';
import { buildAck, type DecoderOptions, type EventRequest, ForwardDecoder, ForwardProtocolError, type ForwardRequest } from '../../../protocol/framing.js';
import type { ServerAuth, ServerHandshake } from '../../../protocol/handshake.js';
import { decode } from '../../../protocol/msgpack.js';
import type { ChunkIdMemory } from './chunk-memory.js';
import { dedupeBatch } from './chunk-dedupe.js';
import { addSourceFields, type HostnameResolver } from './source-fields.js';

// Re-exported so in_forward keeps importing everything connection-related from here.
export { HostnameResolver } from './source-fields.js';

/** Consecutive small requests for one tag already received are emitted together (acks stay per request). */
const MAX_BATCH = 512;
const MAX_BATCH_BYTES = 1024 * 1024;
/** Bytes a client may send before its PING is complete. */
const MAX_HANDSHAKE_BYTES = 64 * 1024;

export interface ForwardSettings {
  readonly ctx: PluginContext;
  readonly decoder: DecoderOptions;
  readonly auth: ServerAuth | null;
  readonly denyKeepalive: boolean;
  readonly chunkSizeWarnLimit: number | null;
  readonly sourceAddressKey: string | null;
  readonly sourceHostnameKey: string | null;
  readonly resolver: HostnameResolver | null;
  readonly throttle: LogThrottle;
  /** Ids of chunks stored recently: a resent chunk is acked again, stored once (null: off). */
  readonly chunkIds?: ChunkIdMemory | null;
}

export interface Peer {
  /** IP address (null for unix sockets). */
  readonly address: string | null;
  /** How logs name the peer: `ip:port` or `unix:<path>`. */
  readonly label: string;
}

export class ForwardConnection {
  private readonly decoder: ForwardDecoder;
  private handshake: ServerHandshake | null;
  private busy = false;
  private closed = false;
  private peerEnded = false;
  private stopped = false;
  private held: ForwardRequest | null = null;
  private heldError: unknown = null;
  private running: Promise<void> | null = null;

  constructor(readonly socket: Socket, private s: ForwardSettings, readonly peer: Peer) {
    this.decoder = new ForwardDecoder(s.decoder);
    this.handshake = s.auth ? s.auth.session(!s.denyKeepalive) : null;
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      this.kick();
    });
    socket.on('end', () => {
      this.peerEnded = true;
      this.kick();
    });
    socket.on('error', (e) => this.s.ctx.log.debug({ peer: peer.label, error: e.message }, 'connection error'));
    socket.on('close', () => (this.closed = true));
    if (this.handshake) socket.write(this.handshake.helo());
  }

  /** Stops reading; resolves once the request in flight (if any) is answered. */
  stop(): Promise<void> {
    this.stopped = true;
    this.socket.pause();
    return this.running ?? Promise.resolve();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  /** Continues under another input's settings (reload); bytes not read yet are read by the new pipeline. */
  adopt(s: ForwardSettings): void {
    this.s = s;
    this.stopped = false;
    if (this.closed) return;
    this.socket.resume();
    this.kick();
  }

  private kick(): void {
    if (this.busy || this.closed || this.stopped) return;
    this.busy = true;
    this.running = this.pump();
  }

  private async pump(): Promise<void> {
    try {
      while (!this.closed && !this.stopped) {
        if (this.handshake) {
          if (!this.authenticate()) break;
          continue;
        }
        const req = this.take();
        if (req === null) break;
        if (!(await this.handle(req))) break;
      }
      if (this.peerEnded && !this.closed && !this.stopped) this.end();
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
      this.running = null;
    }
  }

  private take(): ForwardRequest | null {
    if (this.held !== null) {
      const r = this.held;
      this.held = null;
      return r;
    }
    if (this.heldError !== null) throw this.heldError;
    return this.decoder.next();
  }

  /** Handles a PING when one is complete; false when waiting for bytes or refused. */
  private authenticate(): boolean {
    const raw = this.decoder.nextRaw();
    if (raw === null) {
      if (this.decoder.buffered > MAX_HANDSHAKE_BYTES) throw new ForwardProtocolError('too_large', 'handshake message too large');
      return false;
    }
    let msg: unknown;
    try {
      msg = decode(raw);
    } catch (e) {
      throw new ForwardProtocolError('invalid_msgpack', `PING cannot be decoded: ${errorMessage(e)}`);
    }
    const r = this.handshake!.checkPing(msg, this.peer.address ?? '');
    if (!r.ok) {
      this.s.ctx.metrics.countReject('auth');
      this.warn({ reason: r.reason }, 'handshake failed, closing connection');
      this.end(r.pong);
      return false;
    }
    this.socket.write(r.pong);
    this.handshake = null;
    return true;
  }

  private async handle(req: ForwardRequest): Promise<boolean> {
    if (req.mode === 'nil') return true;
    if (req.mode === 'ignored') {
      this.s.ctx.metrics.countDrop('broken_chunk');
      this.warn({ reason: req.reason }, 'incoming chunk is broken, ignored');
      return true;
    }
    if (req.mode === 'oversized') {
      this.s.ctx.metrics.countDrop('chunk_size_limit');
      this.warn({ size: req.bytes, limit: this.s.decoder.chunkSizeLimit }, "Input chunk size is larger than 'chunk_size_limit', dropped");
      return true;
    }
    const batch = this.gather(req);
    const { fresh, settle } = await dedupeBatch(batch, this.s.chunkIds, (chunks, records) => {
      this.s.ctx.metrics.countDrop('duplicate_chunk', records);
      this.s.ctx.log.debug({ peer: this.peer.label, tag: batch[0]!.tag, chunks, records }, 'chunk already stored, acked again without storing it twice');
    });
    try {
      return await this.store(req.tag, batch, fresh, settle);
    } catch (e) {
      settle(false);
      throw e;
    }
  }

  /** Emits the fresh requests of a batch, then acks the whole batch. False when the connection ended. */
  private async store(tag: string, batch: EventRequest[], fresh: EventRequest[], settle: (stored: boolean) => void): Promise<boolean> {
    let count = 0;
    for (const r of fresh) {
      this.inspect(r);
      count += r.count;
    }
    if (count > 0) {
      const entries = fresh.length === 1 ? fresh[0]!.entries : Buffer.concat(fresh.map((r) => r.entries));
      let stream = EventStream.fromPacked(entries, count);
      if (this.s.sourceAddressKey !== null || this.s.sourceHostnameKey !== null) stream = await addSourceFields(stream, this.s, this.peer.address ?? '');
      this.socket.pause();
      try {
        await this.s.ctx.emit(tag, stream);
      } catch (e) {
        settle(false);
        this.s.ctx.metrics.countReject('emit_failed');
        this.warn({ tag, records: count, error: errorMessage(e) }, 'emit failed, closing connection without ack');
        this.destroy();
        return false;
      } finally {
        if (!this.stopped && !this.closed) this.socket.resume();
      }
      this.s.ctx.metrics.countEmit(count, entries.length);
    }
    settle(true);
    const acks = batch.filter((r) => r.chunk !== null).map((r) => buildAck(r.chunk!, this.decoder.format));
    if (this.s.denyKeepalive) {
      this.end(acks.length > 0 ? Buffer.concat(acks) : undefined);
      return false;
    }
    if (acks.length > 0 && !this.closed && this.socket.writable) this.socket.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks));
    return true;
  }

  /** Takes further requests for the same tag that are already complete, to emit them at once. */
  private gather(first: EventRequest): EventRequest[] {
    const batch = [first];
    if (this.s.denyKeepalive || first.count === 0) return batch;
    let size = first.entries.length;
    while (batch.length < MAX_BATCH && size < MAX_BATCH_BYTES) {
      let next: ForwardRequest | null;
      try {
        next = this.decoder.next();
      } catch (e) {
        this.heldError = e; // handled after this batch, as Fluentd handles earlier requests first
        break;
      }
      if (next === null) break;
      if (next.mode === 'nil') continue;
      if ('tag' in next && next.tag === first.tag && next.count > 0) {
        batch.push(next);
        size += next.entries.length;
        continue;
      }
      this.held = next;
      break;
    }
    return batch;
  }

  /** Per-request warnings: size over chunk_size_warn_limit, invalid events skipped. */
  private inspect(r: EventRequest): void {
    const warnLimit = this.s.chunkSizeWarnLimit;
    if (warnLimit !== null && r.bytes > warnLimit) {
      this.warn({ tag: r.tag, size: r.bytes, limit: warnLimit }, "Input chunk size is larger than 'chunk_size_warn_limit'");
    }
    if (r.skipped > 0) {
      this.s.ctx.metrics.countDrop('invalid_event', r.skipped);
      this.warn({ tag: r.tag, events: r.skipped }, r.mode === 'message' ? 'got invalid event and drop it' : 'skip invalid event');
    }
    if (r.dropped > 0) this.s.ctx.metrics.countDrop('nil_record', r.dropped);
  }

  private end(last?: Buffer): void {
    this.closed = true;
    if (last) this.socket.end(last);
    else this.socket.end();
  }

  private fail(e: unknown): void {
    const known = e instanceof ProtocolError;
    const reason = e instanceof ForwardProtocolError ? e.reason : known ? 'invalid_msgpack' : 'internal_error';
    this.s.ctx.metrics.countReject(reason);
    if (known) this.warn({ reason, error: errorMessage(e) }, 'unexpected error on reading data, closing connection');
    else this.s.ctx.log.error({ peer: this.peer.label, error: errorMessage(e) }, 'unexpected error on reading data, closing connection');
    this.destroy();
  }

  private warn(fields: Record<string, unknown>, msg: string): void {
    const key = this.peer.address ?? this.peer.label;
    if (this.s.throttle.shouldLog(`${key}|${msg}`)) this.s.ctx.log.warn({ peer: this.peer.label, ...fields }, msg);
  }
}

/** The open connections of one listener. */
export class ConnectionSet {
  private readonly conns = new Set<ForwardConnection>();

  accept(socket: Socket, settings: ForwardSettings, peer: Peer): ForwardConnection {
    const c = new ForwardConnection(socket, settings, peer);
    this.conns.add(c);
    socket.on('close', () => this.conns.delete(c));
    return c;
  }

  get size(): number {
    return this.conns.size;
  }

  /** Stops reading everywhere and waits (up to `timeoutMs`) for requests in flight to be answered. */
  async stop(timeoutMs = 5000): Promise<void> {
    const pending = Promise.allSettled([...this.conns].map((c) => c.stop()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([pending, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  destroyAll(): void {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
  }

  /** Gives up the (stopped) connections so a reloaded input can adopt them; this set is empty afterwards. */
  handOff(): HandedConnections {
    const conns = [...this.conns];
    this.conns.clear();
    return { conns, destroy: () => { for (const c of conns) c.destroy(); } };
  }

  /** Takes over connections handed off by the input this one replaces and resumes reading them. */
  adopt(h: HandedConnections, settings: ForwardSettings): void {
    for (const c of h.conns) {
      if (c.socket.destroyed) continue;
      this.conns.add(c);
      c.socket.on('close', () => this.conns.delete(c));
      c.adopt(settings);
    }
  }
}

export interface HandedConnections {
  conns: ForwardConnection[];
  destroy(): void;
}
