/**
 * The failure detector of one forward node (spec §4.6): Fluentd's phi accrual detector over the gaps
 * between heartbeats, plus the hard timeout. Pure arithmetic on times the caller passes in (seconds,
 * fractional), so the schedule can be checked without sockets or clocks.
 */

const PHI_FACTOR = 1 / Math.log(10);
const SAMPLE_SIZE = 1000;

export class FailureDetector {
  /** Inter-arrival gaps in microseconds, oldest first. */
  private window: number[];
  private last: number;
  private readonly initGapUs: number;

  constructor(private readonly intervalSec: number, private readonly hardTimeoutSec: number, now: number) {
    this.initGapUs = Math.floor(intervalSec * 1e6);
    this.window = [this.initGapUs];
    this.last = now;
  }

  /** Seconds since the last heartbeat (or since creation / the last clear). */
  silence(now: number): number {
    return now - this.last;
  }

  hardTimeout(now: number): boolean {
    return now - this.last > this.hardTimeoutSec;
  }

  /** Records a heartbeat arriving at `now`. */
  add(now: number): void {
    if (this.window.length === 0) {
      this.window.push(this.initGapUs);
    } else {
      this.window.push(Math.floor((now - this.last) * 1e6));
      if (this.window.length > SAMPLE_SIZE) this.window.shift();
    }
    this.last = now;
  }

  /**
   * Phi at `now`: the linearly weighted mean gap (newer gaps weigh more), both it and the current
   * silence shifted by `1 - heartbeat_interval` as Fluentd does (so the threshold is tuned for 1 s).
   */
  phi(now: number): number {
    const n = this.window.length;
    if (n === 0) return 0;
    let sum = 0;
    let fact = 0;
    for (let i = 0; i < n; i++) {
      sum += this.window[i]! * (i + 1);
      fact += i + 1;
    }
    const mean = Math.floor(sum / fact) / 1e6 - this.intervalSec + 1;
    const t = now - this.last - this.intervalSec + 1;
    return (PHI_FACTOR * t) / mean;
  }

  get sampleSize(): number {
    return this.window.length;
  }

  /** Forgets every sample (after a detach): recovery must start over. */
  clear(): void {
    this.window = [];
    this.last = 0;
  }
}
