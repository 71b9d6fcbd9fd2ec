/**
 * Strict validator for the cache file. The file is untrusted input (another user, a broken disk,
 * an older or newer siplogon may have written it), so every field is checked and the result is
 * rebuilt from known fields only. Messages name the field and the rule, never the value: a stray
 * secret in a hand-edited file must not end up in a log.
 */
import { isIP } from 'node:net';
import type { CacheRecord, SipTransport } from '../core/types.js';

/** Caps on arrays and strings; far above anything a real deployment produces. */
export const CACHE_LIMITS = Object.freeze({
  /** Registrar / relay A+AAAA addresses (one behind an HLB, a handful with DNS load balancing). */
  addresses: 16,
  mediaRelays: 16,
  inBand: 8,
  /** RFC 1035 §2.3.4 (253 without the trailing dot). */
  hostname: 254,
  uri: 512,
  location: 32,
  /** Bytes on disk; load() sets aside anything larger without parsing it. */
  fileBytes: 64 * 1024,
});

export const CACHE_VERSION = 1 as const;

/** One field that failed, as "path: rule". */
export class CacheValidationError extends Error {
  constructor(readonly field: string, readonly rule: string) {
    super(`${field}: ${rule}`);
    this.name = 'CacheValidationError';
  }
}

type Obj = Record<string, unknown>;

function fail(field: string, rule: string): never {
  throw new CacheValidationError(field, rule);
}

function object(v: unknown, field: string, allowed: readonly string[], required: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, 'expected an object');
  // Own enumerable keys only; JSON.parse makes "__proto__" an own key, so it is caught here too.
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) fail(field, `unknown key (allowed: ${allowed.join(', ')})`);
  }
  for (const k of required) {
    if (!Object.prototype.hasOwnProperty.call(v, k)) fail(`${field}.${k}`, 'missing');
  }
  return v as Obj;
}

function array(v: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(v)) fail(field, 'expected an array');
  if (v.length > max) fail(field, `more than ${max} entries`);
  return v;
}

function string(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string') fail(field, 'expected a string');
  if (v.length === 0) fail(field, 'empty');
  if (v.length > max) fail(field, `longer than ${max} characters`);
  // C0/C1 controls and DEL have no place in a name or URI and could smuggle terminal escapes.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(v)) fail(field, 'contains control characters');
  return v;
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** RFC 1123 §2.1 host name: dot-separated labels of 1–63 letters/digits/hyphens; optional root dot. */
export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > CACHE_LIMITS.hostname) return false;
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  // An all-numeric last label would make "1.2.3.4" or "999.1.1.1" pass as a name (RFC 1123 §2.1).
  return !/^[0-9]+$/.test(labels[labels.length - 1] ?? '');
}

/** A host name, or an IP literal (an explicit --registrar may be an address). */
function host(v: unknown, field: string): string {
  const s = string(v, field, CACHE_LIMITS.hostname);
  if (!isHostname(s) && isIP(s) === 0) fail(field, 'not a valid host name or IP address');
  return s;
}

function port(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) fail(field, 'expected an integer 1-65535');
  return v;
}

function transport(v: unknown, field: string): SipTransport {
  if (v !== 'tls' && v !== 'tcp') fail(field, 'expected "tls" or "tcp"');
  return v;
}

function addresses(v: unknown, field: string): string[] {
  return array(v, field, CACHE_LIMITS.addresses).map((a, i) => {
    const s = string(a, `${field}[${i}]`, 64);
    if (isIP(s) === 0) fail(`${field}[${i}]`, 'not an IP address');
    return s;
  });
}

