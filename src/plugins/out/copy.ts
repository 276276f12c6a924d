/**
 * `@type copy` (Fluentd core out_copy): hands every stream to each `<store>` output in config order,
 * one after the other; a store's emit includes its whole synchronous downstream (a buffered store:
 * the append; a re-emitting store: the route of what it re-emits). Spec §1.
 *
 * `<store ignore_error>` logs and swallows that store's failure; `<store ignore_if_prev_success>`
 * runs only when the store just before it ran and failed (a skipped store sets no success flag).
 * A failure without ignore_error stops the remaining stores and fails the emit.
 *
 * Copy modes: packed streams that were never decoded are handed to every store as new stream
 * objects over the same immutable bytes, so a store that decodes gets fresh records (deep
 * semantics, cheaper than any copy). Only decoded streams are copied: `shallow` copies each
 * record's top level, `deep`/`marshal` re-encode once and give each store its own decode.
 */
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { ConfigError, type ConfigProblem } from '../../config/errors.js';
import { errorMessage } from '../../core/errors.js';
import { EventStream } from '../../core/event-stream.js';
import { LogThrottle } from '../../core/log.js';
import { buildNestedOutput, type NestedOutput } from '../../core/nested-output.js';
import { defineOutput, type OutputInstance, type PluginContext, type ValidationProblem } from '../../core/plugin.js';

export const params = defineParams({
  copy_mode: p.enum(['no_copy', 'shallow', 'deep', 'marshal'] as const, { default: 'no_copy', desc: 'How each <store> gets its events: the same records, top-level copies, or deep copies' }),
  deep_copy: p.bool({ default: false, deprecated: 'use copy_mode; deep_copy true means copy_mode shallow', desc: 'Old switch: true is copy_mode shallow' }),
  store: p.section({
    desc: 'An output (any @type, buffered or not) that gets every event',
    multi: true,
    required: true,
    opaque: true,
    argDesc: 'ignore_error: log and swallow this store\'s failure; ignore_if_prev_success: run only if the store before it failed',
  }, {}),
});
export type CopyConfig = ParamsOf<typeof params>;

type CopyMode = CopyConfig['copy_mode'];

export interface CopyStore {
  readonly output: NestedOutput;
  readonly ignoreError: boolean;
  readonly ignoreIfPrevSuccess: boolean;
}

function storeFlags(arg: string): { ignoreError: boolean; ignoreIfPrevSuccess: boolean } {
  // Fluentd searches the argument with a substring test
  return { ignoreError: arg.includes('ignore_error'), ignoreIfPrevSuccess: arg.includes('ignore_if_prev_success') };
}

function validate(c: CopyConfig): ValidationProblem[] {
  const out: ValidationProblem[] = [];
  c.store.forEach((s, i) => {
    const el = s.element;
    if (!el.params.has('@type') && !el.params.has('type')) {
      out.push({ message: `Missing '@type' parameter in <store> section (${el.file}:${el.line})` });
    }
    if (i === 0 && storeFlags(s.arg).ignoreIfPrevSuccess) {
      out.push({ message: `ignore_if_prev_success must specify 2nd or later <store> directives (${el.file}:${el.line})` });
    }
  });
  return out;
}

export class CopyOutput implements OutputInstance {
  /** Store emits that failed (swallowed or not). */
  num_errors = 0;
  private readonly throttle = new LogThrottle();

  constructor(readonly stores: readonly CopyStore[], readonly mode: CopyMode, private readonly ctx: PluginContext) {}

  async start(): Promise<void> {
    for (const s of this.stores) await s.output.instance.start?.();
  }

  async stop(): Promise<void> {
    await Promise.all(this.stores.map((s) => this.safely(s, 'stop', () => s.output.instance.stop?.())));
  }

  async close(): Promise<void> {
    for (const s of [...this.stores].reverse()) await this.safely(s, 'close', () => s.output.instance.close?.());
  }

  async process(tag: string, stream: EventStream): Promise<void> {
    const copyOf = this.copier(stream);
    let prevSuccess = false;
    for (let i = 0; i < this.stores.length; i++) {
      const s = this.stores[i]!;
      if (s.ignoreIfPrevSuccess && prevSuccess) {
        prevSuccess = false; // a skipped store sets no success flag
        continue;
      }
      prevSuccess = false;
      const es = copyOf();
      try {
        s.output.metrics.countEmit(es.count);
        s.output.metrics.flow.add(tag, es);
        await s.output.instance.process(tag, es);
        prevSuccess = true;
      } catch (e) {
        this.num_errors++;
        if (!s.ignoreError) throw e;
        if (this.throttle.shouldLog(s.output.id)) this.ctx.log.error({ store: s.output.id, error: errorMessage(e) }, 'ignore emit error');
      }
    }
  }

  /** Returns a function giving each store its stream per copy_mode. */
  private copier(stream: EventStream): () => EventStream {
    if (this.mode === 'no_copy') return () => stream;
    if (!stream.isDecoded) {
      const packed = stream.packed();
      return () => EventStream.fromPacked(packed, stream.count);
    }
    if (this.mode === 'shallow') {
      return () => EventStream.fromEvents(stream.events().map((e) => ({ time: e.time, record: { ...e.record } })));
    }
    const packed = EventStream.fromEvents(stream.events()).packed(); // deep, marshal: encode the current records once
    return () => EventStream.fromPacked(packed, stream.count);
  }

  private async safely(s: CopyStore, what: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.ctx.log.error({ store: s.output.id, error: errorMessage(e) }, `failed to ${what} store`);
    }
  }
}

export default defineOutput({
  type: 'copy',
  desc: 'Send every event to each <store> output in order',
  params,
  validate,
  create(c, ctx) {
    let mode: CopyMode = c.copy_mode;
    if (c.deep_copy && mode === 'no_copy') mode = 'shallow';
    const stores: CopyStore[] = [];
    const problems: ConfigProblem[] = [];
    c.store.forEach((s, i) => {
      try {
        const { output, warnings } = buildNestedOutput(s.element, ctx, { section: 'store', index: i + 1 });
        for (const w of warnings) ctx.log.warn({ detail: w }, 'store configuration warning');
        stores.push({ output, ...storeFlags(s.arg) });
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
      }
    });
    if (problems.length > 0) throw new ConfigError(problems);
    if (stores.every((s) => s.ignoreError) && !stores.some((s) => s.ignoreIfPrevSuccess)) {
      ctx.log.warn('ignore_errors are specified in all <store>, but ignore_if_prev_success is not specified. Is this intended?');
    }
    return new CopyOutput(stores, mode, ctx);
  },
});
