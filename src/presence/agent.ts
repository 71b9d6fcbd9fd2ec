/**
 * Presence after sign-in (issue 8), driven over one registration leg: publish own state, get the
 * contact list, watch the contacts, answer NOTIFYs, refresh before expiry, and clean up at
 * sign-out. Two flavours:
 * - SIMPLE: PUBLISH PIDF with SIP-ETag (RFC 3903/3863); an RLS list SUBSCRIBE with
 *   `Supported: eventlist` (RFC 4662), else one `Event: presence` SUBSCRIBE per contact (RFC 3856).
 * - Lync: SUBSCRIBE vnd-microsoft-roaming-contacts / -roaming-self ([MS-SIP] 3.7.4), "available"
 *   by SERVICE category publish (409 WrongDelta handled), then the batched presence SUBSCRIBE
 *   ([MS-SIP] 3.3.4.1), in the order pidgin-sipe uses.
 * The agent never throws out of start(): failures become steps and `error` events.
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import type { Clock, TimerHandle } from '../core/clock.js';
import { PresenceError, SiplogonError } from '../errors.js';
import type { Leg, LegResponse } from '../engine/sip-port.js';
import type { ResolvedOptions } from '../engine/options.js';
import type { StepRecorder } from '../engine/steps.js';
import { getHeader, getHeaders, parseNameAddr, splitList, type SipRequest } from '../sip/message.js';
import type { IncomingAnswer } from '../sip/transaction.js';
import { newCallId, newTag } from '../sip/transaction.js';
import { buildPidf, parsePidf, PIDF_CONTENT_TYPE } from './pidf.js';
import { parseMediaType } from './multipart.js';
import { ResourceListState } from './rlmi.js';
import { mergeContactDelta, parseRoamingContacts, ROAMING_CONTACTS_CONTENT_TYPE, ROAMING_CONTACTS_EVENT, subscribedUris, type ContactList } from './contacts.js';
import {
  applyWrongDelta,
  BATCH_SUBSCRIBE_CONTENT_TYPE,
  buildBatchSubscribe,
  buildStatePublish,
  CATEGORIES_CONTENT_TYPE,
  CATEGORY_PUBLISH_CONTENT_TYPE,
  parseCategories,
  parsePublishFault,
  versionsFrom,
  type PublicationRef,
} from './categories.js';
import type { PresenceState } from './state.js';

export type PresenceFlavour = 'simple' | 'lync';

export interface OwnPresence {
  state: PresenceState;
  note?: string;
  flavour: PresenceFlavour;
}

export interface ContactsEvent extends ContactList {
  /** Where the list came from. */
  source: 'roaming-contacts' | 'rls' | 'configured';
}

export interface ContactPresence {
  uri: string;
  state: PresenceState;
  note?: string;
}

/** Which event a presence error belongs to. */
export type PresenceErrorContext = 'presence' | 'contacts' | 'contactPresence';

export interface PresenceAgentEvents {
  presence: [own: OwnPresence];
  contacts: [list: ContactsEvent];
  contactPresence: [contact: ContactPresence];
  presenceError: [error: SiplogonError, context: PresenceErrorContext];
}

type PresenceConfig = Exclude<ResolvedOptions['presence'], false>;

export interface PresenceAgentOptions {
  leg: Leg;
  aor: string;
  config: PresenceConfig;
  clock: Clock;
  recorder: StepRecorder;
  /** Bound on each request (Timer F). */
  transactionTimeoutMs: number;
  /** Seeds the Lync machineState instance (stable per device). */
  instanceId: string;
}

/**
 * 'auto' follows the REGISTER 200 as pidgin-sipe does (`process_register_response`):
 * `Supported: msrtc-event-categories` means an OCS 2007+ / Lync server.
 */
export function chooseFlavour(supported: readonly string[], wanted: 'auto' | 'simple' | 'lync'): PresenceFlavour {
  if (wanted !== 'auto') return wanted;
  return tokens(supported).has('msrtc-event-categories') ? 'lync' : 'simple';
}

function tokens(values: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const v of values) for (const t of splitList(v)) out.add(t.trim().toLowerCase());
  return out;
}

type SubKind = 'rls' | 'single' | 'roaming-contacts' | 'roaming-self' | 'batch';

interface Subscription {
  /** Expires: 0 sent: the final terminated NOTIFY is still accepted (RFC 6665 §4.1.2.3). */
  unsubscribing?: boolean;
  /** The initial SUBSCRIBE while it is in flight (stop() waits for it to end what it creates). */
  establishing?: Promise<unknown>;
  kind: SubKind;
  event: string;
  /** Request-URI and To of the initial SUBSCRIBE. */
  target: string;
  /** The contact a 'single' subscription watches. */
  watched?: string;
  callId: string;
  localTag: string;
  remoteTag?: string;
  /** Remote target from the 200/NOTIFY Contact (RFC 3261 §12.1.2). */
  remoteTarget?: string;
  routes: string[];
  cseq: number;
  headers: Array<[string, string]>;
  body?: string;
  contentType?: string;
  timer?: TimerHandle;
  /** The Expires to ask for, when the server's Min-Expires raised the configured one (423). */
  expires?: number;
  /** When the subscription the server last granted runs out (clock ms). */
  expiresAt?: number;
  ended: boolean;
  rls?: ResourceListState;
  /** Set when the first notification with content has been handled. */
  gotState: boolean;
  waiters: (() => void)[];
  /** The last malformed body, reported to whoever waits for the first state. */
  lastError?: SiplogonError;
}

