/**
 * hot-shots settings every logferry StatsD client shares: plain UDP datagrams exactly as we build
 * them — no tags taken from DD_* environment variables, no Datadog origin detection, no client
 * telemetry, no client-side aggregation.
 */
export const PLAIN_STATSD_OPTIONS = {
  protocol: 'udp',
  includeDataDogTags: false,
  datadog: false,
  originDetection: false,
  includeDatadogTelemetry: false,
  aggregation: false,
  telegraf: false,
} as const;
