/**
 * Connect + REGISTER at one registrar, following 301/302 to the registrar they name
 * (bounded hops, loop detection). The Contacts of every redirect are kept in `hops` because a
 * Lync 301 names the home and the backup registrar.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { isWithinDomain } from '../core/names.js';
import { DnsError, RegistrationError, SiplogonError } from '../errors.js';
import { parseUri } from './message.js';
import { connectSip, type ConnectOptions, type SipConnection, type TlsInfo } from './connection.js';
import { Registration, type RedirectContact, type RegisterOutcome, type RegistrationOptions } from './register.js';
import { SipClient, type SipClientOptions } from './transaction.js';

export interface RegistrarTarget {
  /** FQDN (checked against the TLS certificate) or IP address. */
  host: string;
  port: number;
  transport: 'tls' | 'tcp';
  /** Address to connect to; when absent `resolve(host)` is used. */
  address?: string;
}

export type ResolveHook = (host: string) => Promise<string>;

export interface RegisterAtOptions {
  registration: Omit<RegistrationOptions, 'clock' | 'random'>;
  connect?: ConnectOptions;
  client?: SipClientOptions;
  /** Name → address; default node's dns.lookup (first address). */
  resolve?: ResolveHook;
  /** Bound on one name resolution, default connect.connectTimeoutMs or 5000 ms. */
  resolveTimeoutMs?: number;
  /** Redirects followed, default 3. */
  maxRedirects?: number;
  /**
   * Which registrars a 301/302 may send us to: a redirect is as untrusted as a DNS answer (it
   * decides where the credentials go next). Default: hosts within the AoR's domain; other
   * domains are refused unless listed here, IP literals always (no name to hold the registrar to).
   */
  allowedDomains?: readonly string[];
  clock?: RegistrationOptions['clock'];
  random?: RegistrationOptions['random'];
}

export interface SignOnHop {
  host: string;
  port: number;
  transport: 'tls' | 'tcp';
  address: string;
  tls?: TlsInfo;
  /** Present when this registrar redirected. */
  redirect?: { status: number; contacts: RedirectContact[] };
}

export interface SignOnResult {
  connection: SipConnection;
  client: SipClient;
  registration: Registration;
  outcome: Extract<RegisterOutcome, { kind: 'registered' }>;
  hops: SignOnHop[];
}

export const defaultResolve: ResolveHook = async (host) => {
  try {
    return (await lookup(host)).address;
  } catch (err) {
    throw new DnsError('DNS_FAILED', `cannot resolve ${host}: ${(err as Error).message}`, { cause: err, details: { host, errno: (err as NodeJS.ErrnoException).code } });
  }
};

/** getaddrinfo has no timeout of its own; bound it so a dead resolver cannot hang sign-in. */
async function resolveBounded(resolve: ResolveHook, host: string, ms: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DnsError('DNS_TIMEOUT', `resolving ${host} took longer than ${ms} ms`, { details: { host, timeoutMs: ms } })), ms);
  });
  try {
    const addr = await Promise.race([resolve(host), timeout]);
    if (!net.isIP(addr)) throw new DnsError('DNS_FAILED', `resolver returned ${JSON.stringify(addr)} for ${host}, not an IP address`, { details: { host } });
    return addr;
  } catch (err) {
    if (err instanceof SiplogonError) throw err;
    throw new DnsError('DNS_FAILED', `cannot resolve ${host}: ${(err as Error).message}`, { cause: err, details: { host } });
  } finally {
    clearTimeout(timer);
  }
}

function keyOf(t: { host: string; port: number; transport: string }): string {
  return `${t.transport}:${t.host.toLowerCase().replace(/\.$/, '')}:${t.port}`;
}

export async function registerAt(target: RegistrarTarget, opts: RegisterAtOptions): Promise<SignOnResult> {
  const maxRedirects = opts.maxRedirects ?? 3;
  const resolve = opts.resolve ?? defaultResolve;
  const hops: SignOnHop[] = [];
  const seen = new Set<string>();
  const domains = [parseUri(opts.registration.aor).host, ...(opts.allowedDomains ?? [])];
  let cur: RegistrarTarget = target;
  for (;;) {
    seen.add(keyOf(cur));
    const address = cur.address ?? (net.isIP(cur.host) ? cur.host : await resolveBounded(resolve, cur.host, opts.resolveTimeoutMs ?? opts.connect?.connectTimeoutMs ?? 5000));
    const hop: SignOnHop = { host: cur.host, port: cur.port, transport: cur.transport, address };
    hops.push(hop);
    const conn = await connectSip(
      { address, port: cur.port, transport: cur.transport, ...(net.isIP(cur.host) ? {} : { servername: cur.host }) },
      opts.connect,
    );
    if (conn.info.tls) hop.tls = conn.info.tls;
    const client = new SipClient(conn, { ...opts.client, ...(opts.clock ? { clock: opts.clock } : {}) });
    let registration: Registration | undefined;
    let outcome: RegisterOutcome;
    try {
      registration = new Registration(client, {
        ...opts.registration,
        ...(opts.clock ? { clock: opts.clock } : {}),
        ...(opts.random ? { random: opts.random } : {}),
      });
      outcome = await registration.register();
    } catch (err) {
      registration?.close();
      conn.close();
      if (err instanceof SiplogonError) err.details.hops = hops.map((h) => ({ host: h.host, port: h.port, transport: h.transport, address: h.address }));
      throw err;
    }
    if (outcome.kind === 'registered') return { connection: conn, client, registration, outcome, hops };
    hop.redirect = { status: outcome.status, contacts: outcome.contacts };
    registration.close();
    conn.close();
    const details = { hops: hops.map((h) => ({ host: h.host, port: h.port, transport: h.transport, redirect: h.redirect })) };
    // The first Contact (highest q) the policy allows and we have not been to; the others are backups.
    const allowed = outcome.contacts.filter((c) => !net.isIP(c.host) && domains.some((d) => isWithinDomain(c.host, d)));
    if (allowed.length === 0) {
      const named = outcome.contacts.map((c) => `${c.host}:${c.port}`).join(', ');
      throw new RegistrationError('REDIRECT_INVALID', `${cur.host}:${cur.port} redirected to registrars outside ${domains.join(', ')} (${named}); refused`, { details });
    }
    const next = allowed.find((c) => !seen.has(keyOf(c))) ?? allowed[0]!;
    const nextTarget: RegistrarTarget = { host: next.host, port: next.port, transport: next.transport };
    if (seen.has(keyOf(nextTarget))) {
      throw new RegistrationError('REDIRECT_LOOP', `redirect loop: ${cur.host}:${cur.port} sent us back to ${next.host}:${next.port}`, { details });
    }
    if (hops.length > maxRedirects) {
      throw new RegistrationError('REDIRECT_LIMIT', `more than ${maxRedirects} redirects (last to ${next.host}:${next.port})`, { details });
    }
    cur = nextTarget;
  }
}
