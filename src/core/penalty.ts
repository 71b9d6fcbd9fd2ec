import type { Clock } from './clock.js';
import { candidateKey, type Candidate } from './types.js';

/**
 * Remembers failed registrars for a while so the next attempt tries the others first — a
 * penalty, not a ban: a penalised candidate still runs, last.
 */
export class PenaltyList {
  private readonly until = new Map<string, number>();
  private readonly clock: Clock;
  readonly penaltyMs: number;

  constructor(o: { clock: Clock; penaltyMs?: number }) {
    this.clock = o.clock;
    this.penaltyMs = o.penaltyMs ?? 30000;
  }

  penalise(c: Pick<Candidate, 'fqdn' | 'port' | 'transport'>): void {
    if (this.penaltyMs > 0) this.until.set(candidateKey(c), this.clock.now() + this.penaltyMs);
  }

  clear(c: Pick<Candidate, 'fqdn' | 'port' | 'transport'>): void {
    this.until.delete(candidateKey(c));
  }

  isPenalised(c: Pick<Candidate, 'fqdn' | 'port' | 'transport'>): boolean {
    const k = candidateKey(c);
    const t = this.until.get(k);
    if (t === undefined) return false;
    if (t <= this.clock.now()) {
      this.until.delete(k);
      return false;
    }
    return true;
  }

  /** Stable: unpenalised in their order, then penalised in their order. */
  order<T extends Pick<Candidate, 'fqdn' | 'port' | 'transport'>>(list: readonly T[]): T[] {
    const ok: T[] = [];
    const late: T[] = [];
    for (const c of list) (this.isPenalised(c) ? late : ok).push(c);
    return [...ok, ...late];
  }
}
