import type { RandomSource } from './clock.js';

/**
 * Capped exponential back-off with "equal jitter": half the step is fixed, half random, so a
 * fleet that lost the same registrar spreads out but no device retries at ~0 ms by luck.
 * A network change makes the next attempt immediate and starts the ladder over.
 */
export class Backoff {
  private attempt = 0;
  private immediate = false;
  readonly baseMs: number;
  readonly capMs: number;
  readonly factor: number;
  private readonly random: RandomSource;

  constructor(o: { baseMs?: number; capMs?: number; factor?: number; random?: RandomSource } = {}) {
    this.baseMs = o.baseMs ?? 1000;
    this.capMs = Math.max(o.capMs ?? 60000, this.baseMs);
    this.factor = o.factor ?? 2;
    this.random = o.random ?? Math.random;
  }

  /** Delay before the next attempt, ms. */
  next(): number {
    if (this.immediate) {
      this.immediate = false;
      return 0;
    }
    const step = Math.min(this.capMs, this.baseMs * this.factor ** this.attempt);
    this.attempt += 1;
    return step / 2 + this.random() * (step / 2);
  }

  reset(): void {
    this.attempt = 0;
    this.immediate = false;
  }

  networkChanged(): void {
    this.attempt = 0;
    this.immediate = true;
  }
}
