/**
 * `@type prometheus_output_monitor` (fluent-plugin-prometheus): adds the fluentd_output_status_*
 * metrics of every output (labels plugin_id, type, plus `<labels>`) to what `@type prometheus`
 * serves. With `gauge_all false` the cumulative ones are typed as counters.
 */
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { defineInput } from '../../core/plugin.js';
import { baseLabels, intervalParam, labelsSection, PromMonitorInput, requireRegistry } from '../../metrics/prom-monitor.js';

export const params = defineParams({
  interval: intervalParam,
  gauge_all: p.bool({ default: true, desc: 'false: retry_count, num_errors, emit_*, write_count, flush_time_count, slow_flush_count become counters' }),
  labels: labelsSection,
});
export type PrometheusOutputMonitorConfig = ParamsOf<typeof params>;

export default defineInput({
  type: 'prometheus_output_monitor',
  desc: 'Expose fluentd_output_status_* metrics of every output through @type prometheus',
  params,
  create: (c, ctx) => new PromMonitorInput(requireRegistry(ctx), { kind: 'output', labels: baseLabels(c.labels, ctx), gaugeAll: c.gauge_all }),
});
