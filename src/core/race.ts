import type { Clock, TimerHandle } from './clock.js';
import { SignInError, TransportError, UsageError } from '../errors.js';
import { isIpv6 } from './names.js';
import type { Candidate, SipTransport } from './types.js';

/**
 * Staggered connection racing in the style of RFC 8305 (Happy Eyeballs v2), as a pure state
 * machine: it never touches a socket. The adapter executes the commands it emits and reports
 * back with succeeded(i) / failed(i, error).
 *
 * - Entries are in preference order. #0 starts at once; #i+1 starts when the last started attempt
 *   has not succeeded within `staggerMs` (RFC 8305 §5 "Connection Attempt Delay", 250 ms) or at
 *   once when any running attempt fails. Earlier attempts keep going (a slow but alive #0 can
 *   still win).
 * - The first acceptable success wins; every other running or held attempt is cancelled.
 * - Security rule: a TCP success is HELD, not accepted, while TLS may still succeed — it may win
 *   only when every TLS entry has failed (none running, none left to start) or the race has run
 *   `tlsPatienceMs`. Among held TCP successes the most preferred (lowest index) wins.
 * - Optional overall `deadlineMs`: when it passes without a winner the race ends all-failed
 *   (a held TCP does NOT win at the deadline unless patience has also elapsed).
 */

export interface RaceEntryInfo {
  transport: SipTransport;
}

export type RaceFailureStatus = 'failed' | 'deadline' | 'not-started';

export interface RaceFailure {
  index: number;
  status: RaceFailureStatus;
  /** What the adapter reported (failed) or a CONNECT_TIMEOUT error for the deadline. */
  error?: unknown;
}

export type RaceCommand =
  | { type: 'start'; index: number; at: number }
  | { type: 'hold'; index: number; at: number; reason: string }
  | { type: 'cancel'; index: number; at: number; reason: 'lost' | 'deadline' | 'aborted' }
  | { type: 'winner'; index: number; at: number; reason: string }
  | { type: 'all-failed'; at: number; failures: RaceFailure[] };

export interface RaceOptions {
  clock: Clock;
  /** Delay before starting the next attempt (RFC 8305 §5: 250 ms; 10 ms floor here). */
  staggerMs?: number;
  /** How long TLS gets before a held TCP success may win. */
  tlsPatienceMs?: number;
  /** Overall bound for the whole race; none by default (each attempt should have its own). */
  deadlineMs?: number;
  /**
   * Entries may also arrive after the start (`expect` / `add`: names still resolving); the list
   * given to the constructor may then be empty.
   */
  openEnded?: boolean;
  onCommand: (cmd: RaceCommand) => void;
}

export const DEFAULT_STAGGER_MS = 250;
export const DEFAULT_TLS_PATIENCE_MS = 2000;

type EntryState = 'pending' | 'running' | 'held' | 'failed' | 'cancelled' | 'won';
export type RaceState = 'idle' | 'running' | 'won' | 'all-failed' | 'aborted';

function checkMs(name: string, v: number | undefined, min: number): void {
  if (v !== undefined && (!Number.isFinite(v) || v < min)) {
    throw new UsageError('INVALID_OPTION', `${name} must be a finite number >= ${min} (got ${String(v)})`);
  }
}

export class StaggeredRace {
  private readonly entries: RaceEntryInfo[];
  private readonly states: EntryState[];
  private readonly errors: unknown[];
  /** Sources that may still add entries, by the transport they would add. */
  private readonly expected = { tls: 0, tcp: 0 };
  private lastStartAt = 0;
  private readonly clock: Clock;
  private readonly staggerMs: number;
  private readonly patienceMs: number;
  private readonly deadlineMs: number | undefined;
  private readonly onCommand: (cmd: RaceCommand) => void;
  private next = 0;
  private startedAt = 0;
  private _state: RaceState = 'idle';
  private staggerTimer: TimerHandle | undefined;
  private patienceTimer: TimerHandle | undefined;
  private deadlineTimer: TimerHandle | undefined;
  private readonly queue: RaceCommand[] = [];
  private flushing = false;

  constructor(entries: readonly RaceEntryInfo[], opts: RaceOptions) {
    if (entries.length === 0 && !opts.openEnded) throw new SignInError('NO_CANDIDATES', 'nothing to race: the candidate list is empty');
    checkMs('staggerMs', opts.staggerMs, 10);
    checkMs('tlsPatienceMs', opts.tlsPatienceMs, 0);
    checkMs('deadlineMs', opts.deadlineMs, 1);
    this.entries = entries.map((e) => ({ transport: e.transport }));
    this.states = entries.map(() => 'pending');
    this.errors = entries.map(() => undefined);
    this.clock = opts.clock;
    this.staggerMs = opts.staggerMs ?? DEFAULT_STAGGER_MS;
    this.patienceMs = opts.tlsPatienceMs ?? DEFAULT_TLS_PATIENCE_MS;
    this.deadlineMs = opts.deadlineMs;
    this.onCommand = opts.onCommand;
  }

