/**
 * Shared by the out_forward tests (not a test file): an in-process forwarder (the real agent with a
 * `<match test.**> @type forward`), an in-process receiver (the real in_forward into a capture
 * output), and a raw-socket receiver that decodes what arrives and acks by a policy the test sets.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { BufferedOutput } from '../../src/buffer/buffered-output.js';
import type { Agent } from '../../src/core/agent.js';
import { EventStream } from '../../src/core/event-stream.js';
import { EventTime } from '../../src/core/event-time.js';
import type { ForwardInput } from '../../src/plugins/in/forward.js';
import type { ForwardOutput } from '../../src/plugins/out/forward.js';
import { buildAck, ForwardDecoder, type EventRequest } from '../../src/protocol/framing.js';
import { decodeAll, encode } from '../../src/protocol/msgpack.js';
import { buildFromText, captured } from '../helpers/agent.js';
import { waitFor } from '../helpers/wait.js';

const running: Array<{ stop(): Promise<void> }> = [];

/** Stops everything the helpers started (call in afterEach). */
export async function stopAll(): Promise<void> {
  for (const r of running.splice(0).reverse()) await r.stop();
}

function build(text: string): { agent: Agent; logs(): string } {
  const r = buildFromText(text);
  if (!r.agent) throw new Error(r.problems.map((p) => `${p.param ?? ''}: ${p.message}`).join('\n'));
  const agent = r.agent;
  running.push({ stop: () => agent.stop() });
  return { agent, logs: r.logs };
}

export interface Forwarder {
  agent: Agent;
  buffered: BufferedOutput;
  out: ForwardOutput;
  logs(): string;
  /** Buffers one event per record under `tag` (time T + i). */
  emit(records: Array<Record<string, unknown>>, tag?: string): Promise<void>;
}

export const T = 1_750_000_000;

/** The agent with `<match test.**> @type forward` + `body` (servers, buffer, options). */
export async function startForwarder(body: string): Promise<Forwarder> {
  const { agent, logs } = build(`<match test.**>\n  @type forward\n  @id fwd_out\n${body}\n</match>\n`);
  await agent.start();
  const buffered = agent.plugins.find((p) => p.id === 'fwd_out')!.instance as BufferedOutput;
  return {
    agent, buffered, out: buffered.writer as ForwardOutput, logs,
    emit: (records, tag = 'test.data') =>
      agent.emit(tag, EventStream.fromEvents(records.map((record, i) => ({ time: new EventTime(T + i, 0), record })))),
  };
}

/** A `<buffer>` flushing fast, retrying fast (and forever). */
export function fastBuffer(extra = '', flushInterval = 0.1): string {
  return `  <buffer tag>\n    flush_mode interval\n    flush_interval ${flushInterval}\n    flush_thread_burst_interval 0.02\n    flush_thread_interval 0.05\n    retry_wait 0.1\n    retry_max_interval 0.3\n    retry_forever true\n${extra}  </buffer>`;
}

export interface Receiver {
  agent: Agent;
  port: number;
  input: ForwardInput;
  logs(): string;
  /** Records captured so far. */
  records(): Array<Record<string, unknown>>;
}

let receivers = 0;

/** The real in_forward (`sourceLines` added to `<source>`) into a capture output. */
export async function startReceiver(sourceLines = '', port = 0): Promise<Receiver> {
  const id = `rcv${++receivers}`;
  const { agent, logs } = build(`<source>\n  @type forward\n  @id ${id}_in\n  port ${port}\n  bind 127.0.0.1\n${sourceLines}\n</source>\n<match test.**>\n  @type test_capture\n  @id ${id}\n</match>\n`);
  await agent.start();
  const input = agent.plugins.find((p) => p.id === `${id}_in`)!.instance as ForwardInput;
  captured.set(id, []);
  return { agent, port: input.port, input, logs, records: () => (captured.get(id) ?? []).map((e) => e.record) };
}

/** One PackedForward message as the raw receiver got it. */
export interface Received {
  raw: Buffer;
  request: EventRequest;
  conn: number;
  /** The option's chunk id as a string, or null. */
  chunk: string | null;
}

/** How the raw receiver answers one message: ack now, ack after ms, never, close, or ack another id. */
export type AckPolicy = (m: Received, nth: number) => 'ack' | 'none' | 'close' | number | { wrongId: string };

/** A forward receiver on raw sockets: keeps every message's exact bytes and acks by `policy`. */
export class RawReceiver {
  readonly messages: Received[] = [];
  connections = 0;
  policy: AckPolicy = () => 'ack';
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private timers = new Set<NodeJS.Timeout>();
  port = 0;

  private constructor() {
    this.server = createServer((s) => this.accept(s));
  }

  static async start(port = 0, host = '127.0.0.1'): Promise<RawReceiver> {
    const r = new RawReceiver();
    await new Promise<void>((resolve, reject) => {
      r.server.once('error', reject);
      r.server.listen(port, host, () => resolve());
    });
    r.port = (r.server.address() as { port: number }).port;
    running.push({ stop: () => r.stop() });
    return r;
  }

  private accept(s: Socket): void {
    const conn = ++this.connections;
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
    const dec = new ForwardDecoder();
    let start = 0;
    let seen = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      seen = Buffer.concat([seen, d]);
      dec.push(d);
      for (let req = dec.next(); req !== null; req = dec.next()) {
        const end = seen.length - dec.buffered;
        const raw = seen.subarray(start, end);
        start = end;
        if (!('tag' in req)) continue;
        const m: Received = { raw, request: req, conn, chunk: req.chunk ? (decodeAll(req.chunk)[0] as string) : null };
        this.messages.push(m);
        this.answer(s, m);
      }
    });
  }

  private answer(s: Socket, m: Received): void {
    const what = this.policy(m, this.messages.length);
    if (what === 'close') s.destroy();
    if (typeof what === 'object') {
      s.write(buildAck(encode(what.wrongId)));
      return;
    }
    if (typeof what !== 'number' && what !== 'ack') return;
    if (!m.request.chunk) return;
    const ack = buildAck(m.request.chunk);
    if (what === 'ack') s.write(ack);
    else {
      const t = setTimeout(() => { this.timers.delete(t); if (!s.destroyed) s.write(ack); }, what);
      this.timers.add(t);
    }
  }

  /** Records of every message, decoded (duplicates included). */
  records(): Array<Record<string, unknown>> {
    return this.messages.flatMap((m) => (decodeAll(m.request.entries) as Array<[unknown, Record<string, unknown>]>).map((e) => e[1]));
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Waits until `n` records with distinct `seq` arrived; returns the seqs seen and the duplicates. */
export async function waitForSeqs(records: () => Array<Record<string, unknown>>, n: number, timeoutMs = 15000): Promise<{ seqs: Set<number>; duplicates: number }> {
  return waitFor(() => {
    const all = records().map((r) => r.seq as number);
    const seqs = new Set(all);
    return seqs.size >= n ? { seqs, duplicates: all.length - seqs.size } : null;
  }, timeoutMs, `${n} distinct sequence numbers`);
}

export function range(from: number, n: number): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => ({ seq: from + i }));
}
