/**
 * Asking every worker at once: how a monitoring view of a multi-worker daemon (monitor_agent's sums,
 * Prometheus's aggregated exposition, the overall health) gets the numbers the other workers keep.
 *
 *   worker A ──gather(topic, arg)──▶ supervisor ──ask──▶ every live worker (A too)
 *   worker A ◀──gathered(answers)─── supervisor ◀─answer── each worker's answerer for `topic`
 *
 * A worker answers a topic with whatever function registered last for it (a reload's new pipeline
 * takes over from the old one). The supervisor waits at most `ASK_TIMEOUT_MS` for the answers; a
 * worker that is down, being restarted or slow appears in the result with an `error` instead of a
 * value, so a view can say which workers its figures lack. In a process without a supervisor the
 * only answer is the local one.
 */
import type { Worker } from 'node:cluster';
import { errorMessage } from './errors.js';

export interface WorkerAnswer<T = unknown> {
  worker: number;
  value?: T;
  error?: string;
}

/** Messages over the cluster IPC channel. */
export type GatherMessage =
  | { logferry: 'gather'; id: number; topic: string; arg: string }
  | { logferry: 'gather-ask'; id: number; topic: string; arg: string }
  | { logferry: 'gather-answer'; id: number; value?: unknown; error?: string }
  | { logferry: 'gathered'; id: number; answers: WorkerAnswer[] };

export const ASK_TIMEOUT_MS = 3000;
/** The asking worker's own limit: above the supervisor's, so its answer normally arrives first. */
const GATHER_TIMEOUT_MS = ASK_TIMEOUT_MS + 2000;

type Answerer = (arg: string) => unknown;

const answerers = new Map<string, Answerer>();
const pending = new Map<number, (answers: WorkerAnswer[]) => void>();
let nextId = 1;
let listening = false;

function isGatherMessage(m: unknown): m is GatherMessage {
  const kind = typeof m === 'object' && m !== null ? (m as { logferry?: unknown }).logferry : undefined;
  return kind === 'gather' || kind === 'gather-ask' || kind === 'gather-answer' || kind === 'gathered';
}

/** `fn`'s answer, or why there is none. */
async function answerWith(fn: Answerer | undefined, topic: string, arg: string): Promise<{ value?: unknown; error?: string }> {
  if (!fn) return { error: `no answer for '${topic}' in this worker` };
  try {
    return { value: await fn(arg) };
  } catch (e) {
    return { error: errorMessage(e) };
  }
}

/** True under a supervisor (a cluster worker with an IPC channel). */
function supervised(): boolean {
  return typeof process.send === 'function' && process.env.LOGFERRY_WORKER_ID !== undefined;
}

function listen(): void {
  if (listening || !supervised()) return;
  listening = true;
  process.on('message', (m: unknown) => {
    if (!isGatherMessage(m)) return;
    if (m.logferry === 'gather-ask') {
      void answerWith(answerers.get(m.topic), m.topic, m.arg).then((a) => process.send?.({ logferry: 'gather-answer', id: m.id, ...a } satisfies GatherMessage));
    } else if (m.logferry === 'gathered') {
      pending.get(m.id)?.(m.answers);
    }
  });
}

/**
 * Answers `topic` in this process from now on (replacing an earlier answerer); the returned function
 * withdraws it, unless another has replaced it since.
 */
export function answerGather(topic: string, fn: Answerer): () => void {
  answerers.set(topic, fn);
  listen();
  return () => {
    if (answerers.get(topic) === fn) answerers.delete(topic);
  };
}

/**
 * Every worker's answer to `topic`, ordered by worker id. `self` is this process's worker id, `workers`
 * how many there are, and `local` this worker's own answer: the only one without a supervisor, and
 * what is left (the others marked as not answering) if the supervisor does not reply.
 */
