/**
 * Plugin test driver (after Fluentd's): the real agent, built in-process from config text, with a
 * capture output after everything the test declares and another inside @ERROR.
 *
 *   const d = await driver(`<filter **> @type record_transformer … </filter>`);
 *   await d.feed('app.x', [{ a: 1 }]);
 *   d.emitted  // [{ tag, time, record }]   d.errors  // what reached @ERROR   d.logs()
 *   await d.close();
 *
 * The capture output is `driver_capture`, registered here (helpers/agent.ts has its own).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load.js';
import { defineParams, p } from '../../src/config/schema.js';
import { buildAgent, type Agent } from '../../src/core/agent.js';
import type { ConfigProblem } from '../../src/config/errors.js';
import { formatProblem } from '../../src/config/errors.js';
import { EventStream, type Record_ } from '../../src/core/event-stream.js';
import type { Time } from '../../src/core/event-time.js';
import { createRootLogger } from '../../src/core/log.js';
import { defineOutput } from '../../src/core/plugin.js';
import { lookup, register } from '../../src/core/registry.js';
import '../../src/plugins/index.js';

export interface Captured {
  tag: string;
  time: Time;
  record: Record_;
}

/** Events per `driver_capture` @id. */
const sinks = new Map<string, Captured[]>();

if (!lookup('output', 'driver_capture')) {
  register(defineOutput({
    type: 'driver_capture',
    desc: 'test: keep events in memory under the plugin @id',
    params: defineParams({ fail: p.bool({ default: false, desc: 'reject every stream' }) }),
    create(c, ctx) {
      const list: Captured[] = [];
      sinks.set(ctx.id, list);
      return {
        process(tag: string, stream: EventStream) {
          if (c.fail) throw new Error('driver_capture refused the stream');
          for (const e of stream.events()) list.push({ tag, time: e.time, record: e.record });
        },
      };
    },
  }));
}

export interface Driver {
  agent: Agent;
  /** Everything that reached the catch-all capture at the end of the config. */
  emitted: Captured[];
  /** Events that reached @ERROR. */
  errors: Captured[];
  /** Emits records under `tag` at the top level (time: `time`, default now in whole seconds). */
  feed(tag: string, records: Record_[], time?: Time): Promise<void>;
  /** Build warnings (unknown parameters …). */
  warnings: string[];
  /** The daemon's own log lines so far. */
  logs(): string;
  close(): Promise<void>;
}

let seq = 0;

function build(confText: string) {
  const dir = mkdtempSync(join(tmpdir(), 'logferry-driver-'));
  const logPath = join(dir, 'log.txt');
  const log = createRootLogger({ level: 'debug', format: 'text', path: logPath, workerId: 0 });
  const n = ++seq;
  const outId = `driver_out_${n}`;
  const errId = `driver_err_${n}`;
  let text = `${confText}\n<match **>\n  @type driver_capture\n  @id ${outId}\n</match>\n`;
  if (!/<label\s+@ERROR\s*>/.test(confText)) text += `<label @ERROR>\n  <match **>\n    @type driver_capture\n    @id ${errId}\n  </match>\n</label>\n`;
  // the daemon's own log events go to a label of their own, not into the capture
  if (!/<label\s+@FLUENT_LOG\s*>/.test(confText)) text += '<label @FLUENT_LOG>\n  <match **>\n    @type null\n  </match>\n</label>\n';
  const root = parseConfigText(text, join(dir, 'driver.conf'));
  const r = buildAgent(root, { log, workerId: 0, hostname: 'testhost' });
  const logs = () => { try { return readFileSync(logPath, 'utf8'); } catch { return ''; } };
  return { r, outId, errId, logs };
}

/** Builds only; returns the config problems (rendered like the CLI) and warnings. */
export function configProblems(confText: string): { problems: string[]; raw: ConfigProblem[]; warnings: string[] } {
  const { r } = build(confText);
  return { problems: r.problems.map(formatProblem), raw: r.problems, warnings: r.warnings };
}

export async function driver(confText: string): Promise<Driver> {
  const { r, outId, errId, logs } = build(confText);
  if (!r.agent) throw new Error(`config rejected:\n${r.problems.map(formatProblem).join('\n')}`);
  const agent = r.agent;
  await agent.start();
  return {
    agent,
    get emitted() { return sinks.get(outId) ?? []; },
    get errors() { return sinks.get(errId) ?? []; },
    warnings: r.warnings,
    feed(tag, records, time) {
      const t = time ?? Math.floor(Date.now() / 1000);
      return agent.emit(tag, EventStream.fromEvents(records.map((record) => ({ time: t, record }))));
    },
    logs,
    async close() {
      await agent.stop();
      sinks.delete(outId);
      sinks.delete(errId);
    },
  };
}

/** A driver for one `<filter **>` whose body is `body`. */
export function filterDriver(body: string): Promise<Driver> {
  return driver(`<filter **>\n${body}\n</filter>`);
}
