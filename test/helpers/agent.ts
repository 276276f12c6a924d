/**
 * The real agent in-process, built from config text, with its own logs captured in a temp file.
 * Test plugins registered here are real plugin definitions (a capture output, a tagging filter,
 * a failing filter, a buffered sink) so routing and buffering can be checked without any output
 * of the product being faked.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BufferControl, BufferedOutput, ChunkView } from '../../src/buffer/buffered-output.js';
import type { ChunkMetadata } from '../../src/buffer/chunk.js';
import { prepareBufferedOutput, type BufferRuntimeOptions } from '../../src/buffer/setup.js';
import { parseConfigText } from '../../src/config/load.js';
import { defineParams, p, resolveParams } from '../../src/config/schema.js';
import { buildAgent, type BuildResult } from '../../src/core/agent.js';
import { ThrottledError, UnrecoverableError } from '../../src/core/errors.js';
import type { Event, EventStream, Record_ } from '../../src/core/event-stream.js';
import { EventStream as Stream } from '../../src/core/event-stream.js';
import type { Time } from '../../src/core/event-time.js';
import { createRootLogger, pluginLogger } from '../../src/core/log.js';
import { PluginMetrics } from '../../src/core/metrics.js';
import { defineBufferedOutput, defineFilter, defineOutput, type BufferedOutputDefinition, type PluginContext } from '../../src/core/plugin.js';
import { lookup, register } from '../../src/core/registry.js';
import '../../src/plugins/index.js';

/** Events captured per `@id` of `@type test_capture` outputs. */
export const captured = new Map<string, Array<{ tag: string } & Event>>();

/** A chunk as a `test_sink` received it. */
export interface SinkChunk {
  hexId: string;
  metadata: ChunkMetadata;
  records: Record_[];
  times: Time[];
}

/** What a `test_sink` instance saw and how it behaves next; tests may change the behaviour at any time. */
export interface SinkState {
  /** Chunks delivered: write resolved, or (delayed) committed. */
  chunks: SinkChunk[];
  /** Every write/tryWrite call, in order, with its real time and outcome. */
  attempts: Array<{ atMs: number; hexId: string; records: number; ok: boolean }>;
  /** The next N writes fail with `failWith`. */
  failRemaining: number;
  failWith: 'error' | 'unrecoverable' | 'throttled';
  throttleMs: number;
  /** Writes never return. */
  hang: boolean;
  /** Writes wait for this before doing anything. */
  gate: Promise<void> | null;
  /** Delayed mode: chunks sent with tryWrite, awaiting commit. */
  pending: Map<string, SinkChunk>;
  autoCommit: boolean;
  control: BufferControl;
  lifecycle: string[];
}

/** `test_sink` state per plugin id (a `<secondary>` is `<id>.secondary`); a new instance replaces the old state. */
export const sinks = new Map<string, SinkState>();

export function sink(id: string): SinkState {
  const s = sinks.get(id);
  if (!s) throw new Error(`no test_sink with @id ${id}`);
  return s;
}

/** Every record delivered to a sink, in delivery order. */
export function sinkRecords(id: string): Record_[] {
  return sinks.get(id)?.chunks.flatMap((c) => c.records) ?? [];
}

/** Holds a sink's writes until the returned function is called. */
export function holdSink(id: string): () => void {
  let release!: () => void;
  sink(id).gate = new Promise<void>((r) => { release = r; });
  return () => { sink(id).gate = null; release(); };
}

/** Delayed mode: the plugin confirms (or rolls back) a chunk it sent. */
export function commitPending(id: string, hexId: string): void {
  const s = sink(id);
  const c = s.pending.get(hexId);
  if (!c) throw new Error(`chunk ${hexId} is not pending in ${id}`);
  s.pending.delete(hexId);
  s.chunks.push(c);
  s.control.commit(hexId);
}

export function rollbackPending(id: string, hexId: string, updateRetry = true): void {
  const s = sink(id);
  s.pending.delete(hexId);
  s.control.rollback(hexId, updateRetry);
}

