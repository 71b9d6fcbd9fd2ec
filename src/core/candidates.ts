import type { RandomSource } from './clock.js';
import type { Candidate, DiscoveryAnswers } from './types.js';

export interface CandidatePolicy {
  /** Accept SRV/DHCP targets outside the user's SIP domain (untrusted answers). Default false. */
  allowOutsideDomain: boolean;
  /** Extra domains whose hosts are accepted even when outside the SIP domain. */
  allowedDomains: string[];
  /** Add sipinternal./sip./sipexternal.<domain> hosts when an SRV name has no records. Default true. */
  hostFallbacks: boolean;
}

export interface CandidatePlan {
  /** Ordered, de-duplicated candidates, addresses not yet resolved (IP literals pre-filled). */
  candidates: Candidate[];
  /** Candidates refused by policy, with the reason, for the diagnosis. */
  rejected: { candidate: Candidate; reason: string }[];
  /** Host names whose A/AAAA records the adapter must resolve next. */
  hostsToResolve: string[];
}

/**
 * The seed's 6-step order from discovery answers. CONTRACT — implemented by the core work item.
 */
export function planCandidates(input: {
  answers: DiscoveryAnswers;
  random: RandomSource;
  policy?: Partial<CandidatePolicy>;
}): CandidatePlan {
  void input;
  throw new Error('planCandidates: not implemented');
}

/** Fill addresses from resolutions (host → addresses); drop candidates with none. CONTRACT. */
export function attachAddresses(candidates: readonly Candidate[], resolved: ReadonlyMap<string, readonly string[]>): Candidate[] {
  void candidates; void resolved;
  throw new Error('attachAddresses: not implemented');
}
