/**
 * The daemon's own logs: one pino root, a child per plugin. Call sites pass a fixed message and
 * data fields; the layout (Fluentd's text line or JSON) and the @FLUENT_LOG re-emit are
 * destinations here, never string building at call sites.
 */
import pino, { type Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const LEVEL_NAMES: Record<number, LogLevel> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

export interface LogOptions {
  level: LogLevel;
  format: 'text' | 'json';
  /** A file to append to; stdout when absent. */
  path?: string | null;
  /** Printed as `#N` in text lines. */
  workerId?: number | null;
}

/** A log line handed to the @FLUENT_LOG sink. */
export interface LogEvent {
  level: LogLevel;
  timeMs: number;
  message: string;
  fields: Record<string, unknown>;
}

type Sink = (ev: LogEvent) => void;
let sink: Sink | null = null;
let inSink = false;

/** Installs (or removes) the receiver of log lines as events. Lines logged while it runs are not re-emitted. */
export function setLogEventSink(s: Sink | null): void {
  sink = s;
}

/** Bound on loggers whose lines must never become log events (see `withoutLogEvents`). */
const NO_LOG_EVENT = 'no_log_event';
const HIDDEN = new Set(['level', 'time', 'msg', 'plugin_id', 'plugin_type', NO_LOG_EVENT]);

/**
 * A logger whose lines are written but never re-emitted as `fluent.*` events: for the plugins (and
 * the router) that carry log events themselves, so a failing log destination cannot feed its own
 * failure warnings back into itself.
 */
export function withoutLogEvents(log: Logger): Logger {
  return log.child({ [NO_LOG_EVENT]: true });
}

/** Lines about log events themselves (a `fluent.*` tag) or from the log route are not re-emitted. */
function mayBecomeEvent(obj: Record<string, unknown>): boolean {
  return obj[NO_LOG_EVENT] !== true && !(typeof obj.tag === 'string' && obj.tag.startsWith('fluent.'));
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** `2026-11-24 10:00:00 +0000` in local time, as Fluentd's default `%Y-%m-%d %H:%M:%S %z`. */
export function formatLogTime(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
}

function inspectValue(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  return JSON.stringify(v);
}

function fieldsOf(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (HIDDEN.has(k)) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { type?: string; message?: string };
      out.error_class = e.type ?? 'Error';
      out.error = e.message ?? '';
      continue;
    }
    out[k] = v;
  }
  return out;
}

/** The message followed by ` key=value` for each field, as Fluentd prints it. */
function messageWithFields(obj: Record<string, unknown>, fields: Record<string, unknown>): string {
  let text = String(obj.msg ?? '');
  for (const [k, v] of Object.entries(fields)) text += ` ${k}=${inspectValue(v)}`;
  return text;
}

/** Renders one pino JSON object as Fluentd's text line. */
export function formatTextLine(obj: Record<string, unknown>, workerId: number | null): string {
  const level = LEVEL_NAMES[obj.level as number] ?? 'info';
  let line = `${formatLogTime(obj.time as number)} [${level}]: `;
  if (workerId !== null) line += `#${workerId} `;
  if (typeof obj.plugin_id === 'string') line += `[${obj.plugin_id}] `;
  return line + messageWithFields(obj, fieldsOf(obj)) + '\n';
}

/**
 * Fluentd's JSON log layout `{"time","level","message","worker_id"}` (message includes the
 * ` key=value` attributes, as Fluentd's does), plus each field as its own key for log pipelines.
 */
function formatJsonLine(obj: Record<string, unknown>, workerId: number | null): string {
  const fields = fieldsOf(obj);
  const out: Record<string, unknown> = {
    ...fields,
    time: formatLogTime(obj.time as number),
    level: LEVEL_NAMES[obj.level as number] ?? 'info',
    message: messageWithFields(obj, fields),
  };
  if (workerId !== null) out.worker_id = workerId;
  if (typeof obj.plugin_id === 'string') out.plugin_id = obj.plugin_id;
  return JSON.stringify(out) + '\n';
}

export function createRootLogger(opts: LogOptions): Logger {
  const dest = pino.destination({ dest: opts.path ?? 1, sync: true, append: true, mkdir: true });
  const workerId = opts.workerId ?? null;
  const stream = {
    write(line: string): void {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        dest.write(line);
        return;
      }
      dest.write(opts.format === 'json' ? formatJsonLine(obj, workerId) : formatTextLine(obj, workerId));
      if (sink && !inSink && mayBecomeEvent(obj)) {
        inSink = true;
        try {
          const fields = fieldsOf(obj);
          sink({ level: LEVEL_NAMES[obj.level as number] ?? 'info', timeMs: obj.time as number, message: messageWithFields(obj, fields), fields });
        } catch {
          // a failing log destination must never take logging down
        } finally {
          inSink = false;
        }
      }
    },
  };
  return pino({ level: opts.level, base: undefined, timestamp: pino.stdTimeFunctions.epochTime }, stream);
}

/** A logger for the plugin: `[id]` is shown only when the operator gave an @id, as in Fluentd. */
export function pluginLogger(root: Logger, id: string, type: string, explicitId: boolean, level?: LogLevel | null): Logger {
  const child = root.child(explicitId ? { plugin_id: id, plugin_type: type } : { plugin_type: type });
  if (level) child.level = level;
  return child;
}

/** Rate limiter for repeated warnings (per key): allows the 1st, 2nd, 4th, 8th … occurrence. */
export class LogThrottle {
  private counts = new Map<string, number>();
  constructor(private readonly maxKeys = 1024) {}
  shouldLog(key: string): boolean {
    const n = (this.counts.get(key) ?? 0) + 1;
    if (this.counts.size >= this.maxKeys && !this.counts.has(key)) this.counts.clear();
    this.counts.set(key, n);
    return n <= 256 ? (n & (n - 1)) === 0 : n % 512 === 0;
  }
}
