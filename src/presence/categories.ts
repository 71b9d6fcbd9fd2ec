/**
 * Lync enhanced presence bodies ([MS-PRES] as read through pidgin-sipe and the Lync SDK):
 * msrtc-event-categories (what contacts look like), the category publish sent in SERVICE (how we
 * look), its 409 WrongDelta fault, and the batched presence SUBSCRIBE body.
 */
import { SiplogonError } from '../errors.js';
import { attr, child, escapeXml, get, guard, isObj, isSipUri, list, malformed, parseXml, text, uint } from '../xml.js';
import { availabilityToState, mostAvailable, stateToAvailability, type PresenceState } from './state.js';

export const CATEGORIES_CONTENT_TYPE = 'application/msrtc-event-categories+xml';
export const CATEGORY_PUBLISH_CONTENT_TYPE = 'application/msrtc-category-publish+xml';
export const FAULT_CONTENT_TYPE = 'application/msrtc-fault+xml';
export const BATCH_SUBSCRIBE_CONTENT_TYPE = 'application/msrtc-adrl-categorylist+xml';

export interface CategoriesDocument {
  uri: string;
  state: PresenceState;
  /** The availability number the state came from. */
  availability?: number;
  note?: string;
}

function firstText(v: unknown): string | undefined {
  for (const n of Array.isArray(v) ? v : v === undefined ? [] : [v]) {
    const t = text(n);
    if (t !== undefined) return t;
  }
  return undefined;
}

/**
 * Reads `category name="state"` (availability → PresenceState) and `category name="note"`; other
 * categories (contactCard, calendarData, device, ...) are ignored. The server's aggregateState wins
 * over any other state type; without one, the most available of the published states is used.
 */
export function parseCategories(body: string): CategoriesDocument {
  return guard('msrtc-event-categories', () => {
    const doc = parseXml(body, 'msrtc-event-categories', ['categories.category', 'categories.category.state', 'categories.category.note.body']);
    const root = get(doc, 'categories');
    const cats = root === '' ? {} : root;
    if (!isObj(cats)) throw malformed('msrtc-event-categories', 'no <categories> root');
    const uri = attr(cats, 'uri');
    if (!uri) throw malformed('msrtc-event-categories', '<categories> has no uri');
    let aggregate: number | undefined;
    const others: number[] = [];
    let note: string | undefined;
    for (const c of list(get(cats, 'category'))) {
      const name = attr(c, 'name');
      if (name === 'state') {
        for (const s of list(get(c, 'state'))) {
          const a = uint(text(get(s, 'availability'))?.trim());
          if (a === undefined) continue;
          if (attr(s, 'type') === 'aggregateState') aggregate ??= a;
          else others.push(a);
        }
      } else if (name === 'note' && note === undefined) {
        const n = child(c, 'note');
        if (n) note = firstText(get(n, 'body'));
      }
    }
    const out: CategoriesDocument = { uri, state: 'unknown' };
    if (aggregate !== undefined) {
      out.availability = aggregate;
      out.state = availabilityToState(aggregate);
    } else if (others.length > 0) {
      const best = mostAvailable(others.map(availabilityToState));
      out.state = best;
      const a = others.find((x) => availabilityToState(x) === best);
      if (a !== undefined) out.availability = a;
    }
    if (note !== undefined) out.note = note;
    return out;
  });
}

/** One publication as sent; the index in the array is the fault's `index` minus 1. */
export interface PublicationRef {
  categoryName: string;
  instance: number;
  container: number;
  version: number;
}

export interface StatePublishOptions {
  /** Own AoR (To = From = R-URI of the SERVICE). */
  uri: string;
  /** A state (mapped with stateToAvailability) or a raw availability number. */
  state: PresenceState | number;
  /** machineState instance; sipe uses (epid >> 4) | 0x30000000. */
  instance: number;
  /** Current versions per container (0 for a first publication; else learnt from roaming-self or a 409). */
  versions?: { 2?: number; 3?: number };
  /** Personal note, published in `noteContainers` (default 200, 300, 400 as sipe does) with instance 0. */
  note?: { text: string; versions?: Record<number, number>; containers?: number[] };
}

function u32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new SiplogonError('INVALID_OPTION', `${what} must be an unsigned 32-bit integer`);
  return v;
}

/**
 * SERVICE body publishing machineState in containers 2 and 3 (sipe `send_publish_category_initial`;
 * container meaning UNCONFIRMED) and optionally a note. Returns the body and the publications in
 * wire order, to map a 409's per-index curVersion back.
 */