  get state(): RaceState {
    return this._state;
  }

  /** Per-entry state, for the diagnosis and tests. */
  entryStates(): readonly EntryState[] {
    return [...this.states];
  }

  start(): void {
    if (this._state !== 'idle') return;
    this._state = 'running';
    this.startedAt = this.clock.now();
    if (this.deadlineMs !== undefined) this.deadlineTimer = this.clock.setTimeout(() => this.onDeadline(), this.deadlineMs);
    this.startNext();
    // Open-ended with nothing yet: all-failed at once unless a source may still add entries.
    if (this.entries.length === 0) this.settleIfDecided();
    this.flush();
  }

  succeeded(index: number): void {
    this.checkIndex(index);
    if (this._state !== 'running' || this.states[index] !== 'running') return; // stale report
    const entry = this.entries[index]!;
    if (entry.transport === 'tls') {
      this.win(index, 'TLS attempt succeeded');
    } else if (this.tcpMayWin()) {
      this.win(index, this.patienceOver() ? 'TCP succeeded after the TLS patience elapsed' : 'TCP succeeded and no TLS attempt can still succeed');
    } else {
      this.states[index] = 'held';
      this.emit({ type: 'hold', index, at: this.clock.now(), reason: 'TCP connected while TLS may still succeed: held until TLS fails or patience elapses' });
      if (!this.patienceTimer) {
        const left = Math.max(0, this.startedAt + this.patienceMs - this.clock.now());
        this.patienceTimer = this.clock.setTimeout(() => this.onPatience(), left);
      }
      // A held TCP is not an accepted connection: keep staggering (a TLS entry may follow).
    }
    this.flush();
  }

  failed(index: number, error: unknown): void {
    this.checkIndex(index);
    const s = this.states[index];
    if (this._state !== 'running' || (s !== 'running' && s !== 'held')) return; // stale report
    this.states[index] = 'failed';
    this.errors[index] = error;
    // RFC 8305 §5: do not wait out the delay when an attempt has already failed.
    if (this.next < this.entries.length) this.startNext();
    this.settleIfDecided();
    this.flush();
  }