const MS_SUBSCRIBE_HEADERS: Array<[string, string]> = [
  ['Supported', 'com.microsoft.autoextend'],
  ['Supported', 'ms-benotify'],
  ['Proxy-Require', 'ms-benotify'],
  ['Supported', 'ms-piggyback-first-notify'],
];

const ROAMING_SELF_EVENT = 'vnd-microsoft-roaming-self';
const ROAMING_SELF_CONTENT_TYPE = 'application/vnd-microsoft-roaming-self+xml';

export class PresenceAgent extends EventEmitter<PresenceAgentEvents> {
  readonly flavour: PresenceFlavour;
  private readonly o: PresenceAgentOptions;
  private readonly subs: Subscription[] = [];
  private stopped = false;
  private own: OwnPresence;
  // SIMPLE publication (RFC 3903): the entity tag to quote, and the tuple id kept across modifies.
  private etag: string | undefined;
  private readonly tupleId = `t${newTag()}`;
  private publishTimer: TimerHandle | undefined;
  private publishExpires = 0;
  private publishExpiresAt = 0;
  /** The PUBLISH in flight: the removal at stop() must quote the entity tag it brings. */
  private publishing: Promise<unknown> | undefined;
  // Lync category publication.
  private publications: PublicationRef[] | undefined;
  private readonly machineInstance: number;
  private contactList: ContactsEvent | undefined;
  private readonly lastContactState = new Map<string, string>();
  private readonly allowEvents: Set<string>;
  private readonly supported: Set<string>;

  constructor(o: PresenceAgentOptions) {
    super();
    this.o = o;
    const outcome = o.leg.outcome;
    const supported = outcome.kind === 'registered' ? outcome.supported : [];
    const allow = outcome.kind === 'registered' ? outcome.allowEvents : [];
    this.supported = tokens(supported);
    this.allowEvents = tokens(allow);
    this.flavour = chooseFlavour(supported, o.config.flavour);
    this.own = { state: o.config.initialState, flavour: this.flavour, ...(o.config.note !== undefined ? { note: o.config.note } : {}) };
    // sipe: (epid >> 4) | 0x30000000 -- any stable 28-bit value per endpoint with the machineState prefix.
    this.machineInstance = (createHash('sha256').update(o.instanceId).digest().readUInt32BE(0) >>> 4) | 0x30000000;
    o.leg.setRequestHandler((req) => this.onRequest(req));
  }

  /** Own state as last published. */
  get presence(): OwnPresence {
    return { ...this.own };
  }

  get contacts(): ContactsEvent | undefined {
    return this.contactList;
  }

  /** Live subscriptions (for tests and diagnostics). */
  get subscriptionCount(): number {
    return this.subs.filter((s) => !s.ended).length;
  }

