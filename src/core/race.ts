import type { Clock, TimerHandle } from './clock.js';
import type { SipTransport } from './types.js';

/**
 * Staggered connection racing in preference order (RFC 8305 §5 style), as a pure state machine:
 * it decides, the adapter connects. Entry #0 starts at once; #i+1 starts when #i has not
 * succeeded within `staggerMs`, or at once when an earlier attempt fails. Earlier attempts keep
 * running; the first success wins and every other attempt is cancelled.
 *
 * Security: racing must never trade TLS for TCP by luck. A TCP entry that succeeds is HELD while
 * any TLS entry is still running or yet to start, until `tlsPatienceMs` after the race began; a
 * TLS success in that time wins over it.
 *
 *   pending ──start──▶ running ──succeeded──▶ (TLS: winner) | (TCP: held ──patience/TLS gone──▶ winner)
 *                         └──failed──▶ failed            cancelled ◀── any other entry wins
 */
export type RaceCommand =
  | { type: 'start'; index: number }
  | { type: 'cancel'; index: number }
  | { type: 'winner'; index: number }
  | { type: 'all-failed' }
  | { type: 'abandoned' };

export interface RaceOptions {
  /** @defaultValue 250 */
  staggerMs?: number;
  /** @defaultValue 2000 */
  tlsPatienceMs?: number;
  clock: Clock;
}

type EntryState = 'pending' | 'running' | 'held' | 'failed' | 'cancelled' | 'won';

export class Race {
  private readonly states: EntryState[];
  private readonly staggerMs: number;
  private readonly patienceMs: number;
  private readonly clock: Clock;
  private t0 = 0;
  private staggerTimer: TimerHandle | undefined;
  private patienceTimer: TimerHandle | undefined;
  private done = false;
  private readonly heldOrder: number[] = [];

  constructor(
    private readonly entries: readonly { transport: SipTransport }[],
    o: RaceOptions,
    private readonly sink: (c: RaceCommand) => void,
  ) {
    this.states = entries.map(() => 'pending');
    this.staggerMs = o.staggerMs ?? 250;
    this.patienceMs = o.tlsPatienceMs ?? 2000;
    this.clock = o.clock;
  }

  get finished(): boolean {
    return this.done;
  }

  state(i: number): EntryState | undefined {
    return this.states[i];
  }

  start(): void {
    this.t0 = this.clock.now();
    if (this.entries.length === 0) {
      this.finish({ type: 'all-failed' });
      return;
    }
    this.launchNext();
  }

  succeeded(i: number): void {
    if (this.states[i] !== 'running') {
      // A late success of an entry that no longer competes: close it.
      if (this.states[i] === 'cancelled' || this.done) this.sink({ type: 'cancel', index: i });
      return;
    }
    if (this.entries[i]?.transport === 'tls') {
      this.win(i);
      return;
    }
    this.states[i] = 'held';
    this.heldOrder.push(i);
    this.decide();
  }

  failed(i: number): void {
    if (this.states[i] !== 'running' && this.states[i] !== 'held') return;
    this.states[i] = 'failed';
    if (this.done) return;
    // RFC 8305 §5: a failure starts the next attempt at once rather than waiting out the stagger.
    this.launchNext();
    this.decide();
  }

  /**
   * Stops the race without a winner: every running or held attempt is cancelled. Used for the
   * seed's cycle rule (a registrar reached before failed again: rebuild from DNS and DHCP).
   */
  abandon(): void {
    if (this.done) return;
    this.states.forEach((s, j) => {
      if (s === 'running' || s === 'held') {
        this.states[j] = 'cancelled';
        this.sink({ type: 'cancel', index: j });
      } else if (s === 'pending') this.states[j] = 'cancelled';
    });
    this.finish({ type: 'abandoned' });
  }

  private launchNext(): void {
    if (this.done) return;
    const i = this.states.indexOf('pending');
    this.clock.clearTimeout(this.staggerTimer);
    this.staggerTimer = undefined;
    if (i < 0) return;
    this.states[i] = 'running';
    this.sink({ type: 'start', index: i });
    if (this.done) return;
    if (this.states.includes('pending')) this.staggerTimer = this.clock.setTimeout(() => this.launchNext(), this.staggerMs);
  }

  /** TLS still in play: running, or not started yet. */
  private tlsOutstanding(): boolean {
    return this.entries.some((e, i) => e.transport === 'tls' && (this.states[i] === 'running' || this.states[i] === 'pending'));
  }

  private decide(): void {
    if (this.done) return;
    const held = this.heldOrder.find((i) => this.states[i] === 'held');
    if (held !== undefined) {
      const elapsed = this.clock.now() - this.t0;
      if (!this.tlsOutstanding() || elapsed >= this.patienceMs) {
        this.win(held);
        return;
      }
      if (!this.patienceTimer) this.patienceTimer = this.clock.setTimeout(() => this.decide(), this.patienceMs - elapsed);
      return;
    }
    if (this.states.every((s) => s === 'failed')) this.finish({ type: 'all-failed' });
  }

  private win(i: number): void {
    this.states[i] = 'won';
    this.states.forEach((s, j) => {
      if (s === 'running' || s === 'held') {
        this.states[j] = 'cancelled';
        this.sink({ type: 'cancel', index: j });
      } else if (s === 'pending') this.states[j] = 'cancelled';
    });
    this.finish({ type: 'winner', index: i });
  }

  private finish(c: RaceCommand): void {
    this.done = true;
    this.clock.clearTimeout(this.staggerTimer);
    this.clock.clearTimeout(this.patienceTimer);
    this.sink(c);
  }
}
