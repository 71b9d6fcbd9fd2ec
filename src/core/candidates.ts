import type { RandomSource } from './clock.js';
import { UsageError } from '../errors.js';
import { hostNameProblem, isIpv4, isWithinDomain, normalizeName } from './names.js';
import { orderSrv } from './srv.js';
import {
  DEFAULT_PORTS,
  DEFAULT_SRV_NAMES,
  type Candidate,
  type DiscoveryAnswers,
  type SeedStep,
  type SipTransport,
  type SrvRole,
} from './types.js';

export interface CandidatePolicy {
  /** Accept SRV/DHCP targets outside the user's SIP domain (untrusted answers). Default false. */
  allowOutsideDomain: boolean;
  /** Extra domains whose hosts are accepted even when outside the SIP domain. */
  allowedDomains: string[];
  /** Add sipinternal./sip./sipexternal.<domain> hosts when no SRV name has records. Default true. */
  hostFallbacks: boolean;
}

export const DEFAULT_CANDIDATE_POLICY: Readonly<CandidatePolicy> = {
  allowOutsideDomain: false,
  allowedDomains: [],
  hostFallbacks: true,
};

export interface CandidatePlan {
  /** Ordered, de-duplicated candidates, addresses not yet resolved (IP literals pre-filled). */
  candidates: Candidate[];
  /** Candidates refused by policy, with the reason, for the diagnosis. */
  rejected: { candidate: Candidate; reason: string }[];
  /** Host names whose A/AAAA records the adapter must resolve next. */
  hostsToResolve: string[];
  /** Later duplicates dropped in favour of an earlier step (for the diagnosis). Added field. */
  duplicates?: { candidate: Candidate; keptStep: SeedStep | null }[];
}

const ROLE_STEP: Record<SrvRole, { step: SeedStep; transport: SipTransport }> = {
  'internal-tls': { step: 1, transport: 'tls' },
  'internal-tcp': { step: 3, transport: 'tcp' },
  'external-tls': { step: 5, transport: 'tls' },
  'external-tcp': { step: 6, transport: 'tcp' },
};

/**
 * A-record fallback hosts (KB 2619522 extension, see SIPE `addresses[]` and the OCS R2 CPE list):
 * used only when no SRV name has records — every documented client (SIPE, OCS 2007 R2 Phone
 * Edition, Lync 2010/2013) turns to them after all SRV lookups, never beside a published SRV.
 */
function fallbackHosts(role: SrvRole, d: string): { fqdn: string; port: number }[] {
  switch (role) {
    case 'internal-tls':
      return [{ fqdn: `sipinternal.${d}`, port: 5061 }];
    case 'internal-tcp':
      return [{ fqdn: `sipinternal.${d}`, port: 5060 }];
    case 'external-tls':
      return [
        { fqdn: `sip.${d}`, port: 5061 },
        { fqdn: `sipexternal.${d}`, port: 443 },
      ];
    case 'external-tcp':
      return [{ fqdn: `sip.${d}`, port: 5060 }];
  }
}

/** Identity for de-duplication: a DHCP IPv4 answer is its own target (its fqdn is only the TLS name). */
function dedupeKey(c: Candidate): string {
  const base = `${c.transport}:${normalizeName(c.fqdn)}:${c.port}`;
  return c.addresses.length > 0 ? `${base}@${c.addresses.join(',')}` : base;
}

/**
 * The seed's 6-step order from discovery answers:
 * 1 internal SRV (TLS), 2 DHCP opt 120 (TLS), 3 internal SRV (TCP), 4 DHCP (TCP), 5 external SRV
 * (TLS), 6 external SRV (TCP).
 *
 * Host fallbacks are added only when no SRV name has any record, and then for each SRV name that
 * authoritatively has none (nxdomain, nodata, or an answer with no records), in that name's step.
 * They are NOT added on timeout / servfail / refused / error: then the DNS path itself is failing,
 * more names on the same resolver only cost more timeouts, and the seed sends that case to the
 * cache instead. A "." target (RFC 2782: service decidedly not offered) is a record: the site
 * publishes SRV, so no fallback.
 *
 * @throws UsageError INVALID_OPTION when the SIP domain is not a valid host name.
 */
