import { CacheError, UsageError } from '../errors.js';
import type { CandidatePlan } from './candidates.js';
import { hostNameProblem, normalizeName } from './names.js';
import type { CacheRecord, Candidate, SipTransport } from './types.js';

/**
 * The seed's resiliency rules (GG398713): "If the DNS SRV query and the DHCP options for the
 * Registrar fail, or the subsequent DNS resolution of the returned FQDN(s) fail, the device will
 * use the last registered Registrar … FQDNs and cached IP addresses". Otherwise "the usual SIP
 * registration process continues": the cache is not used when discovery works, even if the
 * registrars it found then refuse connections (that is a server problem, not a DNS/DHCP outage).
 */

export type CacheDecisionReason = 'discovery-empty' | 'resolution-failed' | 'discovery-ok' | 'not-yet-resolved';

export interface CacheDecision {
  useCache: boolean;
  reason: CacheDecisionReason;
  detail: string;
}

export function shouldUseCache(facts: {
  plan: Pick<CandidatePlan, 'candidates'>;
  /** Candidates after attachAddresses; omit when resolution has not run yet. */
  resolved?: readonly Candidate[];
}): CacheDecision {
  if (facts.plan.candidates.length === 0) {
    return { useCache: true, reason: 'discovery-empty', detail: 'DNS SRV and DHCP gave no usable registrar' };
  }
  if (facts.resolved === undefined) {
    return { useCache: false, reason: 'not-yet-resolved', detail: 'discovery found registrars; resolve them first' };
  }
  if (facts.resolved.length === 0) {
    return { useCache: true, reason: 'resolution-failed', detail: `none of the ${facts.plan.candidates.length} discovered registrar(s) resolved to an address` };
  }
  return { useCache: false, reason: 'discovery-ok', detail: `${facts.resolved.length} discovered registrar(s) have addresses` };
}

function validRegistrar(r: unknown): r is CacheRecord['registrar'] {
  if (typeof r !== 'object' || r === null) return false;
  const x = r as Record<string, unknown>;
  return (
    typeof x['fqdn'] === 'string' && hostNameProblem(x['fqdn']) === null &&
    typeof x['port'] === 'number' && Number.isInteger(x['port']) && x['port'] >= 1 && x['port'] <= 65535 &&
    (x['transport'] === 'tls' || x['transport'] === 'tcp') &&
    Array.isArray(x['addresses']) && x['addresses'].every((a) => typeof a === 'string')
  );
}

/**
 * Candidates from the cache: the cached FQDN with freshly resolved addresses when it still
 * resolves, else the cached IPs. Either way fqdn stays the cached FQDN, so TLS is still verified
 * against it (RFC 5922), never against an IP.
 *
 * @throws CacheError CACHE_CORRUPT when the record's registrar is unusable.
 */
export function cacheCandidates(record: CacheRecord, resolvedAddressesOfCachedFqdn: readonly string[] | null): Candidate[] {
  if (!validRegistrar(record?.registrar)) {
    throw new CacheError('CACHE_CORRUPT', 'cached registrar is missing or malformed');
  }
  const r = record.registrar;
  const fresh = resolvedAddressesOfCachedFqdn && resolvedAddressesOfCachedFqdn.length > 0;
  const addresses = [...new Set(fresh ? resolvedAddressesOfCachedFqdn : r.addresses)];
  if (addresses.length === 0) return [];
  return [{
    fqdn: normalizeName(r.fqdn),
    port: r.port,
    transport: r.transport,
    source: 'cache',
    step: null,
    origin: fresh ? `cache (${r.fqdn} resolved afresh)` : `cache (cached addresses of ${r.fqdn}, written ${record.writtenAt})`,
    addresses,
  }];
}

export interface RegistrationFacts {
  user: string;
  registrar: { fqdn: string; port: number; transport: SipTransport; addresses: readonly string[] };
  /** Address the registration actually went through: stored first. */
  connectedAddress?: string;
  inBand?: readonly { fqdn: string; port: number; transport: SipTransport }[];
  mediaRelays?: readonly { fqdn: string; addresses: readonly string[]; udpPort?: number; tcpPort?: number; location?: string }[];
  mrasUri?: string;
  /** Time of the registration (injected: the core reads no clock of its own). */
  at: Date;
}

/**
 * A fresh CacheRecord after a successful registration. The seed flushes the cache so no outdated
 * record is used: this is a whole replacement built only from these facts, never merged with the
 * old record. Only known fields are copied (explicitly, field by field), so nothing else — a
 * password in particular — can travel into the cache; the function takes no credential.
 */
export function recordFromRegistration(f: RegistrationFacts): CacheRecord {
  if (!(f.at instanceof Date) || Number.isNaN(f.at.getTime())) throw new UsageError('INVALID_OPTION', 'registration time is not a valid Date');
  if (!validRegistrar({ ...f.registrar, addresses: [...f.registrar.addresses] })) {
    throw new UsageError('INVALID_OPTION', 'registered registrar has an invalid fqdn, port or transport');
  }
  const addrs = [...new Set([...(f.connectedAddress ? [f.connectedAddress] : []), ...f.registrar.addresses])];
  const rec: CacheRecord = {
    version: 1,
    writtenAt: f.at.toISOString(),
    user: String(f.user),
    registrar: { fqdn: normalizeName(f.registrar.fqdn), port: f.registrar.port, transport: f.registrar.transport, addresses: addrs },
    mediaRelays: (f.mediaRelays ?? []).map((m) => {
      const out: CacheRecord['mediaRelays'][number] = { fqdn: normalizeName(m.fqdn), addresses: [...m.addresses] };
      if (m.udpPort !== undefined) out.udpPort = m.udpPort;
      if (m.tcpPort !== undefined) out.tcpPort = m.tcpPort;
      if (m.location !== undefined) out.location = m.location;
      return out;
    }),
  };
  if (f.inBand && f.inBand.length > 0) rec.inBand = f.inBand.map((r) => ({ fqdn: normalizeName(r.fqdn), port: r.port, transport: r.transport }));
  if (f.mrasUri !== undefined) rec.mrasUri = f.mrasUri;
  return rec;
}