/** sip:/sips: URI with a host part; enough to refuse junk, not a full RFC 3261 §25 parser. */
function sipUri(v: unknown, field: string): string {
  const s = string(v, field, CACHE_LIMITS.uri);
  const m = /^sips?:(?:[^@\s<>"]+@)?([^;?:\s<>"@]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:[;?][^\s<>"]*)?$/i.exec(s);
  const h = m?.[1];
  if (h === undefined) fail(field, 'not a sip: or sips: URI');
  const bare = h.startsWith('[') ? h.slice(1, -1) : h;
  if (!isHostname(bare) && isIP(bare) === 0) fail(field, 'URI host is not a valid host name or IP address');
  return s;
}

function isoTime(v: unknown, field: string): string {
  const s = string(v, field, 40);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/.test(s) || Number.isNaN(Date.parse(s))) {
    fail(field, 'expected an ISO 8601 time');
  }
  return s;
}

/**
 * Validates `value` and returns a fresh CacheRecord built from known fields only.
 * Throws CacheValidationError naming the first bad field. Unknown keys are refused: the file is
 * written only by this module, so an extra key means it is not ours (or was tampered with).
 */
export function parseCacheRecord(value: unknown): CacheRecord {
  const top = object(value, 'record', ['version', 'writtenAt', 'user', 'registrar', 'inBand', 'mediaRelays', 'mrasUri'], [
    'version',
    'writtenAt',
    'user',
    'registrar',
    'mediaRelays',
  ]);
  const v = top['version'];
  if (v !== CACHE_VERSION) {
    const shown = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : 'of the wrong type';
    fail('version', `unsupported version ${shown} (this build reads ${CACHE_VERSION})`);
  }
  const reg = object(top['registrar'], 'registrar', ['fqdn', 'port', 'transport', 'addresses'], ['fqdn', 'port', 'transport', 'addresses']);
  const out: CacheRecord = {
    version: CACHE_VERSION,
    writtenAt: isoTime(top['writtenAt'], 'writtenAt'),
    user: sipUri(top['user'], 'user'),
    registrar: {
      fqdn: host(reg['fqdn'], 'registrar.fqdn'),
      port: port(reg['port'], 'registrar.port'),
      transport: transport(reg['transport'], 'registrar.transport'),
      addresses: addresses(reg['addresses'], 'registrar.addresses'),
    },
    mediaRelays: array(top['mediaRelays'], 'mediaRelays', CACHE_LIMITS.mediaRelays).map((r, i) => {
      const f = `mediaRelays[${i}]`;
      const o = object(r, f, ['fqdn', 'addresses', 'udpPort', 'tcpPort', 'location'], ['fqdn', 'addresses']);
      const relay: CacheRecord['mediaRelays'][number] = { fqdn: host(o['fqdn'], `${f}.fqdn`), addresses: addresses(o['addresses'], `${f}.addresses`) };
      if (o['udpPort'] !== undefined) relay.udpPort = port(o['udpPort'], `${f}.udpPort`);
      if (o['tcpPort'] !== undefined) relay.tcpPort = port(o['tcpPort'], `${f}.tcpPort`);
      if (o['location'] !== undefined) {
        const loc = string(o['location'], `${f}.location`, CACHE_LIMITS.location);
        if (!/^[A-Za-z0-9_-]+$/.test(loc)) fail(`${f}.location`, 'expected a word such as "intranet" or "internet"');
        relay.location = loc;
      }
      return relay;
    }),
  };
  if (top['inBand'] !== undefined) {
    out.inBand = array(top['inBand'], 'inBand', CACHE_LIMITS.inBand).map((r, i) => {
      const f = `inBand[${i}]`;
      const o = object(r, f, ['fqdn', 'port', 'transport'], ['fqdn', 'port', 'transport']);
      return { fqdn: host(o['fqdn'], `${f}.fqdn`), port: port(o['port'], `${f}.port`), transport: transport(o['transport'], `${f}.transport`) };
    });
  }
  if (top['mrasUri'] !== undefined) out.mrasUri = sipUri(top['mrasUri'], 'mrasUri');
  return out;
}

/**
 * Copies only the fields CacheRecord declares, ignoring anything else the caller's object carries
 * (a relay `password`, a `credentials` blob). Used by save() before validation, so a secret that
 * rode along on the object can never reach the disk.
 */
export function pickCacheFields(record: CacheRecord): unknown {
  const r = record as unknown as Obj;
  const reg = (r['registrar'] ?? {}) as Obj;
  const pick = (o: Obj, keys: readonly string[]): Obj => {
    const out: Obj = {};
    for (const k of keys) if (o[k] !== undefined) out[k] = Array.isArray(o[k]) ? [...(o[k] as unknown[])] : o[k];
    return out;
  };
  const list = (v: unknown, keys: readonly string[]): unknown =>
    Array.isArray(v) ? v.map((x) => (typeof x === 'object' && x !== null ? pick(x as Obj, keys) : x)) : v;
  const out: Obj = {
    version: r['version'],
    writtenAt: r['writtenAt'],
    user: r['user'],
    registrar: typeof r['registrar'] === 'object' && r['registrar'] !== null ? pick(reg, ['fqdn', 'port', 'transport', 'addresses']) : r['registrar'],
  };
  if (r['inBand'] !== undefined) out['inBand'] = list(r['inBand'], ['fqdn', 'port', 'transport']);
  out['mediaRelays'] = list(r['mediaRelays'], ['fqdn', 'addresses', 'udpPort', 'tcpPort', 'location']);
  if (r['mrasUri'] !== undefined) out['mrasUri'] = r['mrasUri'];
  return out;
}
