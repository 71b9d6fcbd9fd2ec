/**
 * Turns the engine's step record into what an administrator needs: which step decided the
 * outcome, why in plain language, and what to change. Pure: no I/O.
 */
import type { StepRecord } from '../engine/steps.js';

/** The seed's device message for a device that cannot reach or authenticate with a Registrar. */
export const DEVICE_MESSAGE_UNREACHABLE = 'Unable to contact Registrar for authentication. Please sign in again.';
/** Lync Phone Edition's message for a certificate it will not accept (Schertz 2011, see README). */
export const DEVICE_MESSAGE_CERTIFICATE = 'Cannot connect to the server. Retrying. If the problem continues, contact your support team.';

export interface Finding {
  stepId: number;
  kind: StepRecord['kind'];
  code: string;
  diagnosis: string;
  fix: string;
  /** What the user's device would show. */
  deviceMessage: string;
}

const DISCOVERY_KINDS = new Set<StepRecord['kind']>(['cache-load', 'dhcp-inform', 'dns-srv', 'dns-host', 'candidates', 'cache-use']);
const ATTEMPT_KINDS = new Set<StepRecord['kind']>(['tcp-connect', 'tls-handshake', 'register', 'challenge', 'authenticate', 'redirect']);

function s(v: unknown, fallback = '?'): string {
  if (v === undefined || v === null || v === '') return fallback;
  if (Array.isArray(v)) return v.map((x) => s(x)).join(', ');
  return String(v);
}

/** Node reports SANs as "DNS:name" / "IP Address:addr"; people read the names. */
function names(v: unknown): unknown {
  return Array.isArray(v) ? v.map((x) => String(x).replace(/^(DNS|IP Address):/, '')) : v;
}

function firstName(sans: unknown): string {
  const n = names(sans);
  return Array.isArray(n) && typeof n[0] === 'string' ? n[0] : 'POOL-FQDN';
}

function isIpLiteral(v: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(v) || v.includes(':');
}

function seconds(ms: unknown): string {
  const n = Number(ms);
  return Number.isFinite(n) ? `${Math.round(n / 100) / 10} s` : 'the configured time';
}

/**
 * The step that decided a failed sign-in: the first failed connection/registration step when any
 * candidate was tried, else the discovery step that explains why there was no candidate. For a
 * successful sign-in, the first failed post-registration step (provisioning), if any.
 * `finalCode` is the code the sign-in ended with: when an attempt step failed with it (a definitive
 * answer such as AUTH_FAILED), that step decided, not an earlier candidate that was merely down.
 */
/**
 * An SRV name the site does not publish. Sites publish some of the four names (often only
 * _sipinternaltls), so this is shown as a fact, not a failure; the diagnosis still names it when
 * nothing else named a registrar.
 */
export function unpublished(s: StepRecord): boolean {
  return s.kind === 'dns-srv' && s.status === 'fail' && (s.detail['outcome'] === 'nxdomain' || s.detail['outcome'] === 'nodata');
}

export function decisiveStep(steps: readonly StepRecord[], signedIn: boolean, finalCode?: string): StepRecord | undefined {
  // Once one SRV name answered with records, the names the site does not publish explain nothing.
  const srvAnswered = steps.some((st) => st.kind === 'dns-srv' && st.status === 'pass' && Array.isArray(st.detail['records']) && st.detail['records'].length > 0);
  const failed = steps.filter((st) => st.status === 'fail' && !(srvAnswered && unpublished(st)));
  if (signedIn) return failed.find((st) => st.kind === 'provisioning' || st.kind === 'media-relay');
  const ended = finalCode === undefined ? undefined : failed.findLast((st) => ATTEMPT_KINDS.has(st.kind) && st.error?.code === finalCode);
  return ended ?? failed.find((st) => ATTEMPT_KINDS.has(st.kind)) ?? discoveryCulprit(steps, failed) ?? failed[0];
}

/**
 * Deployments publish only some of the four SRV names (usually just _sipinternaltls), so failed
 * SRV queries are the cause only when nothing named a registrar. Once an SRV answer or DHCP
 * option 120 named one, the cause is that name not resolving (or policy rejecting it).
 */
