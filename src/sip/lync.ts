/**
 * Lync in-band provisioning bodies ([MS-SIPREGE] §2.2.2.4/2.2.2.5) and the Media Relay
 * Authentication Service exchange (as pidgin-sipe's sipe-media.c reads it). Pure: builds request
 * bodies and validates answers, which come from the network and are untrusted.
 */
import { SiplogonError } from '../errors.js';
import { get, isObj, parseXml, text } from '../xml.js';
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

export function parseProvisioning(body: string): ProvisioningInfo {
  const doc = parseXml(body, 'provisioning answer', ['provisionGroupList.provisionGroup']);
  const root = get(doc, 'provisionGroupList');
  if (!isObj(root)) throw new SiplogonError('BODY_MALFORMED', 'provisioning answer: no <provisionGroupList> root');
  const groups = Array.isArray(get(root, 'provisionGroup')) ? (get(root, 'provisionGroup') as unknown[]) : [];
  const info: ProvisioningInfo = { groups: [], serverConfiguration: {} };
  for (const g of groups) {
    if (!isObj(g)) continue;
    const name = text(get(g, '@name'));
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
  const doc = parseXml(body, 'MRAS answer', ['response.credentialsResponse.mediaRelayList.mediaRelay']);
  const root = get(doc, 'response');
  if (!isObj(root)) throw new SiplogonError('BODY_MALFORMED', 'MRAS answer: no <response> root');
  const reason = text(get(root, '@reasonPhrase')) ?? '';
  const answer: MrasAnswer = { ok: reason.toUpperCase() === 'OK', reason, relays: [] };
  if (!answer.ok) return answer;
  const cr = get(root, 'credentialsResponse');
  if (!isObj(cr)) return answer;
  const creds = get(cr, 'credentials');
  if (isObj(creds)) {
    const username = text(get(creds, 'username'));
    const password = text(get(creds, 'password'));
    const duration = port(get(creds, 'duration'));
    if (username !== undefined && password !== undefined) {
      answer.credentials = { username, password: new Secret(password) };
      if (duration !== undefined) answer.credentials.durationMinutes = duration;
    }
  }
  const list = get(cr, 'mediaRelayList');
  const relays = isObj(list) && Array.isArray(get(list, 'mediaRelay')) ? (get(list, 'mediaRelay') as unknown[]) : [];
  for (const r of relays.slice(0, 32)) {
    if (!isObj(r)) continue;
    const hostName = text(get(r, 'hostName'));
    if (!hostName || !HOST.test(hostName)) continue; // untrusted: skip what is not a host name
    const relay: MediaRelay = { hostName: hostName.toLowerCase().replace(/\.$/, '') };
    const loc = text(get(r, 'location'));
    if (loc === 'intranet' || loc === 'internet') relay.location = loc;
    const u = port(get(r, 'udpPort'));
    const t = port(get(r, 'tcpPort'));
    if (u !== undefined) relay.udpPort = u;
    if (t !== undefined) relay.tcpPort = t;
    answer.relays.push(relay);
  }
  return answer;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}
