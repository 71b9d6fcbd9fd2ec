/**
 * SIP trace: every message a connection sends or receives, redacted before it leaves this module.
 *
 * The user's password is never on the wire, but what is on it can stand in for it: a digest
 * `response`/`rspauth` (RFC 3261 §22.4, RFC 2617 §3.2.2-3) lets anyone who sees it test password
 * guesses offline, `cnonce` is one of that test's inputs, NTLM/Kerberos/TLS-DSK `gssapi-data` and
 * `response` ([MS-SIPAE] §2.2) carry tokens, Basic credentials are the password itself, and the
 * MRAS answer ([MS-MRAS]) carries the Media Relay password. Redaction is allow-list based for
 * authentication headers (a parameter we do not know is hidden), so a new scheme or parameter
 * fails closed.
 */
import type { ConnectionInfo } from './connection.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { SipHeader, SipMessage } from './message.js';

export const REDACTED = '<redacted>';
/** Body bytes shown per message by default (after redaction). */
export const DEFAULT_TRACE_BODY_BYTES = 4096;
/** Entries a SipTraceLog keeps by default. */
export const DEFAULT_TRACE_ENTRIES = 500;

/** The connection a traced message went over (its TLS details stay out of the trace). */
export type SipTraceConnection = Omit<ConnectionInfo, 'tls'>;

/** One message as the trace shows it: already redacted and with its body capped. */
export interface SipTraceEntry {
  direction: 'out' | 'in';
  /** Clock time the message was sent/parsed (Clock.now()); a SipTraceLog rebases it to its start. */
  atMs: number;
  connection: SipTraceConnection;
  /** "REGISTER sip:acme.test SIP/2.0" or "SIP/2.0 401 Unauthorized". */
  startLine: string;
  headers: SipHeader[];
  /** Redacted body text, at most the cap; "" when there is none. */
  body: string;
  /** Body size on the wire, bytes. */
  bodyBytes: number;
  /** Redacted body bytes not shown because of the cap. */
  bodyOmittedBytes: number;
}

export type SipTraceHook = (entry: SipTraceEntry) => void;

// ---------------------------------------------------------------------------------------------
// Authentication headers

/** Digest parameters that help a reader and cannot test a password guess (RFC 3261 §25.1, RFC 8760). */
const DIGEST_KEEP = new Set(['username', 'realm', 'uri', 'algorithm', 'qop', 'nc', 'nonce', 'opaque', 'domain', 'stale', 'charset', 'userhash', 'nextnonce']);
/** [MS-SIPAE] §2.2.2-2.2.4 parameters that are not tokens or signatures. */
const MS_KEEP = new Set(['realm', 'targetname', 'opaque', 'qop', 'version', 'sts-uri', 'crand', 'cnum', 'srand', 'snum']);
const MS_SCHEMES = new Set(['ntlm', 'kerberos', 'tls-dsk', 'negotiate']);

const AUTH_HEADERS = new Set(['authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate', 'authentication-info', 'proxy-authentication-info']);

