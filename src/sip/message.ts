/**
 * Compact SIP message codec (RFC 3261 §7, §20, §25). Works on bytes: the start line and headers
 * are decoded as UTF-8 only after the header/body split, and the body stays a Buffer so that
 * Content-Length is always a byte count.
 */
import { SipParseError } from '../errors.js';

export interface SipHeader {
  name: string;
  value: string;
}

interface SipMessageBase {
  /** Headers in wire order; names as received (compact forms are expanded on parse). */
  headers: SipHeader[];
  body: Buffer;
}

export interface SipRequest extends SipMessageBase {
  kind: 'request';
  method: string;
  uri: string;
}

export interface SipResponse extends SipMessageBase {
  kind: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

/** RFC 3261 §7.3.3 compact forms plus the common extension ones (RFC 3265, 3515, 4028). */
const COMPACT: Record<string, string> = {
  i: 'Call-ID',
  m: 'Contact',
  e: 'Content-Encoding',
  l: 'Content-Length',
  c: 'Content-Type',
  f: 'From',
  s: 'Subject',
  k: 'Supported',
  t: 'To',
  v: 'Via',
  o: 'Event',
  u: 'Allow-Events',
  r: 'Refer-To',
  b: 'Referred-By',
  x: 'Session-Expires',
  a: 'Accept-Contact',
  j: 'Reject-Contact',
  d: 'Request-Disposition',
  y: 'Identity',
  n: 'Identity-Info',
};

/**
 * Headers whose value is not a comma-separated list: credentials and challenges carry commas
 * between their own parameters (RFC 3261 §7.3.1 exceptions), and Date contains a comma.
 */
const NO_SPLIT = new Set([
  'www-authenticate',
  'authorization',
  'proxy-authenticate',
  'proxy-authorization',
  'authentication-info',
  'proxy-authentication-info',
  'date',
  'ms-diagnostics',
  'ms-diagnostics-public',
]);

export const MAX_MESSAGE_BYTES = 64 * 1024;

const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/** Expands a compact header name; other names are returned unchanged. */
export function canonicalHeaderName(name: string): string {
  return name.length === 1 ? (COMPACT[name.toLowerCase()] ?? name) : name;
}

/** Does header name `have` mean `want` (already canonical and lower-cased)? Cheap on a mismatch. */
function nameIs(have: string, want: string): boolean {
  if (have.length === 1) return canonicalHeaderName(have).toLowerCase() === want;
  return have.length === want.length && (have === want || have.toLowerCase() === want);
}

function wanted(name: string): string {
  return canonicalHeaderName(name).toLowerCase();
}

function sameName(a: string, b: string): boolean {
  return nameIs(a, wanted(b));
}

/** Raw values of every header line with this name (compact form and case insensitive). */
export function getHeaderLines(msg: { headers: SipHeader[] }, name: string): string[] {
  const want = wanted(name);
  const out: string[] = [];
  for (const h of msg.headers) if (nameIs(h.name, want)) out.push(h.value);
  return out;
}

/** All values: repeated header lines and comma-separated lists flattened, in order. */
export function getHeaders(msg: { headers: SipHeader[] }, name: string): string[] {
  const lines = getHeaderLines(msg, name);
  if (NO_SPLIT.has(canonicalHeaderName(name).toLowerCase())) return lines;
  return lines.flatMap((l) => splitList(l));
}

/** First value (after list splitting), or undefined. */
export function getHeader(msg: { headers: SipHeader[] }, name: string): string | undefined {
  return getHeaders(msg, name)[0];
}

export function setHeader(msg: { headers: SipHeader[] }, name: string, value: string): void {
  removeHeader(msg, name);
  msg.headers.push({ name, value });
}

export function removeHeader(msg: { headers: SipHeader[] }, name: string): void {
  msg.headers = msg.headers.filter((h) => !sameName(h.name, name));
}

/** Splits on commas outside quoted strings and <...> (RFC 3261 §7.3.1). */
export function splitList(value: string): string[] {
  // Slices of the input rather than a string grown char by char: headers are parsed for every
  // response, and the per-char concatenation was a visible share of a fleet's garbage.
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (quoted) {
      if (ch === 0x5c /* \ */) i++;
      else if (ch === 0x22 /* " */) quoted = false;
      continue;
    }
    if (ch === 0x22) quoted = true;
    else if (ch === 0x3c /* < */) angle = true;
    else if (ch === 0x3e /* > */) angle = false;
    else if (ch === 0x2c /* , */ && !angle) {
      const part = value.slice(start, i).trim();
      if (part) out.push(part);
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last) out.push(last);
  return out;
}

/**
 * `;a=b;c;d="x;y"` → Map (names lower-cased, quotes removed). Accepts a leading ';' or not.
 */
export function parseParams(text: string): Map<string, string | null> {
  const params = new Map<string, string | null>();
  for (const part of splitOutsideQuotes(text, ';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq < 0) params.set(p.toLowerCase(), null);
    else params.set(p.slice(0, eq).trim().toLowerCase(), unquote(p.slice(eq + 1).trim()));
  }
  return params;
}

function splitOutsideQuotes(text: string, sep: string): string[] {
  const out: string[] = [];
  const sepCode = sep.charCodeAt(0);
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (quoted) {
      if (ch === 0x5c) i++;
      else if (ch === 0x22) quoted = false;
    } else if (ch === 0x22) quoted = true;
    else if (ch === sepCode) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

export function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(.)/g, '$1');
  return v;
}

export interface SipUri {
  scheme: 'sip' | 'sips';
  user?: string;
  /** Hostname or IP; IPv6 without brackets. */
  host: string;
  port?: number;
  params: Map<string, string | null>;
  headers?: string;
}

/** RFC 3261 §19.1 SIP/SIPS URI. Throws SipParseError(INVALID_URI) on anything else. */
export function parseUri(text: string): SipUri {
  const bad = (why: string): never => {
    throw new SipParseError('INVALID_URI', `invalid SIP URI ${JSON.stringify(text.slice(0, 200))}: ${why}`);
  };
  const m = /^(sips?):(.*)$/i.exec(text.trim());
  if (!m) return bad('scheme must be sip or sips');
  const scheme = m[1]!.toLowerCase() as 'sip' | 'sips';
  let rest = m[2]!;
  let headers: string | undefined;
  const q = rest.indexOf('?');
  if (q >= 0) {
    headers = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = user.indexOf(':');
    // A password in the userinfo is deprecated (§19.1.1) and must never leak: drop it.
    if (colon >= 0) user = user.slice(0, colon);
    if (!user) bad('empty user part');
  }
  const semi = rest.indexOf(';');
  const hostport = semi >= 0 ? rest.slice(0, semi) : rest;
  const params = parseParams(semi >= 0 ? rest.slice(semi + 1) : '');
  let host: string;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) bad('unterminated IPv6 reference');
    host = hostport.slice(1, close);
    const after = hostport.slice(close + 1);
    if (after) {
      if (!after.startsWith(':')) bad('junk after IPv6 reference');
      portText = after.slice(1);
    }
  } else {
    const colon = hostport.indexOf(':');
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    if (colon >= 0) portText = hostport.slice(colon + 1);
  }
  if (!host || !/^[A-Za-z0-9.\-_:]+$/.test(host)) bad('bad host');
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) bad('bad port');
    port = Number(portText);
  }
  const uri: SipUri = { scheme, host, params };
  if (user !== undefined) uri.user = user;
  if (port !== undefined) uri.port = port;
  if (headers !== undefined) uri.headers = headers;
  return uri;
}