async function receive(s: SinkState, chunk: ChunkView): Promise<SinkChunk> {
  if (s.gate) await s.gate;
  if (s.hang) await new Promise(() => undefined);
  const ok = s.failRemaining <= 0;
  s.attempts.push({ atMs: Date.now(), hexId: chunk.hexId, records: chunk.records, ok });
  if (!ok) {
    s.failRemaining--;
    if (s.failWith === 'unrecoverable') throw new UnrecoverableError(`test_sink refuses chunk ${chunk.hexId} for good`);
    if (s.failWith === 'throttled') throw new ThrottledError('test_sink says slow down', s.throttleMs);
    throw new Error('test_sink write failed');
  }
  const events = (await chunk.stream()).events();
  return { hexId: chunk.hexId, metadata: chunk.metadata, records: events.map((e) => e.record), times: events.map((e) => e.time) };
}

const testSink: BufferedOutputDefinition = defineBufferedOutput({
  type: 'test_sink',
  desc: 'test: a buffered output that records chunks under its @id and fails, hangs or delays commits on request',
  params: defineParams({
    fail_times: p.integer({ default: 0, min: 0, desc: 'fail the first N writes' }),
    fail_with: p.enum(['error', 'unrecoverable', 'throttled'] as const, { default: 'error', desc: 'how writes fail' }),
    throttle_ms: p.integer({ default: 100, min: 0, desc: 'retry-after of a throttled failure' }),
    hang: p.bool({ default: false, desc: 'writes never return' }),
    delayed: p.bool({ default: false, desc: 'use tryWrite; commit later' }),
    auto_commit: p.bool({ default: false, desc: 'delayed: commit each chunk right after tryWrite' }),
  }),
  buffer: { chunkKeys: [], delayedCommit: (c) => c.delayed },
  create(c, ctx) {
    const s: SinkState = {
      chunks: [], attempts: [], failRemaining: c.fail_times, failWith: c.fail_with, throttleMs: c.throttle_ms,
      hang: c.hang, gate: null, pending: new Map(), autoCommit: c.auto_commit, control: ctx.buffer, lifecycle: [],
    };
    sinks.set(ctx.id, s);
    return {
      start() { s.lifecycle.push('start'); },
      stop() { s.lifecycle.push('stop'); },
      close() { s.lifecycle.push('close'); },
      async write(chunk: ChunkView) {
        s.chunks.push(await receive(s, chunk));
      },
      async tryWrite(chunk: ChunkView) {
        const got = await receive(s, chunk);
        s.pending.set(chunk.hexId, got);
        if (s.autoCommit) setImmediate(() => { if (s.pending.has(chunk.hexId)) commitPending(ctx.id, chunk.hexId); });
      },
    };
  },
});

if (!lookup('output', 'test_sink')) register(testSink);
if (!lookup('output', 'test_capture')) {
  register(defineOutput({
    type: 'test_capture',
    desc: 'test: keep events in memory under the plugin @id',
    params: defineParams({ fail: p.bool({ default: false, desc: 'reject every stream' }) }),
    create(c, ctx) {
      return {
        process(tag: string, stream: EventStream) {
          if (c.fail) throw new Error('capture refused');
          const list = captured.get(ctx.id) ?? [];
          for (const e of stream.events()) list.push({ tag, ...e });
          captured.set(ctx.id, list);
        },
      };
    },
  }));
  register(defineFilter({
    type: 'test_mark',
    desc: 'test: append the filter @id to record.path',
    params: defineParams({ drop_key: p.string({ default: null, desc: 'drop events having this key' }) }),
    create(c, ctx) {
      return {
        filter(_tag: string, stream: EventStream) {
          const out = stream.events()
            .filter((e) => !(c.drop_key && c.drop_key in e.record))
            .map((e) => ({ time: e.time, record: { ...e.record, path: `${(e.record.path as string) ?? ''}/${ctx.id}` } }));
          return Stream.fromEvents(out);
        },
      };
    },
  }));
  register(defineFilter({
    type: 'test_explode',
    desc: 'test: throws for the whole stream, or sends records with bad=true to @ERROR',
    params: defineParams({ whole: p.bool({ default: false, desc: 'throw for the stream' }) }),
    create(c, ctx) {
      return {
        filter(tag: string, stream: EventStream) {
          if (c.whole) throw new Error('filter exploded');
          const keep = stream.events().filter((e) => {
            if (e.record.bad) { ctx.emitError(tag, e.time, e.record, new Error('bad record')); return false; }
            return true;
          });
          return Stream.fromEvents(keep);
        },
      };
    },
  }));
}

