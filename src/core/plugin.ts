/**
 * Plugin definitions and the context every plugin instance is given. A plugin file exports one
 * definition made with defineInput / defineFilter / defineOutput: its @type, its parameter schema,
 * optional cross-field validation and a `create` that builds the instance from the typed config.
 */
import type { Logger } from 'pino';
import type { ConfigElement } from '../config/node.js';
import type { ParamsOf, Schema } from '../config/schema.js';
import type { EventStream, Record_ } from './event-stream.js';
import type { Time } from './event-time.js';
import type { PluginMetrics } from './metrics.js';
import type { BufferControl, BufferedWriter } from '../buffer/buffered-output.js';
import type { BufferConfig } from '../buffer/params.js';
import type { MetricsView } from '../metrics/registry.js';

export type PluginKind = 'input' | 'filter' | 'output';

/** A cross-field problem found by `validate`. */
export interface ValidationProblem {
  param?: string;
  message: string;
}

/** The surroundings a plugin instance lives in. Everything a plugin needs comes through here. */
export interface PluginContext {
  readonly id: string;
  readonly type: string;
  /** True when the operator gave an @id (Fluentd prints `[id]` in logs only then). */
  readonly hasExplicitId: boolean;
  readonly log: Logger;
  readonly metrics: PluginMetrics;
  readonly workerId: number;
  /** `<system> workers`. */
  readonly workers: number;
  /** `<system> root_dir`. */
  readonly rootDir: string | null;
  readonly hostname: string;
  /** The plugin's own `@label`, if it has one. */
  readonly label: string | null;
  /** The element the plugin was configured from (for nested sections a plugin interprets itself). */
  readonly element: ConfigElement;
  /**
   * Routes a stream into this plugin's router (its @label, or the label it lives in, or the root).
   * Resolves once every event is buffered or written; rejects when the stream could not be accepted
   * (and no @ERROR label swallowed the failure): the sender must then not be acknowledged.
   */
  emit(tag: string, stream: EventStream): Promise<void>;
  /** Sends one record that failed processing to @ERROR (or logs and drops it). */
  emitError(tag: string, time: Time, record: Record_, error: unknown): void;
  /** Routes into a named label (`@ROOT` = the top-level router). Used by relabel. */
  emitToLabel(label: string, tag: string, stream: EventStream): Promise<void>;
  /** Read access to every plugin's and the process's metrics (monitor inputs use it); set by the agent. */
  readonly registry?: MetricsView;
}

export interface Lifecycle {
  /** Start working (open sockets, timers). */
  start?(): Promise<void> | void;
  /** Stop accepting new work. Safe without start and when called twice. */
  stop?(): Promise<void> | void;
  /** Release everything. Safe without start and when called twice. */
  close?(): Promise<void> | void;
}

export interface InputInstance extends Lifecycle {
  /** Connections open right now, for inputs that hold connections (the metrics registry reads it). */
  readonly open_connections?: number;
}

export interface FilterInstance extends Lifecycle {
  /** Returns the filtered stream (or null to drop all of it). Runs synchronously on the emit path. */
  filter(tag: string, stream: EventStream): EventStream | null;
}

export interface OutputInstance extends Lifecycle {
  /** Handles a stream (unbuffered output). Resolves when written; rejects when it could not be. */
  process(tag: string, stream: EventStream): Promise<void> | void;
}

interface DefinitionBase<S extends Schema, I> {
  type: string;
  desc: string;
  params: S;
  /** Cross-field checks; return every problem found. */
  validate?(config: ParamsOf<S>): ValidationProblem[];
  create(config: ParamsOf<S>, ctx: PluginContext): I;
}

export interface InputDefinition<S extends Schema = Schema> extends DefinitionBase<S, InputInstance> {
  kind: 'input';
}
export interface FilterDefinition<S extends Schema = Schema> extends DefinitionBase<S, FilterInstance> {
  kind: 'filter';
}
export interface OutputDefinition<S extends Schema = Schema> extends DefinitionBase<S, OutputInstance> {
  kind: 'output';
  buffered?: false;
  /** Outputs that may only appear inside <secondary> (secondary_file). */
  secondaryOnly?: boolean;
}

/** How a buffered plugin re-defaults the shared <buffer> section (never redeclares it). */
export interface BufferDefaults<C = unknown> {
  /** Chunk keys when `<buffer>` has no argument. */
  chunkKeys: string[];
  /** Chunk keys the plugin cannot work without (out_forward: tag). */
  requiredKeys?: string[];
  /**
   * True when, with this config, the plugin needs each chunk's tag although Fluentd's version would
   * not key chunks by it (it formats at emit time; chunks here keep `[time, record]`): `tag` is then
   * added to the chunk keys (out_file printing the tag, an `<inject> tag_key`).
   */
  impliedTag?(config: C): boolean;
  /** Other `<buffer>` parameters with plugin-specific defaults. */
  defaults?: Partial<Omit<BufferConfig, 'arg'>>;
  /** True when the plugin commits chunks later (tryWrite + commit), e.g. waiting for acks. */
  delayedCommit?(config: C): boolean;
  /** Overrides derived from the plugin's own config (out_forward: delayed_commit_timeout). */
  override?(config: C, buffer: BufferConfig): Partial<Omit<BufferConfig, 'arg'>>;
}

/** The context of a buffered plugin: also the control for delayed commits. */
export interface BufferedPluginContext extends PluginContext {
  readonly buffer: BufferControl;
}

export interface BufferedOutputDefinition<S extends Schema = Schema> extends Omit<DefinitionBase<S, BufferedWriter>, 'create'> {
  kind: 'output';
  buffered: true;
  secondaryOnly?: boolean;
  buffer: BufferDefaults<ParamsOf<S>>;
  create(config: ParamsOf<S>, ctx: BufferedPluginContext): BufferedWriter;
}

export type AnyOutputDefinition = OutputDefinition<any> | BufferedOutputDefinition<any>;
export type AnyDefinition = InputDefinition<any> | FilterDefinition<any> | AnyOutputDefinition;

export function defineInput<S extends Schema>(d: Omit<InputDefinition<S>, 'kind'>): InputDefinition<S> {
  return { ...d, kind: 'input' };
}
export function defineFilter<S extends Schema>(d: Omit<FilterDefinition<S>, 'kind'>): FilterDefinition<S> {
  return { ...d, kind: 'filter' };
}
export function defineOutput<S extends Schema>(d: Omit<OutputDefinition<S>, 'kind' | 'buffered'>): OutputDefinition<S> {
  return { ...d, kind: 'output', buffered: false };
}
/** A buffered output: the plugin supplies `write(chunk)`; BufferedOutput does the rest. */
export function defineBufferedOutput<S extends Schema>(d: Omit<BufferedOutputDefinition<S>, 'kind' | 'buffered'>): BufferedOutputDefinition<S> {
  return { ...d, kind: 'output', buffered: true };
}
