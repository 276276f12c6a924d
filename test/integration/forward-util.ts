/**
 * Shared by the forward integration tests: start the real daemon with one forward (or unix) source
 * printing every event to stdout, raw socket clients that record what the server answers, and the
 * stdout time format. Not a test file itself.
 */
import { connect, type Socket } from 'node:net';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import { decodeAll, encode } from '../../src/protocol/msgpack.js';

export interface ForwardDaemon {
  daemon: Daemon;
  port: number;
}

/** The daemon with `<source> @type forward port 0` (+ `sourceLines`), other events to stdout. */
export async function startForward(sourceLines = '', extra = ''): Promise<ForwardDaemon> {
  const daemon = await startDaemon(`
<source>
  @type forward
  port 0
  bind 127.0.0.1
${sourceLines}
</source>
${extra}
<match fluent.**>
  @type null
</match>
<match **>
  @type stdout
</match>
`, { env: { TZ: 'UTC' } });
  await daemon.waitForOutput(/listening port port=\d+/);
  const port = Number(/listening port port=(\d+)/.exec(daemon.stdout())![1]);
  return { daemon, port };
}

/** A raw TCP (or unix) client keeping every byte the server sent and whether it closed. */
export class RawClient {
  readonly socket: Socket;
  received = Buffer.alloc(0);
  closed = false;
  error: Error | null = null;
  private readonly ready: Promise<void>;

  constructor(target: number | string) {
    this.socket = typeof target === 'number' ? connect(target, '127.0.0.1') : connect(target);
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('data', (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
    this.socket.on('error', (e) => (this.error = e));
    this.socket.on('close', () => (this.closed = true));
  }

  static async open(target: number | string): Promise<RawClient> {
    const c = new RawClient(target);
    await c.ready;
    return c;
  }

  write(b: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(b, (e) => (e ? reject(e) : resolve())));
  }

  /** Every msgpack value received so far. */
  values(): unknown[] {
    return this.received.length ? decodeAll(this.received) : [];
  }

  async waitForValues(n: number, timeoutMs = 10000): Promise<unknown[]> {
    return waitFor(() => {
      try {
        const v = this.values();
        return v.length >= n ? v : null;
      } catch {
        return null; // a value is still arriving
      }
    }, timeoutMs, `${n} msgpack values from the server`);
  }

  waitClosed(timeoutMs = 10000): Promise<true> {
    return waitFor(() => this.closed || null, timeoutMs, 'the server to close the connection');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The stdout time of an event at `sec`.`nsec` (daemon runs with TZ=UTC). */
export function stdoutTime(sec: number, nsec = 0): string {
  const iso = new Date(sec * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${String(nsec).padStart(9, '0')} +0000`;
}

/**
 * Sends `n` events with sequence numbers from `from` on one new connection, one acknowledged message
 * each (`{seq, pad}`). Returns the acknowledged sequence numbers.
 */
export async function sendAcked(port: number, from: number, n: number, tag = 'seq.w'): Promise<number[]> {
  const c = await RawClient.open(port);
  const acked: number[] = [];
  for (let i = 0; i < n; i++) {
    const seq = from + i;
    await c.write(encode([tag, Math.floor(Date.now() / 1000), { seq, pad: 'x'.repeat(100) }, { chunk: `c${seq}` }]));
    await c.waitForValues(i + 1, 5000);
    acked.push(seq);
  }
  c.destroy();
  return acked;
}
