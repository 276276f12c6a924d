/**
 * Retry schedule of one buffered output (spec buffer-and-retry.md §5, after Fluentd's retry state
 * machine). Pure arithmetic over the `<buffer>` retry parameters, a step count, an injected clock
 * and an injected random source: no I/O, no timers. All times and intervals are in seconds (float).
 *
 * This is the only file that computes a backoff. `buffered-output.ts` drives `RetryState`; a plugin
 * that retries inside one write (Firehose's `retries_on_batch_request`) takes `backoffDelays`.
 */

/** The retry parameters of the `<buffer>` section, named as in the schema (seconds). */
export interface RetryParams {
  retry_type: 'exponential_backoff' | 'periodic';
  retry_wait: number;
  retry_exponential_backoff_base: number;
  retry_max_interval: number | null;
  retry_randomize: boolean;
  retry_timeout: number;
  retry_max_times: number | null;
  retry_forever: boolean;
  retry_secondary_threshold: number;
}

/** Source of the current time in seconds (float). */
export interface Clock {
  now(): number;
}

export interface RetryStateOptions {
  /** A `<secondary>` is configured: the retry budget is split at `retry_secondary_threshold`. */
  hasSecondary?: boolean;
  clock?: Clock;
  /** Uniform in [0, 1); used for jitter. */
  random?: () => number;
}

/** What monitor_agent shows under `retry` (times in epoch seconds; the view formats them). */
export interface RetryStateJSON {
  start: number;
  steps: number;
  next_time: number;
}

/** The parameters the interval maths needs; a full `RetryParams` fits. */
export type BackoffParams = Pick<
  RetryParams,
  'retry_type' | 'retry_wait' | 'retry_exponential_backoff_base' | 'retry_max_interval' | 'retry_randomize'
>;

/** Jitter is ±12.5 % of the interval. */
const RANDOMIZE_WIDTH = 0.125;

const systemClock: Clock = { now: () => Date.now() / 1000 };

function rawInterval(p: BackoffParams, k: number): number {
  return p.retry_wait * p.retry_exponential_backoff_base ** k;
}

/** Interval for exponent `k` before jitter: capped at `retry_max_interval`; overflow keeps the last finite value. */
function interval(p: BackoffParams, k: number): number {
  if (p.retry_type === 'periodic') return p.retry_wait;
  const i = rawInterval(p, k);
  if (p.retry_max_interval !== null && i > p.retry_max_interval) return p.retry_max_interval;
  if (Number.isFinite(i)) return i;
  // Start near the overflow edge rather than walking down from a huge k, then step down to finite.
  const edge = Math.ceil(Math.log(Number.MAX_VALUE / p.retry_wait) / Math.log(p.retry_exponential_backoff_base));
  let n = Number.isFinite(edge) ? Math.max(0, Math.min(k - 1, edge)) : k - 1;
  while (n > 0 && !Number.isFinite(rawInterval(p, n))) n -= 1;
  return rawInterval(p, n);
}

/** `i × (1 + 0.125 × (2r − 1))` when randomizing; applied after the max-interval cap. */
function jitter(i: number, randomize: boolean, random: () => number): number {
  return randomize ? i * (1 + RANDOMIZE_WIDTH * (2 * random() - 1)) : i;
}

/** Sum of the first `maxSteps` intervals (no jitter); stops early once it reaches `enough`. */
function budgetOfSteps(p: BackoffParams, maxSteps: number, enough: number): number {
  if (p.retry_type === 'periodic') return p.retry_wait * maxSteps;
  let sum = 0;
  for (let k = 0; k < maxSteps && sum < enough; k += 1) sum += interval(p, k);
  return sum;
}

/**
 * The first `count` delays (seconds) of a backoff for a retry loop inside one write:
 * `retry_wait × base^k` (or `retry_wait` when periodic), capped at `retry_max_interval`, each
 * jittered when `retry_randomize` is set (the first one too, unlike `RetryState`).
 */
export function backoffDelays(params: BackoffParams, count: number, random: () => number = Math.random): number[] {
  const delays: number[] = [];
  for (let k = 0; k < count; k += 1) delays.push(jitter(interval(params, k), params.retry_randomize, random));
  return delays;
}

