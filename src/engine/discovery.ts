/**
 * Runs discovery the seed's way: DHCPINFORM and every SRV query at once, then A/AAAA for every
 * name the core wants resolved, at once. Each query is a step, so the diagnosis can say exactly
 * which answer was missing. Decisions (order, policy) stay in the core.
 */
import { attachAddresses, planCandidates, type CandidatePlan } from '../core/candidates.js';
import { shouldUseCache, type CacheDecision } from '../core/cache-policy.js';
import { normalizeName } from '../core/names.js';
import { DEFAULT_SRV_NAMES, DEFAULT_PORTS, type Candidate, type DhcpInformResult, type DnsQueryResult, type SrvRole } from '../core/types.js';
import { informDhcp } from '../discovery/dhcp-client.js';
import { dnsResultError, type DnsClient } from '../discovery/dns.js';
import { DhcpError, DnsError, SignInError } from '../errors.js';
import type { ResolvedOptions } from './options.js';
import type { StepRecorder } from './steps.js';
import type { LateCandidate } from './race.js';
import { isIP } from 'node:net';

export interface DiscoveryOutcome {
  mode: 'discovery' | 'target';
  dhcp?: DhcpInformResult;
  srv: Partial<Record<SrvRole, DnsQueryResult>>;
  hostQueries: DnsQueryResult[];
  plan?: CandidatePlan;
  /** Ordered, resolved candidates. */
  candidates: Candidate[];
  /** Candidates ranked after those, whose names were still resolving: they join the race late. */
  later?: LateCandidate[];
  /** Seed's cache trigger: DHCP and SRV both gave nothing, or nothing they named resolved. */
  discoveryFailed: boolean;
  /** The core's cache decision with its reason (absent with --target-fqdn: no cache bypass there). */
  cacheDecision?: CacheDecision;
}

const ROLES: SrvRole[] = ['internal-tls', 'internal-tcp', 'external-tls', 'external-tcp'];

export async function runDiscovery(o: ResolvedOptions, rec: StepRecorder, dns: DnsClient): Promise<DiscoveryOutcome> {
  if (o.targetFqdn) return targetOnly(o, rec, dns);

  const dhcpP = runDhcp(o, rec);
  // Awaited only after the SRV queries: a DHCP failure meanwhile (a bad interface) must not be
  // an unhandled rejection; it is rethrown by the await below.
  dhcpP.catch(() => undefined);
  const srvNames = { ...DEFAULT_SRV_NAMES, ...o.srvNames };
  const srvEntries = await Promise.all(
    ROLES.map(async (role) => {
      const name = `${srvNames[role]}.${o.domain}`;
      const step = rec.begin('dns-srv', `DNS SRV ${name}`, name, { role });
      const r = await dns.query(name, 'SRV', o.signal);
      const detail = { role, outcome: r.outcome, server: r.server, timeoutMs: o.dnsTimeoutMs, records: r.srv ?? [], ttl: r.ttl, ...(r.cached ? { cached: true } : {}) };
      if (r.outcome === 'answer') step.pass(detail);
      else step.fail(dnsResultError(r), detail);
      return [role, r] as const;
    }),
  );
  const dhcp = await dhcpP;
  const srv = Object.fromEntries(srvEntries) as Partial<Record<SrvRole, DnsQueryResult>>;

  const planStep = rec.begin('candidates', 'Order registrar candidates (seed steps 1–6)');
  const plan = planCandidates({ answers: { domain: o.domain, srv, ...(dhcp ? { dhcp } : {}) }, random: o.random, policy: o.policy });
  // Addresses the SRV answers already carried (additional section) save a round trip per name.
  const glue = new Map<string, string[]>();
  for (const r of Object.values(srv)) for (const [name, addrs] of Object.entries(r?.glue ?? {})) glue.set(name, addrs);
  const { candidates, hostQueries, later, pending, resolvedSoFar } = await resolveProgressively(plan.candidates, plan.hostsToResolve, o, rec, dns, glue);
  const planDetail = {
    candidates: candidates.map(describeCandidate),
    unresolved: plan.candidates.filter((c) => !candidates.includes(c) && c.addresses.length === 0 && !pending.includes(c.fqdn)).map(describeCandidate),
    rejected: plan.rejected.map((r) => ({ ...describeCandidate(r.candidate), reason: r.reason })),
    // Resolved, but ranked below a name still resolving: they join the race in turn.
    ...(resolvedSoFar.length > candidates.length ? { resolvedBehind: resolvedSoFar.filter((c) => !candidates.some((p) => p.fqdn === c.fqdn && p.port === c.port && p.transport === c.transport)).map(describeCandidate) } : {}),
    ...(pending.length ? { stillResolving: pending } : {}),
  };
  if (resolvedSoFar.length > 0) planStep.pass(planDetail);
  else planStep.fail(new SignInError('NO_CANDIDATES', `no registrar found for ${o.domain}`), planDetail);
  const cacheDecision = shouldUseCache({ plan, resolved: resolvedSoFar });
  return { mode: 'discovery', ...(dhcp ? { dhcp } : {}), srv, hostQueries, plan, candidates, ...(later.length ? { later } : {}), discoveryFailed: cacheDecision.useCache, cacheDecision };
}

