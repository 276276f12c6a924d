/** `@type relabel`: re-emits the stream, unchanged, into the label named by `@label`. */
import { defineParams } from '../../config/schema.js';
import type { EventStream } from '../../core/event-stream.js';
import { defineOutput } from '../../core/plugin.js';

export const params = defineParams({});

export default defineOutput({
  type: 'relabel',
  desc: 'Route events into the label given by @label',
  params,
  create(_c, ctx) {
    const label = ctx.label;
    if (!label) throw new Error('@label is required for relabel');
    return {
      process(tag: string, stream: EventStream) {
        return ctx.emitToLabel(label, tag, stream);
      },
    };
  },
});
