/**
 * HTTP Digest for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760): challenge parsing,
 * choice of the strongest offered algorithm, and response computation with qop=auth.
 */
import { createHash } from 'node:crypto';
import { randomHex } from '../random.js';
import { AuthenticationError, SipParseError } from '../errors.js';
import { getHeaders, type SipResponse } from './message.js';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';

export interface Challenge {
  /** Scheme as offered, e.g. "Digest", "NTLM", "Kerberos", "TLS-DSK". */
  scheme: string;
  /** Parameters, names lower-cased, quotes removed. */
  params: Map<string, string>;
  realm?: string;
  nonce?: string;
  opaque?: string;
  /** Upper-cased algorithm as offered; MD5 when absent (RFC 7616 §3.3). */
  algorithm: string;
  qop: string[];
  stale: boolean;
}

/** Parses one WWW-Authenticate / Proxy-Authenticate value (one challenge per header line). */
export function parseChallenge(value: string): Challenge {
  const m = /^\s*([A-Za-z0-9\-._~+/!#$%&'*^`|]+)\s*(.*)$/s.exec(value);
  if (!m) throw new SipParseError('SIP_BAD_HEADER', 'empty authentication challenge');
  const params = parseAuthParams(m[2] ?? '');
  const c: Challenge = {
    scheme: m[1]!,
    params,
    algorithm: (params.get('algorithm') ?? 'MD5').toUpperCase(),
    qop: (params.get('qop') ?? '')
      .split(',')
      .map((q) => q.trim().toLowerCase())
      .filter(Boolean),
    stale: (params.get('stale') ?? '').toLowerCase() === 'true',
  };
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  const opaque = params.get('opaque');
  if (realm !== undefined) c.realm = realm;
  if (nonce !== undefined) c.nonce = nonce;
  if (opaque !== undefined) c.opaque = opaque;
  return c;
}

/** auth-param list: `a=b, c="d,e", f` (RFC 7235 §2.1). */
export function parseAuthParams(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++;
    const start = i;
    while (i < n && text[i] !== '=' && text[i] !== ',') i++;
    const name = text.slice(start, i).trim().toLowerCase();
    if (i >= n || text[i] === ',') {
      if (name) out.set(name, '');
      continue;
    }
    i++; // '='
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    let val = '';
    if (text[i] === '"') {
      i++;
      while (i < n && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < n) i++;
        val += text[i];
        i++;
      }
      if (i >= n) throw new SipParseError('SIP_BAD_HEADER', 'unterminated quoted string in authentication header');
      i++;
    } else {
      const s = i;
      while (i < n && text[i] !== ',') i++;
      val = text.slice(s, i).trim();
    }
    if (name) out.set(name, val);
  }
  return out;
}

const HASH: Record<string, string> = { MD5: 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };
/** Higher is stronger (RFC 8760 §2.4: prefer the strongest the UAC supports). */
const STRENGTH: Record<string, number> = { MD5: 1, 'MD5-SESS': 1, 'SHA-256': 3, 'SHA-256-SESS': 3, 'SHA-512-256': 4, 'SHA-512-256-SESS': 4 };

function baseAlg(alg: string): string | undefined {
  const a = alg.toUpperCase().replace(/-SESS$/, '');
  const key = Object.keys(HASH).find((k) => k.toUpperCase() === a);
  return key;
}

/** True when this challenge is Digest with an algorithm we can compute and a usable qop. */
export function isSupportedChallenge(c: Challenge): boolean {
  if (c.scheme.toLowerCase() !== 'digest' || c.nonce === undefined || c.realm === undefined) return false;
  if (!baseAlg(c.algorithm)) return false;
  // Without qop (RFC 2069 compatibility) is accepted; with qop we need "auth".
  return c.qop.length === 0 || c.qop.includes('auth');
}

/** The strongest supported Digest challenge, or undefined. Ties keep the server's order. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  let best: Challenge | undefined;
  for (const c of challenges) {
    if (!isSupportedChallenge(c)) continue;
    if (!best || (STRENGTH[c.algorithm] ?? 0) > (STRENGTH[best.algorithm] ?? 0)) best = c;
  }
  return best;
}

function h(alg: string, data: string): string {
  const name = HASH[baseAlg(alg) ?? 'MD5'] ?? 'md5';
  return createHash(name).update(data, 'utf8').digest('hex');
}

export interface DigestInput {
  algorithm: string;
  username: string;
  password: string;
  realm: string;
  nonce: string;
  method: string;
  uri: string;
  qop?: 'auth';
  nc?: string;
  cnonce?: string;
}

/** request-digest of RFC 7616 §3.4.1 (and RFC 2617 §3.2.2 when qop is absent). */
export function computeDigestResponse(d: DigestInput): string {
  let ha1 = h(d.algorithm, `${d.username}:${d.realm}:${d.password}`);
  if (/-sess$/i.test(d.algorithm)) ha1 = h(d.algorithm, `${ha1}:${d.nonce}:${d.cnonce ?? ''}`);
  const ha2 = h(d.algorithm, `${d.method}:${d.uri}`);
  if (d.qop) return h(d.algorithm, `${ha1}:${d.nonce}:${d.nc ?? '00000001'}:${d.cnonce ?? ''}:${d.qop}:${ha2}`);
  return h(d.algorithm, `${ha1}:${d.nonce}:${ha2}`);
}