function discoveryCulprit(steps: readonly StepRecord[], failed: readonly StepRecord[]): StepRecord | undefined {
  const named = new Set<string>();
  for (const st of steps) {
    if (st.status !== 'pass') continue;
    if (st.kind === 'dns-srv' && Array.isArray(st.detail['records']))
      for (const r of st.detail['records'] as { target?: unknown }[]) if (typeof r.target === 'string') named.add(r.target.toLowerCase().replace(/\.$/, ''));
    if (st.kind === 'dhcp-inform') {
      const sip = st.detail['sipServers'] as { names?: unknown } | undefined;
      if (Array.isArray(sip?.names)) for (const n of sip.names) if (typeof n === 'string') named.add(n.toLowerCase().replace(/\.$/, ''));
    }
  }
  // A cache that could not be read never explains why discovery found nothing: it only bridges
  // outages, so it is named only when nothing else failed.
  const discovery = failed.filter((st) => DISCOVERY_KINDS.has(st.kind) && st.kind !== 'cache-load');
  if (named.size === 0) return discovery[0];
  return (
    discovery.find((st) => st.kind === 'dns-host' && named.has(String(st.target))) ??
    discovery.find((st) => st.kind === 'candidates') ??
    discovery.find((st) => st.kind !== 'dns-srv' && st.kind !== 'dhcp-inform') ??
    discovery[0]
  );
}