export function gather<T>(topic: string, arg: string, self: number, workers: number, local: (arg: string) => unknown): Promise<Array<WorkerAnswer<T>>> {
  const own = () => answerWith(local, topic, arg).then((a) => [{ worker: self, ...a } as WorkerAnswer<T>]);
  if (!supervised()) return own();
  const alone = () => own().then((mine) => [
    ...mine,
    ...Array.from({ length: workers }, (_, w) => w).filter((w) => w !== self).map((w) => ({ worker: w, error: `the supervisor did not answer within ${GATHER_TIMEOUT_MS} ms` })),
  ]);
  listen();
  const id = nextId++;
  return new Promise((resolve) => {
    const done = (answers: Array<WorkerAnswer<T>>) => {
      clearTimeout(timer);
      pending.delete(id);
      resolve([...answers].sort((a, b) => a.worker - b.worker));
    };
    const timer = setTimeout(() => void alone().then(done), GATHER_TIMEOUT_MS);
    pending.set(id, (answers) => done(answers as Array<WorkerAnswer<T>>));
    process.send!({ logferry: 'gather', id, topic, arg } satisfies GatherMessage);
  });
}

/**
 * The supervisor's side: relays a worker's `gather` to every live worker and sends the answers back
 * when all have answered or `ASK_TIMEOUT_MS` has passed.
 */
export class GatherRelay {
  private nextAsk = 1;
  private readonly asks = new Map<number, { answers: Map<number, WorkerAnswer>; expected: number[]; finish(): void }>();

  /** `workers()`: every worker slot with its id; `worker` null while it is down. */
  constructor(private readonly workers: () => Array<{ id: number; worker: Worker | null }>) {}

  /** Feed every message a worker sends; returns true when it was one of ours. */
  onMessage(from: { id: number; worker: Worker }, m: unknown): boolean {
    if (!isGatherMessage(m)) return false;
    if (m.logferry === 'gather') this.relay(from, m.id, m.topic, m.arg);
    else if (m.logferry === 'gather-answer') this.answered(from.id, m);
    return true;
  }

  /** A worker that exits will not answer: stop waiting for it. */
  onExit(id: number): void {
    for (const ask of this.asks.values()) {
      if (!ask.answers.has(id) && ask.expected.includes(id)) {
        ask.answers.set(id, { worker: id, error: 'the worker exited' });
        if (ask.answers.size === ask.expected.length) ask.finish();
      }
    }
  }

  private relay(from: { id: number; worker: Worker }, requestId: number, topic: string, arg: string): void {
    const slots = this.workers();
    const live = slots.flatMap((s) => (s.worker && s.worker.isConnected() ? [{ id: s.id, worker: s.worker }] : []));
    const id = this.nextAsk++;
    const answers = new Map<number, WorkerAnswer>();
    for (const s of slots) if (!live.some((w) => w.id === s.id)) answers.set(s.id, { worker: s.id, error: 'the worker is not running' });
    const expected = slots.map((s) => s.id);
    const finish = () => {
      clearTimeout(timer);
      this.asks.delete(id);
      for (const w of expected) if (!answers.has(w)) answers.set(w, { worker: w, error: `no answer within ${ASK_TIMEOUT_MS} ms` });
      if (from.worker.isConnected()) from.worker.send({ logferry: 'gathered', id: requestId, answers: [...answers.values()] } satisfies GatherMessage);
    };
    const timer = setTimeout(finish, ASK_TIMEOUT_MS);
    this.asks.set(id, { answers, expected, finish });
    for (const w of live) w.worker.send({ logferry: 'gather-ask', id, topic, arg } satisfies GatherMessage);
    if (answers.size === expected.length) finish();
  }

  private answered(worker: number, m: { id: number; value?: unknown; error?: string }): void {
    const ask = this.asks.get(m.id);
    if (!ask) return; // too late
    ask.answers.set(worker, { worker, value: m.value, error: m.error });
    if (ask.answers.size === ask.expected.length) ask.finish();
  }
}
