/**
 * The partial-failure loop of one PutRecordBatch batch (aws-fluent-plugin-kinesis' `batch_request_with_retry`):
 * send, keep only the records whose response carries an ErrorCode, wait, resend those, up to
 * `retries_on_batch_request` times. The waits are `0.3 s × 2^k` from the shared retry maths
 * (`backoffDelays`, ±12.5 % jitter); k goes back to 0 after a response that shipped at least one
 * record when `reset_backoff_if_success` is set. A whole call refused for throttling or a server
 * fault counts as every record failing with that code. What is still failing after the last retry
 * is returned; the caller drops it or fails the chunk.
 */
import { backoffDelays, type BackoffParams } from '../../../buffer/retry-state.js';

/** The plugin's fixed backoff: 0.3 s, doubling (Fluentd: `2**count * (0.3 + (0.5 - rand) * 0.1)`). */
export const BATCH_BACKOFF: BackoffParams = {
  retry_type: 'exponential_backoff',
  retry_wait: 0.3,
  retry_exponential_backoff_base: 2,
  retry_max_interval: null,
  retry_randomize: true,
};

export interface Failure<T> {
  record: T;
  code: string;
  message: string;
}

/** One call's result: the records that failed (with their codes); all others were accepted. */
export interface CallResult<T> {
  failed: Array<Failure<T>>;
  accepted: number;
}

export interface BatchRetryOptions {
  retries: number;
  resetBackoffIfSuccess: boolean;
  random?: () => number;
  /** Waits `sec`; may reject (shutdown), which ends the loop with that error. */
  sleep(sec: number): Promise<void>;
  /** Called before each wait (the caller logs the Fluentd line). */
  onRetry(retryCount: number, records: number, waitSec: number): void;
}

/** The wait before a retry when the backoff exponent is `k`. */
export function batchWait(k: number, random: () => number = Math.random): number {
  return backoffDelays(BATCH_BACKOFF, k + 1, random)[k]!;
}

/**
 * Sends `batch` through `call` until every record is accepted or the retries are used up;
 * returns the failures of the last attempt (empty when all were accepted). Errors `call` throws
 * propagate unchanged.
 */
export async function sendWithRetries<T>(batch: T[], call: (records: T[]) => Promise<CallResult<T>>, o: BatchRetryOptions): Promise<Array<Failure<T>>> {
  let records = batch;
  let k = 0;
  for (let retry = 0; ; retry++) {
    const r = await call(records);
    if (r.failed.length === 0) return [];
    if (retry >= o.retries) return r.failed;
    if (o.resetBackoffIfSuccess && r.accepted > 0) k = 0;
    const wait = batchWait(k, o.random);
    k++;
    o.onRetry(retry + 1, r.failed.length, wait);
    await o.sleep(wait);
    records = r.failed.map((f) => f.record);
  }
}