export function explain(step: StepRecord, ctx: { domain: string }): Finding {
  const d = step.detail;
  const code = step.error?.code ?? 'ERROR';
  const base = { stepId: step.id, kind: step.kind, code, deviceMessage: DEVICE_MESSAGE_UNREACHABLE };
  const target = step.target ?? '';
  switch (step.kind) {
    case 'dhcp-inform':
      if (code === 'DHCP_TIMEOUT')
        return { ...base, diagnosis: `No DHCP server answered DHCPINFORM on ${s(d['via'], 'the network')} within ${seconds(d['timeoutMs'])}.`, fix: 'Configure option 120 (SIP server) and option 43 for vendor class MS-UC-Client on the DHCP server (or enable the Registrar\'s DHCP responder), or pass --target-fqdn to bypass DHCP.' };
      if (code === 'DHCP_SOCKET')
        return { ...base, diagnosis: `DHCPINFORM could not be sent on ${s(d['via'], 'the interface')}: ${step.error?.message ?? ''}`, fix: 'Run as root (DHCP uses UDP port 68) and name an interface that has an IPv4 address, or pass --target-fqdn.' };
      return { ...base, diagnosis: `The DHCP answer could not be used: ${step.error?.message ?? ''}`, fix: 'Check the option 120/43 values on the DHCP server (RFC 3361 encoding 0 with FQDNs is what Lync expects).' };
    case 'dns-srv': {
      const outcome = s(d['outcome']);
      if (outcome === 'nxdomain' || outcome === 'nodata')
        return { ...base, diagnosis: `${target} ${outcome === 'nxdomain' ? 'does not exist' : 'has no SRV record'} (DNS server ${s(d['server'])}).`, fix: `Publish ${target} pointing at the Registrar pool, or check that ${ctx.domain} is the right SIP domain.` };
      if (outcome === 'timeout')
        return { ...base, diagnosis: `DNS server ${s(d['server'])} did not answer ${target} within ${seconds(d['timeoutMs'])}.`, fix: 'Check that the DNS server is reachable from the device (--dns HOST:PORT) and answering.' };
      return { ...base, diagnosis: `DNS server ${s(d['server'])} answered ${target} with ${outcome.toUpperCase()}.`, fix: `Make the DNS server authoritative for (or able to recurse to) ${ctx.domain}.` };
    }
    case 'dns-host': {
      const fromTarget = d['origin'] === '--target-fqdn';
      const outcomes = [s(d['a']), s(d['aaaa'])];
      const server = s(d['server'], 'the DNS server');
      // Who named it decides what to correct: the admin's --target-fqdn, or a SRV/DHCP answer.
      const orFix = fromTarget ? 'or check the name given with --target-fqdn' : 'or correct the SRV/DHCP answer that names it';
      if (code === 'DNS_TIMEOUT' || outcomes.includes('timeout'))
        return { ...base, diagnosis: `DNS server ${server} did not answer the A/AAAA query for ${target} within ${seconds(d['timeoutMs'])} (the name came from ${s(d['origin'], 'discovery')}).`, fix: 'Check that the DNS server is reachable from the device (--dns HOST:PORT) and answering; the record itself may well exist.' };
      if (outcomes.includes('refused') || outcomes.includes('servfail'))
        return { ...base, diagnosis: `DNS server ${server} would not resolve ${target}: A ${outcomes[0]}, AAAA ${outcomes[1]} (REFUSED: it does not serve that zone; SERVFAIL: it could not get an answer).`, fix: `Make the device's DNS server authoritative for, or able to recurse to, the zone of ${target} (--dns HOST:PORT to test another), ${orFix}.` };
      return { ...base, diagnosis: `${target} (a registrar name from ${s(d['origin'], 'discovery')}) does not resolve: A ${outcomes[0]}, AAAA ${outcomes[1]}.`, fix: `Publish an A (or AAAA) record for ${target}, ${orFix}.` };
    }
    case 'candidates': {
      const rejected = Array.isArray(d['rejected']) ? (d['rejected'] as { fqdn?: string; reason?: string }[]) : [];
      if (rejected.length > 0)
        return { ...base, diagnosis: `No usable registrar: ${rejected.map((r) => `${s(r.fqdn)} (${s(r.reason)})`).join('; ')}.`, fix: `Point the SRV/DHCP answers at a registrar inside ${ctx.domain} (devices enforce strict DNS naming), or allow the domain with --allow-domain.` };
      return { ...base, diagnosis: `Discovery found no registrar for ${ctx.domain}: DHCP gave no option 120 and no SRV or fallback host record resolved.`, fix: `Publish _sipinternaltls._tcp.${ctx.domain} (or configure DHCP option 120), or pass --target-fqdn.` };
    }
    case 'cache-use':
      return { ...base, diagnosis: `Discovery failed and the cached registrar ${target} could not be used either.`, fix: 'Fix DNS/DHCP discovery (see the steps above); the cache only bridges outages.' };
    case 'tcp-connect': {
      const where = d['fqdn'] ? `${s(d['fqdn'])} (${target})` : target;
      if (code === 'CONNECT_REFUSED')
        return { ...base, diagnosis: `${where} refused the connection: nothing listens there.`, fix: `Start the Registrar service on ${target}, or ${d['source'] === 'target' ? 'check --target-port and --transport (5061 TLS, 5060 TCP by default)' : 'correct the port in the SRV/DHCP answer'}.` };
      if (code === 'CONNECT_TIMEOUT')
        return { ...base, diagnosis: `${where} did not answer the connection within ${seconds(d['timeoutMs'])}: packets are dropped (firewall) or the host is down.`, fix: `Open TCP ${s(d['port'])} from the device's network to ${s(d['address'])}, or remove the dead target from DNS.` };
      return { ...base, diagnosis: `Could not connect to ${where}: ${step.error?.message ?? code}.`, fix: 'Check routing from the device to the registrar.' };
    }
    case 'tls-handshake': {
      const tls = (d['tls'] ?? {}) as Record<string, unknown>;
      if (code === 'TLS_NAME_MISMATCH') {
        const dialled = s(d['fqdn'], target);
        const carried = s(names(tls['subjectAltNames']), s(tls['subject']));
        // An address was dialled (--target-fqdn 10.0.0.5): devices verify names, so the fix is the name.
        if (isIpLiteral(dialled))
          return { ...base, deviceMessage: DEVICE_MESSAGE_CERTIFICATE, diagnosis: `The registrar was addressed by IP (${dialled}); its certificate names ${carried}, and devices verify the name, not the address.`, fix: `Use the registrar's FQDN (--target-fqdn ${firstName(tls['subjectAltNames'])}, with --resolve NAME:${dialled} if DNS does not know it).` };
        return { ...base, deviceMessage: DEVICE_MESSAGE_CERTIFICATE, diagnosis: `The certificate names ${carried}, not ${dialled}.`, fix: `Reissue the registrar certificate with ${dialled} in subjectAltName, or point ${d['source'] === 'target' ? '--target-fqdn' : 'the SRV record'} at a name the certificate carries.` };
      }
      if (code === 'TLS_UNTRUSTED')
        return { ...base, deviceMessage: DEVICE_MESSAGE_CERTIFICATE, diagnosis: `The certificate of ${s(d['fqdn'], target)} was issued by ${s(tls['issuer'], 'an unknown CA')}, which the device does not trust.`, fix: 'Install the issuing CA on the device (siplogon: --ca FILE) or use a certificate from a CA the device trusts.' };
      if (code === 'TLS_CERT_EXPIRED')
        return { ...base, deviceMessage: DEVICE_MESSAGE_CERTIFICATE, diagnosis: `The certificate of ${s(d['fqdn'], target)} is not valid now (valid ${s(tls['validFrom'])} to ${s(tls['validTo'])}).`, fix: 'Renew the registrar certificate.' };
      return { ...base, deviceMessage: DEVICE_MESSAGE_CERTIFICATE, diagnosis: `TLS with ${s(d['fqdn'], target)} failed: ${step.error?.message ?? code}.`, fix: 'Check the registrar\'s TLS configuration (TLS 1.2+, a certificate and key that match).' };
    }
    case 'register':
    case 'challenge':
    case 'authenticate':
      if (code === 'AUTH_FAILED')
        return { ...base, diagnosis: `${s(d['status'], '401')} after credentials: the registrar rejected the user name or password for ${s(d['aor'], 'the user')}.`, fix: 'Check the password and that the account exists and is enabled for SIP; then sign in again.' };
      if (code === 'CREDENTIALS_UNAVAILABLE')
        return { ...base, diagnosis: `No password to sign in with: ${step.error?.message ?? 'the password source failed'}. The registrar was reached and is not at fault.`, fix: 'Fix the password source (the credential store or function passed as password; --password-env must name a set variable), then sign in again.' };
      if (code === 'AUTH_UNSUPPORTED')
        return { ...base, diagnosis: `The registrar only offers ${s(d['schemes'], 'authentication schemes')} that siplogon does not speak (digest is supported).`, fix: 'Enable digest authentication for this client, or test with a client that does NTLM/Kerberos/TLS-DSK.' };
      if (code === 'TRANSACTION_TIMEOUT')
        return { ...base, diagnosis: `${target} accepted the connection but never answered REGISTER within ${seconds(d['timeoutMs'])}.`, fix: 'The SIP service is hung or something between drops SIP: check the registrar\'s health and any SIP-aware firewall.' };
      if (code === 'CONNECTION_CLOSED')
        return { ...base, diagnosis: `${target} closed the connection during registration.`, fix: 'Check the registrar\'s logs for why it dropped the client (TLS policy, connection limits).' };
      return { ...base, diagnosis: `${target} answered REGISTER with ${[s(d['status']), s(d['reason'], '')].filter(Boolean).join(' ')}${d['diagnostics'] ? ` (${s(d['diagnostics'])})` : ''}.`, fix: 'See the registrar\'s reason above; it rejected this user or device.' };
    case 'redirect':
      if (code === 'REDIRECT_LOOP')
        return { ...base, diagnosis: `The registrars redirect in a loop: ${s(d['hops'])}.`, fix: 'Fix the user\'s home pool assignment so the redirect leads to a registrar that accepts the user.' };
      if (code === 'REDIRECT_INVALID' && Array.isArray(d['refused']) && d['refused'].length > 0) {
        const refused = (d['refused'] as { fqdn?: unknown }[]).map((r) => s(r.fqdn));
        return { ...base, diagnosis: `${target} redirected to ${refused.join(', ')}, outside ${ctx.domain}: devices only accept registrars inside the SIP domain (strict DNS naming).`, fix: `Give the pool an FQDN inside ${ctx.domain}, or allow its domain (siplogon: --allow-domain ${refused[0]?.split('.').slice(1).join('.') ?? 'DOMAIN'}).` };
      }
      if (code === 'REDIRECT_LIMIT')
        return { ...base, diagnosis: `${target} led through more redirects than allowed: ${s(d['hops'])}.`, fix: 'Fix the user\'s home pool assignment so one redirect leads to the registrar that accepts the user.' };
      return { ...base, diagnosis: `Redirect could not be followed: ${step.error?.message ?? code}.`, fix: 'Check the Contact of the 301/302 answer (a registrar FQDN the device can resolve).' };
    case 'provisioning':
      return { ...base, deviceMessage: 'Signed in; some features are unavailable.', diagnosis: `Signed in, but in-band provisioning was refused (${s(d['status'], step.error?.message ?? '')}): the device gets no MRAS and Media Relay settings.`, fix: 'Allow the vnd-microsoft-provisioning-v2 subscription for this user (client policy), or check the front end\'s provisioning service.' };
    case 'media-relay':
      return { ...base, deviceMessage: 'Signed in; calls outside the network may fail.', diagnosis: `Signed in, but the Media Relay Authentication Service did not give relays: ${step.error?.message ?? code}.`, fix: 'Check the A/V Edge (MRAS) configuration for this pool.' };
    default:
      return { ...base, diagnosis: `${step.title} failed: ${step.error?.message ?? code}.`, fix: 'See the step detail.' };
  }
}
