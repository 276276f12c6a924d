/**
 * `@type record_modifier` output (the plugin's re-emit form, spec §5): modifies each record as the
 * filter does, then re-emits it under `tag` into its router (its @label, or where it lives). A tag
 * with `${…}` is evaluated per record after the modification; records are grouped by the resulting
 * tag in first-seen order. A failing expression rejects the whole stream (as in the plugin).
 */
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import type { Event } from '../../core/event-stream.js';
import { EventStream } from '../../core/event-stream.js';
import { defineOutput, type ValidationProblem } from '../../core/plugin.js';
import { compileTemplate, ExprSyntaxError, toS, type Template } from '../../expr/index.js';
import { compileModifier, sharedParams, VARIABLES, type CompiledModifier } from '../filter/record_modifier/modifier.js';

export const params = defineParams({
  ...sharedParams,
  tag: p.string({ required: true, desc: 'Tag of the re-emitted events; may hold ${…} Ruby evaluated per record' }),
  remove_keys: p.array({ default: null, desc: 'Top-level keys to delete (comma-separated); exclusive with whitelist_keys' }),
});
export type RecordModifierOutputConfig = ParamsOf<typeof params>;

interface Compiled {
  modifier: CompiledModifier;
  tag: Template | null;
  problems: ValidationProblem[];
}

const cache = new WeakMap<RecordModifierOutputConfig, Compiled>();
function compile(c: RecordModifierOutputConfig): Compiled {
  let done = cache.get(c);
  if (done) return done;
  const modifier = compileModifier(c, false);
  const problems = [...modifier.problems];
  let tag: Template | null = null;
  try {
    tag = compileTemplate(c.tag, { variables: VARIABLES, typecast: false, verbatimWithoutPlaceholder: true });
  } catch (e) {
    if (!(e instanceof ExprSyntaxError)) throw e;
    problems.push({ param: 'tag', message: `invalid expression in \`${c.tag}\`: ${e.message}` });
  }
  done = { modifier, tag, problems };
  cache.set(c, done);
  return done;
}

export default defineOutput({
  type: 'record_modifier',
  desc: 'Modify records like the record_modifier filter, then re-emit them under a new tag',
  params,
  validate: (c) => compile(c).problems,
  create(c, ctx) {
    const { modifier: m, tag, problems } = compile(c);
    if (problems.length > 0 || !tag) throw new Error(problems.map((x) => x.message).join('; '));
    m.hostname = ctx.hostname;
    for (const w of m.warnings) ctx.log.warn({ warning: w }, 'record_modifier configuration');
    return {
      async process(inTag: string, stream: EventStream) {
        const groups = new Map<string, Event[]>();
        const staticTag = tag.constant ? toS(tag.expand(null as never)) : null;
        for (const ev of stream.events()) {
          const record = m.modify(inTag, ev.time, ev.record);
          const outTag = staticTag ?? toS(tag.expand(m.scope(inTag, ev.time, record)));
          let list = groups.get(outTag);
          if (!list) groups.set(outTag, (list = []));
          list.push({ time: ev.time, record });
        }
        for (const [outTag, events] of groups) await ctx.emit(outTag, EventStream.fromEvents(events));
      },
    };
  },
});
