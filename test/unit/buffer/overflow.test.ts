import { afterEach, describe, expect, it } from 'vitest';
import { BufferOverflowError } from '../../../src/buffer/buffer.js';
import type { Agent } from '../../../src/core/agent.js';
import { EmitError } from '../../../src/core/errors.js';
import { EventStream } from '../../../src/core/event-stream.js';
import { encode } from '../../../src/protocol/msgpack.js';
import { buildBuffered, buildFromText, captured, holdSink, sink, sinkRecords, type BufferedHarness, type HarnessOptions } from '../../helpers/agent.js';
import { waitFor } from '../../helpers/wait.js';

const open: BufferedHarness[] = [];
const agents: Agent[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.out.close();
  for (const a of agents.splice(0)) await a.stop();
});

async function started(body: string, o: HarnessOptions = {}): Promise<BufferedHarness> {
  const h = buildBuffered(body, o);
  open.push(h);
  await h.out.start();
  return h;
}

/** Proves that something does not happen: there is no event to wait for, only time passing. */
const quiet = (ms = 300) => new Promise((r) => setTimeout(r, ms));

const T = 1_700_000_000;
const rec = (n: number) => ({ n, pad: 'x'.repeat(80) });
/** Bytes one `rec(n)` takes in a chunk (n < 128). */
const SIZE = encode([T, rec(1)]).length;
/** Room for two records: the third write fills the buffer, the fourth finds it full. */
const LIMITS = `total_limit_size ${3 * SIZE}\n flush_thread_interval 0.02\n flush_thread_burst_interval 0.01`;

describe('overflow_action throw_exception', () => {
  it('rejects the write with BufferOverflowError once total_limit_size is reached', async () => {
    const h = await started(`@type test_sink\n<buffer>\n flush_mode lazy\n ${LIMITS}\n</buffer>`);
    for (let n = 0; n < 3; n++) await h.emit('a', [rec(n)], T);
    const err = await h.emit('a', [rec(3)], T).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BufferOverflowError);
    expect((err as BufferOverflowError).code).toBe('LF_BUFFER_OVERFLOW');
    expect(h.metrics.retry_count).toBe(1);
    expect(h.logs()).toContain(`failed to write data into buffer by buffer overflow action="throw_exception" total_bytes=${3 * SIZE} limit=${3 * SIZE}`);
    expect(h.out.buffer.totalBytes).toBe(3 * SIZE);
  });

  const agentConfig = (errorLabel: boolean) => `
<match app.**>
  @type test_sink
  @id sink
  <buffer>
    flush_mode lazy
    ${LIMITS}
  </buffer>
</match>
${errorLabel ? '<label @ERROR>\n  <match **>\n    @type test_capture\n    @id errors\n  </match>\n</label>' : ''}
`;

  it('through the agent, the emitter gets the error', async () => {
    const r = buildFromText(agentConfig(false));
    agents.push(r.agent!);
    await r.agent!.start();
    for (let n = 0; n < 3; n++) await r.agent!.emit('app.a', EventStream.single(T, rec(n)));
    const err = await r.agent!.emit('app.a', EventStream.single(T, rec(3))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmitError);
    expect((err as EmitError).cause_).toBeInstanceOf(BufferOverflowError);
    expect(r.logs()).toContain('emit transaction failed tag="app.a"');
  });

  it('with <label @ERROR>, the refused stream goes there and the emit succeeds', async () => {
    const r = buildFromText(agentConfig(true));
    agents.push(r.agent!);
    captured.delete('errors');
    await r.agent!.start();
    for (let n = 0; n < 3; n++) await r.agent!.emit('app.a', EventStream.single(T, rec(n)));
    await r.agent!.emit('app.a', EventStream.fromEvents([{ time: T, record: rec(3) }, { time: T, record: rec(4) }]));
    expect(captured.get('errors')!.map((e) => [e.tag, e.record.n])).toEqual([['app.a', 3], ['app.a', 4]]);
    expect(r.logs()).toContain('emit transaction failed, events sent to @ERROR tag="app.a" records=2');
    await r.agent!.stop();
    expect(sinkRecords('sink').map((x) => x.n)).toEqual([0, 1, 2]);
  });
});

