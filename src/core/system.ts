/** The <system> directive's schema. */
import { defineParams, p, type ParamsOf } from '../config/schema.js';
import { LOG_LEVELS } from './log.js';

export const systemParams = defineParams({
  workers: p.integer({ default: 1, min: 1, desc: 'Number of worker processes' }),
  root_dir: p.string({ default: null, desc: 'Base directory for plugin storage (buffers, backups)' }),
  log_level: p.enum(LOG_LEVELS, { default: 'info', desc: 'Log level of the daemon' }),
  suppress_repeated_stacktrace: p.bool({ default: true, desc: 'Print a repeated stack trace only once' }),
  emit_error_log_interval: p.time({ default: null, desc: 'Rate-limit "emit transaction failed" logs' }),
  ignore_repeated_log_interval: p.time({ default: null, desc: 'Drop a log line identical to the previous one within this interval' }),
  ignore_same_log_interval: p.time({ default: null, desc: 'Drop any log line already seen within this interval' }),
  suppress_config_dump: p.bool({ default: false, desc: 'Do not print the config at startup' }),
  log_event_verbose: p.bool({ default: false, desc: 'Emit fluent.* events during startup and shutdown too' }),
  without_source: p.bool({ default: false, desc: 'Start without <source>s (drain buffers)' }),
  process_name: p.string({ default: null, desc: 'Process title' }),
  strict_config_value: p.bool({ default: false, desc: 'Accepted for compatibility: values are always checked strictly' }),
  enable_input_metrics: p.bool({ default: true, desc: 'Count input records' }),
  enable_size_metrics: p.bool({ default: false, desc: 'Also count bytes' }),
  file_permission: p.string({ default: null, desc: 'Octal permissions for created files' }),
  dir_permission: p.string({ default: null, desc: 'Octal permissions for created directories' }),
  rpc_endpoint: p.string({ default: null, desc: 'host:port of the HTTP RPC endpoint' }),
  enable_get_dump: p.bool({ default: false, desc: 'Enable /api/config.getDump' }),
  restart_worker_interval: p.time({ default: 0, desc: 'Delay before respawning a dead worker' }),
  disable_shared_socket: p.bool({ default: false, desc: 'No shared listening sockets across workers' }),
  enable_msgpack_time_support: p.bool({ default: false, desc: 'Allow Time values in msgpack buffers' }),
  umask: p.string({ default: null, desc: 'Process umask' }),
  config_include_dir: p.string({ default: '', desc: 'Directory whose *.conf/*.yaml files are appended to the config (empty: none)' }),
  log: p.section({ desc: 'Own log settings' }, {
    path: p.string({ default: null, desc: 'Log file (CLI -o)' }),
    format: p.enum(['text', 'json'] as const, { default: 'text', desc: 'Log line layout' }),
    time_format: p.string({ default: '%Y-%m-%d %H:%M:%S %z', desc: 'strftime for log timestamps' }),
    rotate_age: p.string({ default: null, desc: 'Rotation generations or daily/weekly/monthly' }),
    rotate_size: p.size({ default: null, desc: 'Rotation size' }),
    forced_stacktrace_level: p.string({ default: null, desc: 'Force stack traces to this level' }),
  }),
});

export type SystemConfig = ParamsOf<typeof systemParams>;
