/**
 * One presence vocabulary for both flavours: standard SIMPLE (PIDF basic open/closed, RFC 3863)
 * and Lync enhanced presence (availability numbers, [MS-PRES] as read through pidgin-sipe).
 */

export const PRESENCE_STATES = ['online', 'busy', 'away', 'dnd', 'offline', 'unknown'] as const;
export type PresenceState = (typeof PRESENCE_STATES)[number];

export type PidfBasic = 'open' | 'closed';

/**
 * PIDF basic only says whether the presentity accepts communication (RFC 3863 §4.1.4): every
 * reachable state is "open". "unknown" is published as "closed": never claim reachability we do not know.
 */
export function stateToPidfBasic(state: PresenceState): PidfBasic {
  return state === 'offline' || state === 'unknown' ? 'closed' : 'open';
}

export function pidfBasicToState(basic: PidfBasic | 'unknown'): PresenceState {
  return basic === 'open' ? 'online' : basic === 'closed' ? 'offline' : 'unknown';
}

/**
 * The values pidgin-sipe publishes (sipe-ocs2007.c): 3500 available, 6500 busy, 9500 do not
 * disturb, 15500 away, 18500 offline. null for "unknown": there is nothing honest to publish.
 */
export function stateToAvailability(state: PresenceState): number | null {
  switch (state) {
    case 'online':
      return 3500;
    case 'busy':
      return 6500;
    case 'dnd':
      return 9500;
    case 'away':
      return 15500;
    case 'offline':
      return 18500;
    case 'unknown':
      return null;
  }
}

/**
 * Availability ranges (msdn dd941370 via sipe; Away 15000-17999 and Offline >= 18000 from the Lync
 * SDK): 3000-4499 available, 4500-5999 available-idle, 6000-7499 busy, 7500-8999 busy-idle,
 * 9000-11999 do not disturb, 12000-14999 be right back, 15000-17999 away, 18000+ offline.
 * Idle variants keep their base state; be-right-back reads as away.
 */
export function availabilityToState(availability: number): PresenceState {
  if (!Number.isFinite(availability) || availability < 3000) return 'unknown';
  if (availability < 6000) return 'online';
  if (availability < 9000) return 'busy';
  if (availability < 12000) return 'dnd';
  if (availability < 18000) return 'away';
  return 'offline';
}

const RANK: Record<PresenceState, number> = { online: 0, busy: 1, dnd: 2, away: 3, offline: 4, unknown: 5 };

/** The most reachable of several states (a contact with two devices is as reachable as the best one). */
export function mostAvailable(states: Iterable<PresenceState>): PresenceState {
  let best: PresenceState = 'unknown';
  for (const s of states) if (RANK[s] < RANK[best]) best = s;
  return best;
}