const TOKEN_CHAR = /[A-Za-z0-9!#$%&'*+.^_`|~-]/;

interface AuthParam {
  name: string;
  /** Value as written (quotes included). */
  raw: string;
  quoted: boolean;
}
interface AuthItem {
  /** undefined: a digest Authentication-Info, which has no scheme (RFC 3261 §20.6). */
  scheme?: string;
  params: AuthParam[];
  /** A token68 blob (RFC 7235 §2.1), e.g. Basic or Negotiate. */
  blob?: boolean;
}

/**
 * Parses a credentials/challenge list: `Scheme a=b, c="d,e", Scheme2 f=g` or, for
 * Authentication-Info, bare params. Returns undefined when the value does not follow the grammar
 * (the caller then hides everything but the scheme).
 */
function parseAuth(value: string, schemeless: boolean): AuthItem[] | undefined {
  let i = 0;
  const n = value.length;
  const ws = (): void => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  const token = (): string => {
    const s = i;
    while (i < n && TOKEN_CHAR.test(value[i]!)) i++;
    return value.slice(s, i);
  };
  const quoted = (): string | undefined => {
    const s = i;
    i++; // opening quote
    while (i < n) {
      if (value[i] === '\\') i += 2;
      else if (value[i] === '"') return value.slice(s, ++i);
      else i++;
    }
    return undefined; // unterminated
  };
  /** Is there `token *WS "="` followed by a value (not the padding of a token68) at i? */
  const paramAhead = (): boolean => {
    const save = i;
    const t = token();
    ws();
    const ok = t !== '' && value[i] === '=' && value[i + 1] !== '=';
    i = save;
    return ok;
  };
  const items: AuthItem[] = [];
  let cur: AuthItem | undefined;
  ws();
  if (schemeless && paramAhead()) {
    cur = { params: [] };
    items.push(cur);
  }
  while (i < n) {
    ws();
    if (value[i] === ',') {
      i++;
      continue;
    }
    if (i >= n) break;
    if (!cur || !paramAhead()) {
      // A new scheme.
      const scheme = token();
      // A scheme ends at whitespace, a comma or the end; "abc/def" is a blob, not a scheme.
      if (!scheme || (i < n && value[i] !== ' ' && value[i] !== '\t' && value[i] !== ',')) return undefined;
      cur = { scheme, params: [] };
      items.push(cur);
      ws();
      if (i < n && value[i] !== ',' && !paramAhead()) {
        // token68: letters, digits, -._~+/ then '=' padding.
        const s = i;
        while (i < n && /[A-Za-z0-9\-._~+/]/.test(value[i]!)) i++;
        while (i < n && value[i] === '=') i++;
        // Nothing but '=' means the "scheme" was itself a padded blob, not a scheme.
        if (i === s || value[s] === '=') return undefined;
        cur.blob = true;
        ws();
        if (i < n && value[i] !== ',') return undefined;
      }
      continue;
    }
    const name = token();
    ws();
    i++; // '='
    ws();
    if (value[i] === '"') {
      const q = quoted();
      if (q === undefined) return undefined;
      cur.params.push({ name, raw: q, quoted: true });
    } else {
      const t = token();
      if (!t) return undefined;
      cur.params.push({ name, raw: t, quoted: false });
    }
    ws();
    if (i < n && value[i] !== ',') return undefined;
  }
  return items;
}

/**
 * Redacts one Authorization / Proxy-Authorization / WWW-Authenticate / Proxy-Authenticate /
 * (Proxy-)Authentication-Info value: Digest keeps username, realm, uri, algorithm, qop, nc,
 * nonce, opaque (and the other harmless challenge fields); NTLM/Kerberos/TLS-DSK/Negotiate keep
 * their routing fields; every other parameter value, any token68 and every parameter of an
 * unknown scheme becomes "<redacted>".
 */
export function redactAuthValue(value: string, kind: 'credentials' | 'challenge' | 'info' = 'credentials'): string {
  const items = parseAuth(value, kind === 'info');
  if (!items) {
    // Unparseable: a leading scheme name followed by something is harmless; a lone token may be
    // the credential itself (a client that sends a bare token), and a schemeless value has no scheme.
    const m = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?=\s+\S)/.exec(value);
    return m && kind !== 'info' ? `${m[1]} ${REDACTED}` : REDACTED;
  }
  return items
    .map((it) => {
      // Credentials always carry something after the scheme (RFC 7235 §2.1); a lone token is not a scheme.
      if (kind === 'credentials' && !it.blob && it.params.length === 0) return REDACTED;
      const lower = it.scheme?.toLowerCase();
      const keep = lower === undefined || lower === 'digest' ? DIGEST_KEEP : MS_SCHEMES.has(lower) ? MS_KEEP : undefined;
      const head = it.scheme ?? '';
      if (!keep) return it.params.length || it.blob ? `${head} ${REDACTED}` : head;
      if (it.blob) return `${head} ${REDACTED}`;
      const ps = it.params.map((p) => `${p.name}=${keep.has(p.name.toLowerCase()) ? p.raw : p.quoted ? `"${REDACTED}"` : REDACTED}`);
      return head ? `${head} ${ps.join(', ')}`.trimEnd() : ps.join(', ');
    })
    .join(', ');
}