  /** Publishes, gets the contact list and subscribes; resolves when the first list is known (bounded). */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.flavour === 'simple') {
      await this.publishStep();
      await this.simpleContactsStep(signal);
    } else {
      await this.lyncContactsStep(signal);
      if (this.allowEvents.has(ROAMING_SELF_EVENT)) await this.roamingSelf();
      await this.publishStep();
      await this.lyncWatch();
    }
  }

  /** Changes own state (RFC 3903 §4.4 modify / a new category publication). */
  async setPresence(state: PresenceState, note?: string): Promise<void> {
    if (this.stopped) throw new PresenceError('PRESENCE_FAILED', 'presence was stopped');
    if (state === 'unknown') throw new PresenceError('INVALID_OPTION', 'cannot publish the state "unknown"');
    this.own = { state, flavour: this.flavour, ...(note !== undefined ? { note } : {}) };
    await this.publish();
  }

  /** Un-SUBSCRIBEs and removes the publication (sign-out), each bounded by the transaction timeout. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.o.clock.clearTimeout(this.publishTimer);
    for (const s of this.subs) this.o.clock.clearTimeout(s.timer);
    const live = this.subs.filter((s) => !s.ended);
    await Promise.all(live.map((s) => this.unsubscribe(s)));
    // RFC 3903 §6: a removal quoting the entity tag a PUBLISH in flight replaces is answered 412
    // and leaves the publication up until it expires; wait for it (bounded by its Timer F).
    if (this.publishing) await this.publishing;
    if (this.flavour === 'simple' && this.etag) {
      const step = this.o.recorder.begin('presence', 'Remove the presence publication (PUBLISH Expires: 0)', this.o.aor);
      try {
        const res = await this.o.leg.request('PUBLISH', { uri: this.o.aor, headers: [['Event', 'presence'], ['SIP-If-Match', this.etag], ['Expires', '0']], timerFMs: this.o.transactionTimeoutMs });
        if (ok(res)) step.pass({ status: res.status });
        else step.fail(new PresenceError('PRESENCE_FAILED', `PUBLISH remove answered ${res.status} ${res.reason}`), { status: res.status });
      } catch (e) {
        step.fail(e);
      }
      this.etag = undefined;
    }
    this.o.leg.setRequestHandler(undefined);
  }

  /** The connection is gone: forget everything without sending (a new agent runs on the next leg). */
  dispose(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.publishTimer);
    for (const s of this.subs) {
      s.ended = true;
      this.o.clock.clearTimeout(s.timer);
      for (const w of s.waiters.splice(0)) w();
    }
  }

  // ---- publication ----------------------------------------------------------------------------

  private async publishStep(): Promise<void> {
    const how = this.flavour === 'simple' ? 'PUBLISH PIDF' : 'SERVICE category publish';
    const step = this.o.recorder.begin('presence', `Publish own presence "${this.own.state}" (${how})`, this.o.aor, { flavour: this.flavour });
    try {
      const detail = await this.publish();
      step.pass(detail);
    } catch (e) {
      const err = asPresenceError(e);
      step.fail(err, err.details);
      this.emit('presenceError', err, 'presence');
    }
  }

  private async publish(): Promise<Record<string, unknown>> {
    return this.flavour === 'simple' ? this.publishPidf(false) : this.publishCategories();
  }

  private publishPidf(refresh: boolean): Promise<Record<string, unknown>> {
    const run = this.publishPidfNow(refresh);
    const settled = run.catch(() => undefined);
    this.publishing = settled;
    void settled.then(() => {
      if (this.publishing === settled) this.publishing = undefined;
    });
    return run;
  }

  /** RFC 3903 §4.2 initial / §4.4 modify / §4.3 refresh (`refresh`: no body). */
  private async publishPidfNow(refresh: boolean): Promise<Record<string, unknown>> {
    const expires = this.o.config.publishExpires;
    const send = async (etag: string | undefined): Promise<LegResponse> => {
      const headers: Array<[string, string]> = [['Event', 'presence'], ['Expires', String(expires)]];
      if (etag) headers.push(['SIP-If-Match', etag]);
      if (refresh && etag) return this.o.leg.request('PUBLISH', { uri: this.o.aor, headers, timerFMs: this.o.transactionTimeoutMs });
      const body = buildPidf({ entity: this.o.aor, state: this.own.state, tupleId: this.tupleId, ...(this.own.note !== undefined ? { note: this.own.note } : {}) });
      return this.o.leg.request('PUBLISH', { uri: this.o.aor, headers, body, contentType: PIDF_CONTENT_TYPE, timerFMs: this.o.transactionTimeoutMs });
    };
    let res = await send(this.etag);
    // §6 step 4: 412 Conditional Request Failed -- our entity tag is gone; publish afresh.
    if (res.status === 412 && this.etag) {
      this.etag = undefined;
      refresh = false;
      res = await send(undefined);
    }
    if (!ok(res)) throw new PresenceError('PRESENCE_FAILED', `PUBLISH answered ${res.status} ${res.reason}`, { details: { status: res.status } });
    const etag = res.header('SIP-ETag');
    if (!etag) throw new PresenceError('PRESENCE_FAILED', 'PUBLISH 200 carries no SIP-ETag (RFC 3903 §6)', { details: { status: res.status } });
    this.etag = etag.trim();
    const granted = Number(res.header('Expires') ?? expires);
    this.publishExpires = Number.isFinite(granted) && granted > 0 ? granted : expires;
    this.publishExpiresAt = this.o.clock.now() + this.publishExpires * 1000;
    this.schedulePublishRefresh();
    this.emit('presence', this.presence);
    return { status: res.status, etag: this.etag, expires: this.publishExpires, basic: this.own.state === 'offline' ? 'closed' : 'open' };
  }

  private schedulePublishRefresh(delayMs = refreshDelayMs(this.publishExpires)): void {
    this.o.clock.clearTimeout(this.publishTimer);
    if (this.stopped) return;
    this.publishTimer = this.o.clock.setTimeout(() => {
      this.publishTimer = undefined;
      if (this.stopped) return;
      this.publishPidf(true).catch((e: unknown) => {
        this.emit('presenceError', asPresenceError(e), 'presence');
        // One lost refresh must not let the publication lapse (RFC 3903 §4.3): try again before it
        // expires; once expired, the If-Match draws a 412 and publishPidf starts afresh.
        const left = this.publishExpiresAt - this.o.clock.now();
        this.schedulePublishRefresh(left > 2000 ? Math.min(REFRESH_RETRY_MS, left / 2) : REFRESH_RETRY_MS);
      });
    }, delayMs);
  }

  /** SERVICE with msrtc-category-publish; one retry with the server's versions on 409 WrongDelta. */
  private async publishCategories(): Promise<Record<string, unknown>> {
    const send = async (): Promise<LegResponse> => {
      const versions = this.publications ? versionsFrom(this.publications) : { state: {}, note: {} };
      const built = buildStatePublish({
        uri: this.o.aor,
        state: this.own.state,
        instance: this.machineInstance,
        versions: versions.state,
        ...(this.own.note !== undefined ? { note: { text: this.own.note, versions: versions.note } } : {}),
      });
      this.publications = built.publications;
      return this.o.leg.request('SERVICE', { uri: this.o.aor, to: this.o.aor, body: built.body, contentType: CATEGORY_PUBLISH_CONTENT_TYPE, timerFMs: this.o.transactionTimeoutMs });
    };
    let res = await send();
    let retried = false;
    if (res.status === 409 && this.publications) {
      const fault = parsePublishFault(res.body);
      if (!fault.wrongDelta) throw new PresenceError('PRESENCE_FAILED', `category publish refused: ${fault.faultCode}`, { details: { status: 409, faultCode: fault.faultCode } });
      this.publications = applyWrongDelta(this.publications, fault);
      retried = true;
      res = await send();
    }
    if (!ok(res)) throw new PresenceError('PRESENCE_FAILED', `category publish answered ${res.status} ${res.reason}`, { details: { status: res.status } });
    // The server stores version+1 for each publication it accepted ([MS-PRES] via sipe).
    this.publications = this.publications?.map((p) => ({ ...p, version: p.version + 1 }));
    this.emit('presence', this.presence);
    return { status: res.status, wrongDeltaRetried: retried, instance: this.machineInstance };
  }

  // ---- subscriptions ---------------------------------------------------------------------------

  private newSub(kind: SubKind, event: string, target: string, headers: Array<[string, string]>, extra: Partial<Subscription> = {}): Subscription {
    const s: Subscription = { kind, event, target, callId: newCallId(), localTag: newTag(), routes: [], cseq: 0, headers, ended: false, gotState: false, waiters: [], ...extra };
    this.subs.push(s);
    return s;
  }

  private async sendSubscribe(s: Subscription, expires: number): Promise<LegResponse> {
    const inDialog = s.remoteTag !== undefined;
    return this.o.leg.request('SUBSCRIBE', {
      uri: inDialog && s.remoteTarget ? s.remoteTarget : s.target,
      to: s.target,
      headers: [['Event', s.event], ...s.headers, ['Expires', String(expires)]],
      ...(s.body !== undefined ? { body: s.body, contentType: s.contentType ?? 'application/xml' } : {}),
      dialog: { callId: s.callId, fromTag: s.localTag, ...(s.remoteTag ? { toTag: s.remoteTag } : {}), nextCSeq: () => ++s.cseq, routes: s.routes },
      timerFMs: this.o.transactionTimeoutMs,
    });
  }

  /** Initial SUBSCRIBE; on 2xx learns the dialog, schedules the refresh and handles a piggybacked body. */
  private subscribe(s: Subscription): Promise<LegResponse> {
    const p = this.establish(s);
    s.establishing = p.catch(() => undefined);
    return p;
  }

  private async establish(s: Subscription): Promise<LegResponse> {
    let res = await this.sendSubscribe(s, s.expires ?? this.o.config.subscribeExpires);
    if (res.status === 420 && s.headers.some(([n]) => n.toLowerCase() === 'proxy-require')) {
      // RFC 3261 §8.1.3.5: retry without the extensions the proxy refused (a standard proxy does not
      // know ms-benotify; we then get NOTIFYs, which we answer anyway).
      const refused = tokens(getHeaders(res.response, 'Unsupported'));
      s.headers = s.headers.filter(([n, v]) => n.toLowerCase() !== 'proxy-require' || (refused.size > 0 && !refused.has(v.trim().toLowerCase())));
      res = await this.sendSubscribe(s, s.expires ?? this.o.config.subscribeExpires);
    }
    const min = Number(res.header('Min-Expires'));
    if (res.status === 423 && Number.isInteger(min) && min > (s.expires ?? this.o.config.subscribeExpires) && min <= MAX_MIN_EXPIRES_S) {
      // RFC 6665 §4.2.1.1 / RFC 3261 §21.4.17: the interval was too brief; ask again with the
      // server's minimum, and keep it for the refreshes.
      s.expires = min;
      res = await this.sendSubscribe(s, min);
    }
    if (!ok(res)) {
      s.ended = true;
      return res;
    }
    this.learnDialog(s, res);
    if (this.stopped || s.ended) {
      // stop() came while this SUBSCRIBE was in flight: end the dialog its 200 just created
      // (RFC 6665 §4.1.2.3), else the server notifies a signed-out device until it expires.
      if (s.remoteTag !== undefined) await this.sendSubscribe(s, 0).catch(() => undefined);
      return res;
    }
    this.scheduleResubscribe(s, res);
    // [MS-SIP] 3.4.5.1: the 200 carries the first notification; sipe reads it only with ms-piggyback-cseq.
    if (res.body && res.header('ms-piggyback-cseq') !== undefined) this.handleBody(s, res.body, res.header('Content-Type') ?? '');
    return res;
  }

  private learnDialog(s: Subscription, res: LegResponse): void {
    try {
      const to = res.header('To');
      const tag = to ? parseNameAddr(to).params.get('tag') : undefined;
      if (tag && !s.remoteTag) s.remoteTag = tag;
    } catch {
      /* keep what a NOTIFY taught us */
    }
    const contact = res.header('Contact');
    if (contact) {
      try {
        s.remoteTarget = parseNameAddr(contact).uri;
      } catch {
        /* no usable remote target: in-dialog requests go to the original target */
      }
    }
    // §12.1.2: a UAC's route set is the Record-Route list in reverse.
    s.routes = getHeaders(res.response, 'Record-Route').reverse();
  }

  private scheduleResubscribe(s: Subscription, res: LegResponse): void {
    const granted = Number(res.header('Expires') ?? this.o.config.subscribeExpires);
    const expires = Number.isFinite(granted) && granted > 0 ? granted : this.o.config.subscribeExpires;
    s.expiresAt = this.o.clock.now() + expires * 1000;
    this.armRefresh(s, refreshDelayMs(expires));
  }

  private armRefresh(s: Subscription, delayMs: number): void {
    this.o.clock.clearTimeout(s.timer);
    // A refresh answered after stop() (or after the subscription ended) arms nothing.
    if (this.stopped || s.ended) return;
    s.timer = this.o.clock.setTimeout(() => {
      s.timer = undefined;
      if (this.stopped || s.ended) return;
      // RFC 6665 §4.1.2.1: refresh in the dialog before it expires.
      this.sendSubscribe(s, s.expires ?? this.o.config.subscribeExpires).then(
        (r) => {
          if (ok(r)) this.scheduleResubscribe(s, r);
          else if (r.status === 481) void this.restart(s);
          else this.refreshFailed(s, new PresenceError('PRESENCE_FAILED', `SUBSCRIBE refresh (${s.event}) answered ${r.status} ${r.reason}`, { details: { status: r.status } }), r.status);
        },
        (e: unknown) => this.refreshFailed(s, asPresenceError(e)),
      );
    }, delayMs);
  }

  /**
   * RFC 6665 §4.1.2.2: after these answers to a refresh the subscription is over; after any other
   * failure (a timeout, 408, 5xx) it stays valid until it expires, so try again before then, and
   * once it has run out, start a new one.
   */
  private refreshFailed(s: Subscription, err: SiplogonError, status?: number): void {
    this.emit('presenceError', err, contextOf(s));
    if (this.stopped || s.ended) return;
    if (status !== undefined && TERMINAL_REFRESH_STATUS.has(status)) {
      s.ended = true;
      this.o.clock.clearTimeout(s.timer);
      return;
    }
    const left = (s.expiresAt ?? 0) - this.o.clock.now();
    if (left > 2000) this.armRefresh(s, Math.min(REFRESH_RETRY_MS, left / 2));
    else void this.restart(s);
  }

  /** A subscription the server ended or forgot: a new dialog with the same request. */
  private async restart(s: Subscription): Promise<void> {
    s.ended = true;
    this.o.clock.clearTimeout(s.timer);
    // The replacement takes its place: a long session whose server ends subscriptions now and
    // then must not keep every dead dialog (a late NOTIFY for it gets 481, as for any ended one).
    const i = this.subs.indexOf(s);
    if (i >= 0) this.subs.splice(i, 1);
    if (this.stopped) return;
    const next = this.newSub(s.kind, s.event, s.target, s.headers, {
      ...(s.watched !== undefined ? { watched: s.watched } : {}),
      ...(s.body !== undefined ? { body: s.body } : {}),
      ...(s.contentType !== undefined ? { contentType: s.contentType } : {}),
      ...(s.expires !== undefined ? { expires: s.expires } : {}),
      ...(s.kind === 'rls' || s.kind === 'batch' ? { rls: new ResourceListState(s.kind === 'rls' ? s.target : undefined) } : {}),
    });
    try {
      const r = await this.subscribe(next);
      if (!ok(r)) this.emit('presenceError', new PresenceError('PRESENCE_FAILED', `re-SUBSCRIBE (${s.event}) answered ${r.status} ${r.reason}`, { details: { status: r.status } }), contextOf(s));
    } catch (e) {
      this.emit('presenceError', asPresenceError(e), contextOf(s));
    }
  }

  private async unsubscribe(s: Subscription): Promise<void> {
    this.o.clock.clearTimeout(s.timer);
    s.ended = true;
    s.unsubscribing = true;
    for (const w of s.waiters.splice(0)) w();
    if (s.remoteTag === undefined) {
      // Not established yet: the SUBSCRIBE in flight ends what it creates (see establish()).
      await s.establishing;
      return;
    }
    try {
      // RFC 6665 §4.1.2.3: Expires: 0 in the dialog ends the subscription.
      await this.sendSubscribe(s, 0);
    } catch {
      /* best effort at sign-out; the server's timer ends it otherwise */
    }
  }

  /** Waits until `s` delivered its first state, `ms` passed, or the signal fired. */
  private waitForState(s: Subscription, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (s.gotState || s.ended || s.lastError) return Promise.resolve(s.gotState);
    return new Promise((resolve) => {
      const done = (): void => {
        this.o.clock.clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve(s.gotState);
      };
      const t = this.o.clock.setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      s.waiters.push(done);
    });
  }

  // ---- SIMPLE contacts -------------------------------------------------------------------------

  private async simpleContactsStep(signal?: AbortSignal): Promise<void> {
    const { listUri, contacts } = this.o.config;
    if (!listUri && contacts.length === 0) {
      this.o.recorder.begin('contacts', 'Contact list', this.o.aor).skip('no list URI and no contacts configured');
      return;
    }
    const rec = this.o.recorder;
    if (listUri) {
      const step = rec.begin('contacts', `SUBSCRIBE ${listUri} (RLS, Supported: eventlist)`, listUri);
      try {
        const s = this.newSub('rls', 'presence', listUri, [['Supported', 'eventlist'], ['Accept', 'application/pidf+xml, application/rlmi+xml, multipart/related']], { rls: new ResourceListState(listUri) });
        const res = await this.subscribe(s);
        if (ok(res)) {
          const got = await this.waitForState(s, this.o.config.listTimeoutMs, signal);
          if (got) {
            step.pass({ status: res.status, contacts: this.contactList?.contacts.map((c) => c.uri) ?? [] });
            return;
          }
          const err = new PresenceError('PRESENCE_FAILED', `no list NOTIFY from ${listUri} within ${this.o.config.listTimeoutMs} ms`, { details: { timeoutMs: this.o.config.listTimeoutMs } });
          step.fail(err, err.details);
          this.emit('presenceError', err, 'contacts');
          return;
        }
        // 404 (no such list), 421 (eventlist required), 489 (event unknown): watch contacts one by one.
        const err = new PresenceError('PRESENCE_FAILED', `list SUBSCRIBE answered ${res.status} ${res.reason}`, { details: { status: res.status } });
        if (contacts.length === 0) {
          step.fail(err, err.details);
          this.emit('presenceError', err, 'contacts');
          return;
        }
        step.skip(`${err.message}; falling back to per-contact subscriptions`, { status: res.status });
      } catch (e) {
        const err = asPresenceError(e);
        step.fail(err, err.details);
        this.emit('presenceError', err, 'contacts');
        if (contacts.length === 0) return;
      }
    }
    const step = rec.begin('contacts', `SUBSCRIBE presence of ${contacts.length} contact(s) one by one`, this.o.aor, { contacts });
    this.setContacts({ deltaNum: 1, groups: [{ id: 1, name: '~' }], contacts: contacts.map((uri) => ({ uri, name: '', groups: [1], subscribed: true })), source: 'configured' });
    const results = await Promise.all(contacts.map((uri) => this.watchSingle(uri)));
    const failed = results.filter((r) => r !== undefined);
    if (failed.length === contacts.length && failed[0]) step.fail(failed[0], { failed: failed.length });
    else step.pass({ subscribed: contacts.length - failed.length, failed: failed.length });
  }

  /** RFC 3856 single-presentity subscription. Returns the error, if any. */
  private async watchSingle(uri: string): Promise<SiplogonError | undefined> {
    const s = this.newSub('single', 'presence', uri, [['Accept', PIDF_CONTENT_TYPE]], { watched: uri });
    try {
      const res = await this.subscribe(s);
      if (ok(res)) return undefined;
      const err = new PresenceError('PRESENCE_FAILED', `SUBSCRIBE ${uri} answered ${res.status} ${res.reason}`, { details: { status: res.status, uri } });
      this.emit('presenceError', err, 'contactPresence');
      return err;
    } catch (e) {
      const err = asPresenceError(e);
      this.emit('presenceError', err, 'contactPresence');
      return err;
    }
  }

  // ---- Lync ------------------------------------------------------------------------------------

  private async lyncContactsStep(signal?: AbortSignal): Promise<void> {
    const step = this.o.recorder.begin('contacts', `SUBSCRIBE ${ROAMING_CONTACTS_EVENT}`, this.o.aor);
    try {
      const s = this.newSub('roaming-contacts', ROAMING_CONTACTS_EVENT, this.o.aor, [['Accept', ROAMING_CONTACTS_CONTENT_TYPE], ...MS_SUBSCRIBE_HEADERS, ['Supported', 'ms-ucs']]);
      const res = await this.subscribe(s);
      if (!ok(res)) {
        const err = new PresenceError('PRESENCE_FAILED', `roaming-contacts SUBSCRIBE answered ${res.status} ${res.reason}`, { details: { status: res.status } });
        step.fail(err, err.details);
        this.emit('presenceError', err, 'contacts');
        return;
      }
      const got = await this.waitForState(s, this.o.config.listTimeoutMs, signal);
      if (got && this.contactList) {
        step.pass({ status: res.status, piggybacked: res.header('ms-piggyback-cseq') !== undefined, deltaNum: this.contactList.deltaNum, contacts: this.contactList.contacts.map((c) => c.uri) });
        return;
      }
      const err = s.lastError ?? new PresenceError('PRESENCE_FAILED', `no contact list within ${this.o.config.listTimeoutMs} ms`, { details: { timeoutMs: this.o.config.listTimeoutMs } });
      step.fail(err, err.details);
      if (!s.lastError) this.emit('presenceError', err, 'contacts');
    } catch (e) {
      const err = asPresenceError(e);
      step.fail(err, err.details);
      this.emit('presenceError', err, 'contacts');
    }
  }

  /** sipe reads its existing publications here before publishing; we keep the subscription alive. */
  private async roamingSelf(): Promise<void> {
    const s = this.newSub('roaming-self', ROAMING_SELF_EVENT, this.o.aor, [['Accept', ROAMING_SELF_CONTENT_TYPE], ...MS_SUBSCRIBE_HEADERS], {
      body: '<roamingList xmlns="http://schemas.microsoft.com/2006/09/sip/roaming-self"><roaming type="categories"/><roaming type="containers"/><roaming type="subscribers"/></roamingList>',
      contentType: ROAMING_SELF_CONTENT_TYPE,
    });
    try {
      const res = await this.subscribe(s);
      if (!ok(res)) this.emit('presenceError', new PresenceError('PRESENCE_FAILED', `roaming-self SUBSCRIBE answered ${res.status} ${res.reason}`, { details: { status: res.status } }), 'presence');
    } catch (e) {
      this.emit('presenceError', asPresenceError(e), 'presence');
    }
  }

  /** The batched presence SUBSCRIBE to oneself ([MS-SIP] 3.3.4.1), or one per contact without adhoclist. */
  private async lyncWatch(): Promise<void> {
    const uris = this.contactList ? subscribedUris(this.contactList) : [];
    if (uris.length === 0) return;
    if (!this.supported.has('adhoclist')) {
      await Promise.all(uris.map((u) => this.watchSingle(u)));
      return;
    }
    const s = this.newSub(
      'batch',
      'presence',
      this.o.aor,
      [['Accept', `${CATEGORIES_CONTENT_TYPE}, application/rlmi+xml, multipart/related, ${PIDF_CONTENT_TYPE}`], ['Supported', 'eventlist'], ['Require', 'adhoclist, categoryList'], ...MS_SUBSCRIBE_HEADERS],
      { body: buildBatchSubscribe({ uri: this.o.aor, resources: uris }), contentType: BATCH_SUBSCRIBE_CONTENT_TYPE, rls: new ResourceListState() },
    );
    try {
      const res = await this.subscribe(s);
      if (!ok(res)) this.emit('presenceError', new PresenceError('PRESENCE_FAILED', `batched presence SUBSCRIBE answered ${res.status} ${res.reason}`, { details: { status: res.status } }), 'contactPresence');
    } catch (e) {
      this.emit('presenceError', asPresenceError(e), 'contactPresence');
    }
  }

  // ---- incoming requests -----------------------------------------------------------------------

  private onRequest(req: SipRequest): IncomingAnswer | null | undefined {
    const method = req.method.toUpperCase();
    if (method !== 'NOTIFY' && method !== 'BENOTIFY') return undefined;
    // [MS-SIP] 3.5.5.3: a BENOTIFY is never answered.
    const answer = (a: IncomingAnswer): IncomingAnswer | null => (method === 'BENOTIFY' ? null : a);
    const callId = getHeader(req, 'Call-ID');
    let toTag: string | undefined;
    let fromTag: string | undefined;
    try {
      toTag = parseNameAddr(getHeader(req, 'To') ?? '').params.get('tag') ?? undefined;
      fromTag = parseNameAddr(getHeader(req, 'From') ?? '').params.get('tag') ?? undefined;
    } catch {
      return answer({ status: 400, reason: 'Bad Request' });
    }
    // A NOTIFY may overtake the 200 of its SUBSCRIBE on the wire (RFC 6665 §4.1.2.4): match on Call-ID + our tag.
    const s = this.subs.find((x) => (!x.ended || x.unsubscribing) && x.callId === callId && x.localTag === toTag && (x.remoteTag === undefined || x.remoteTag === fromTag));
    if (!s) return answer({ status: 481, reason: 'Subscription Does Not Exist' });
    // Our un-SUBSCRIBE's final NOTIFY: acknowledge it, nothing more to learn from it.
    if (s.ended && s.unsubscribing) return answer({ status: 200 });
    if (s.remoteTag === undefined && fromTag) s.remoteTag = fromTag;
    const contact = getHeader(req, 'Contact');
    if (contact && !s.remoteTarget) {
      try {
        s.remoteTarget = parseNameAddr(contact).uri;
      } catch {
        /* keep the original target */
      }
    }
    const body = req.body.toString('utf8');
    if (body.length > 0) this.handleBody(s, body, getHeader(req, 'Content-Type') ?? '');
    const st = (getHeader(req, 'Subscription-State') ?? '').trim().toLowerCase();
    if (st.startsWith('terminated')) {
      const reason = /;\s*reason\s*=\s*([a-z-]+)/.exec(st)?.[1];
      const retryAfter = Number(/;\s*retry-after\s*=\s*(\d+)/.exec(st)?.[1] ?? 0);
      s.ended = true;
      this.o.clock.clearTimeout(s.timer);
      for (const w of s.waiters.splice(0)) w();
      // RFC 6665 §4.1.3: deactivated/timeout (and no reason) invite a new subscription; others do not.
      // With retry-after, not before that many seconds (probation means "later", never at once).
      if (!this.stopped && (reason === undefined || reason === 'deactivated' || reason === 'timeout' || reason === 'probation')) {
        if (retryAfter > 0) s.timer = this.o.clock.setTimeout(() => void this.restart(s), Math.min(retryAfter, MAX_RETRY_AFTER_S) * 1000);
        else void this.restart(s);
      }
    }
    return answer({ status: 200 });
  }

  /** Applies a notification body; a malformed one is an `error` event, never the end of the session. */
  private handleBody(s: Subscription, body: string, contentType: string): void {
    const context = contextOf(s);
    try {
      let type = '';
      try {
        type = parseMediaType(contentType).type;
      } catch {
        type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
      }
      if (s.kind === 'roaming-contacts') {
        if (type !== ROAMING_CONTACTS_CONTENT_TYPE) throw new SiplogonError('BODY_MALFORMED', `roaming contacts: unexpected Content-Type ${JSON.stringify(type)}`);
        this.applyRoamingContacts(s, body);
      } else if (s.kind === 'roaming-self') {
        // Existing publications are not read yet: a 409 WrongDelta corrects our versions instead.
      } else if (type === 'multipart/related') {
        const rls = (s.rls ??= new ResourceListState());
        const out = rls.applyNotify(body, contentType);
        if (out.applied) {
          if (s.kind === 'rls' && out.fullState) this.setContacts(rlsContacts(rls, s.target));
          for (const uri of out.changed) {
            const r = rls.get(uri);
            const doc = r?.instances.find((i) => i.document)?.document;
            const note = doc?.kind === 'pidf' ? (doc.pidf.tuples.find((t) => t.note !== undefined)?.note ?? doc.pidf.note) : doc?.categories.note;
            this.contactState(uri, rls.stateOf(uri), note);
          }
          if (rls.needsResubscribe && !this.stopped && s.remoteTag) {
            // RFC 4662 §5.2: a lost partial notification is repaired by a refresh, which brings full state.
            this.sendSubscribe(s, s.expires ?? this.o.config.subscribeExpires).catch(() => undefined);
          }
        }
      } else if (type === PIDF_CONTENT_TYPE) {
        const pidf = parsePidf(body);
        const uri = s.watched ?? pidf.entity;
        const note = pidf.tuples.find((t) => t.note !== undefined)?.note ?? pidf.note;
        this.contactState(uri, pidf.overall === 'open' ? 'online' : pidf.overall === 'closed' ? 'offline' : 'unknown', note);
      } else if (type === CATEGORIES_CONTENT_TYPE) {
        const cats = parseCategories(body);
        this.contactState(normalizeUri(cats.uri), cats.state, cats.note);
      } else {
        throw new SiplogonError('BODY_MALFORMED', `${s.event} notification: unexpected Content-Type ${JSON.stringify(type)}`);
      }
      s.gotState = true;
      for (const w of s.waiters.splice(0)) w();
    } catch (e) {
      const err = SiplogonError.is(e) ? e : new SiplogonError('BODY_MALFORMED', String(e));
      s.lastError = err;
      for (const w of s.waiters.splice(0)) w();
      this.emit('presenceError', err, context);
    }
  }

  private applyRoamingContacts(s: Subscription, body: string): void {
    const doc = parseRoamingContacts(body);
    if (doc.kind === 'list') {
      this.setContacts({ ...doc.list, source: 'roaming-contacts' });
      return;
    }
    if (!this.contactList) throw new SiplogonError('BODY_MALFORMED', 'roaming contacts: a contactDelta before any contactList');
    const merged = mergeContactDelta(this.contactList, doc.delta);
    if (merged.resync) {
      // A missed delta: a new subscription brings the full list again ([MS-SIP] 3.7.5.2).
      void this.restart(s);
      return;
    }
    this.setContacts({ ...merged.list, source: 'roaming-contacts' });
  }

  private setContacts(list: ContactsEvent): void {
    this.contactList = list;
    this.emit('contacts', list);
  }

  private contactState(uri: string, state: PresenceState, note: string | undefined): void {
    const key = `${state}\u0000${note ?? ''}`;
    const prev = this.lastContactState.get(uri);
    if (prev === key || (prev === undefined && state === 'unknown')) return;
    this.lastContactState.set(uri, key);
    this.emit('contactPresence', { uri, state, ...(note !== undefined ? { note } : {}) });
  }
}