  /**
   * A source (a name still resolving) that may add entries of this transport: while it is open, a
   * TLS one keeps TCP successes held, and no source open means the race can end all-failed.
   * Returns the call that closes it (idempotent).
   */
  expect(transport: SipTransport): () => void {
    this.expected[transport]++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      this.expected[transport]--;
      if (this._state !== 'running') return;
      this.settleIfDecided();
      this.flush();
    };
  }

  /**
   * Appends entries that arrived late, ranked after every entry already in the race. They start
   * at once when nothing is running, else when the stagger since the last start has passed.
   */
  add(entries: readonly RaceEntryInfo[]): number[] {
    const first = this.entries.length;
    for (const e of entries) {
      this.entries.push({ transport: e.transport });
      this.states.push('pending');
      this.errors.push(undefined);
    }
    const indices = entries.map((_e, k) => first + k);
    if (this._state === 'running' && entries.length > 0 && this.staggerTimer === undefined) {
      if (!this.states.includes('running')) this.startNext();
      else {
        const wait = Math.max(0, this.lastStartAt + this.staggerMs - this.clock.now());
        this.staggerTimer = this.clock.setTimeout(() => {
          this.staggerTimer = undefined;
          if (this._state !== 'running') return;
          this.startNext();
          this.flush();
        }, wait);
      }
      this.flush();
    }
    return indices;
  }

  /** Stop everything (caller gave up): running and held attempts are cancelled. */
  abort(): void {
    if (this._state !== 'running' && this._state !== 'idle') return;
    const at = this.clock.now();
    this.states.forEach((s, i) => {
      if (s === 'running' || s === 'held') {
        this.states[i] = 'cancelled';
        this.emit({ type: 'cancel', index: i, at, reason: 'aborted' });
      }
    });
    this._state = 'aborted';
    this.clearTimers();
    this.flush();
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.entries.length) {
      throw new UsageError('INVALID_OPTION', `race entry index out of range: ${String(index)}`);
    }
  }

  private startNext(): void {
    if (this.next >= this.entries.length) return;
    const i = this.next++;
    this.states[i] = 'running';
    this.lastStartAt = this.clock.now();
    this.emit({ type: 'start', index: i, at: this.clock.now() });
    this.clock.clearTimeout(this.staggerTimer);
    this.staggerTimer = undefined;
    if (this.next < this.entries.length) {
      this.staggerTimer = this.clock.setTimeout(() => {
        this.staggerTimer = undefined;
        if (this._state !== 'running') return;
        this.startNext();
        this.flush();
      }, this.staggerMs);
    }
  }

  private patienceOver(): boolean {
    return this.clock.now() - this.startedAt >= this.patienceMs;
  }

  private tlsStillPossible(): boolean {
    if (this.expected.tls > 0) return true;
    return this.entries.some((e, i) => e.transport === 'tls' && (this.states[i] === 'running' || this.states[i] === 'pending'));
  }

  private tcpMayWin(): boolean {
    return this.patienceOver() || !this.tlsStillPossible();
  }

  private firstHeld(): number {
    return this.states.indexOf('held');
  }

  private onPatience(): void {
    this.patienceTimer = undefined;
    if (this._state !== 'running') return;
    const h = this.firstHeld();
    if (h >= 0) this.win(h, 'TCP held past the TLS patience: accepted');
    this.flush();
  }

  private settleIfDecided(): void {
    if (this._state !== 'running') return;
    const h = this.firstHeld();
    if (h >= 0 && this.tcpMayWin()) {
      this.win(h, 'every TLS attempt failed: held TCP accepted');
      return;
    }
    if (this.states.every((s) => s === 'failed') && this.expected.tls + this.expected.tcp === 0) this.endAllFailed();
  }

  private onDeadline(): void {
    this.deadlineTimer = undefined;
    if (this._state !== 'running') return;
    const h = this.firstHeld();
    if (h >= 0 && this.patienceOver()) {
      this.win(h, 'deadline reached; held TCP past patience accepted');
    } else {
      const at = this.clock.now();
      this.states.forEach((s, i) => {
        if (s === 'running' || s === 'held') this.emit({ type: 'cancel', index: i, at, reason: 'deadline' });
      });
      this.endAllFailed();
    }
    this.flush();
  }

  private win(index: number, reason: string): void {
    const at = this.clock.now();
    this.states[index] = 'won';
    this.states.forEach((s, i) => {
      if (s === 'running' || s === 'held') {
        this.states[i] = 'cancelled';
        this.emit({ type: 'cancel', index: i, at, reason: 'lost' });
      }
    });
    this.emit({ type: 'winner', index, at, reason });
    this._state = 'won';
    this.clearTimers();
  }

  private endAllFailed(): void {
    const at = this.clock.now();
    const failures: RaceFailure[] = this.states.map((s, i) => {
      if (s === 'failed') return { index: i, status: 'failed', error: this.errors[i] };
      if (s === 'pending') return { index: i, status: 'not-started' };
      return {
        index: i,
        status: 'deadline',
        error: new TransportError('CONNECT_TIMEOUT', `attempt still unfinished at the race deadline (${String(this.deadlineMs)} ms)`),
      };
    });
    this.states.forEach((s, i) => {
      if (s === 'running' || s === 'held') this.states[i] = 'cancelled';
    });
    this.emit({ type: 'all-failed', at, failures });
    this._state = 'all-failed';
    this.clearTimers();
  }

  private clearTimers(): void {
    this.clock.clearTimeout(this.staggerTimer);
    this.clock.clearTimeout(this.patienceTimer);
    this.clock.clearTimeout(this.deadlineTimer);
    this.staggerTimer = this.patienceTimer = this.deadlineTimer = undefined;
  }

  private emit(cmd: RaceCommand): void {
    this.queue.push(cmd);
  }

  /** Commands are delivered after the state change, in order; re-entrant reports are safe. */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) this.onCommand(this.queue.shift()!);
    } finally {
      this.flushing = false;
    }
  }
}

/** One connection attempt: a candidate and one of its addresses. */
export interface RaceTarget {
  candidate: Candidate;
  address: string;
  transport: SipTransport;
  /** Index of the candidate in the input list. */
  candidateIndex: number;
}

/**
 * Expand candidates into (candidate, address) race entries BEFORE racing. Within one candidate the
 * addresses are interleaved by family starting with the family of its first address
 * (RFC 8305 §4); candidates keep their seed order (it is a preference, not a tie).
 * Duplicate addresses within a candidate are dropped. Candidates without addresses contribute none.
 */
export function expandRaceTargets(candidates: readonly Candidate[]): RaceTarget[] {
  const out: RaceTarget[] = [];
  candidates.forEach((c, candidateIndex) => {
    const uniq = [...new Set(c.addresses)];
    const first = uniq[0];
    if (first === undefined) return;
    const firstV6 = isIpv6(first);
    const a = uniq.filter((x) => isIpv6(x) === firstV6);
    const b = uniq.filter((x) => isIpv6(x) !== firstV6);
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i < a.length) out.push({ candidate: c, address: a[i]!, transport: c.transport, candidateIndex });
      if (i < b.length) out.push({ candidate: c, address: b[i]!, transport: c.transport, candidateIndex });
    }
  });
  return out;
}
