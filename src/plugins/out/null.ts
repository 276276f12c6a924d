/** `@type null`: accepts events and discards them (counted). */
import { defineParams } from '../../config/schema.js';
import { defineOutput } from '../../core/plugin.js';

export const params = defineParams({});

export default defineOutput({
  type: 'null',
  desc: 'Discard events',
  params,
  create(_c, ctx) {
    return {
      process() {
        ctx.metrics.write_count++;
      },
    };
  },
});
