/**
 * Time is injected everywhere decisions depend on it, so the core and the protocol state
 * machines can be driven by virtual time in tests and benchmarks.
 */

export type TimerHandle = { readonly id: number };

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/**
 * Wall clock: performance.now() and Node's real timers. The handle carries the Node timer itself
 * (no lookup table): a discovery arms ~20 timers per device, and a fleet arms millions.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = (() => {
  let seq = 0;
  type Live = { readonly id: number; readonly timer: ReturnType<typeof setTimeout> };
  return {
    now: () => performance.now(),
    setTimeout(fn, ms): TimerHandle {
      // Node turns a delay above 2^31-1 ms (~24.8 days) into 1 ms: a registrar granting a long
      // Expires (RFC 3261 §20.19 allows 2^32-1 s) would make refreshes fire in a tight loop.
      // Firing at the cap instead is early, which every long timer here (refreshes) tolerates.
      const h: Live = { id: ++seq, timer: setTimeout(fn, Math.min(MAX_TIMER_MS, Math.max(0, ms))) };
      return h;
    },
    clearTimeout(handle) {
      const t = (handle as Partial<Live> | undefined)?.timer;
      if (t !== undefined) clearTimeout(t);
    },
  };
})();

/** Deterministic clock for tests: time moves only when advance() is called. */
export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void; order: number }>();

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn, order: id });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.timers.delete(handle.id);
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.timers.size;
  }

  /** Runs every timer due up to now + ms, in time order (ties in creation order). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void; order: number }] | undefined;
      for (const e of this.timers) {
        if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].order < next[1].order))) next = e;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

/** Injectable randomness in [0, 1). */
export type RandomSource = () => number;

/** Small seeded PRNG (mulberry32) so tests and benchmarks can replay a run. */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
