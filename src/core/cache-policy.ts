import type { CacheRecord, Candidate, SipTransport } from './types.js';

/**
 * Seed: "If the DNS SRV query and the DHCP options for the Registrar fail, or the subsequent DNS
 * resolution of the returned FQDN(s) fail, the device will use the last registered Registrar …
 * and cached IP addresses".
 */
export function shouldUseCache(f: { discoveryFailed: boolean }): boolean {
  return f.discoveryFailed;
}

/**
 * The cached registrar as a candidate: its FQDN with fresh addresses when it still resolves,
 * else the cached IPs — the FQDN stays the name TLS verifies either way.
 */
export function cacheCandidates(r: CacheRecord, freshAddresses: readonly string[] | null): Candidate[] {
  const fresh = freshAddresses && freshAddresses.length > 0;
  return [
    {
      fqdn: r.registrar.fqdn,
      port: r.registrar.port,
      transport: r.registrar.transport,
      source: 'cache',
      step: null,
      origin: fresh ? 'cache (FQDN resolved again)' : `cache (IPs cached ${r.writtenAt})`,
      addresses: fresh ? [...freshAddresses] : [...r.registrar.addresses],
    },
  ];
}

/**
 * The record written after a successful registration: a whole replacement (the stale cache was
 * flushed), built from known fields only, so no secret can slip in.
 */
export function recordFromRegistration(x: {
  user: string;
  registrar: { fqdn: string; port: number; transport: SipTransport; addresses: readonly string[] };
  inBand: readonly { fqdn: string; port: number; transport: SipTransport }[];
  mediaRelays: readonly { fqdn: string; addresses: readonly string[]; udpPort?: number; tcpPort?: number; location?: string }[];
  mrasUri?: string;
  now: Date;
}): CacheRecord {
  const rec: CacheRecord = {
    version: 1,
    writtenAt: x.now.toISOString(),
    user: x.user,
    registrar: { fqdn: x.registrar.fqdn, port: x.registrar.port, transport: x.registrar.transport, addresses: [...new Set(x.registrar.addresses)] },
    mediaRelays: x.mediaRelays.map((m) => ({
      fqdn: m.fqdn,
      addresses: [...new Set(m.addresses)],
      ...(m.udpPort !== undefined ? { udpPort: m.udpPort } : {}),
      ...(m.tcpPort !== undefined ? { tcpPort: m.tcpPort } : {}),
      ...(m.location !== undefined ? { location: m.location } : {}),
    })),
  };
  if (x.inBand.length) rec.inBand = x.inBand.map((c) => ({ fqdn: c.fqdn, port: c.port, transport: c.transport }));
  if (x.mrasUri) rec.mrasUri = x.mrasUri;
  return rec;
}