/**
 * Retry state of one output instance; create it at the first failure. After creating it, and after
 * each later `recordFailure()`, ask `limitReached()`: true means give up (purge the queue, drop this
 * state). Before each flush, `shouldUseSecondary()` says which plugin writes.
 */
export class RetryState {
  /** Time of the first failure. */
  readonly start: number;
  /** `start + retry_timeout`. */
  readonly timeoutAt: number;
  /** When writes move to `<secondary>`; null without one. */
  readonly secondaryTransitionAt: number | null;

  private readonly params: RetryParams;
  private readonly clock: Clock;
  private readonly random: () => number;
  private stepCount = 0;
  private next: number;
  private target: 'primary' | 'secondary' = 'primary';
  private stepsAtSecondary = 0;
  /** `nextTime` has reached `timeoutAt` once: one last attempt is allowed there. */
  private reachedTimeout = false;
  private timedOut = false;

  constructor(params: RetryParams, options: RetryStateOptions = {}) {
    this.params = params;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.start = this.clock.now();
    this.timeoutAt = this.start + params.retry_timeout;
    this.next = this.start + params.retry_wait; // the first wait is never jittered
    if (options.hasSecondary) {
      const threshold = params.retry_secondary_threshold;
      if (!(threshold > 0 && threshold < 1)) {
        throw new RangeError(`retry_secondary_threshold must be between 0 and 1 (exclusive), got ${threshold}`);
      }
      let budget = params.retry_timeout;
      if (params.retry_max_times !== null) {
        budget = Math.min(budget, budgetOfSteps(params, params.retry_max_times, budget));
      }
      this.secondaryTransitionAt = this.start + budget * threshold;
    } else {
      this.secondaryTransitionAt = null;
    }
  }

  /** Retries counted so far (Fluentd's `retry_times`). */
  get steps(): number {
    return this.stepCount;
  }

  /** Earliest time of the next flush attempt. */
  get nextTime(): number {
    return this.next;
  }

  /** Which plugin the retry counting is on (switches at the first failure after the transition). */
  get current(): 'primary' | 'secondary' {
    return this.target;
  }

  /**
   * A flush failed again. At or after `nextTime` this is a new retry step; before it (another flush
   * worker failing meanwhile) only `nextTime` is recomputed for the current step.
   */
  recordFailure(): void {
    if (this.clock.now() >= this.next) this.step();
    else this.next = this.calcNextTime();
  }

  /** Give up now? Never with `retry_forever`. */
  limitReached(): boolean {
    if (this.params.retry_forever) return false;
    const maxTimes = this.params.retry_max_times;
    return this.timedOut || (maxTimes !== null && this.stepCount >= maxTimes);
  }

  /** Should the next flush write to `<secondary>`? */
  shouldUseSecondary(): boolean {
    if (this.params.retry_forever || this.secondaryTransitionAt === null) return false;
    return this.target === 'secondary' || this.clock.now() >= this.secondaryTransitionAt;
  }

  toJSON(): RetryStateJSON {
    return { start: this.start, steps: this.stepCount, next_time: this.next };
  }

  private step(): void {
    this.stepCount += 1;
    const transitionAt = this.secondaryTransitionAt;
    if (
      !this.params.retry_forever &&
      transitionAt !== null &&
      this.target !== 'secondary' &&
      this.clock.now() >= transitionAt
    ) {
      this.target = 'secondary';
      this.stepsAtSecondary = this.stepCount; // exponential counting restarts at base^0
    }
    this.next = this.calcNextTime();
    if (this.reachedTimeout) this.timedOut = this.next >= this.timeoutAt;
    else this.reachedTimeout = this.next >= this.timeoutAt;
  }

  private calcNextTime(): number {
    const onSecondary = this.target === 'secondary';
    const k = onSecondary ? this.stepCount - this.stepsAtSecondary : this.stepCount;
    const wait = jitter(interval(this.params, k), this.params.retry_randomize, this.random);
    const naive = this.clock.now() + wait;
    if (this.params.retry_forever) return naive;
    const limit = this.secondaryTransitionAt !== null && !onSecondary ? this.secondaryTransitionAt : this.timeoutAt;
    return naive >= limit ? limit : naive;
  }
}
