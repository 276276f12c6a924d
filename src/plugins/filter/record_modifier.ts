/**
 * `@type record_modifier` filter (fluent-plugin-record-modifier 2.2, spec §5): sets `<record>` fields
 * in order and IN PLACE (later entries see earlier ones; the input record object changes, as in
 * Fluentd — put a copying <store> in front when other consumers share it), then remove_keys or
 * whitelist_keys, `<replace>`, char_encoding. A record whose expression fails goes to @ERROR.
 */
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import type { Event } from '../../core/event-stream.js';
import { EventStream } from '../../core/event-stream.js';
import { defineFilter } from '../../core/plugin.js';
import { compileModifier, sharedParams, type CompiledModifier } from './record_modifier/modifier.js';

export const params = defineParams({
  ...sharedParams,
  remove_keys: p.array({ default: null, desc: 'Keys to delete (record_accessor syntax: foo, $.a.b); exclusive with whitelist_keys' }),
});
export type RecordModifierFilterConfig = ParamsOf<typeof params>;

const compiled = new WeakMap<RecordModifierFilterConfig, CompiledModifier>();
function compile(c: RecordModifierFilterConfig): CompiledModifier {
  let m = compiled.get(c);
  if (!m) compiled.set(c, (m = compileModifier(c, true)));
  return m;
}

export default defineFilter({
  type: 'record_modifier',
  desc: 'Set, remove or keep record fields in place; ${…} values are Ruby expressions',
  params,
  validate: (c) => compile(c).problems,
  create(c, ctx) {
    const m = compile(c);
    if (m.problems.length > 0) throw new Error(m.problems.map((x) => x.message).join('; '));
    m.hostname = ctx.hostname;
    for (const w of m.warnings) ctx.log.warn({ warning: w }, 'record_modifier configuration');
    return {
      filter(tag: string, stream: EventStream): EventStream {
        const out: Event[] = [];
        for (const ev of stream.events()) {
          try {
            out.push({ time: ev.time, record: m.modify(tag, ev.time, ev.record) });
          } catch (e) {
            ctx.emitError(tag, ev.time, ev.record, e);
          }
        }
        return EventStream.fromEvents(out);
      },
    };
  },
});