function q(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Authorization / Proxy-Authorization value for a challenge. The password is used only inside
 * the hash and never appears in the result.
 */
export function buildAuthorization(
  c: Challenge,
  o: { username: string; password: string; method: string; uri: string; nc?: number; cnonce?: string },
): string {
  if (!isSupportedChallenge(c)) throw new SipParseError('SIP_BAD_HEADER', `unsupported challenge ${c.scheme} ${c.algorithm}`);
  const useQop = c.qop.includes('auth');
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? randomHex(12);
  const response = computeDigestResponse({
    algorithm: c.algorithm,
    username: o.username,
    password: o.password,
    realm: c.realm!,
    nonce: c.nonce!,
    method: o.method,
    uri: o.uri,
    ...(useQop ? { qop: 'auth' as const, nc, cnonce } : {}),
  });
  const parts = [`username=${q(o.username)}`, `realm=${q(c.realm!)}`, `nonce=${q(c.nonce!)}`, `uri=${q(o.uri)}`, `response=${q(response)}`];
  // Echo the algorithm token as offered (RFC 7616 §3.4).
  if (c.params.has('algorithm')) parts.push(`algorithm=${c.params.get('algorithm')}`);
  if (c.opaque !== undefined) parts.push(`opaque=${q(c.opaque)}`);
  if (useQop) parts.push('qop=auth', `nc=${nc}`, `cnonce=${q(cnonce)}`);
  return `Digest ${parts.join(', ')}`;
}

/**
 * Answers the challenges of one logical request: the first 401/407 of each challenger (header
 * kind + realm) gets credentials; a later challenge from the same challenger means the credentials
 * were refused (AUTH_FAILED) unless it says stale=true, which is honoured once (RFC 7616 §3.3).
 * A proxy's 407 followed by the registrar's 401 are two challengers, and every retry carries
 * credentials for all of them (RFC 3261 §22.3). Never loops.
 */
export class DigestResponder {
  private readonly challengers = new Map<string, { header: string; challenge: Challenge; nc: number; staleRetried: boolean }>();

  constructor(
    private readonly username: string,
    private readonly password: () => string,
  ) {}

  /**
   * Records the challenge of `res` and returns the header answering it alone (nc=1). A request
   * that may meet more than one challenger sends `credentials()` instead.
   * Throws AuthenticationError AUTH_FAILED / AUTH_UNSUPPORTED.
   */
  answer(res: SipResponse, method: string, uri: string): [string, string] {
    const hname = res.status === 407 ? 'Proxy-Authenticate' : 'WWW-Authenticate';
    const challenges: Challenge[] = [];
    for (const v of getHeaders(res, hname)) {
      try {
        challenges.push(parseChallenge(v));
      } catch {
        /* an unparsable challenge is skipped; if none is usable the schemes are reported */
      }
    }
    const pick = pickChallenge(challenges);
    if (!pick) {
      const schemes = challenges.map((c) => (c.scheme.toLowerCase() === 'digest' ? `Digest(algorithm=${c.algorithm})` : c.scheme));
      throw new AuthenticationError('AUTH_UNSUPPORTED', `server offers no supported authentication scheme (offered: ${schemes.join(', ') || 'none'})`, {
        details: { status: res.status, schemes },
      });
    }
    const header = res.status === 407 ? 'Proxy-Authorization' : 'Authorization';
    const key = `${header}\n${pick.realm ?? ''}`;
    const prev = this.challengers.get(key);
    if (prev && (!pick.stale || prev.staleRetried)) {
      throw new AuthenticationError('AUTH_FAILED', `credentials of ${this.username} were rejected (${res.status} ${res.reason})`, {
        details: { status: res.status, reason: res.reason, realm: pick.realm, algorithm: pick.algorithm, user: this.username },
      });
    }
    this.challengers.set(key, { header, challenge: pick, nc: 0, staleRetried: prev !== undefined });
    return [header, buildAuthorization(pick, { username: this.username, password: this.password(), method, uri, nc: 1 })];
  }

  /** Credentials for every challenger answered so far, for the next request (each use advances nc). */
  credentials(method: string, uri: string): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const c of this.challengers.values()) {
      c.nc++;
      out.push([c.header, buildAuthorization(c.challenge, { username: this.username, password: this.password(), method, uri, nc: c.nc })]);
    }
    return out;
  }
}
