/**
 * Shared data model of the pure core. No I/O and no `node:` imports in src/core: the adapters
 * (src/discovery, src/sip, src/cache) produce these values, the core decides with them.
 */

export type SipTransport = 'tls' | 'tcp';

/** The four SRV names a Lync-style device asks (names configurable, see DEFAULT_SRV_NAMES). */
export type SrvRole = 'internal-tls' | 'internal-tcp' | 'external-tls' | 'external-tcp';

/** Where a candidate came from; `step` below gives its place in the seed's 6-step order. */
export type CandidateSource =
  | 'dns-srv' // an SRV answer
  | 'dns-host' // a host fallback (sipinternal.<d>, sip.<d>, sipexternal.<d>) used when no SRV exists
  | 'dhcp' // DHCP option 120
  | 'in-band' // 301 Contacts (home / backup registrar) remembered from an earlier sign-in
  | 'cache' // the local cache, used when discovery fails
  | 'target' // an explicit --target-fqdn / --registrar
  | 'redirect'; // a 301/302 Contact met during this sign-in

/**
 * The seed's order: 1 internal DNS SRV (TLS), 2 DHCP address (TLS), 3 internal DNS SRV (TCP),
 * 4 DHCP address (TCP), 5 external DNS (TLS), 6 external DNS (TCP).
 */
export type SeedStep = 1 | 2 | 3 | 4 | 5 | 6;

export interface SrvRecord {
  target: string;
  port: number;
  priority: number;
  weight: number;
  ttl?: number;
}

export interface Candidate {
  /** Name the TLS certificate must carry (RFC 5922). For an IPv4 DHCP answer: the SIP domain. */
  fqdn: string;
  port: number;
  transport: SipTransport;
  source: CandidateSource;
  /** Place in the seed's order; null for sources outside it (in-band, cache, target, redirect). */
  step: SeedStep | null;
  /** The SRV name or DHCP option this came from, for the diagnosis ("_sipinternaltls._tcp.acme.test"). */
  origin: string;
  /** Resolved addresses, in preference order; empty until resolved. */
  addresses: string[];
  /** Set when the target lies outside the user's SIP domain (untrusted DNS/DHCP answer). */
  outsideDomain?: boolean;
}

/** Stable identity of a registrar for the cycle record and the penalty list. */
export function candidateKey(c: Pick<Candidate, 'fqdn' | 'port' | 'transport'>): string {
  return `${c.transport}:${c.fqdn.toLowerCase().replace(/\.$/, '')}:${c.port}`;
}

/** Outcome of one DNS query, recorded distinctly because the diagnosis needs the difference. */
export type DnsOutcome = 'answer' | 'nxdomain' | 'nodata' | 'servfail' | 'refused' | 'timeout' | 'error';

export interface DnsQueryResult {
  name: string;
  type: 'SRV' | 'A' | 'AAAA';
  outcome: DnsOutcome;
  /** Server that gave the outcome, "host:port". */
  server: string;
  latencyMs: number;
  srv?: SrvRecord[];
  /**
   * SRV only: addresses of the SRV targets that the server put in the answer's additional
   * section (RFC 2782 allows it), so no separate A/AAAA round trip is needed for them.
   */
  glue?: Record<string, string[]>;
  addresses?: string[];
  ttl?: number;
  /** Human detail for 'error' (malformed answer, socket error). */
  detail?: string;
  /** Taken from a shared resolver cache (DnsCache) within its TTL; nothing was sent. */
  cached?: boolean;
}

/** Option 43 sub-options for vendor class MS-UC-Client ([MS-DHCPUC]-style layout, see README). */
export interface MsUcClientOptions {
  ucIdentifier?: string; // sub-option 1
  urlScheme?: string; // 2
  webServerFqdn?: string; // 3
  webServerPort?: string; // 4
  certProvPath?: string; // 5
  /** Any other sub-option, raw. */
  other?: Record<number, string>;
}

export interface DhcpInformResult {
  outcome: 'answer' | 'timeout' | 'error' | 'skipped';
  latencyMs: number;
  /** Interface / local address the INFORM was sent from. */
  via?: string;
  /** Server that answered ("192.0.2.1:67"). */
  server?: string;
  /** Option 120 (RFC 3361), either encoding. */
  sipServers?: { encoding: 'fqdn'; names: string[] } | { encoding: 'ipv4'; addresses: string[] };
  msUcClient?: MsUcClientOptions;
  /** Option codes present in the DHCPACK. */
  optionsSeen?: number[];
  detail?: string;
}

/** Everything discovery learnt, as data: the core turns it into ordered candidates. */
export interface DiscoveryAnswers {
  domain: string;
  srv: Partial<Record<SrvRole, DnsQueryResult>>;
  dhcp?: DhcpInformResult;
}

export const DEFAULT_SRV_NAMES: Readonly<Record<SrvRole, string>> = {
  'internal-tls': '_sipinternaltls._tcp',
  'internal-tcp': '_sipinternal._tcp',
  'external-tls': '_sip._tls',
  'external-tcp': '_sip._tcp',
};

/** Default ports when a name carries none (RFC 3261 §19.1.2, Lync host fallbacks). */
export const DEFAULT_PORTS: Readonly<Record<SipTransport, number>> = { tls: 5061, tcp: 5060 };

/** What the device remembers between sign-ins (the seed's resiliency cache). Never a secret. */
export interface CacheRecord {
  version: 1;
  /** ISO time of the registration that wrote it. */
  writtenAt: string;
  /** AoR the record belongs to ("sip:alice@acme.test"). */
  user: string;
  registrar: { fqdn: string; port: number; transport: SipTransport; addresses: string[] };
  /** In-band home/backup registrars (301 Contacts) to use on the next sign-in. */
  inBand?: { fqdn: string; port: number; transport: SipTransport }[];
  mediaRelays: { fqdn: string; addresses: string[]; udpPort?: number; tcpPort?: number; location?: string }[];
  mrasUri?: string;
}