function rlsContacts(rls: ResourceListState, listUri: string): ContactsEvent {
  return {
    deltaNum: rls.version ?? 0,
    groups: [{ id: 1, name: listUri }],
    contacts: rls.list().map((r) => ({ uri: r.uri, name: r.name ?? '', groups: [1], subscribed: true })),
    source: 'rls',
  };
}

function normalizeUri(u: string): string {
  return /^sips?:/i.test(u) ? u : `sip:${u}`;
}

function contextOf(s: Subscription): PresenceErrorContext {
  return s.kind === 'roaming-contacts' || (s.kind === 'rls' && !s.gotState) ? 'contacts' : s.kind === 'roaming-self' ? 'presence' : 'contactPresence';
}

/** RFC 6665 §4.1.2.2: refresh answers after which the subscription is considered terminated. */
const TERMINAL_REFRESH_STATUS = new Set([404, 405, 410, 416, 480, 481, 482, 483, 484, 485, 489, 501, 604]);
/** A Min-Expires above a day is not followed (a misconfigured server; the 423 is reported). */
const MAX_MIN_EXPIRES_S = 86_400;
/** A retry-after longer than a day is treated as a day: the subscription still comes back. */
const MAX_RETRY_AFTER_S = 86_400;
/** How soon a failed refresh (or PUBLISH refresh) is tried again, at most; never past expiry. */
const REFRESH_RETRY_MS = 30_000;

function ok(r: LegResponse): boolean {
  return r.status >= 200 && r.status < 300;
}

/** Refresh well before expiry: 120 s early as sipe does, at most a quarter of the interval. */
function refreshDelayMs(expiresS: number): number {
  return Math.max(1, expiresS - Math.min(120, expiresS / 4)) * 1000;
}

function asPresenceError(e: unknown): SiplogonError {
  if (SiplogonError.is(e)) return e;
  return new PresenceError('PRESENCE_FAILED', e instanceof Error ? e.message : String(e), { cause: e });
}