export function formatUri(u: SipUri): string {
  const host = u.host.includes(':') ? `[${u.host}]` : u.host;
  let s = `${u.scheme}:${u.user !== undefined ? `${u.user}@` : ''}${host}${u.port !== undefined ? `:${u.port}` : ''}`;
  for (const [k, v] of u.params) s += v === null ? `;${k}` : `;${k}=${v}`;
  if (u.headers) s += `?${u.headers}`;
  return s;
}

export interface NameAddr {
  displayName?: string;
  uri: string;
  /** Header parameters (after the URI), e.g. tag, expires, q, +sip.instance. */
  params: Map<string, string | null>;
}

/** name-addr / addr-spec with header parameters (RFC 3261 §20.10, §25.1). */
export function parseNameAddr(text: string): NameAddr {
  const t = text.trim();
  const lt = indexOutsideQuotes(t, '<');
  if (lt >= 0) {
    const gt = t.indexOf('>', lt);
    if (gt < 0) throw new SipParseError('SIP_BAD_HEADER', `unterminated <...> in ${JSON.stringify(t.slice(0, 200))}`);
    const dn = t.slice(0, lt).trim();
    const out: NameAddr = { uri: t.slice(lt + 1, gt).trim(), params: parseParams(t.slice(gt + 1)) };
    if (dn) out.displayName = unquote(dn);
    return out;
  }
  // addr-spec form: parameters after the URI belong to the header, not the URI (§20).
  const semi = t.indexOf(';');
  const uri = semi >= 0 ? t.slice(0, semi) : t;
  if (!uri) throw new SipParseError('SIP_BAD_HEADER', 'empty address');
  return { uri: uri.trim(), params: parseParams(semi >= 0 ? t.slice(semi + 1) : '') };
}

