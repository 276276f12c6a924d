import { describe, expect, it } from 'vitest';
import { backoffDelays, RetryState, type RetryParams } from '../../../src/buffer/retry-state.js';

// Schedules from spec buffer-and-retry.md §5, driven with a fake clock: every attempt fails.

const T0 = 1000; // small, so sub-second arithmetic stays exact to ~1e-13
const H72 = 72 * 3600;

const DEFAULTS: RetryParams = {
  retry_type: 'exponential_backoff',
  retry_wait: 1,
  retry_exponential_backoff_base: 2,
  retry_max_interval: null,
  retry_randomize: true,
  retry_timeout: H72,
  retry_max_times: null,
  retry_forever: false,
  retry_secondary_threshold: 0.8,
};

function params(over: Partial<RetryParams>): RetryParams {
  return { ...DEFAULTS, retry_randomize: false, ...over };
}

function fakeClock(t = T0): { t: number; now(): number } {
  return { t, now() { return this.t; } };
}

const noRandom = (): number => {
  throw new Error('random() called with retry_randomize false');
};

interface Run {
  at: number[]; // attempt times relative to the first failure
  secondary: boolean[]; // shouldUseSecondary() at each attempt
  gaveUp: boolean;
  state: RetryState;
}

/** First failure at T0, then each retry attempt at `nextTime` fails, until give-up or `maxAttempts`. */
function drive(p: RetryParams, opts: { hasSecondary?: boolean; maxAttempts?: number } = {}): Run {
  const clock = fakeClock();
  const state = new RetryState(p, { hasSecondary: opts.hasSecondary ?? false, clock, random: noRandom });
  const run: Run = { at: [], secondary: [], gaveUp: state.limitReached(), state };
  while (!run.gaveUp && run.at.length < (opts.maxAttempts ?? 1000)) {
    clock.t = state.nextTime;
    run.at.push(clock.t - T0);
    run.secondary.push(state.shouldUseSecondary());
    state.recordFailure();
    run.gaveUp = state.limitReached();
  }
  return run;
}

const gaps = (at: number[]): number[] => at.map((t, i) => t - (i === 0 ? 0 : at[i - 1]!));

describe('RetryState schedules (jitter off)', () => {
  it('defaults: +1, +3, +7, +15 … the 18th retry clamped to exactly 72 h, then give up', () => {
    const r = drive(params({}));
    const expected = Array.from({ length: 17 }, (_, n) => 2 ** (n + 1) - 1);
    expect(r.at).toEqual([...expected, H72]);
    expect(gaps(r.at).slice(0, 17)).toEqual(Array.from({ length: 17 }, (_, n) => 2 ** n));
    expect(r.at[16]).toBe(131071);
    expect(r.gaveUp).toBe(true);
    expect(r.state.steps).toBe(18);
    expect(r.state.timeoutAt).toBe(T0 + H72);
  });

  it('allows one last attempt at the timeout before giving up', () => {
    const r = drive(params({}), { maxAttempts: 17 });
    expect(r.state.nextTime).toBe(T0 + H72);
    expect(r.state.limitReached()).toBe(false);
  });

  it('retry_max_times 3: retries at +1, +3, +7, then give up', () => {
    const r = drive(params({ retry_max_times: 3 }));
    expect(r.at).toEqual([1, 3, 7]);
    expect(r.gaveUp).toBe(true);
    expect(r.state.steps).toBe(3);
  });

  it('retry_max_times 0: give up at the first failure', () => {
    const state = new RetryState(params({ retry_max_times: 0 }), { clock: fakeClock(), random: noRandom });
    expect(state.steps).toBe(0);
    expect(state.limitReached()).toBe(true);
  });

  it('retry_timeout 20: +1, +3, +7, +15, +20 (clamped), then give up', () => {
    const r = drive(params({ retry_timeout: 20 }));
    expect(r.at).toEqual([1, 3, 7, 15, 20]);
    expect(r.gaveUp).toBe(true);
  });

  it('retry_max_interval 5: gaps 1, 2, 4, 5, 5, 5 …', () => {
    const r = drive(params({ retry_max_interval: 5 }), { maxAttempts: 8 });
    expect(gaps(r.at)).toEqual([1, 2, 4, 5, 5, 5, 5, 5]);
    expect(r.gaveUp).toBe(false);
  });

  it('periodic, retry_wait 5: gaps 5, 5, 5 … and the timeout still clamps', () => {
    expect(gaps(drive(params({ retry_type: 'periodic', retry_wait: 5 }), { maxAttempts: 5 }).at)).toEqual([
      5, 5, 5, 5, 5,
    ]);
    const r = drive(params({ retry_type: 'periodic', retry_wait: 5, retry_timeout: 12 }));
    expect(r.at).toEqual([5, 10, 12]);
    expect(r.gaveUp).toBe(true);
  });

  it('<secondary> + retry_timeout 100: primary to +80, secondary gaps 1, 2, 4, 8, clamped to +100, give up', () => {
    const r = drive(params({ retry_timeout: 100 }), { hasSecondary: true });
    expect(r.state.secondaryTransitionAt).toBe(T0 + 80);
    expect(r.at).toEqual([1, 3, 7, 15, 31, 63, 80, 81, 83, 87, 95, 100]);
    expect(r.secondary).toEqual([false, false, false, false, false, false, true, true, true, true, true, true]);
    expect(r.state.current).toBe('secondary');
    expect(r.gaveUp).toBe(true);
  });

  it('counting switches to the secondary at the first failure after the transition', () => {
    const clock = fakeClock();
    const state = new RetryState(params({ retry_timeout: 10 }), { hasSecondary: true, clock, random: noRandom });
    clock.t = T0 + 8;
    expect(state.shouldUseSecondary()).toBe(true);
    expect(state.current).toBe('primary');
    state.recordFailure();
    expect(state.current).toBe('secondary');
    expect(state.nextTime).toBe(T0 + 9); // base^0 again
  });

  it('retry_forever: never gives up, never clamped, never uses the secondary', () => {
    const r = drive(params({ retry_forever: true, retry_max_times: 2 }), { hasSecondary: true, maxAttempts: 40 });
    expect(r.gaveUp).toBe(false);
    expect(r.at).toEqual(Array.from({ length: 40 }, (_, n) => 2 ** (n + 1) - 1));
    expect(r.secondary.every((s) => !s)).toBe(true);
    expect(r.state.current).toBe('primary');
  });
});

