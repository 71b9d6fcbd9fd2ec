/**
 * Lync in-band provisioning bodies ([MS-SIPREGE] §2.2.2.4/2.2.2.5) and the Media Relay
 * Authentication Service exchange (as pidgin-sipe's sipe-media.c reads it). Pure: builds request
 * bodies and validates answers, which come from the network and are untrusted.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { SiplogonError } from '../errors.js';
import { Secret } from '../secret.js';

export const PROVISIONING_EVENT = 'vnd-microsoft-provisioning-v2';
export const PROVISIONING_CONTENT_TYPE = 'application/vnd-microsoft-roaming-provisioning-v2+xml';
export const MRAS_CONTENT_TYPE = 'application/msrtc-media-relay-auth+xml';

/** The request groups pidgin-sipe asks for; ServerConfiguration carries mrasUri. */
export function provisioningRequestBody(groups: readonly string[] = ['ServerConfiguration', 'meetingPolicy', 'ucPolicy']): string {
  const items = groups.map((g) => ` <provisioningGroup name="${escapeXml(g)}"/>`).join('\n');
  return `<provisioningGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist">\n${items}\n</provisioningGroupList>`;
}

export interface ProvisioningInfo {
  /** Group names present in the answer. */
  groups: string[];
  /** ServerConfiguration child elements (text content), e.g. mrasUri, focusFactoryUri. */
  serverConfiguration: Record<string, string>;
  mrasUri?: string;
}

const MAX_BODY = 256 * 1024;

function parser(arrays: readonly string[]): XMLParser {
  return new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    removeNSPrefix: true,
    processEntities: true,
    htmlEntities: false,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    isArray: (name) => arrays.includes(name),
  });
}

function parseXml(body: string, what: string, arrays: readonly string[]): Record<string, unknown> {
  if (body.length > MAX_BODY) throw new SiplogonError('BODY_MALFORMED', `${what}: body larger than ${MAX_BODY} bytes`);
  const v = XMLValidator.validate(body);
  if (v !== true) throw new SiplogonError('BODY_MALFORMED', `${what}: not well-formed XML (${v.err.msg}, line ${v.err.line})`);
  return parser(arrays).parse(body) as Record<string, unknown>;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (v && typeof v === 'object' && '#text' in v) return text((v as Record<string, unknown>)['#text']);
  return undefined;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseProvisioning(body: string): ProvisioningInfo {
  const doc = parseXml(body, 'provisioning answer', ['provisionGroup', 'property']);
  const root = doc['provisionGroupList'];
  if (!isObj(root)) throw new SiplogonError('BODY_MALFORMED', 'provisioning answer: no <provisionGroupList> root');
  const groups = Array.isArray(root['provisionGroup']) ? (root['provisionGroup'] as unknown[]) : [];
  const info: ProvisioningInfo = { groups: [], serverConfiguration: {} };
  for (const g of groups) {
    if (!isObj(g)) continue;
    const name = text(g['@name']);
    if (!name) continue;
    info.groups.push(name);
    if (name !== 'ServerConfiguration') continue;
    for (const [k, v] of Object.entries(g)) {
      if (k.startsWith('@')) continue;
      const t = text(v);
      if (t !== undefined && t.length <= 2048) info.serverConfiguration[k] = t;
    }
  }
  const mras = info.serverConfiguration['mrasUri'];
  if (mras !== undefined) {
    if (!/^sips?:[^\s<>"]+$/i.test(mras)) throw new SiplogonError('BODY_MALFORMED', `provisioning answer: mrasUri is not a SIP URI: ${JSON.stringify(mras.slice(0, 80))}`);
    info.mrasUri = mras;
  }
  return info;
}

export function mrasRequestBody(opts: { aor: string; mrasUri: string; requestId: number; location: 'intranet' | 'internet'; durationMinutes?: number }): string {
  const aor = escapeXml(opts.aor);
  return (
    `<request requestID="${opts.requestId}" from="${aor}" version="1.0" to="${escapeXml(opts.mrasUri)}" ` +
    `xmlns="http://schemas.microsoft.com/2006/09/sip/mrasp" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
    `<credentialsRequest credentialsRequestID="${opts.requestId}"><identity>${aor}</identity>` +
    `<location>${opts.location}</location><duration>${opts.durationMinutes ?? 480}</duration></credentialsRequest></request>`
  );
}

export interface MediaRelay {
  hostName: string;
  location?: string;
  udpPort?: number;
  tcpPort?: number;
}

export interface MrasAnswer {
  ok: boolean;
  reason: string;
  /** The relay password is a Secret: it never serialises, logs or caches. */
  credentials?: { username: string; password: Secret; durationMinutes?: number };
  relays: MediaRelay[];
}

const HOST = /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function port(v: unknown): number | undefined {
  const t = text(v);
  if (t === undefined || !/^\d{1,5}$/.test(t)) return undefined;
  const n = Number(t);
  return n >= 1 && n <= 65535 ? n : undefined;
}

export function parseMrasAnswer(body: string): MrasAnswer {
  const doc = parseXml(body, 'MRAS answer', ['mediaRelay']);
  const root = doc['response'];
  if (!isObj(root)) throw new SiplogonError('BODY_MALFORMED', 'MRAS answer: no <response> root');
  const reason = text(root['@reasonPhrase']) ?? '';
  const answer: MrasAnswer = { ok: reason.toUpperCase() === 'OK', reason, relays: [] };
  if (!answer.ok) return answer;
  const cr = root['credentialsResponse'];
  if (!isObj(cr)) return answer;
  const creds = cr['credentials'];
  if (isObj(creds)) {
    const username = text(creds['username']);
    const password = text(creds['password']);
    const duration = port(creds['duration']);
    if (username !== undefined && password !== undefined) {
      answer.credentials = { username, password: new Secret(password) };
      if (duration !== undefined) answer.credentials.durationMinutes = duration;
    }
  }
  const list = cr['mediaRelayList'];
  const relays = isObj(list) && Array.isArray(list['mediaRelay']) ? (list['mediaRelay'] as unknown[]) : [];
  for (const r of relays.slice(0, 32)) {
    if (!isObj(r)) continue;
    const hostName = text(r['hostName']);
    if (!hostName || !HOST.test(hostName)) continue; // untrusted: skip what is not a host name
    const relay: MediaRelay = { hostName: hostName.toLowerCase().replace(/\.$/, '') };
    const loc = text(r['location']);
    if (loc === 'intranet' || loc === 'internet') relay.location = loc;
    const u = port(r['udpPort']);
    const t = port(r['tcpPort']);
    if (u !== undefined) relay.udpPort = u;
    if (t !== undefined) relay.tcpPort = t;
    answer.relays.push(relay);
  }
  return answer;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}
