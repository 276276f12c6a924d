/**
 * A router is one scope of <filter> and <match> rules: the top level, or one <label>. The route for
 * a tag (every matching filter in file order, then the first matching match) is computed on first
 * sight and cached.
 */
import type { Logger } from 'pino';
import type { EventStream, Record_ } from './event-stream.js';
import { EventStream as Stream } from './event-stream.js';
import type { Time } from './event-time.js';
import { EmitError, errorMessage } from './errors.js';
import { LogThrottle } from './log.js';
import type { PluginMetrics } from './metrics.js';
import type { TagPattern } from './pattern.js';
import type { FilterInstance, OutputInstance } from './plugin.js';

export interface FilterRule {
  kind: 'filter';
  pattern: TagPattern;
  instance: FilterInstance;
  metrics: PluginMetrics;
}
export interface MatchRule {
  kind: 'match';
  pattern: TagPattern;
  instance: OutputInstance;
  metrics: PluginMetrics;
}
export type Rule = FilterRule | MatchRule;

interface Route {
  filters: FilterRule[];
  output: MatchRule | null;
}

const CACHE_LIMIT = 4096;

export interface RouterDeps {
  log: Logger;
  /** The @ERROR label's router, if one is declared. */
  errorRouter(): Router | null;
  /** True for the @FLUENT_LOG router and @ERROR: no "no patterns matched" warnings there. */
  quietNoMatch?: boolean;
}

export class Router {
  private readonly rules: Rule[] = [];
  private readonly cache = new Map<string, Route>();
  private readonly noMatchThrottle = new LogThrottle();
  /** Events dropped because nothing matched their tag. */
  unmatched = 0;

  constructor(readonly name: string, private readonly deps: RouterDeps) {}

  add(rule: Rule): void {
    this.rules.push(rule);
    this.cache.clear();
  }

  /** True when some <match> of this router matches the tag. */
  hasMatchFor(tag: string): boolean {
    return this.route(tag).output !== null;
  }

  route(tag: string): Route {
    let r = this.cache.get(tag);
    if (r === undefined) {
      const filters: FilterRule[] = [];
      let output: MatchRule | null = null;
      for (const rule of this.rules) {
        if (!rule.pattern.match(tag)) continue;
        if (rule.kind === 'filter') filters.push(rule);
        else { output = rule; break; }
      }
      r = { filters, output };
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(tag, r);
    }
    return r;
  }

  /**
   * Routes a stream: filters in order, then the output. Resolves once the output has the events;
   * rejects with EmitError when the output refused them and no @ERROR label took them instead.
   */
  async emit(tag: string, stream: EventStream): Promise<void> {
    const route = this.route(tag);
    if (route.output === null) {
      this.noMatch(tag, stream.count);
      return;
    }
    let s: EventStream = stream;
    for (const f of route.filters) {
      f.metrics.countEmit(s.count);
      let next: EventStream | null;
      try {
        next = f.instance.filter(tag, s);
      } catch (e) {
        return this.emitFailed(tag, s, e);
      }
      if (next === null || next.count === 0) return;
      s = next;
    }
    const out = route.output;
    out.metrics.countEmit(s.count);
    out.metrics.flow.add(tag, s);
    try {
      await out.instance.process(tag, s);
    } catch (e) {
      out.metrics.retry_count++; // Fluentd's num_errors counts failed emits as well as failed flushes
      return this.emitFailed(tag, s, e);
    }
  }

  /** One record that failed processing: to @ERROR, or logged and dropped. */
  emitErrorEvent(tag: string, time: Time, record: Record_, error: unknown): void {
    const er = this.deps.errorRouter();
    if (er && er !== this) {
      this.deps.log.warn({ tag, error: errorMessage(error) }, 'send an error event to @ERROR');
      er.emit(tag, Stream.single(time, record)).catch((e) => {
        this.deps.log.error({ tag, error: errorMessage(e) }, 'failed to emit an error event into @ERROR');
      });
      return;
    }
    this.deps.log.warn({ tag, error: errorMessage(error) }, 'dump an error event');
  }

  private async emitFailed(tag: string, stream: EventStream, error: unknown): Promise<void> {
    const er = this.deps.errorRouter();
    if (er && er !== this) {
      this.deps.log.warn({ tag, records: stream.count, error: errorMessage(error) }, 'emit transaction failed, events sent to @ERROR');
      await er.emit(tag, stream);
      return;
    }
    this.deps.log.warn({ tag, error: errorMessage(error) }, 'emit transaction failed');
    throw error instanceof EmitError ? error : new EmitError(errorMessage(error), error);
  }

  private noMatch(tag: string, n: number): void {
    this.unmatched += n;
    if (this.deps.quietNoMatch) return;
    if (this.noMatchThrottle.shouldLog(this.name)) this.deps.log.warn({ tag }, 'no patterns matched');
  }
}