describe('RetryState secondary budget', () => {
  it('uses the sum of the first retry_max_times intervals when smaller than retry_timeout', () => {
    const r = drive(params({ retry_timeout: 100, retry_max_times: 5 }), { hasSecondary: true });
    expect(r.state.secondaryTransitionAt! - T0).toBeCloseTo(31 * 0.8, 9);
    expect(r.at.slice(0, 4)).toEqual([1, 3, 7, 15]);
    expect(r.at[4]).toBeCloseTo(24.8, 9);
    expect(r.secondary).toEqual([false, false, false, false, true]);
    expect(r.gaveUp).toBe(true);
  });

  it('periodic budget is retry_wait × retry_max_times; retry_timeout wins when smaller', () => {
    const periodic = params({ retry_type: 'periodic', retry_wait: 5, retry_max_times: 4, retry_timeout: 100 });
    expect(new RetryState(periodic, { hasSecondary: true, clock: fakeClock() }).secondaryTransitionAt).toBe(T0 + 16);
    const many = params({ retry_max_times: 20, retry_timeout: 100 });
    expect(new RetryState(many, { hasSecondary: true, clock: fakeClock() }).secondaryTransitionAt).toBe(T0 + 80);
    expect(new RetryState(many, { clock: fakeClock() }).secondaryTransitionAt).toBeNull();
  });

  it('rejects a threshold outside (0, 1) when a secondary exists', () => {
    const bad = params({ retry_secondary_threshold: 1 });
    expect(() => new RetryState(bad, { hasSecondary: true, clock: fakeClock() })).toThrow(RangeError);
    expect(() => new RetryState(bad, { clock: fakeClock() })).not.toThrow();
  });
});

