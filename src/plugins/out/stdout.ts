/** `@type stdout`: prints each event, by default in Fluentd's `time tag: json` line layout. */
import { once } from 'node:events';
import { defineParams, p } from '../../config/schema.js';
import type { EventStream } from '../../core/event-stream.js';
import { defineOutput } from '../../core/plugin.js';
import { createFormatter, formatParams } from '../../format/formatter.js';

export const params = defineParams({
  format: p.section({ desc: 'How each event is printed (default: @type stdout, i.e. `time tag: json`)' }, formatParams),
});

export default defineOutput({
  type: 'stdout',
  desc: 'Print events to standard output',
  params,
  create(c, ctx) {
    const format = createFormatter(c.format, { type: 'stdout' });
    const out = process.stdout;
    return {
      async process(tag: string, stream: EventStream) {
        let text = '';
        for (const e of stream.events()) text += format(tag, e.time, e.record);
        ctx.metrics.write_count++;
        if (!out.write(text)) await once(out, 'drain');
      },
    };
  },
});