describe('overflow_action block', () => {
  it('holds the emit until the sink drains, then stores it', async () => {
    const h = await started(`@type test_sink\n<buffer>\n flush_mode immediate\n overflow_action block\n ${LIMITS}\n</buffer>`);
    const release = holdSink('out');
    for (let n = 0; n < 3; n++) await h.emit('a', [rec(n)], T);
    await waitFor(() => h.out.buffer.dequeued.size === 1, 2000, 'first chunk in flight');
    let done = false;
    const blocked = h.emit('a', [rec(3)], T).then(() => { done = true; });
    await quiet();
    expect(done).toBe(false);
    release();
    await blocked;
    await waitFor(() => sinkRecords('out').length === 4, 2000, 'all four');
    expect(sinkRecords('out').map((r) => r.n)).toEqual([0, 1, 2, 3]);
    expect(h.metrics.retry_count).toBe(0);
  });

  it('wakes up even when only staged chunks fill the buffer', async () => {
    const h = await started(`@type test_sink\n<buffer>\n flush_mode lazy\n overflow_action block\n ${LIMITS}\n</buffer>`);
    for (let n = 0; n < 3; n++) await h.emit('a', [rec(n)], T);
    expect(h.out.buffer.stage.size).toBe(1);
    await h.emit('a', [rec(3)], T);
    await h.out.flushNow();
    await waitFor(() => sinkRecords('out').length === 4, 2000, 'all four');
    expect(h.out.buffer.totalBytes).toBe(0);
  });

  it('gives up with BufferOverflowError when the output stops', async () => {
    const h = await started(`@type test_sink\n<buffer>\n flush_mode immediate\n overflow_action block\n ${LIMITS}\n</buffer>`, { runtime: { shutdownDeadlineSec: 0.3 } });
    holdSink('out');
    for (let n = 0; n < 3; n++) await h.emit('a', [rec(n)], T);
    const blocked = h.emit('a', [rec(3)], T).catch((e: unknown) => e);
    await quiet(100);
    await h.out.stop();
    expect(await blocked).toBeInstanceOf(BufferOverflowError);
  });
});

describe('overflow_action drop_oldest_chunk', () => {
  it('drops the oldest queued chunk, counts and logs it, and stores the new write', async () => {
    const h = await started(`@type test_sink\n<buffer>\n flush_mode immediate\n overflow_action drop_oldest_chunk\n ${LIMITS}\n</buffer>`);
    const release = holdSink('out');
    await h.emit('a', [rec(0)], T);
    await waitFor(() => h.out.buffer.dequeued.size === 1, 2000, 'first chunk in flight');
    await h.emit('a', [rec(1)], T);
    await h.emit('a', [rec(2)], T);
    const oldest = h.out.buffer.queue[0]!.hexId;
    await h.emit('a', [rec(3)], T);
    expect(h.out.drop_oldest_chunk_count).toBe(1);
    expect(h.metrics.dropped.get('drop_oldest_chunk')).toBe(1);
    expect(h.logs()).toContain(`dropping oldest chunk to make space after buffer overflow chunk="${oldest}" records=1`);
    release();
    await waitFor(() => sinkRecords('out').length === 3, 2000, 'the rest');
    expect(sinkRecords('out').map((r) => r.n)).toEqual([0, 2, 3]);
    expect(sink('out').attempts.map((a) => a.hexId)).not.toContain(oldest);
    expect(h.out.buffer.totalBytes).toBe(0);
  });

  it('throws when there is no queued chunk to drop', async () => {
    const h = await started(`@type test_sink\n<buffer>\n flush_mode lazy\n overflow_action drop_oldest_chunk\n ${LIMITS}\n</buffer>`);
    for (let n = 0; n < 3; n++) await h.emit('a', [rec(n)], T);
    await expect(h.emit('a', [rec(3)], T)).rejects.toBeInstanceOf(BufferOverflowError);
  });
});
