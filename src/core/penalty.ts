import type { Clock } from './clock.js';
import { UsageError } from '../errors.js';
import { candidateKey, type Candidate } from './types.js';

/**
 * Remembers targets that just failed, for `penaltyMs`. Unlike the peers measured in
 * shared/references/peer-failover.md (which retry the dead SRV target first every time), a
 * penalised target moves to the END of the order — not banned, because it may be the only one —
 * and the penalty expires by the injected clock (lazily; no timers to clean up).
 */
export const DEFAULT_PENALTY_MS = 30_000;

export interface PenaltyEntry {
  key: string;
  since: number;
  until: number;
  reason: string;
}

export class PenaltyList {
  private readonly clock: Clock;
  private readonly penaltyMs: number;
  private readonly map = new Map<string, PenaltyEntry>();

  constructor(opts: { clock: Clock; penaltyMs?: number }) {
    const ms = opts.penaltyMs ?? DEFAULT_PENALTY_MS;
    if (!Number.isFinite(ms) || ms < 0) throw new UsageError('INVALID_OPTION', `penaltyMs must be a finite number >= 0 (got ${String(ms)})`);
    this.clock = opts.clock;
    this.penaltyMs = ms;
  }

  /** Penalise a target (key from candidateKey, or a Candidate); a repeat failure restarts the period. */
  penalise(target: string | Pick<Candidate, 'fqdn' | 'port' | 'transport'>, reason = 'failed'): void {
    const key = typeof target === 'string' ? target : candidateKey(target);
    const now = this.clock.now();
    this.map.set(key, { key, since: now, until: now + this.penaltyMs, reason });
  }

  /** Forget a penalty (e.g. the target just worked). */
  clear(target: string | Pick<Candidate, 'fqdn' | 'port' | 'transport'>): void {
    this.map.delete(typeof target === 'string' ? target : candidateKey(target));
  }

  isPenalised(target: string | Pick<Candidate, 'fqdn' | 'port' | 'transport'>): boolean {
    const key = typeof target === 'string' ? target : candidateKey(target);
    const e = this.map.get(key);
    if (!e) return false;
    if (this.clock.now() >= e.until) {
      this.map.delete(key);
      return false;
    }
    return true;
  }

  /** Stable reorder: unpenalised first in their order, then penalised in their order. */
  order<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
    const ok: T[] = [];
    const late: T[] = [];
    for (const it of items) (this.isPenalised(keyOf(it)) ? late : ok).push(it);
    return [...ok, ...late];
  }

  orderCandidates(candidates: readonly Candidate[]): Candidate[] {
    return this.order(candidates, candidateKey);
  }

  /** Live penalties, for the diagnosis. */
  entries(): PenaltyEntry[] {
    return [...this.map.keys()].filter((k) => this.isPenalised(k)).map((k) => ({ ...this.map.get(k)! }));
  }
}