async function runDhcp(o: ResolvedOptions, rec: StepRecorder): Promise<DhcpInformResult | undefined> {
  if (o.dhcp === false) {
    rec.begin('dhcp-inform', 'DHCPINFORM (options 120, 43)').skip('no DHCP interface or server given (--dhcp-interface)');
    return undefined;
  }
  const via = o.dhcp.interface ?? o.dhcp.localAddress ?? o.dhcp.server ?? '';
  const timeoutMs = o.dhcp.timeoutMs ?? 8000;
  const step = rec.begin('dhcp-inform', 'DHCPINFORM (options 120, 43)', via, { via, timeoutMs });
  let r: DhcpInformResult;
  try {
    r = await informDhcp({ ...o.dhcp, timeoutMs, vendorClass: 'MS-UC-Client', ...(o.signal ? { signal: o.signal } : {}) });
  } catch (e) {
    step.fail(e);
    throw e;
  }
  const detail = { outcome: r.outcome, server: r.server, sipServers: r.sipServers, msUcClient: r.msUcClient, optionsSeen: r.optionsSeen };
  if (r.outcome === 'answer' && r.sipServers) step.pass(detail);
  else if (r.outcome === 'answer') step.fail(new DhcpError('DHCP_MALFORMED', 'the DHCP answer carries no option 120 (SIP servers)'), detail);
  else if (r.outcome === 'timeout') step.fail(new DhcpError('DHCP_TIMEOUT', `no DHCP answer within ${timeoutMs} ms`), detail);
  else step.fail(new DhcpError('DHCP_SOCKET', r.detail ?? 'DHCP failed'), detail);
  return r;
}

/** --target-fqdn: DHCP and SRV are bypassed; only the name is resolved. */
async function targetOnly(o: ResolvedOptions, rec: StepRecorder, dns: DnsClient): Promise<DiscoveryOutcome> {
  rec.begin('dhcp-inform', 'DHCPINFORM (options 120, 43)').skip('bypassed: --target-fqdn given');
  const fqdn = o.targetFqdn as string;
  const c: Candidate = {
    fqdn,
    port: o.targetPort ?? DEFAULT_PORTS[o.targetTransport],
    transport: o.targetTransport,
    source: 'target',
    step: null,
    origin: '--target-fqdn',
    addresses: isIP(fqdn) ? [fqdn] : [],
  };
  const { candidates, hostQueries } = await resolveCandidates([c], c.addresses.length ? [] : [fqdn], o, rec, dns);
  return { mode: 'target', srv: {}, hostQueries, candidates, discoveryFailed: candidates.length === 0 };
}

