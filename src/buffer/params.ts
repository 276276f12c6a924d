/**
 * The `<buffer>` and `<secondary>` schema fragments every buffered output shares. A plugin
 * re-defaults them through its definition's `buffer` field; it never redeclares them.
 */
import { p, type ParamsOf } from '../config/schema.js';

export const bufferParams = {
  '@type': p.enum(['memory', 'file'] as const, { default: 'memory', desc: 'Chunk storage' }),
  path: p.string({ default: null, desc: 'file: buffer directory (default <root_dir>/worker<N>/<@id>/buffer); memory: where chunks not flushed at shutdown are kept for the next start' }),
  path_suffix: p.string({ default: '.log', desc: 'file: chunk file suffix' }),
  timekey: p.time({ default: null, min: 1, desc: 'Time range per chunk (required with the time chunk key)' }),
  timekey_wait: p.time({ default: 600, min: 0, desc: 'Wait after a time range ends before flushing its chunk' }),
  timekey_use_utc: p.bool({ default: false, desc: 'Align time ranges and format placeholders in UTC' }),
  timekey_zone: p.string({ default: null, desc: 'Offset for time ranges and placeholders, e.g. +0900 (default: local)' }),
  chunk_limit_size: p.size({ default: null, min: 1, desc: 'Max bytes per chunk (memory 8m, file 256m)' }),
  chunk_limit_records: p.integer({ default: null, min: 1, desc: 'Max records per chunk' }),
  total_limit_size: p.size({ default: null, min: 1, desc: 'Max bytes of staged + queued chunks (memory 512m, file 64g)' }),
  queue_limit_length: p.integer({ default: null, min: 1, desc: 'Legacy: total_limit_size = chunk_limit_size × this' }),
  queued_chunks_limit_size: p.integer({ default: null, min: 1, desc: 'Pause time/interval enqueueing while this many chunks are queued (default flush_thread_count)' }),
  chunk_full_threshold: p.float({ default: 0.95, min: 0.01, max: 1, desc: 'A chunk this full is enqueued at once' }),
  compress: p.enum(['text', 'gzip'] as const, { default: 'text', desc: 'Store chunks gzip-compressed' }),
  flush_mode: p.enum(['default', 'lazy', 'interval', 'immediate'] as const, { default: 'default', desc: 'When chunks are enqueued for flushing' }),
  flush_interval: p.time({ default: 60, min: 0, desc: 'interval mode: flush a chunk this long after it was created' }),
  flush_thread_count: p.integer({ default: 1, min: 1, desc: 'Parallel flushes' }),
  flush_thread_interval: p.float({ default: 1, min: 0.001, desc: 'Idle wait of a flush worker' }),
  flush_thread_burst_interval: p.float({ default: 1, min: 0, desc: 'Wait between flushes while chunks are queued' }),
  flush_at_shutdown: p.bool({ default: null, desc: 'Flush everything at shutdown (default: memory true, file false)' }),
  delayed_commit_timeout: p.time({ default: 60, min: 0.001, desc: 'Roll back a chunk not committed within this' }),
  overflow_action: p.enum(['throw_exception', 'block', 'drop_oldest_chunk'] as const, { default: 'throw_exception', desc: 'What a write does when the buffer is full' }),
  retry_forever: p.bool({ default: false, desc: 'Never give up retrying' }),
  retry_timeout: p.time({ default: 72 * 3600, min: 0, desc: 'Give up this long after the first failure' }),
  retry_max_times: p.integer({ default: null, min: 0, desc: 'Give up after this many retries' }),
  retry_secondary_threshold: p.float({ default: 0.8, min: 0, max: 1, desc: 'Fraction of the retry budget after which <secondary> is used' }),
  retry_type: p.enum(['exponential_backoff', 'periodic'] as const, { default: 'exponential_backoff', desc: 'Backoff shape' }),
  retry_wait: p.time({ default: 1, min: 0, desc: 'First wait (periodic: every wait)' }),
  retry_exponential_backoff_base: p.float({ default: 2, min: 1, desc: 'Growth of the wait' }),
  retry_max_interval: p.time({ default: null, min: 0, desc: 'Cap of one wait' }),
  retry_randomize: p.bool({ default: true, desc: 'Jitter waits by ±12.5%' }),
  disable_chunk_backup: p.bool({ default: false, desc: 'Discard unrecoverable chunks instead of backing them up' }),
};

export const bufferSection = p.section({ desc: 'Buffering, flushing and retry', argDesc: 'chunk keys: tag, time, record keys' }, bufferParams);

export type BufferConfig = ParamsOf<typeof bufferParams> & { readonly arg: string };
