/**
 * After REGISTER succeeds: in-band provisioning ([MS-SIPREGE] SUBSCRIBE for
 * vnd-microsoft-provisioning-v2, answered in the 200 itself with Expires 0), then a SERVICE to
 * the MRAS URI it names for the Media Relay servers, whose FQDNs are resolved for the cache.
 */
import { PROVISIONING_CONTENT_TYPE, PROVISIONING_EVENT, MRAS_CONTENT_TYPE, mrasRequestBody, parseMrasAnswer, parseProvisioning, provisioningRequestBody, type MediaRelay } from '../sip/lync.js';
import type { DnsClient } from '../discovery/dns.js';
import { SignInError, SiplogonError } from '../errors.js';
import type { ResolvedOptions } from './options.js';
import type { Leg } from './sip-port.js';
import type { StepRecorder } from './steps.js';
import { resolveCandidates } from './discovery.js';

export interface PostRegistration {
  mrasUri?: string;
  /** Media Relays with the addresses their FQDNs resolved to. */
  relays: (MediaRelay & { addresses: string[] })[];
  provisioningStatus?: number;
}

export async function postRegistration(leg: Leg, o: ResolvedOptions, rec: StepRecorder, dns: DnsClient): Promise<PostRegistration> {
  const out: PostRegistration = { relays: [] };
  const step = rec.begin('provisioning', `SUBSCRIBE ${PROVISIONING_EVENT}`, o.aor);
  try {
    const res = await leg.request('SUBSCRIBE', {
      uri: o.aor,
      to: o.aor,
      headers: [
        ['Event', PROVISIONING_EVENT],
        ['Accept', PROVISIONING_CONTENT_TYPE],
        ['Supported', 'com.microsoft.autoextend'],
        ['Supported', 'ms-benotify'],
        ['Proxy-Require', 'ms-benotify'],
        ['Supported', 'ms-piggyback-first-notify'],
        ['Expires', '0'],
      ],
      body: provisioningRequestBody(),
      contentType: PROVISIONING_CONTENT_TYPE,
    });
    out.provisioningStatus = res.status;
    if (res.status < 200 || res.status >= 300) {
      step.fail(new SignInError('PROVISIONING_FAILED', `provisioning SUBSCRIBE answered ${res.status} ${res.reason}`), { status: `${res.status} ${res.reason}` });
      return out;
    }
    if (!res.body) {
      // The answer may come as a NOTIFY instead of piggy-backed; without it there is no MRAS URI.
      step.pass({ status: res.status, note: 'no piggy-backed provisioning document' });
      return out;
    }
    const info = parseProvisioning(res.body);
    if (info.mrasUri) out.mrasUri = info.mrasUri;
    step.pass({ status: res.status, groups: info.groups, mrasUri: info.mrasUri });
  } catch (e) {
    step.fail(e, SiplogonError.is(e) ? { code: e.code } : {});
    return out;
  }
  if (!out.mrasUri) return out;

  const mras = rec.begin('media-relay', 'SERVICE to MRAS (Media Relay servers)', out.mrasUri);
  try {
    const res = await leg.request('SERVICE', {
      uri: out.mrasUri,
      to: out.mrasUri,
      body: mrasRequestBody({ aor: o.aor, mrasUri: out.mrasUri, requestId: 1, location: 'intranet' }),
      contentType: MRAS_CONTENT_TYPE,
    });
    if (res.status < 200 || res.status >= 300 || !res.body) {
      mras.fail(new SignInError('PROVISIONING_FAILED', `MRAS answered ${res.status} ${res.reason}`), { status: res.status });
      return out;
    }
    const answer = parseMrasAnswer(res.body);
    if (!answer.ok) {
      mras.fail(new SignInError('PROVISIONING_FAILED', `MRAS refused: ${answer.reason}`), { reason: answer.reason });
      return out;
    }
    const hosts = [...new Set(answer.relays.map((r) => r.hostName))];
    const resolved = hosts.length
      ? (await resolveCandidates(hosts.map((h) => ({ fqdn: h, port: 443, transport: 'tls' as const, source: 'in-band' as const, step: null, origin: 'MRAS', addresses: [] })), hosts, o, rec, dns)).resolved
      : new Map<string, string[]>();
    out.relays = answer.relays.map((r) => ({ ...r, addresses: resolved.get(r.hostName) ?? [] }));
    // The relay credentials are a secret: only the user name is reported, never cached.
    mras.pass({ relays: out.relays, credentialsFor: answer.credentials?.username });
  } catch (e) {
    mras.fail(e);
  }
  return out;
}