export async function resolveCandidates(
  list: readonly Candidate[],
  hosts: readonly string[],
  o: ResolvedOptions,
  rec: StepRecorder,
  dns: DnsClient,
  known: ReadonlyMap<string, readonly string[]> = new Map(),
): Promise<{ candidates: Candidate[]; hostQueries: DnsQueryResult[]; resolved: Map<string, string[]> }> {
  const resolved = new Map<string, string[]>();
  const hostQueries: DnsQueryResult[] = [];
  await Promise.all(hosts.map((host) => resolveHost(host, list, o, rec, dns, known, resolved, hostQueries)));
  return { candidates: attachAddresses(list, resolved), hostQueries, resolved };
}

/**
 * Like resolveCandidates, but does not wait for every name: once a candidate has addresses, the
 * others get `resolutionDelayMs` more; then the longest prefix (in preference order) whose names
 * have settled is returned to race at once (it may be empty when the best-ranked name is still
 * resolving), and the rest come as `later`, to join the race as their names resolve.
 * `resolvedSoFar` is every candidate with addresses by then, wherever it ranks. When everything
 * answers in time this is exactly resolveCandidates.
 */
export async function resolveProgressively(
  list: readonly Candidate[],
  hosts: readonly string[],
  o: ResolvedOptions,
  rec: StepRecorder,
  dns: DnsClient,
  known: ReadonlyMap<string, readonly string[]> = new Map(),
): Promise<{ candidates: Candidate[]; hostQueries: DnsQueryResult[]; later: LateCandidate[]; pending: string[]; resolvedSoFar: Candidate[] }> {
  const resolved = new Map<string, string[]>();
  const hostQueries: DnsQueryResult[] = [];
  const jobs = new Map<string, Promise<void>>();
  for (const host of hosts) jobs.set(normalizeName(host), resolveHost(host, list, o, rec, dns, known, resolved, hostQueries));
  const done = list.map((c) => c.addresses.length > 0 || !jobs.has(normalizeName(c.fqdn)));
  const settledOf = (k: number): Promise<void> => (done[k] ? Promise.resolve() : (jobs.get(normalizeName(list[k]!.fqdn)) as Promise<void>));
  // Cheap test (no copies): does any candidate have addresses by now?
  const anyResolved = (): boolean => list.some((c) => c.addresses.length > 0 || (resolved.get(normalizeName(c.fqdn))?.length ?? 0) > 0);
  // `ready` never rejects (LateCandidate contract): a lookup aborted by the DNS client's close
  // or the session's stop must not become an unhandled rejection where nobody awaits it.
  const laterFrom = (n: number): LateCandidate[] =>
    list.slice(n).map((c, i) => ({ transport: c.transport, ready: settledOf(n + i).then(() => attachAddresses([c], resolved)[0], () => undefined) }));

  return new Promise((resolve, reject) => {
    let finished = false;
    let graceOver = false;
    let timer: ReturnType<ResolvedOptions['clock']['setTimeout']> | undefined;
    const finish = (n: number): void => {
      finished = true;
      o.clock.clearTimeout(timer);
      // hostQueries keeps filling as the later names settle.
      const pending = list.slice(n).filter((_c, i) => !done[n + i]).map((c) => c.fqdn);
      resolve({
        candidates: attachAddresses(list.slice(0, n), resolved),
        hostQueries,
        later: laterFrom(n),
        pending: [...new Set(pending)],
        resolvedSoFar: attachAddresses(list, resolved),
      });
    };
    const check = (): void => {
      if (finished) return;
      if (done.every(Boolean)) return finish(list.length);
      if (!graceOver) {
        if (timer === undefined && anyResolved()) {
          timer = o.clock.setTimeout(() => {
            graceOver = true;
            check();
          }, o.resolutionDelayMs);
        }
        return;
      }
      // Something has addresses (the delay runs only then): race the settled prefix, possibly
      // empty; the rest join as they settle, a name still resolving holding the ones below it for
      // one stagger at most (core/late-join.ts).
      let n = 0;
      while (n < list.length && done[n]) n++;
      finish(n);
    };
    list.forEach((_c, k) => {
      if (!done[k])
        settledOf(k).then(
          () => {
            done[k] = true;
            check();
          },
          (err: unknown) => {
            if (finished) return;
            finished = true;
            o.clock.clearTimeout(timer);
            reject(err);
          },
        );
    });
    check();
  });
}

