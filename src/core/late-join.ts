import type { Clock, TimerHandle } from './clock.js';
import { UsageError } from '../errors.js';

/**
 * When names join a race that is already under way (names still resolving when it starts), in
 * preference order. A name whose turn has come but which is still resolving counts as an attempt
 * in progress (RFC 8305 §5): it holds the names ranked below it for one stagger, then they go
 * ahead and it joins whenever it settles. Without that rule a black-holed name would hold every
 * name ranked below it back for the whole DNS timeout.
 *
 * `onJoin(k)` is called once per name, when it may join: in order for names that settle in time,
 * at once on settling for a name that was passed over. A name that settled with nothing to race
 * still "joins" (the caller closes its source).
 */
export interface LateJoinOptions {
  clock: Clock;
  /** How long a name still resolving holds the ones ranked below it (the race's stagger). */
  slotMs: number;
  onJoin: (k: number) => void;
}

type Late = 'resolving' | 'settled' | 'passed' | 'joined';

export class LateJoinQueue {
  private readonly states: Late[];
  private head = 0;
  private timer: TimerHandle | undefined;
  private running = false;
  private stopped = false;
  private readonly clock: Clock;
  private readonly slotMs: number;
  private readonly onJoin: (k: number) => void;

  constructor(count: number, opts: LateJoinOptions) {
    if (!Number.isFinite(opts.slotMs) || opts.slotMs < 0) {
      throw new UsageError('INVALID_OPTION', `slotMs must be a finite number >= 0 (got ${String(opts.slotMs)})`);
    }
    this.states = Array.from({ length: count }, () => 'resolving');
    this.clock = opts.clock;
    this.slotMs = opts.slotMs;
    this.onJoin = opts.onJoin;
  }

  /** The race has started: the first name still resolving gets its slot from now. */
  start(): void {
    if (this.running || this.stopped || this.head >= this.states.length) return;
    this.running = true;
    this.advance();
  }

  /** Name k has settled (resolved or not). */
  settled(k: number): void {
    if (!Number.isInteger(k) || k < 0 || k >= this.states.length) throw new UsageError('INVALID_OPTION', `late name index out of range: ${String(k)}`);
    const s = this.states[k];
    if (s === 'passed') {
      this.states[k] = 'joined';
      if (this.running) this.onJoin(k);
      return;
    }
    if (s !== 'resolving') return;
    this.states[k] = 'settled';
    if (this.running && k === this.head) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      this.advance();
    }
  }

  /** The race is over (for good: a later start() does nothing): nothing joins any more. */
  stop(): void {
    this.running = false;
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Per-name state, for tests. */
  snapshot(): readonly Late[] {
    return [...this.states];
  }

  private advance(): void {
    while (this.running && this.head < this.states.length) {
      const k = this.head;
      if (this.states[k] === 'resolving') {
        this.timer ??= this.clock.setTimeout(() => {
          this.timer = undefined;
          if (!this.running || this.states[k] !== 'resolving') return;
          this.states[k] = 'passed';
          this.head++;
          this.advance();
        }, this.slotMs);
        return;
      }
      this.states[k] = 'joined';
      this.head++;
      this.onJoin(k);
    }
  }
}
