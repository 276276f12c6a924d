/**
 * The supervisor's side of gathering (core/gather.ts GatherRelay): a worker's question goes to
 * every live worker, the answers go back to the asker once all are in, and workers that are down,
 * exit meanwhile or stay silent past ASK_TIMEOUT_MS are reported instead of waited for. The workers
 * here are stand-ins that record what they are sent (the e2e test in test/e2e/workers-monitoring.test.ts
 * runs the real supervisor).
 */
import type { Worker } from 'node:cluster';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ASK_TIMEOUT_MS, gather, GatherRelay, type GatherMessage } from '../../../src/core/gather.js';

function worker(): Worker & { sent: GatherMessage[] } {
  const sent: GatherMessage[] = [];
  return { sent, send: (m: GatherMessage) => sent.push(m), isConnected: () => true } as unknown as Worker & { sent: GatherMessage[] };
}

function setup(slots: Array<Worker | null>) {
  const relay = new GatherRelay(() => slots.map((w, id) => ({ id, worker: w })));
  const ask = (from: number) => relay.onMessage({ id: from, worker: slots[from]! }, { logferry: 'gather', id: 42, topic: 't', arg: 'a' });
  const answer = (from: number, value: unknown) => {
    const q = (slots[from] as Worker & { sent: GatherMessage[] }).sent.find((m) => m.logferry === 'gather-ask')!;
    relay.onMessage({ id: from, worker: slots[from]! }, { logferry: 'gather-answer', id: q.id, value });
  };
  const gathered = (w: number) => (slots[w] as Worker & { sent: GatherMessage[] }).sent.filter((m) => m.logferry === 'gathered');
  return { relay, ask, answer, gathered };
}

afterEach(() => vi.useRealTimers());

describe('GatherRelay', () => {
  it('asks every live worker, the asker too, and answers once all have answered', () => {
    const w = [worker(), worker()];
    const { ask, answer, gathered } = setup(w);
    expect(ask(1)).toBe(true);
    expect(w.map((x) => x.sent.map((m) => m.logferry))).toEqual([['gather-ask'], ['gather-ask']]);
    answer(0, 'zero');
    expect(gathered(1)).toEqual([]);
    answer(1, 'one');
    expect(gathered(1)).toEqual([{ logferry: 'gathered', id: 42, answers: [{ worker: 0, value: 'zero' }, { worker: 1, value: 'one' }] }]);
    expect(gathered(0)).toEqual([]);
  });

  it('reports a worker that is down, one that exits, and one that stays silent past the timeout', () => {
    vi.useFakeTimers();
    const w = [worker(), null, worker(), worker()];
    const { relay, ask, answer, gathered } = setup(w);
    ask(0);
    answer(0, 'zero');
    relay.onExit(2);
    expect(gathered(0)).toEqual([]); // worker 3 has not answered yet
    vi.advanceTimersByTime(ASK_TIMEOUT_MS);
    const [done] = gathered(0) as Array<Extract<GatherMessage, { logferry: 'gathered' }>>;
    expect(done!.answers.sort((a, b) => a.worker - b.worker)).toEqual([
      { worker: 0, value: 'zero' },
      { worker: 1, error: 'the worker is not running' },
      { worker: 2, error: 'the worker exited' },
      { worker: 3, error: `no answer within ${ASK_TIMEOUT_MS} ms` },
    ]);
    answer(3, 'late'); // ignored
    expect(gathered(0)).toHaveLength(1);
  });

  it('leaves other messages to the supervisor', () => {
    const { relay } = setup([worker()]);
    expect(relay.onMessage({ id: 0, worker: worker() }, { logferry: 'running', workerId: 0 })).toBe(false);
  });
});

describe('gather (the worker side)', () => {
  it('without a supervisor answers alone; with one that never replies, names the other workers', async () => {
    expect(await gather('t', 'a', 0, 1, (arg) => `own ${arg}`)).toEqual([{ worker: 0, value: 'own a' }]);
    // pretend to be worker 1 of 3 under a supervisor that swallows the question
    vi.useFakeTimers();
    const sent: unknown[] = [];
    const original = process.send;
    process.send = ((m: unknown) => sent.push(m) > 0) as typeof process.send;
    vi.stubEnv('LOGFERRY_WORKER_ID', '1');
    try {
      const pending = gather('t', 'a', 1, 3, () => 'mine');
      expect(sent).toEqual([{ logferry: 'gather', id: expect.any(Number), topic: 't', arg: 'a' }]);
      await vi.advanceTimersByTimeAsync(ASK_TIMEOUT_MS + 2000);
      const answers = await pending;
      expect(answers.map((a) => [a.worker, a.value ?? a.error])).toEqual([
        [0, expect.stringMatching(/^the supervisor did not answer within \d+ ms$/)],
        [1, 'mine'],
        [2, expect.stringMatching(/^the supervisor did not answer/)],
      ]);
    } finally {
      process.send = original;
      vi.unstubAllEnvs();
    }
  });
});
