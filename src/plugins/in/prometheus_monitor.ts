/**
 * `@type prometheus_monitor` (fluent-plugin-prometheus): adds the fluentd_status_* gauges of every
 * plugin (labels plugin_id, plugin_category, type, plus `<labels>`) to what `@type prometheus`
 * serves. It opens nothing itself.
 */
import { defineParams, type ParamsOf } from '../../config/schema.js';
import { defineInput } from '../../core/plugin.js';
import { baseLabels, intervalParam, labelsSection, PromMonitorInput, requireRegistry } from '../../metrics/prom-monitor.js';

export const params = defineParams({
  interval: intervalParam,
  labels: labelsSection,
});
export type PrometheusMonitorConfig = ParamsOf<typeof params>;

export default defineInput({
  type: 'prometheus_monitor',
  desc: 'Expose fluentd_status_* metrics of every plugin through @type prometheus',
  params,
  create: (c, ctx) => new PromMonitorInput(requireRegistry(ctx), { kind: 'all', labels: baseLabels(c.labels, ctx), gaugeAll: true }),
});
