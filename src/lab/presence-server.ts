/**
 * The lab pools' presence server, both flavours the engine's agent speaks (issue 8):
 * - Lync: roaming-contacts / roaming-self with the first notification piggybacked on the 200
 *   ([MS-SIP] 3.4.5.1, `ms-piggyback-cseq` as sipe requires), SERVICE category publish with
 *   versions (409 WrongDelta when stale), the batched presence SUBSCRIBE ([MS-SIP] 3.3.4.1)
 *   answered by multipart/related RLMI + msrtc-event-categories NOTIFYs.
 * - SIMPLE: PUBLISH with SIP-ETag (RFC 3903 §6), an RLS list URI (RFC 4662: `Supported:
 *   eventlist`, RLMI + PIDF parts, partial notifications by version) and per-contact
 *   `Event: presence` subscriptions (RFC 3856).
 * NOTIFYs go out on the subscriber's connection as the notifier's requests in the dialog the 200
 * created (RFC 6665 §4.2.2: one after every accepted SUBSCRIBE, terminated after Expires: 0).
 * A convenience for the demo and fast tests: the Kamailio tests remain the reference.
 */
import { randomBytes } from 'node:crypto';
import { getHeader, getHeaders, makeRequest, parseNameAddr, splitList, type SipRequest, type SipResponse } from '../sip/message.js';
import { newBranch, newTag } from '../sip/transaction.js';
import { buildPidf, parsePidf, PIDF_CONTENT_TYPE } from '../presence/pidf.js';
import { RLMI_CONTENT_TYPE } from '../presence/rlmi.js';
import { ROAMING_CONTACTS_CONTENT_TYPE, ROAMING_CONTACTS_EVENT, type ContactGroup } from '../presence/contacts.js';
import { BATCH_SUBSCRIBE_CONTENT_TYPE, CATEGORIES_CONTENT_TYPE, CATEGORY_PUBLISH_CONTENT_TYPE, FAULT_CONTENT_TYPE } from '../presence/categories.js';
import { availabilityToState, pidfBasicToState, stateToAvailability, type PidfBasic, type PresenceState } from '../presence/state.js';
import { attr, child, escapeXml, get, list, parseXml, text, uint } from '../xml.js';

export type LabPresenceFlavour = 'lync' | 'simple';

export interface LabBuddy {
  uri: string;
  /** Display name ("" = none, as roaming contacts carry it). */
  name: string;
  groups: number[];
  state: PresenceState;
  note?: string;
}

export interface LabRoster {
  groups: ContactGroup[];
  buddies: LabBuddy[];
}

/** One accepted publication, in order (what setPresence sent, as the lab understood it). */
export interface LabPublication {
  aor: string;
  flavour: LabPresenceFlavour;
  /** SIMPLE: RFC 3903 §4 operations; Lync: one SERVICE category publish. */
  op: 'initial' | 'refresh' | 'modify' | 'remove' | 'category';
  state?: PresenceState;
  basic?: PidfBasic;
  availability?: number;
  note?: string;
  etag?: string;
}

export interface LabSubscriptionInfo {
  aor: string;
  event: string;
  kind: SubKind;
  watched: string[];
}

/** The connection a subscription's NOTIFYs go out on. */
export interface LabConnection {
  send(req: SipRequest): void;
  alive(): boolean;
  /** "SIP/2.0/TLS 127.x.y.z:5061" */
  viaSentBy: string;
  /** Our Contact URI on this connection (remote target of the dialog, RFC 3261 §12.1.1). */
  contact: string;
}

/** What the registrar turns into a response; `after` runs once the response is on the wire. */
export interface PresenceReply {
  status: number;
  reason: string;
  headers?: Array<[string, string]>;
  body?: string;
  toTag?: string;
  after?: () => void;
}

type SubKind = 'roaming-contacts' | 'roaming-self' | 'batch' | 'rls' | 'single';

interface Sub {
  conn: LabConnection;
  aor: string;
  kind: SubKind;
  event: string;
  callId: string;
  localTag: string;
  /** The SUBSCRIBE's From, tag included: the NOTIFY's To. */
  remote: string;
  /** The SUBSCRIBE's Contact: the NOTIFY's Request-URI. */
  remoteTarget: string;
  /** The SUBSCRIBE's To URI: the NOTIFY's From. */
  target: string;
  watched: string[];
  cseq: number;
  /** RLMI version (RFC 4662 §5.2: starts at 0, +1 per notification). */
  version: number;
  expiresAt: number;
}