function indexOutsideQuotes(t: string, ch: string): number {
  let quoted = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ch) return i;
  }
  return -1;
}

export interface Via {
  transport: string;
  host: string;
  port?: number;
  params: Map<string, string | null>;
}

export function parseVia(value: string): Via {
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+([^;\s]+)\s*(;.*)?$/i.exec(value.trim());
  if (!m) throw new SipParseError('SIP_BAD_HEADER', `bad Via ${JSON.stringify(value.slice(0, 200))}`);
  const hp = m[2]!;
  let host = hp;
  let port: number | undefined;
  const pm = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hp);
  if (pm) {
    host = pm[1]!.replace(/^\[|\]$/g, '');
    if (pm[2]) port = Number(pm[2]);
  }
  const via: Via = { transport: m[1]!.toUpperCase(), host, params: parseParams(m[3] ?? '') };
  if (port !== undefined) via.port = port;
  return via;
}

export function parseCSeq(value: string | undefined): { seq: number; method: string } | undefined {
  const m = value ? /^\s*(\d+)\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*$/.exec(value) : null;
  return m ? { seq: Number(m[1]), method: m[2]!.toUpperCase() } : undefined;
}

const CRLF = Buffer.from('\r\n\r\n');

/**
 * Parses one complete message (header section + body). With a Content-Length header the body
 * must have exactly that many bytes; without one the rest of the buffer is the body (datagram
 * semantics, §18.3 — stream framing in framing.ts requires the header).
 */
export function parseMessage(bytes: Buffer): SipMessage {
  const end = bytes.indexOf(CRLF);
  if (end < 0) throw new SipParseError('SIP_PARSE', 'no end of header section (CRLFCRLF)');
  const head = parseHead(bytes.subarray(0, end));
  const body = bytes.subarray(end + 4);
  const cl = head.contentLength;
  if (cl !== undefined && cl !== body.length) {
    throw new SipParseError('SIP_BAD_CONTENT_LENGTH', `Content-Length ${cl} but body has ${body.length} bytes`);
  }
  return { ...head.message, body: Buffer.from(body) } as SipMessage;
}

