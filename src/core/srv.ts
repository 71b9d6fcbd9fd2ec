import type { RandomSource } from './clock.js';
import type { SrvRecord } from './types.js';

/** RFC 2782: a Target of "." means "the service is decidedly not available at this domain". */
function isNullTarget(r: SrvRecord): boolean {
  return r.target === '.' || r.target === '';
}

/**
 * RFC 2782 order for the records of ONE SRV name: priority ascending, weighted random within a
 * priority. A single record whose target is "." means "service not offered": returns [].
 *
 * Within one priority we follow the RFC's selection algorithm literally: the unordered records
 * are listed with weight-0 records FIRST (so their running sum is 0 and they are picked only when
 * the random number is exactly 0 — "a very small chance"), a uniform integer in [0, sum] is drawn,
 * and the first record whose running sum is >= it is taken; repeat until none is left.
 * Ties keep input order, so a given random sequence always gives the same result.
 * "." records inside a larger set are dropped (meaningless there). The input is not modified.
 */
export function orderSrv(records: readonly SrvRecord[], random: RandomSource): SrvRecord[] {
  const usable = records.filter((r) => !isNullTarget(r));
  const byPriority = new Map<number, SrvRecord[]>();
  for (const r of usable) {
    const group = byPriority.get(r.priority);
    if (group) group.push(r);
    else byPriority.set(r.priority, [r]);
  }
  const out: SrvRecord[] = [];
  for (const prio of [...byPriority.keys()].sort((a, b) => a - b)) {
    const group = byPriority.get(prio) ?? [];
    // Weight-0 first, stable otherwise (RFC 2782 "Usage rules").
    const left = [...group.filter((r) => r.weight <= 0), ...group.filter((r) => r.weight > 0)];
    while (left.length > 0) {
      const sum = left.reduce((s, r) => s + Math.max(0, r.weight), 0);
      // Uniform integer in [0, sum] inclusive, as the RFC specifies.
      const pick = Math.min(sum, Math.floor(random() * (sum + 1)));
      let running = 0;
      let chosen = left.length - 1;
      for (let i = 0; i < left.length; i++) {
        running += Math.max(0, left[i]!.weight);
        if (running >= pick) {
          chosen = i;
          break;
        }
      }
      out.push(left.splice(chosen, 1)[0]!);
    }
  }
  return out;
}
