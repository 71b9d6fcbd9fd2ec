import type { Clock, RandomSource, TimerHandle } from './clock.js';
import { UsageError } from '../errors.js';
import { Backoff, type BackoffOptions } from './backoff.js';

/** Largest delay a Node timer honours (2^31−1 ms ≈ 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

export interface RefreshOptions {
  /** Earliest refresh as a fraction of expires (default 0.5). */
  minFraction?: number;
  /** Latest refresh as a fraction of expires (default 0.9). */
  maxFraction?: number;
  /** Refresh at least this long before expiry (default 30 s, as SIPE does). */
  marginMs?: number;
}

/**
 * When to re-REGISTER after a 200 OK granted `expiresSec`: uniformly in
 * [min·E, min(max·E, E − margin)], so a fleet does not refresh in lockstep (JsSIP-style window
 * rather than a fixed 99 %). For tiny expires (E < 2·margin) the margin shrinks to E/2 so the
 * window stays inside (0, E) instead of going negative.
 *
 * @throws UsageError INVALID_OPTION for a non-finite or non-positive expires (0 = unregistered).
 */
export function refreshDelayMs(expiresSec: number, random: RandomSource, opts: RefreshOptions = {}): number {
  if (!Number.isFinite(expiresSec) || expiresSec <= 0) {
    throw new UsageError('INVALID_OPTION', `granted expires must be a positive number of seconds (got ${String(expiresSec)})`);
  }
  const minF = opts.minFraction ?? 0.5;
  const maxF = opts.maxFraction ?? 0.9;
  const margin = opts.marginMs ?? 30_000;
  if (!(minF > 0 && minF <= maxF && maxF < 1) || !(margin >= 0)) {
    throw new UsageError('INVALID_OPTION', 'refresh window needs 0 < minFraction <= maxFraction < 1 and marginMs >= 0');
  }
  const e = expiresSec * 1000;
  const hi = Math.min(maxF * e, e - Math.min(margin, e / 2));
  const lo = Math.min(minF * e, hi);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.min(MAX_TIMER_MS, Math.floor(lo + r * (hi - lo)));
}

export interface KeepAliveOptions {
  clock: Clock;
  /** RFC 5626 §4.4.1 recommends 120 s for connection-oriented transports. */
  keepAliveIntervalMs?: number;
  /** No pong within this → dead (RFC 5626 §4.4.1: 10 s). */
  keepAliveTimeoutMs?: number;
  /** When given, each interval is drawn in [80 %, 100 %] of the nominal one (RFC 5626 §4.4.1). */
  random?: RandomSource;
  /** Send the CRLFCRLF ping (RFC 5626 §3.5.1). */
  sendPing: () => void;
  /** No pong in time: the flow is dead; the object stops itself. */
  onDead: () => void;
}

/** RFC 5626 CRLF keep-alive schedule: ping, wait for the CRLF pong, ping again after the interval. */
export class KeepAlive {
  private readonly o: Required<Omit<KeepAliveOptions, 'random'>> & { random?: RandomSource };
  private pingTimer: TimerHandle | undefined;
  private pongTimer: TimerHandle | undefined;
  private _running = false;
  private _awaitingPong = false;

  constructor(opts: KeepAliveOptions) {
    const interval = opts.keepAliveIntervalMs ?? 120_000;
    const timeout = opts.keepAliveTimeoutMs ?? 10_000;
    if (!Number.isFinite(interval) || interval <= 0 || !Number.isFinite(timeout) || timeout <= 0) {
      throw new UsageError('INVALID_OPTION', 'keep-alive interval and timeout must be positive');
    }
    this.o = { ...opts, keepAliveIntervalMs: interval, keepAliveTimeoutMs: timeout };
  }

  get running(): boolean {
    return this._running;
  }

  get awaitingPong(): boolean {
    return this._awaitingPong;
  }

  start(): void {
    if (this._running) return;
    this._running = true;
    this.schedulePing();
  }

  stop(): void {
    this._running = false;
    this._awaitingPong = false;
    this.o.clock.clearTimeout(this.pingTimer);
    this.o.clock.clearTimeout(this.pongTimer);
    this.pingTimer = this.pongTimer = undefined;
  }

  /** A CRLF pong arrived. An unsolicited one is ignored. */
  pong(): void {
    if (!this._running || !this._awaitingPong) return;
    this._awaitingPong = false;
    this.o.clock.clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
    this.schedulePing();
  }

  private nextInterval(): number {
    const n = this.o.keepAliveIntervalMs;
    if (!this.o.random) return n;
    return Math.floor(n * (0.8 + 0.2 * Math.min(Math.max(this.o.random(), 0), 1)));
  }

  private schedulePing(): void {
    this.o.clock.clearTimeout(this.pingTimer);
    this.pingTimer = this.o.clock.setTimeout(() => {
      this.pingTimer = undefined;
      if (!this._running) return;
      this._awaitingPong = true;
      this.pongTimer = this.o.clock.setTimeout(() => {
        this.pongTimer = undefined;
        if (!this._running || !this._awaitingPong) return;
        this.stop();
        this.o.onDead();
      }, this.o.keepAliveTimeoutMs);
      this.o.sendPing();
    }, this.nextInterval());
  }
}

export interface ProbeOptions {
  clock: Clock;
  /** Back-off between probes of the preferred (home) registrar; default base 30 s, cap 15 min. */
  backoff?: Omit<BackoffOptions, 'random'>;
  random: RandomSource;
  /** Run one probe; the caller reports back with result(ok). */
  probe: () => void;
}

/**
 * While signed in to a backup registrar, probe the preferred (home) one with back-off: a failed
 * probe waits longer next time; a successful one stops the schedule (the caller moves back).
 */
export class PreferredRegistrarProbe {
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly probe: () => void;
  private timer: TimerHandle | undefined;
  private inFlight = false;
  private _active = false;
  /** Delays chosen so far, for the diagnosis. */
  readonly delays: number[] = [];

  constructor(opts: ProbeOptions) {
    this.clock = opts.clock;
    this.probe = opts.probe;
    this.backoff = new Backoff({ baseMs: 30_000, capMs: 900_000, ...(opts.backoff ?? {}), random: opts.random });
  }

  get active(): boolean {
    return this._active;
  }

  start(): void {
    if (this._active) return;
    this._active = true;
    this.backoff.reset();
    this.schedule();
  }

  stop(): void {
    this._active = false;
    this.inFlight = false;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Outcome of the probe that was started. true → preferred is back: schedule stops. */
  result(ok: boolean): void {
    if (!this._active || !this.inFlight) return;
    this.inFlight = false;
    if (ok) this.stop();
    else this.schedule();
  }

  /** Network changed: probe at once (and restart the back-off). */
  networkChanged(): void {
    if (!this._active) return;
    this.backoff.networkChanged();
    if (!this.inFlight) this.schedule();
  }

  private schedule(): void {
    this.clock.clearTimeout(this.timer);
    const d = this.backoff.next();
    this.delays.push(d);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this._active) return;
      this.inFlight = true;
      this.probe();
    }, d);
  }
}
