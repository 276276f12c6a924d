/**
 * What prometheus_monitor and prometheus_output_monitor share: the `<labels>` section (base labels,
 * `${hostname}` and `${worker_id}` expanded) and registering into the view the prometheus input
 * serves from, for as long as the input lives.
 */
import { p } from '../config/schema.js';
import type { InputInstance, PluginContext } from '../core/plugin.js';
import type { MetricsView, PromMonitorSpec } from './registry.js';

export const labelsSection = p.section({ desc: 'Base labels added to every metric (values may use ${hostname} and ${worker_id})', opaque: true }, {});

export const intervalParam = p.time({ default: 5, min: 0.01, desc: 'Accepted for compatibility: values are read at each scrape' });

export function baseLabels(section: { element: { params: Map<string, { value: string }> } } | null, ctx: PluginContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of section?.element.params ?? []) {
    out[k] = v.value.replaceAll('${hostname}', ctx.hostname).replaceAll('${worker_id}', String(ctx.workerId));
  }
  return out;
}

/** An input that only adds metric families to the prometheus input's exposition. */
export class PromMonitorInput implements InputInstance {
  private registered = false;

  constructor(private readonly view: MetricsView, private readonly spec: PromMonitorSpec) {}

  start(): void {
    if (this.registered) return;
    this.registered = true;
    this.view.promMonitors.add(this.spec);
  }

  stop(): void {
    this.registered = false;
    this.view.promMonitors.delete(this.spec);
  }

  close(): void {
    this.stop();
  }
}

export function requireRegistry(ctx: PluginContext): MetricsView {
  if (!ctx.registry) throw new Error(`${ctx.type} needs the agent's metrics registry`);
  return ctx.registry;
}
