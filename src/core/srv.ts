import type { RandomSource } from './clock.js';
import type { SrvRecord } from './types.js';

/**
 * RFC 2782 order for the records of ONE SRV name: priority ascending, weighted random within a
 * priority. A single record whose target is "." means "service not offered": returns [].
 * CONTRACT — implemented by the core work item.
 */
export function orderSrv(records: readonly SrvRecord[], random: RandomSource): SrvRecord[] {
  void records; void random;
  throw new Error('orderSrv: not implemented');
}