export interface LabPresenceOptions {
  domain: string;
  flavour: LabPresenceFlavour;
  roster: LabRoster;
  /** SIMPLE: the RLS list URI that stands for the roster. */
  listUri: string;
  maxExpires?: number;
}

const ROAMING_SELF_EVENT = 'vnd-microsoft-roaming-self';
const ROAMING_SELF_CONTENT_TYPE = 'application/vnd-microsoft-roaming-self+xml';

const norm = (u: string): string => (/^sips?:/i.test(u) ? u : `sip:${u}`).toLowerCase();
const eventOf = (req: SipRequest): string => (getHeader(req, 'Event') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
const mediaOf = (req: SipRequest): string => (getHeader(req, 'Content-Type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
const tokensOf = (req: SipRequest, name: string): Set<string> => new Set(getHeaders(req, name).flatMap(splitList).map((t) => t.trim().toLowerCase()));
const fail = (status: number, reason: string, headers: Array<[string, string]> = []): PresenceReply => ({ status, reason, headers });

export class LabPresenceService {
  readonly publications: LabPublication[] = [];
  /** Statuses of the answers to our NOTIFYs, in order of arrival. */
  readonly notifyAnswers: number[] = [];
  /** Subscriptions the client ended with Expires: 0 (sign-out clean-up). */
  readonly ended: LabSubscriptionInfo[] = [];
  private readonly o: LabPresenceOptions;
  private readonly subs = new Map<string, Sub>();
  private readonly etags = new Map<string, { etag: string; state: PresenceState; note?: string }>();
  /** Lync: current version per aor + category/instance/container ([MS-PRES] optimistic concurrency, as sipe meets it). */
  private readonly versions = new Map<string, number>();
  private readonly own = new Map<string, { state: PresenceState; note?: string; flavour: LabPresenceFlavour }>();
  private readonly notifyCallIds = new Set<string>();

  constructor(o: LabPresenceOptions) {
    this.o = { ...o, roster: { groups: o.roster.groups.map((g) => ({ ...g })), buddies: o.roster.buddies.map((b) => ({ ...b, groups: [...b.groups] })) } };
  }

  get flavour(): LabPresenceFlavour {
    return this.o.flavour;
  }

  /** Own presence of `aor` as last published here (undefined: none, or removed). */
  presenceOf(aor: string): { state: PresenceState; note?: string; flavour: LabPresenceFlavour } | undefined {
    const p = this.own.get(norm(aor));
    return p && { ...p };
  }

  subscriptions(): LabSubscriptionInfo[] {
    this.expire();
    return [...this.subs.values()].filter((s) => s.conn.alive()).map((s) => ({ aor: s.aor, event: s.event, kind: s.kind, watched: [...s.watched] }));
  }

  /** Changes a roster contact's state and notifies its watchers (a partial RLMI for lists). */
  setBuddy(uri: string, state: PresenceState, note?: string): void {
    const b = this.buddy(uri);
    if (!b) return;
    b.state = state;
    if (note === undefined) delete b.note;
    else b.note = note;
    this.expire();
    for (const s of this.subs.values()) if (s.watched.includes(b.uri)) this.notifyState(s, false, [b.uri]);
  }

  /** A subscription not refreshed in time is gone (RFC 6665 §4.2.2: the notifier ends it at expiry). */
  private expire(): void {
    const now = Date.now();
    for (const [k, s] of this.subs) if (s.expiresAt <= now) this.subs.delete(k);
  }

  /** A response from a client: counts the answers to our NOTIFYs. */
  onResponse(res: SipResponse): void {
    const cseq = getHeader(res, 'CSeq') ?? '';
    if (/\bNOTIFY$/i.test(cseq.trim()) && this.notifyCallIds.has(getHeader(res, 'Call-ID') ?? '')) this.notifyAnswers.push(res.status);
  }

  /** The connection closed: its subscriptions die with it (no one to notify). */
  dropConnection(conn: LabConnection): void {
    for (const [k, s] of this.subs) if (s.conn === conn) this.subs.delete(k);
  }

  /** SUBSCRIBE from authenticated `user`; undefined when the event is not presence's (the caller answers). */
  subscribe(req: SipRequest, aor: string, conn: LabConnection): PresenceReply | undefined {
    const event = eventOf(req);
    if (event !== 'presence' && event !== ROAMING_CONTACTS_EVENT && event !== ROAMING_SELF_EVENT) return undefined;
    let to;
    let from;
    try {
      to = parseNameAddr(getHeader(req, 'To') ?? '');
      from = parseNameAddr(getHeader(req, 'From') ?? '');
    } catch {
      return fail(400, 'Bad Request');
    }
    const callId = getHeader(req, 'Call-ID') ?? '';
    const asked = Number(getHeader(req, 'Expires') ?? '600');
    if (!Number.isFinite(asked) || asked < 0) return fail(400, 'Bad Expires');
    const expires = Math.min(Math.floor(asked), this.o.maxExpires ?? 3600);
    const toTag = to.params.get('tag');

    if (toTag) {
      // In-dialog: refresh or end (RFC 6665 §4.1.2.2, §4.1.2.3).
      const key = `${callId}\u0000${toTag}`;
      const s = this.subs.get(key);
      if (!s || s.aor !== aor) return fail(481, 'Subscription Does Not Exist');
      if (expires === 0) {
        this.subs.delete(key);
        this.ended.push({ aor: s.aor, event: s.event, kind: s.kind, watched: [...s.watched] });
        return { status: 200, reason: 'OK', headers: [['Expires', '0']], after: () => this.notify(s, 'terminated;reason=timeout') };
      }
      s.expiresAt = Date.now() + expires * 1000;
      return { status: 200, reason: 'OK', headers: [['Expires', String(expires)], ['Contact', `<${conn.contact}>`]], after: () => this.notifyFull(s) };
    }
    if (from.params.get('tag') === undefined || from.params.get('tag') === null) return fail(400, 'From without tag');
    let remoteTarget = '';
    try {
      remoteTarget = parseNameAddr(getHeader(req, 'Contact') ?? '').uri;
    } catch {
      /* checked below */
    }
    if (!remoteTarget) return fail(400, 'SUBSCRIBE without Contact (RFC 6665 §4.1.2.1)');

    const lync = this.o.flavour === 'lync';
    const target = to.uri;
    let kind: SubKind;
    let watched: string[] = [];
    if (event === ROAMING_CONTACTS_EVENT || event === ROAMING_SELF_EVENT) {
      if (!lync) return fail(489, 'Bad Event', [['Allow-Events', 'presence']]);
      if (norm(target) !== aor) return fail(403, 'Forbidden');
      kind = event === ROAMING_CONTACTS_EVENT ? 'roaming-contacts' : 'roaming-self';
    } else if (mediaOf(req) === BATCH_SUBSCRIBE_CONTENT_TYPE || tokensOf(req, 'Require').has('adhoclist')) {
      if (!lync) return fail(420, 'Bad Extension', [['Unsupported', 'adhoclist']]);
      // [MS-SIP] 3.3.4.1: the batch goes to one's own AoR and names the resources in the body.
      if (norm(target) !== aor) return fail(403, 'Forbidden');
      const body = req.body.toString('utf8');
      try {
        const doc = parseXml(body, 'batchSub', ['batchSub.action', 'batchSub.action.adhocList.resource']);
        const root = child(doc, 'batchSub');
        for (const a of list(root ? get(root, 'action') : undefined)) {
          const adhoc = child(a, 'adhocList');
          for (const r of list(adhoc ? get(adhoc, 'resource') : undefined)) {
            const u = attr(r, 'uri');
            if (u) watched.push(this.buddy(u)?.uri ?? norm(u));
          }
        }
      } catch {
        return fail(400, 'Bad batchSub body');
      }
      if (watched.length === 0) return fail(400, 'batchSub names no resource');
      kind = 'batch';
    } else if (norm(target) === norm(this.o.listUri) && !lync) {
      // RFC 4662 §4.4: an RLS refuses a list subscription from a client that cannot take lists.
      if (!tokensOf(req, 'Supported').has('eventlist')) return fail(421, 'Extension Required', [['Require', 'eventlist']]);
      kind = 'rls';
      watched = this.o.roster.buddies.map((b) => b.uri);
    } else {
      const b = this.buddy(target);
      if (!b) return fail(404, 'Not Found');
      kind = 'single';
      watched = [b.uri];
    }
    const s: Sub = {
      conn, aor, kind, event, callId, localTag: newTag(), remote: getHeader(req, 'From') ?? '', remoteTarget, target,
      watched: [...new Set(watched)], cseq: 0, version: 0, expiresAt: Date.now() + expires * 1000,
    };
    if (expires > 0) this.subs.set(`${callId}\u0000${s.localTag}`, s);
    const headers: Array<[string, string]> = [['Contact', `<${conn.contact}>`], ['Event', event], ['Expires', String(expires)]];
    if (kind === 'roaming-contacts' || kind === 'roaming-self') {
      // The piggybacked first notification replaces the NOTIFY ([MS-SIP] 3.4.5.1).
      headers.push(['Subscription-State', `active;expires=${expires}`], ['ms-piggyback-cseq', '1'], ['Supported', 'ms-piggyback-first-notify, com.microsoft.autoextend'], ['Content-Type', kind === 'roaming-contacts' ? ROAMING_CONTACTS_CONTENT_TYPE : ROAMING_SELF_CONTENT_TYPE]);
      return { status: 200, reason: 'OK', toTag: s.localTag, headers, body: kind === 'roaming-contacts' ? this.contactList() : this.roamingData(aor) };
    }
    if (kind === 'rls') headers.push(['Require', 'eventlist']);
    // A fetch (Expires: 0, RFC 6665 §4.4.3) gets the state once, in a terminated NOTIFY.
    return { status: 200, reason: 'OK', toTag: s.localTag, headers, after: () => (expires > 0 ? this.notifyFull(s) : this.notifyState(s, true, s.watched, 'terminated;reason=timeout')) };
  }

  /** PUBLISH (RFC 3903 §6: initial, refresh, modify, remove). */
  publish(req: SipRequest, aor: string): PresenceReply {
    if (eventOf(req) !== 'presence') return fail(489, 'Bad Event', [['Allow-Events', 'presence']]);
    let to;
    try {
      to = norm(parseNameAddr(getHeader(req, 'To') ?? '').uri);
    } catch {
      return fail(400, 'Bad Request');
    }
    if (to !== aor) return fail(403, 'Forbidden: publish only your own presence');
    const asked = Number(getHeader(req, 'Expires') ?? '3600');
    if (!Number.isFinite(asked) || asked < 0) return fail(400, 'Bad Expires');
    const expires = Math.min(Math.floor(asked), this.o.maxExpires ?? 3600);
    const ifMatch = getHeader(req, 'SIP-If-Match')?.trim();
    const body = req.body.toString('utf8');
    const prev = this.etags.get(aor);
    if (ifMatch !== undefined && prev?.etag !== ifMatch) return fail(412, 'Conditional Request Failed');
    if (ifMatch === undefined && body.length === 0) return fail(400, 'Initial PUBLISH without a body');
    if (ifMatch !== undefined && expires === 0) {
      this.etags.delete(aor);
      this.own.delete(aor);
      this.publications.push({ aor, flavour: 'simple', op: 'remove' });
      return { status: 200, reason: 'OK', headers: [['Expires', '0']] };
    }
    let state = prev?.state ?? 'unknown';
    let note = prev?.note;
    let basic: PidfBasic | undefined;
    if (body.length > 0) {
      if (mediaOf(req) !== PIDF_CONTENT_TYPE) return fail(415, 'Unsupported Media Type', [['Accept', PIDF_CONTENT_TYPE]]);
      try {
        const pidf = parsePidf(body);
        if (norm(pidf.entity) !== aor) return fail(400, 'PIDF entity is not the publisher');
        basic = pidf.overall === 'unknown' ? undefined : pidf.overall;
        state = pidfBasicToState(pidf.overall);
        note = pidf.tuples.find((t) => t.note !== undefined)?.note ?? pidf.note;
      } catch {
        return fail(400, 'Bad PIDF');
      }
    }
    // §6 step 6/8: a fresh entity-tag for every successful publication.
    const etag = `lab${randomBytes(6).toString('hex')}`;
    this.etags.set(aor, { etag, state, ...(note !== undefined ? { note } : {}) });
    this.own.set(aor, { state, flavour: 'simple', ...(note !== undefined ? { note } : {}) });
    const op = ifMatch === undefined ? 'initial' : body.length === 0 ? 'refresh' : 'modify';
    this.publications.push({ aor, flavour: 'simple', op, state, etag, ...(basic ? { basic } : {}), ...(note !== undefined ? { note } : {}) });
    return { status: 200, reason: 'OK', headers: [['SIP-ETag', etag], ['Expires', String(expires)]] };
  }

  /** SERVICE with a category publish; undefined when the body is something else (MRAS…). */
  categoryPublish(req: SipRequest, aor: string): PresenceReply | undefined {
    if (mediaOf(req) !== CATEGORY_PUBLISH_CONTENT_TYPE) return undefined;
    if (this.o.flavour !== 'lync') return fail(415, 'Unsupported Media Type');
    type Pub = { key: string; version: number; category: string; availability?: number; note?: string };
    const pubs: Pub[] = [];
    try {
      const doc = parseXml(req.body.toString('utf8'), 'category publish', ['publish.publications.publication']);
      const root = child(doc, 'publish');
      const p = root ? child(root, 'publications') : undefined;
      if (!p || norm(attr(p, 'uri') ?? '') !== aor) return fail(403, 'Forbidden: publish only your own categories');
      for (const x of list(get(p, 'publication'))) {
        const category = attr(x, 'categoryName') ?? '';
        const version = uint(attr(x, 'version'));
        if (!category || version === undefined) return fail(400, 'publication without categoryName/version');
        const pub: Pub = { key: `${aor} ${category}/${attr(x, 'instance') ?? ''}/${attr(x, 'container') ?? ''}`, version, category };
        const st = child(x, 'state');
        const a = st ? uint(text(get(st, 'availability'))?.trim()) : undefined;
        if (a !== undefined) pub.availability = a;
        const n = child(x, 'note');
        const nb = n ? text(get(n, 'body')) : undefined;
        if (nb !== undefined) pub.note = nb;
        pubs.push(pub);
      }
    } catch {
      return fail(400, 'Bad category publish');
    }
    // A stale version is refused with the current ones; the client retries with them (sipe).
    const stale = pubs.map((p, i) => ({ index: i + 1, cur: this.versions.get(p.key) ?? 0, p })).filter((x) => x.cur !== x.p.version);
    if (stale.length > 0) {
      const fault =
        `<Fault xmlns="http://schemas.microsoft.com/2006/09/sip/error-codes"><Faultcode>Client.BadCall.WrongDelta</Faultcode><details>` +
        stale.map((x) => `<operation index="${x.index}" curVersion="${x.cur}"/>`).join('') +
        `</details></Fault>`;
      return { status: 409, reason: 'Conflict', headers: [['Content-Type', FAULT_CONTENT_TYPE]], body: fault };
    }
    for (const p of pubs) this.versions.set(p.key, p.version + 1);
    const availability = pubs.find((p) => p.availability !== undefined)?.availability;
    const note = pubs.find((p) => p.note !== undefined)?.note;
    const state = availability === undefined ? (this.own.get(aor)?.state ?? 'unknown') : availabilityToState(availability);
    this.own.set(aor, { state, flavour: 'lync', ...(note !== undefined ? { note } : {}) });
    this.publications.push({ aor, flavour: 'lync', op: 'category', state, ...(availability !== undefined ? { availability } : {}), ...(note !== undefined ? { note } : {}) });
    return { status: 200, reason: 'OK' };
  }

  // ---- bodies and NOTIFYs ---------------------------------------------------------------------

  private buddy(uri: string): LabBuddy | undefined {
    const u = norm(uri);
    return this.o.roster.buddies.find((b) => norm(b.uri) === u);
  }

  /** [MS-SIP] 2.2.4.1 shape; URIs without the scheme as Lync writes them. */
  private contactList(): string {
    const r = this.o.roster;
    return (
      `<contactList deltaNum="1">` +
      r.groups.map((g) => `<group id="${g.id}" name="${escapeXml(g.name)}" externalURI=""/>`).join('') +
      r.buddies.map((b) => `<contact uri="${escapeXml(b.uri.replace(/^sip:/i, ''))}" name="${escapeXml(b.name)}" groups="${b.groups.join(' ')}" subscribed="true" externalURI=""/>`).join('') +
      `</contactList>`
    );
  }

  /** Own publications would go here; an empty set makes the client publish with version 0. */
  private roamingData(_aor: string): string {
    return '<roamingData xmlns="http://schemas.microsoft.com/2006/09/sip/roaming-self"><categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories"/><containers/><subscribers/></roamingData>';
  }

  private categories(b: LabBuddy): string {
    const a = stateToAvailability(b.state);
    const state =
      a === null
        ? ''
        : `<category name="state" instance="0" publishTime="${new Date().toISOString()}" container="2" version="1" expireType="endpoint">` +
          `<state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="aggregateState"><availability>${a}</availability></state></category>`;
    const note = b.note === undefined ? '' : `<category name="note" instance="0" container="2" version="1" expireType="static"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal" uri="">${escapeXml(b.note)}</body></note></category>`;
    return `<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="${escapeXml(b.uri)}">${state}${note}</categories>`;
  }

  private pidf(b: LabBuddy): string {
    // PIDF basic only says open/closed (RFC 3863 §4.1.4); the note carries the rest.
    return buildPidf({ entity: b.uri, state: b.state, tupleId: 'lab1', ...(b.note !== undefined ? { note: b.note } : {}) });
  }

  private notifyFull(s: Sub): void {
    if (s.kind === 'roaming-contacts' || s.kind === 'roaming-self') this.notify(s, this.active(s));
    else this.notifyState(s, true, s.watched);
  }

  /** State of `uris` for `s`: a PIDF for a single subscription, RLMI + parts for a list (RFC 4662 §5). */
  private notifyState(s: Sub, fullState: boolean, uris: string[], subState = this.active(s)): void {
    if (s.kind === 'single') {
      const b = this.buddy(s.watched[0] ?? '');
      if (b) this.notify(s, subState, PIDF_CONTENT_TYPE, this.pidf(b));
      return;
    }
    const boundary = `lab-${randomBytes(8).toString('hex')}`;
    const rootCid = `rlmi-${randomBytes(4).toString('hex')}@lab`;
    const listUri = s.kind === 'rls' ? this.o.listUri : s.target;
    const parts: string[] = [];
    const resources: string[] = [];
    for (const uri of uris) {
      const b = this.buddy(uri);
      const name = b?.name ? `<name>${escapeXml(b.name)}</name>` : '';
      if (!b) {
        resources.push(`<resource uri="${escapeXml(uri)}"><instance id="i0" state="terminated" reason="rejected"/></resource>`);
        continue;
      }
      const cid = `${randomBytes(4).toString('hex')}@lab`;
      resources.push(`<resource uri="${escapeXml(b.uri)}">${name}<instance id="i0" state="active" cid="${cid}"/></resource>`);
      const [type, doc] = s.kind === 'batch' ? [CATEGORIES_CONTENT_TYPE, this.categories(b)] : [PIDF_CONTENT_TYPE, this.pidf(b)];
      parts.push(`Content-Transfer-Encoding: binary\r\nContent-ID: <${cid}>\r\nContent-Type: ${type};charset="UTF-8"\r\n\r\n${doc}\r\n`);
    }
    const rlmi = `<?xml version="1.0" encoding="UTF-8"?>\n<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="${escapeXml(listUri)}" version="${s.version++}" fullState="${fullState}">${resources.join('')}</list>`;
    const root = `Content-Transfer-Encoding: binary\r\nContent-ID: <${rootCid}>\r\nContent-Type: ${RLMI_CONTENT_TYPE};charset="UTF-8"\r\n\r\n${rlmi}\r\n`;
    const body = [root, ...parts].map((p) => `--${boundary}\r\n${p}`).join('') + `--${boundary}--\r\n`;
    this.notify(s, subState, `multipart/related;type="${RLMI_CONTENT_TYPE}";start="<${rootCid}>";boundary="${boundary}"`, body);
  }

  private active(s: Sub): string {
    return `active;expires=${Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000))}`;
  }

  private notify(s: Sub, subState: string, contentType?: string, body?: string): void {
    if (!s.conn.alive()) return;
    const headers: Array<[string, string]> = [
      ['Via', `${s.conn.viaSentBy};branch=${newBranch()}`],
      ['Max-Forwards', '70'],
      ['From', `<${s.target}>;tag=${s.localTag}`],
      ['To', s.remote],
      ['Call-ID', s.callId],
      ['CSeq', `${++s.cseq} NOTIFY`],
      ['Contact', `<${s.conn.contact}>`],
      ['Event', s.event],
      ['Subscription-State', subState],
    ];
    if (s.kind === 'rls' || s.kind === 'batch') headers.push(['Require', 'eventlist']);
    if (contentType) headers.push(['Content-Type', contentType]);
    this.notifyCallIds.add(s.callId);
    s.conn.send(makeRequest('NOTIFY', s.remoteTarget, headers, body ?? ''));
  }
}

/** The lab's roster: bob (available, two groups) and carol (away), as the Kamailio tests' list. */
export function defaultRoster(domain: string): LabRoster {
  return {
    groups: [
      { id: 1, name: '~' },
      { id: 2, name: 'Team' },
    ],
    buddies: [
      { uri: `sip:bob@${domain}`, name: 'Bob Builder', groups: [1, 2], state: 'online' },
      { uri: `sip:carol@${domain}`, name: '', groups: [1], state: 'away', note: 'back at 3' },
    ],
  };
}
