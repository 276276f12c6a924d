/**
 * Listening sockets that survive a reload (SIGUSR2). While a reload swaps pipelines, an input that
 * stops *parks* its listening socket here instead of closing it: the socket stays bound (no refused
 * connections), and what arrives meanwhile — new connections, HTTP requests, datagrams — is queued.
 * The new pipeline's input with the same address and kind *claims* it, attaches its own handlers
 * and replays the queue; it may also take over objects the old input carried along (open forward
 * connections). Whatever nobody claims is closed when the reload ends. Outside a reload, `release`
 * simply closes.
 */
import type { EventEmitter } from 'node:events';

export interface ListenSpec {
  proto: 'tcp' | 'udp' | 'unix';
  /** Bind address (tcp/udp) or socket path (unix). */
  address: string;
  /** Configured port (0 = ephemeral); 0 for unix. */
  port: number;
}

export interface Claimed<T> {
  handle: T;
  /** What the old owner handed over besides the socket (e.g. its open connections). */
  carry: unknown;
  /** Removes the queueing handlers and replays what was queued; call after attaching yours. */
  resume(): void;
}

interface Parked {
  spec: ListenSpec;
  kind: string;
  handle: EventEmitter;
  carry: unknown;
  events: string[];
  queue: Array<{ event: string; args: unknown[] }>;
  queuers: Map<string, (...args: unknown[]) => void>;
  close(): Promise<void> | void;
}

let handingOver = false;
const parked: Parked[] = [];

/** A reload is swapping pipelines: `release` parks instead of closing. */
export function beginHandover(): void {
  handingOver = true;
}

/** Ends the reload: every listener nobody claimed is closed (its queued connections dropped). */
export async function endHandover(): Promise<void> {
  handingOver = false;
  await Promise.all(parked.splice(0).map(dispose));
}

export function handoverActive(): boolean {
  return handingOver;
}

/**
 * Hands the listener over to the next pipeline during a reload, or closes it otherwise.
 * `events` are the handler events the owner attached (they are removed and queued while parked);
 * `close` closes the listener for good.
 */
export async function releaseListener(spec: ListenSpec, kind: string, handle: EventEmitter, events: string[], close: () => Promise<void> | void, carry?: unknown): Promise<void> {
  if (!handingOver) {
    await close();
    return;
  }
  const p: Parked = { spec, kind, handle, carry, events, queue: [], queuers: new Map(), close };
  for (const event of events) {
    handle.removeAllListeners(event);
    const q = (...args: unknown[]) => {
      if (event !== 'error') p.queue.push({ event, args });
    };
    p.queuers.set(event, q);
    handle.on(event, q);
  }
  parked.push(p);
}

const samePort = (a: ListenSpec, b: ListenSpec) =>
  a.proto === b.proto && (a.proto === 'unix' ? a.address === b.address : a.port !== 0 && a.port === b.port);

/**
 * The parked listener for `spec` and `kind`, or null (then bind a new one). A parked listener on
 * the same port (or path) but of another kind or address is closed first so the port is free.
 */
export async function claimListener<T extends EventEmitter>(spec: ListenSpec, kind: string): Promise<Claimed<T> | null> {
  if (parked.length === 0) return null;
  const i = parked.findIndex((p) => p.kind === kind && p.spec.proto === spec.proto && p.spec.address === spec.address && p.spec.port === spec.port);
  if (i < 0) {
    const clash = parked.filter((p) => samePort(p.spec, spec));
    for (const p of clash) parked.splice(parked.indexOf(p), 1);
    await Promise.all(clash.map(dispose));
    return null;
  }
  const p = parked.splice(i, 1)[0]!;
  return {
    handle: p.handle as T,
    carry: p.carry,
    resume() {
      for (const [event, q] of p.queuers) p.handle.off(event, q);
      p.queuers.clear();
      for (const { event, args } of p.queue.splice(0)) p.handle.emit(event, ...args);
    },
  };
}

async function dispose(p: Parked): Promise<void> {
  for (const [event, q] of p.queuers) p.handle.off(event, q);
  p.handle.on('error', () => undefined);
  for (const { args } of p.queue) {
    for (const a of args) {
      if (a && typeof (a as { destroy?: unknown }).destroy === 'function') (a as { destroy(): void }).destroy();
    }
  }
  try {
    await p.close();
  } catch {
    // closing a listener nobody wants any more cannot fail in a way that matters
  }
  const carried = p.carry as { destroy?: () => void } | undefined;
  carried?.destroy?.();
}