async function resolveHost(
  host: string,
  list: readonly Candidate[],
  o: ResolvedOptions,
  rec: StepRecorder,
  dns: DnsClient,
  known: ReadonlyMap<string, readonly string[]>,
  resolved: Map<string, string[]>,
  hostQueries: DnsQueryResult[],
): Promise<void> {
  const key = normalizeName(host);
  const fixed = o.hosts[key] ?? o.hosts[host];
  const origin = list.find((c) => c.fqdn === key)?.origin;
  if (fixed) {
    resolved.set(key, [...fixed]);
    rec.begin('dns-host', `Resolve ${key}`, key, { origin, addresses: fixed, via: 'static hosts' }).pass();
    return;
  }
  const glued = known.get(key);
  if (glued?.length) {
    resolved.set(key, [...glued]);
    rec.begin('dns-host', `Resolve ${key} (from the SRV answer)`, key, { origin, addresses: glued, via: 'SRV additional section' }).pass();
    return;
  }
  const step = rec.begin('dns-host', `Resolve ${key} (A/AAAA)`, key, { origin });
  const [a, aaaa] = await bothFamilies(dns.query(key, 'A', o.signal), dns.query(key, 'AAAA', o.signal), o);
  for (const r of [a, aaaa]) if (r) hostQueries.push(r);
  const addresses = [...(aaaa?.addresses ?? []), ...(a?.addresses ?? [])];
  const outcome = (r: DnsQueryResult | undefined): string => r?.outcome ?? `no answer within the ${o.resolutionDelayMs} ms resolution delay`;
  const server = (a ?? aaaa)?.server;
  const detail = { a: outcome(a), aaaa: outcome(aaaa), addresses, server, timeoutMs: o.dnsTimeoutMs, ...(a?.cached && aaaa?.cached ? { cached: true } : {}) };
  if (addresses.length > 0) {
    resolved.set(key, addresses);
    step.pass(detail);
  } else {
    step.fail(new DnsError(a?.outcome === 'timeout' ? 'DNS_TIMEOUT' : 'DNS_FAILED', `${key} does not resolve (A ${outcome(a)}, AAAA ${outcome(aaaa)})`, { stack: false }), detail);
  }
}

/**
 * A and AAAA of one name (RFC 8305 §3): both when both answer; when one has answered with
 * addresses, the other gets `resolutionDelayMs` more and is left out (undefined) if it is still
 * silent. A name whose first answer has no addresses waits for the other in full (bounded by the
 * DNS timeout). A query left behind settles on its own; its outcome is not needed.
 */
async function bothFamilies(
  a: Promise<DnsQueryResult>,
  aaaa: Promise<DnsQueryResult>,
  o: Pick<ResolvedOptions, 'resolutionDelayMs' | 'clock'>,
): Promise<[DnsQueryResult | undefined, DnsQueryResult | undefined]> {
  let ra: DnsQueryResult | undefined;
  let r6: DnsQueryResult | undefined;
  const pa = a.then((r) => (ra = r));
  const p6 = aaaa.then((r) => (r6 = r));
  // The one left behind may still reject (ABORTED when the session stops): never unhandled.
  pa.catch(() => undefined);
  p6.catch(() => undefined);
  await Promise.race([pa, p6]);
  const first = ra ?? r6;
  if (!first?.addresses?.length) {
    await Promise.all([pa, p6]);
    return [ra, r6];
  }
  if (ra && r6) return [ra, r6];
  let timer: ReturnType<ResolvedOptions['clock']['setTimeout']> | undefined;
  const delay = new Promise<void>((resolve) => {
    timer = o.clock.setTimeout(resolve, o.resolutionDelayMs);
  });
  try {
    await Promise.race([Promise.all([pa, p6]), delay]);
  } finally {
    o.clock.clearTimeout(timer);
  }
  return [ra, r6];
}

export function describeCandidate(c: Candidate): Record<string, unknown> {
  return { fqdn: c.fqdn, port: c.port, transport: c.transport, source: c.source, step: c.step, origin: c.origin, addresses: c.addresses };
}