describe('RetryState jitter', () => {
  function gapAfterFirstRetry(r: number, over: Partial<RetryParams> = {}): number {
    const clock = fakeClock();
    const state = new RetryState({ ...DEFAULTS, ...over }, { clock, random: () => r });
    expect(state.nextTime).toBe(T0 + 1); // the first failure is never jittered
    clock.t = state.nextTime;
    state.recordFailure(); // step 1: interval 2
    return state.nextTime - clock.t;
  }

  it('scales the interval by 1 + 0.125 × (2r − 1)', () => {
    expect(gapAfterFirstRetry(0)).toBe(1.75);
    expect(gapAfterFirstRetry(0.5)).toBe(2);
    expect(gapAfterFirstRetry(0.999999)).toBeCloseTo(2.2499995, 9);
    expect(gapAfterFirstRetry(0.999999)).toBeLessThan(2.25);
  });

  it('is applied after retry_max_interval, overshooting it by at most 12.5 %', () => {
    const clock = fakeClock();
    const state = new RetryState({ ...DEFAULTS, retry_max_interval: 5 }, { clock, random: () => 0.999999 });
    for (let i = 0; i < 3; i += 1) {
      clock.t = state.nextTime;
      state.recordFailure();
    }
    expect(state.steps).toBe(3); // raw interval 8, capped to 5, then jittered
    const gap = state.nextTime - clock.t;
    expect(gap).toBeCloseTo(5.62499875, 9);
    expect(gap).toBeLessThanOrEqual(5 * 1.125);
  });
});

describe('RetryState failure before nextTime', () => {
  it('recomputes nextTime for the current step without counting a retry', () => {
    const clock = fakeClock();
    const state = new RetryState(params({}), { clock, random: noRandom });
    clock.t = T0 + 0.5;
    state.recordFailure();
    expect(state.steps).toBe(0);
    expect(state.nextTime).toBe(T0 + 1.5);
    clock.t = T0 + 1.5;
    state.recordFailure(); // step 1 → +2
    clock.t = T0 + 2;
    state.recordFailure(); // early: still step 1, from now
    expect(state.steps).toBe(1);
    expect(state.nextTime).toBe(T0 + 4);
  });

  it('applies jitter on the recomputation', () => {
    const clock = fakeClock();
    const state = new RetryState({ ...DEFAULTS }, { clock, random: () => 0 });
    clock.t = T0 + 0.5;
    state.recordFailure();
    expect(state.nextTime).toBe(T0 + 0.5 + 0.875);
  });
});

describe('RetryState overflow and toJSON', () => {
  it('keeps the last finite interval once base^k overflows', () => {
    // 1e-300 × 1e300^k: k = 1 gives 1 s, k ≥ 2 overflows base^k to Infinity.
    const p = params({ retry_forever: true, retry_wait: 1e-300, retry_exponential_backoff_base: 1e300 });
    const r = drive(p, { maxAttempts: 6 });
    expect(gaps(r.at)).toEqual([0, 1, 1, 1, 1, 1]);
    expect(r.state.steps).toBe(6);
    expect(r.state.nextTime).toBe(T0 + 6);
  });

  it('backoffDelays caps at the largest finite power', () => {
    const d = backoffDelays(params({}), 1100, noRandom);
    expect(d[1023]).toBe(2 ** 1023);
    expect(d[1024]).toBe(2 ** 1023);
    expect(d[1099]).toBe(2 ** 1023);
  });

  it('toJSON gives start, steps and next_time', () => {
    const clock = fakeClock();
    const state = new RetryState(params({}), { clock, random: noRandom });
    clock.t = T0 + 1;
    state.recordFailure();
    expect(JSON.parse(JSON.stringify(state))).toEqual({ start: T0, steps: 1, next_time: T0 + 3 });
  });
});

describe('backoffDelays', () => {
  it('returns retry_wait × base^k, capped, without jitter when randomize is off', () => {
    expect(backoffDelays(params({}), 5, noRandom)).toEqual([1, 2, 4, 8, 16]);
    expect(backoffDelays(params({ retry_max_interval: 5 }), 5, noRandom)).toEqual([1, 2, 4, 5, 5]);
    expect(backoffDelays(params({ retry_type: 'periodic', retry_wait: 3 }), 3, noRandom)).toEqual([3, 3, 3]);
    expect(backoffDelays(params({ retry_wait: 0.5, retry_exponential_backoff_base: 3 }), 3, noRandom)).toEqual([
      0.5, 1.5, 4.5,
    ]);
    expect(backoffDelays(params({}), 0, noRandom)).toEqual([]);
  });

  it('jitters every delay, the first one included', () => {
    expect(backoffDelays({ ...DEFAULTS }, 3, () => 0)).toEqual([0.875, 1.75, 3.5]);
    expect(backoffDelays({ ...DEFAULTS }, 3, () => 0.5)).toEqual([1, 2, 4]);
  });
});