export interface TestAgent extends BuildResult {
  logs(): string;
}

export function buildFromText(text: string, file = 'test.conf'): TestAgent {
  const dir = mkdtempSync(join(tmpdir(), 'logferry-agent-'));
  const logPath = join(dir, 'log.txt');
  const log = createRootLogger({ level: 'debug', format: 'text', path: logPath, workerId: 0 });
  const root = parseConfigText(text, join(dir, file));
  const r = buildAgent(root, { log, workerId: 0, hostname: 'testhost' });
  return { ...r, logs: () => { try { return readFileSync(logPath, 'utf8'); } catch { return ''; } } };
}

/** One buffered output built from `<match>` body text through the real setup path, driven directly. */
export interface BufferedHarness {
  out: BufferedOutput;
  id: string;
  metrics: PluginMetrics;
  /** Records the output sent to @ERROR (its ctx.emitError). */
  errors: Array<{ tag: string; time: Time; record: Record_; error: unknown }>;
  logs(): string;
  /** Buffers records under `tag` (time: now, integer seconds, unless given). */
  emit(tag: string, records: Record_[], time?: Time): Promise<void>;
}

export interface HarnessOptions {
  id?: string;
  rootDir?: string | null;
  runtime?: BufferRuntimeOptions;
}

export function buildBuffered(body: string, o: HarnessOptions = {}): BufferedHarness {
  const id = o.id ?? 'out';
  const rootDir = o.rootDir ?? null;
  const dir = mkdtempSync(join(tmpdir(), 'logferry-buffered-'));
  const logPath = join(dir, 'log.txt');
  const log = createRootLogger({ level: 'debug', format: 'text', path: logPath, workerId: 0 });
  const root = parseConfigText(`<match **>\n  @id ${id}\n${body}\n</match>\n`, join(dir, 'test.conf'));
  const el = root.elements[0]!;
  const type = el.params.get('@type')?.value ?? 'test_sink';
  const def = lookup('output', type) as BufferedOutputDefinition | undefined;
  if (!def?.buffered) throw new Error(`${type} is not a buffered output`);
  const r = resolveParams(def.params, el, { type, consumed: ['<buffer>', '<secondary>'] });
  const prepared = prepareBufferedOutput(def, el, r.value, { pluginId: id, explicitId: true, workerId: 0, workers: 1, rootDir, claimedPaths: new Map() });
  const problems = [...r.problems, ...prepared.problems];
  if (problems.length > 0) throw new Error(problems.map((x) => `${x.param ?? ''}: ${x.message}`).join('\n'));
  const metrics = new PluginMetrics(id, type, 'output');
  const errors: BufferedHarness['errors'] = [];
  const ctx: PluginContext = {
    id, type, hasExplicitId: true, log: pluginLogger(log, id, type, true, null), metrics, workerId: 0, workers: 1, rootDir,
    hostname: 'testhost', label: null, element: el,
    emit: async () => undefined,
    emitError: (tag, time, record, error) => { errors.push({ tag, time, record, error }); },
    emitToLabel: async () => undefined,
  };
  const out = prepared.build(ctx, o.runtime) as BufferedOutput;
  return {
    out, id, metrics, errors,
    logs: () => { try { return readFileSync(logPath, 'utf8'); } catch { return ''; } },
    emit: (tag, records, time) => {
      const t = time ?? Math.floor(Date.now() / 1000);
      metrics.countEmit(records.length);
      return out.process(tag, Stream.fromEvents(records.map((record) => ({ time: t, record }))));
    },
  };
}

/** A clock the test moves by hand (seconds); starts at the real time so chunk creation times agree. */
export function manualClock(startSec = Date.now() / 1000): { t: number; now(): number; advance(sec: number): void } {
  return { t: startSec, now() { return this.t; }, advance(sec: number) { this.t += sec; } };
}