export function buildStatePublish(o: StatePublishOptions): { body: string; publications: PublicationRef[] } {
  if (!isSipUri(o.uri)) throw new SiplogonError('INVALID_URI', 'category publish: uri is not a SIP URI');
  const availability = typeof o.state === 'number' ? o.state : stateToAvailability(o.state);
  if (availability === null) throw new SiplogonError('INVALID_OPTION', 'category publish: state "unknown" has no availability');
  u32(availability, 'availability');
  const instance = u32(o.instance, 'instance');
  const pubs: PublicationRef[] = [];
  const xml: string[] = [];
  for (const container of [2, 3] as const) {
    const version = u32(o.versions?.[container] ?? 0, 'version');
    pubs.push({ categoryName: 'state', instance, container, version });
    xml.push(
      `<publication categoryName="state" instance="${instance}" container="${container}" version="${version}" expireType="endpoint">` +
        `<state xmlns="http://schemas.microsoft.com/2006/09/sip/state" manual="false" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="machineState">` +
        `<availability>${availability}</availability><endpointLocation></endpointLocation></state></publication>`,
    );
  }
  if (o.note) {
    for (const container of o.note.containers ?? [200, 300, 400]) {
      u32(container, 'note container');
      const version = u32(o.note.versions?.[container] ?? 0, 'note version');
      pubs.push({ categoryName: 'note', instance: 0, container, version });
      xml.push(
        `<publication categoryName="note" instance="0" container="${container}" version="${version}" expireType="static">` +
          `<note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal" uri="">${escapeXml(o.note.text)}</body></note></publication>`,
      );
    }
  }
  const body =
    `<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence"><publications uri="${escapeXml(o.uri)}">` +
    xml.join('') +
    `</publications></publish>`;
  return { body, publications: pubs };
}

export interface PublishFault {
  faultCode: string;
  /** Client.BadCall.WrongDelta: our versions are stale; resend with `curVersion`s. */
  wrongDelta: boolean;
  /** `details/operation` entries: index is 1-based over our publications (sipe counts from 1). */
  operations: { index: number; curVersion: number }[];
}

export function parsePublishFault(body: string): PublishFault {
  return guard('msrtc-fault', () => {
    const doc = parseXml(body, 'msrtc-fault', ['details.operation']);
    // sipe does not check the root's name; take the document element whatever it is called.
    const rootKey = Object.keys(doc).find((k) => !k.startsWith('?') && isObj(doc[k]));
    const root = rootKey === undefined ? undefined : (doc[rootKey] as Record<string, unknown>);
    if (!root) throw malformed('msrtc-fault', 'no document element');
    const faultCode = text(get(root, 'Faultcode'))?.trim();
    if (!faultCode) throw malformed('msrtc-fault', 'no <Faultcode>');
    const operations: PublishFault['operations'] = [];
    const details = child(root, 'details');
    for (const op of details ? list(get(details, 'operation')) : []) {
      const index = uint(attr(op, 'index'));
      const curVersion = uint(attr(op, 'curVersion'), 0xffffffff);
      if (index === undefined || index < 1 || curVersion === undefined) throw malformed('msrtc-fault', '<operation> needs index >= 1 and curVersion');
      operations.push({ index, curVersion });
    }
    return { faultCode, wrongDelta: faultCode === 'Client.BadCall.WrongDelta', operations };
  });
}

/** Our publications with the versions a WrongDelta fault gave; indexes beyond ours are ignored. */
export function applyWrongDelta(publications: readonly PublicationRef[], fault: PublishFault): PublicationRef[] {
  const out = publications.map((p) => ({ ...p }));
  for (const op of fault.operations) {
    const p = out[op.index - 1];
    if (p) p.version = op.curVersion;
  }
  return out;
}

/** Versions for buildStatePublish from corrected refs. */
export function versionsFrom(publications: readonly PublicationRef[]): { state: { 2?: number; 3?: number }; note: Record<number, number> } {
  const state: { 2?: number; 3?: number } = {};
  const note: Record<number, number> = {};
  for (const p of publications) {
    if (p.categoryName === 'state' && (p.container === 2 || p.container === 3)) state[p.container] = p.version;
    if (p.categoryName === 'note') note[p.container] = p.version;
  }
  return { state, note };
}

export interface BatchSubscribeOptions {
  /** Own AoR: a batched SUBSCRIBE goes to oneself ([MS-SIP] 3.3.4.1). */
  uri: string;
  resources: readonly string[];
  categories?: readonly string[];
  /** Any id; sipe uses a random number. */
  actionId?: number;
}

const CATEGORY_NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/;

export function buildBatchSubscribe(o: BatchSubscribeOptions): string {
  if (!isSipUri(o.uri)) throw new SiplogonError('INVALID_URI', 'batched SUBSCRIBE: uri is not a SIP URI');
  if (o.resources.length === 0) throw new SiplogonError('INVALID_OPTION', 'batched SUBSCRIBE: no resources');
  for (const r of o.resources) if (!isSipUri(r)) throw new SiplogonError('INVALID_URI', `batched SUBSCRIBE: not a SIP URI: ${JSON.stringify(r.slice(0, 80))}`);
  const categories = o.categories ?? ['calendarData', 'contactCard', 'note', 'state'];
  for (const c of categories) if (!CATEGORY_NAME.test(c)) throw new SiplogonError('INVALID_OPTION', `batched SUBSCRIBE: bad category name ${JSON.stringify(c.slice(0, 40))}`);
  const id = u32(o.actionId ?? 1, 'actionId');
  return (
    `<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="${escapeXml(o.uri)}" name="">` +
    `<action name="subscribe" id="${id}"><adhocList>` +
    o.resources.map((r) => `<resource uri="${escapeXml(r)}"/>`).join('') +
    `</adhocList><categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist">` +
    categories.map((c) => `<category name="${c}"/>`).join('') +
    `</categoryList></action></batchSub>`
  );
}