/** @internal shared with the framer: parses the bytes before CRLFCRLF. */
export function parseHead(head: Buffer): { message: Omit<SipRequest, 'body'> | Omit<SipResponse, 'body'>; contentLength?: number } {
  if (head.length > MAX_MESSAGE_BYTES) {
    throw new SipParseError('SIP_MESSAGE_TOO_LARGE', `header section over ${MAX_MESSAGE_BYTES} bytes`);
  }
  const text = head.toString('utf8');
  const rawLines = text.split('\r\n');
  for (const l of rawLines) {
    // §7.3.1: lines end in CRLF; a lone CR or LF is a smuggling vector, refuse it.
    if (l.includes('\r') || l.includes('\n')) throw new SipParseError('SIP_BAD_HEADER', 'bare CR or LF inside the header section');
    if (l.includes('\0')) throw new SipParseError('SIP_BAD_HEADER', 'NUL byte inside the header section');
  }
  const startLine = rawLines[0] ?? '';
  // Unfold continuation lines (§7.3.1: LWS = CRLF followed by SP/HTAB).
  const lines: string[] = [];
  for (const l of rawLines.slice(1)) {
    if ((l.startsWith(' ') || l.startsWith('\t')) && lines.length > 0) lines[lines.length - 1] += ' ' + l.trim();
    else lines.push(l);
  }
  const headers: SipHeader[] = [];
  for (const l of lines) {
    const colon = l.indexOf(':');
    if (colon <= 0) throw new SipParseError('SIP_BAD_HEADER', `header line without a name: ${JSON.stringify(l.slice(0, 100))}`);
    const name = l.slice(0, colon).trim();
    if (!TOKEN.test(name)) throw new SipParseError('SIP_BAD_HEADER', `bad header name ${JSON.stringify(name.slice(0, 100))}`);
    headers.push({ name: canonicalHeaderName(name), value: l.slice(colon + 1).trim() });
  }
  let contentLength: number | undefined;
  const clLines = getHeaderLines({ headers }, 'Content-Length');
  if (clLines.length > 1 && new Set(clLines).size > 1) throw new SipParseError('SIP_BAD_CONTENT_LENGTH', 'conflicting Content-Length headers');
  if (clLines.length > 0) {
    const v = clLines[0]!;
    if (!/^\d{1,9}$/.test(v)) throw new SipParseError('SIP_BAD_CONTENT_LENGTH', `bad Content-Length ${JSON.stringify(v.slice(0, 30))}`);
    contentLength = Number(v);
  }
  const resp = /^SIP\/2\.0 ([1-6]\d\d) ?(.*)$/.exec(startLine);
  if (resp) {
    return { message: { kind: 'response', status: Number(resp[1]), reason: resp[2] ?? '', headers }, ...(contentLength !== undefined ? { contentLength } : {}) };
  }
  const req = /^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP\/2\.0$/.exec(startLine);
  if (!req) throw new SipParseError('SIP_PARSE', `bad start line ${JSON.stringify(startLine.slice(0, 100))}`);
  return {
    message: { kind: 'request', method: req[1]!, uri: req[2]!, headers },
    ...(contentLength !== undefined ? { contentLength } : {}),
  };
}

/**
 * Serializes with a Content-Length computed from the body bytes (any Content-Length given in
 * headers is replaced). Refuses header values that would inject a line break.
 */
export function serializeMessage(msg: SipMessage): Buffer {
  const start = msg.kind === 'request' ? `${msg.method} ${msg.uri} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
  if (/[\r\n]/.test(start)) throw new SipParseError('SIP_BAD_HEADER', 'line break in start line');
  let head = start + '\r\n';
  for (const h of msg.headers) {
    if (sameName(h.name, 'Content-Length')) continue;
    if (!TOKEN.test(h.name) || /[\r\n\0]/.test(h.value)) throw new SipParseError('SIP_BAD_HEADER', `header ${JSON.stringify(h.name)} would break framing`);
    head += `${h.name}: ${h.value}\r\n`;
  }
  head += `Content-Length: ${msg.body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), msg.body]);
}

export function makeRequest(method: string, uri: string, headers: Array<[string, string]> = [], body: Buffer | string = Buffer.alloc(0)): SipRequest {
  return { kind: 'request', method, uri, headers: headers.map(([name, value]) => ({ name, value })), body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8') };
}