export function planCandidates(input: {
  answers: DiscoveryAnswers;
  random: RandomSource;
  policy?: Partial<CandidatePolicy>;
}): CandidatePlan {
  const policy: CandidatePolicy = { ...DEFAULT_CANDIDATE_POLICY, ...(input.policy ?? {}) };
  const domainProblem = hostNameProblem(input.answers.domain);
  if (domainProblem) {
    throw new UsageError('INVALID_OPTION', `SIP domain is not a valid host name: ${domainProblem}`, {
      details: { domain: input.answers.domain.slice(0, 300) },
    });
  }
  const domain = normalizeName(input.answers.domain);
  const allowed = policy.allowedDomains.map(normalizeName).filter((d) => d.length > 0);

  const raw: Candidate[] = [];
  const rejected: CandidatePlan['rejected'] = [];

  const anySrvRecords = Object.values(input.answers.srv).some((q) => q?.outcome === 'answer' && (q.srv?.length ?? 0) > 0);
  const srvStep = (role: SrvRole): void => {
    const { step, transport } = ROLE_STEP[role];
    const q = input.answers.srv[role];
    if (!q) return; // not asked (e.g. TCP disabled)
    const origin = q.name || `${DEFAULT_SRV_NAMES[role]}.${domain}`;
    const records = q.srv ?? [];
    const noRecords = q.outcome === 'nxdomain' || q.outcome === 'nodata' || (q.outcome === 'answer' && records.length === 0);
    if (q.outcome === 'answer' && records.length > 0) {
      for (const r of orderSrv(records, input.random)) {
        raw.push({ fqdn: r.target, port: r.port, transport, source: 'dns-srv', step, origin, addresses: [] });
      }
    } else if (noRecords && policy.hostFallbacks && !anySrvRecords) {
      for (const h of fallbackHosts(role, domain)) {
        raw.push({ fqdn: h.fqdn, port: h.port, transport, source: 'dns-host', step, origin: `${origin} (no SRV: host fallback)`, addresses: [] });
      }
    }
  };

  const dhcpStep = (step: 2 | 4, transport: SipTransport): void => {
    const sip = input.answers.dhcp?.outcome === 'answer' ? input.answers.dhcp.sipServers : undefined;
    if (!sip) return;
    const port = DEFAULT_PORTS[transport];
    if (sip.encoding === 'fqdn') {
      for (const name of sip.names) {
        raw.push({ fqdn: name, port, transport, source: 'dhcp', step, origin: 'DHCP option 120 (names)', addresses: [] });
      }
    } else {
      // RFC 3361 IPv4 encoding gives no name: TLS must verify the SIP domain (RFC 5922 §4).
      const good = sip.addresses.filter(isIpv4);
      for (const bad of sip.addresses.filter((a) => !isIpv4(a))) {
        rejected.push({
          candidate: { fqdn: domain, port, transport, source: 'dhcp', step, origin: 'DHCP option 120 (IPv4)', addresses: [bad] },
          reason: `not an IPv4 address: ${JSON.stringify(bad.slice(0, 60))}`,
        });
      }
      if (good.length > 0) {
        raw.push({ fqdn: domain, port, transport, source: 'dhcp', step, origin: 'DHCP option 120 (IPv4)', addresses: [...good] });
      }
    }
  };

  srvStep('internal-tls');
  dhcpStep(2, 'tls');
  srvStep('internal-tcp');
  dhcpStep(4, 'tcp');
  srvStep('external-tls');
  srvStep('external-tcp');

  const candidates: Candidate[] = [];
  const duplicates: NonNullable<CandidatePlan['duplicates']> = [];
  const seen = new Map<string, Candidate>();
  for (const c0 of raw) {
    const problem = hostNameProblem(c0.fqdn);
    if (problem) {
      rejected.push({ candidate: c0, reason: `invalid host name: ${problem}` });
      continue;
    }
    if (!Number.isInteger(c0.port) || c0.port < 1 || c0.port > 65535) {
      rejected.push({ candidate: c0, reason: `invalid port ${String(c0.port)}` });
      continue;
    }
    const c: Candidate = { ...c0, fqdn: normalizeName(c0.fqdn) };
    const inside = isWithinDomain(c.fqdn, domain) || allowed.some((d) => isWithinDomain(c.fqdn, d));
    if (!inside) {
      if (!policy.allowOutsideDomain) {
        rejected.push({ candidate: c, reason: `target ${c.fqdn} is outside the SIP domain ${domain} (untrusted answer; allow with allowOutsideDomain or allowedDomains)` });
        continue;
      }
      c.outsideDomain = true;
    }
    const key = dedupeKey(c);
    const earlier = seen.get(key);
    if (earlier) {
      duplicates.push({ candidate: c, keptStep: earlier.step });
      continue;
    }
    seen.set(key, c);
    candidates.push(c);
  }

  const hostsToResolve: string[] = [];
  for (const c of candidates) {
    if (c.addresses.length === 0 && !hostsToResolve.includes(c.fqdn)) hostsToResolve.push(c.fqdn);
  }
  return { candidates, rejected, hostsToResolve, duplicates };
}

/**
 * Fill addresses from resolutions (host → addresses); drop candidates with none; keep order.
 * Candidates that already carry addresses (DHCP IPv4 literals, cached IPs) keep exactly those:
 * their fqdn is only the TLS name, not something to resolve. Map keys are matched
 * case-insensitively and without the trailing dot. Inputs are not modified.
 */
export function attachAddresses(candidates: readonly Candidate[], resolved: ReadonlyMap<string, readonly string[]>): Candidate[] {
  const byName = new Map<string, string[]>();
  for (const [name, addrs] of resolved) {
    const n = normalizeName(name);
    const list = byName.get(n) ?? [];
    for (const a of addrs) if (!list.includes(a)) list.push(a);
    byName.set(n, list);
  }
  const out: Candidate[] = [];
  for (const c of candidates) {
    if (c.addresses.length > 0) {
      out.push({ ...c, addresses: [...c.addresses] });
      continue;
    }
    const addrs = byName.get(normalizeName(c.fqdn));
    if (addrs && addrs.length > 0) out.push({ ...c, addresses: [...addrs] });
  }
  return out;
}