/** `sip:user:password@host` (RFC 3261 §19.1.1, NOT RECOMMENDED but legal) → password hidden. */
const URI_PASSWORD = /\b(sips?:[^:@;>\s"]+):([^@;>\s"]+)@/gi;

function redactUriPasswords(s: string): string {
  return s.includes('@') ? s.replace(URI_PASSWORD, `$1:${REDACTED}@`) : s;
}

/** Redacts one header value; `name` may be in any case or a compact form. */
export function redactHeaderValue(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (AUTH_HEADERS.has(lower)) return redactAuthValue(value, lower.endsWith('authentication-info') ? 'info' : lower.endsWith('authorization') ? 'credentials' : 'challenge');
  return redactUriPasswords(value);
}

// ---------------------------------------------------------------------------------------------
// Bodies

/** Element/attribute/key names whose content is a credential ([MS-MRAS] §2.2.2 <password>, SDP keys, tokens). */
const SECRET_NAMES = 'password|passwd|pwd|passphrase|secret|sharedsecret|shared-secret|token|accesstoken|access_token|authtoken|refresh_token|privatekey|private-key|ice-pwd';
const XML_ELEMENT = new RegExp(`<((?:[\\w.-]+:)?(?:${SECRET_NAMES}))(\\s[^>]*)?>([\\s\\S]*?)(</\\1\\s*>|$)`, 'gi');
const XML_ATTR = new RegExp(`(\\s(?:[\\w.-]+:)?(?:${SECRET_NAMES})\\s*=\\s*)("[^"]*"|'[^']*')`, 'gi');
const JSON_KEY = new RegExp(`("(?:${SECRET_NAMES})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi');
/** SDP: SRTP master keys (RFC 4568 §6.1 inline:), ICE passwords (RFC 8839 §5.4), and k= (RFC 4566 §5.12). */
const SDP_SECRETS = /(inline:)[^\s|]+|(a=ice-pwd:)\S+|(^k=)[^\r\n]*/gim;

/**
 * Redacts credential content in a body of any type and caps what is shown to `maxBytes`
 * (after redaction, so the cap can never cut a secret's closing tag off and leave it visible).
 */
export function redactBody(body: Buffer | string, maxBytes = DEFAULT_TRACE_BODY_BYTES): { text: string; omittedBytes: number } {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  if (buf.length === 0) return { text: '', omittedBytes: 0 };
  const decoded = buf.toString('utf8');
  // Binary (or not UTF-8): nothing readable to show, and nothing we could redact reliably.
  if (decoded.includes('\uFFFD') || /[\0-\x08\x0B\x0C\x0E-\x1F\x7F]/.test(decoded)) return { text: `<${buf.length} bytes of binary body not shown>`, omittedBytes: 0 };
  const text = decoded
    .replace(XML_ELEMENT, (_m, tag: string, attrs: string | undefined, _content: string, close: string) => `<${tag}${(attrs ?? '').replace(XML_ATTR, `$1"${REDACTED}"`)}>${REDACTED}${close}`)
    .replace(XML_ATTR, `$1"${REDACTED}"`)
    .replace(JSON_KEY, `$1"${REDACTED}"`)
    .replace(SDP_SECRETS, (_m, a: string | undefined, b: string | undefined, c: string | undefined) => `${a ?? b ?? c ?? ''}${REDACTED}`);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= maxBytes) return { text, omittedBytes: 0 };
  // Cut on a character boundary: drop a trailing partial UTF-8 sequence.
  let shown = Buffer.from(text, 'utf8').subarray(0, maxBytes).toString('utf8');
  if (shown.endsWith('\uFFFD')) shown = shown.slice(0, -1);
  return { text: shown, omittedBytes: bytes - Buffer.byteLength(shown, 'utf8') };
}

// ---------------------------------------------------------------------------------------------
// Messages and entries

export interface RedactedMessage {
  startLine: string;
  headers: SipHeader[];
  body: string;
  bodyBytes: number;
  bodyOmittedBytes: number;
}

/** The whole message as it may be shown: start line, headers and capped body, all redacted. */
export function redactMessage(msg: SipMessage, maxBodyBytes = DEFAULT_TRACE_BODY_BYTES): RedactedMessage {
  const startLine = redactUriPasswords(msg.kind === 'request' ? `${msg.method} ${msg.uri} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`);
  const headers = msg.headers.map((h) => ({ name: h.name, value: redactHeaderValue(h.name, h.value) }));
  const b = redactBody(msg.body, maxBodyBytes);
  return { startLine, headers, body: b.text, bodyBytes: msg.body.length, bodyOmittedBytes: b.omittedBytes };
}

/** What connection.ts needs to emit entries; built once per connection, only when tracing. */
export interface SipTracer {
  hook: SipTraceHook;
  clock: Clock;
  maxBodyBytes: number;
}

export function makeTracer(hook: SipTraceHook, o: { clock?: Clock; maxBodyBytes?: number } = {}): SipTracer {
  return { hook, clock: o.clock ?? systemClock, maxBodyBytes: o.maxBodyBytes ?? DEFAULT_TRACE_BODY_BYTES };
}

/** Builds the redacted entry and hands it to the hook; a throwing hook never breaks signalling. */
export function emitTrace(t: SipTracer, direction: 'out' | 'in', msg: SipMessage, connection: SipTraceConnection): void {
  try {
    const r = redactMessage(msg, t.maxBodyBytes);
    const c: SipTraceConnection = { transport: connection.transport, localAddress: connection.localAddress, localPort: connection.localPort, remoteAddress: connection.remoteAddress, remotePort: connection.remotePort };
    if (connection.servername) c.servername = connection.servername;
    t.hook({ direction, atMs: t.clock.now(), connection: c, ...r });
  } catch {
    /* tracing must never break signalling */
  }
}

/**
 * A bounded trace: keeps the first `max` entries (the sign-in exchange the reader came for) and
 * counts the rest, so a session that stays up cannot grow it without bound.
 */
export class SipTraceLog {
  readonly entries: SipTraceEntry[] = [];
  omitted = 0;
  private readonly t0: number;

  constructor(
    clock: Clock = systemClock,
    private readonly max = DEFAULT_TRACE_ENTRIES,
  ) {
    this.t0 = clock.now();
  }

  /** A hook that records into this log, with times rebased to ms since the log started. */
  readonly hook: SipTraceHook = (e) => {
    if (this.entries.length >= this.max) {
      this.omitted++;
      return;
    }
    this.entries.push({ ...e, atMs: Math.round((e.atMs - this.t0) * 10) / 10 });
  };
}

/** "tls 127.0.0.1:5061 pool1.acme.test" */
export function connectionLabel(c: SipTraceConnection): string {
  const host = c.remoteAddress.includes(':') ? `[${c.remoteAddress}]` : c.remoteAddress;
  return `${c.transport} ${host}:${c.remotePort}${c.servername ? ` ${c.servername}` : ''}`;
}

/** Plain-text form of one entry (CLI): arrow, time, connection, then the message indented. */
export function formatTraceEntry(e: SipTraceEntry, indent = '    '): string {
  const arrow = e.direction === 'out' ? '→' : '←';
  const lines = [`${arrow} ${e.atMs.toFixed(1)} ms  ${e.direction === 'out' ? 'to' : 'from'} ${connectionLabel(e.connection)}`, `${indent}${e.startLine}`];
  for (const h of e.headers) lines.push(`${indent}${h.name}: ${h.value}`);
  if (e.body) {
    lines.push(indent.trimEnd());
    for (const l of e.body.split(/\r?\n/)) lines.push(`${indent}${l}`);
  }
  if (e.bodyOmittedBytes > 0) lines.push(`${indent}… ${e.bodyOmittedBytes} bytes more`);
  return lines.join('\n');
}
