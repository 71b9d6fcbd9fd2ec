import type { RandomSource } from './clock.js';
import { UsageError } from '../errors.js';

/**
 * Capped exponential back-off with jitter for re-trying sign-in.
 *
 * Default jitter is "equal": delay ∈ [e/2, e] where e = min(cap, base·factor^n). Rationale: with
 * "full" jitter ([0, e]) a device can retry almost at once after a failure, which for a registrar
 * that is down means a tight loop of pointless attempts; equal jitter keeps a floor of half the
 * exponential step while still spreading a fleet of phones that all lost the same registrar
 * (the thundering-herd case). "full" is available when spreading matters more.
 * Defaults: base 1 s, factor 2, cap 60 s (SIPE and Polycom re-try in the 30–60 s range once
 * failures persist; see references/lync-protocol.md §4.5, §6).
 */
export type JitterMode = 'full' | 'equal' | 'none';

export interface BackoffOptions {
  random: RandomSource;
  baseMs?: number;
  factor?: number;
  capMs?: number;
  jitter?: JitterMode;
}

export class Backoff {
  private readonly random: RandomSource;
  readonly baseMs: number;
  readonly factor: number;
  readonly capMs: number;
  readonly jitter: JitterMode;
  private n = 0;
  private immediate = false;

  constructor(opts: BackoffOptions) {
    this.random = opts.random;
    this.baseMs = opts.baseMs ?? 1000;
    this.factor = opts.factor ?? 2;
    this.capMs = opts.capMs ?? 60_000;
    this.jitter = opts.jitter ?? 'equal';
    if (!Number.isFinite(this.baseMs) || this.baseMs <= 0) throw new UsageError('INVALID_OPTION', `baseMs must be > 0 (got ${String(this.baseMs)})`);
    if (!Number.isFinite(this.factor) || this.factor < 1) throw new UsageError('INVALID_OPTION', `factor must be >= 1 (got ${String(this.factor)})`);
    if (!Number.isFinite(this.capMs) || this.capMs < this.baseMs) throw new UsageError('INVALID_OPTION', `capMs must be >= baseMs (got ${String(this.capMs)})`);
    if (!['full', 'equal', 'none'].includes(this.jitter)) throw new UsageError('INVALID_OPTION', `unknown jitter mode ${String(this.jitter)}`);
  }

  /** Failures counted since the last reset. */
  get attempt(): number {
    return this.n;
  }

  /** Upper bound of the next delay (before jitter). */
  peekCeiling(): number {
    // Exponent clamped so a long outage never overflows to Infinity.
    return Math.min(this.capMs, this.baseMs * this.factor ** Math.min(this.n, 1023));
  }

  /** Delay before the next attempt, in ms (integer). */
  next(): number {
    if (this.immediate) {
      this.immediate = false;
      return 0;
    }
    const e = this.peekCeiling();
    this.n++;
    const r = Math.min(Math.max(this.random(), 0), 1);
    switch (this.jitter) {
      case 'none':
        return Math.round(e);
      case 'full':
        return Math.floor(r * e);
      case 'equal':
        return Math.floor(e / 2 + r * (e / 2));
    }
  }

  /** After a success: start over from the base. */
  reset(): void {
    this.n = 0;
    this.immediate = false;
  }

  /**
   * The network changed (new address, link up): retry now, then start over from the base.
   * `retryingNow`: the caller is already retrying at once (it cut a back-off wait short), so the
   * next delay starts from the base instead of being a second immediate retry.
   */
  networkChanged(retryingNow = false): void {
    this.n = 0;
    this.immediate = !retryingNow;
  }
}
