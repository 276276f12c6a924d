/**
 * The real agent in-process, built from config text, with its own logs captured in a temp file.
 * Test plugins registered here are real plugin definitions (a capture output, a tagging filter,
 * a failing filter) so routing can be checked without any output of the product being faked.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load.js';
import { defineParams, p } from '../../src/config/schema.js';
import { buildAgent, type BuildResult } from '../../src/core/agent.js';
import type { Event, EventStream } from '../../src/core/event-stream.js';
import { EventStream as Stream } from '../../src/core/event-stream.js';
import { createRootLogger } from '../../src/core/log.js';
import { defineFilter, defineOutput } from '../../src/core/plugin.js';
import { lookup, register } from '../../src/core/registry.js';
import '../../src/plugins/index.js';

/** Events captured per `@id` of `@type test_capture` outputs. */
export const captured = new Map<string, Array<{ tag: string } & Event>>();

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
