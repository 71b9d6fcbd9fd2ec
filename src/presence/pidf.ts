/**
 * PIDF, RFC 3863: the standard presence document (PUBLISH body, NOTIFY body, RLS parts).
 */
import { SiplogonError } from '../errors.js';
import { attr, child, escapeXml, get, guard, isObj, isSipUri, list, malformed, parseXml, text } from '../xml.js';
import { stateToPidfBasic, type PidfBasic, type PresenceState } from './state.js';

export const PIDF_CONTENT_TYPE = 'application/pidf+xml';

export interface PidfTuple {
  id: string;
  /** "unknown" when the tuple has no <basic> (RFC 3863 §4.1.4 makes it optional). */
  basic: PidfBasic | 'unknown';
  note?: string;
  contact?: string;
}

export interface PidfDocument {
  entity: string;
  tuples: PidfTuple[];
  /**
   * open if any tuple is open (one reachable device makes the presentity reachable), closed if
   * every tuple with a basic is closed, unknown without any basic.
   */
  overall: PidfBasic | 'unknown';
  /** Document-level <note>s (RFC 3863 §4.1.1 allows them outside tuples too). */
  note?: string;
}

export interface PidfBuildOptions {
  /** The presentity's AoR, e.g. sip:alice@acme.test. */
  entity: string;
  /** Either a PIDF basic or a PresenceState (mapped through stateToPidfBasic). */
  basic?: PidfBasic;
  state?: PresenceState;
  note?: string;
  /**
   * Keep the same id across modifications of one publication (RFC 3903 §4.4 modify), else watchers
   * see a second tuple. Default "t1".
   */
  tupleId?: string;
  /** Default: the entity. */
  contact?: string;
}

const ID = /^[A-Za-z_][A-Za-z0-9._-]{0,127}$/; // xs:ID (NCName) as RFC 3863 §4.1.2 requires

export function buildPidf(o: PidfBuildOptions): string {
  if (!isSipUri(o.entity)) throw new SiplogonError('INVALID_URI', `PIDF entity is not a SIP URI: ${JSON.stringify(o.entity.slice(0, 80))}`);
  const tupleId = o.tupleId ?? 't1';
  if (!ID.test(tupleId)) throw new SiplogonError('INVALID_OPTION', `PIDF tuple id must be an XML ID (NCName): ${JSON.stringify(tupleId.slice(0, 80))}`);
  if (o.basic !== undefined && o.basic !== 'open' && o.basic !== 'closed') throw new SiplogonError('INVALID_OPTION', 'PIDF basic must be open or closed');
  const basic: PidfBasic = o.basic ?? stateToPidfBasic(o.state ?? 'online');
  const contact = o.contact ?? o.entity;
  if (!isSipUri(contact)) throw new SiplogonError('INVALID_URI', 'PIDF contact is not a SIP URI');
  const note = o.note === undefined ? '' : `<note>${escapeXml(o.note)}</note>`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${escapeXml(o.entity)}">` +
    `<tuple id="${escapeXml(tupleId)}"><status><basic>${basic}</basic></status>` +
    `<contact>${escapeXml(contact)}</contact>${note}</tuple></presence>`
  );
}

function firstText(v: unknown): string | undefined {
  const items = Array.isArray(v) ? v : v === undefined ? [] : [v];
  for (const i of items) {
    const t = text(i);
    if (t !== undefined) return t;
  }
  return undefined;
}

export function parsePidf(body: string): PidfDocument {
  return guard('PIDF', () => {
    const doc = parseXml(body, 'PIDF', ['presence.tuple', 'presence.note', 'presence.tuple.note']);
    const root = get(doc, 'presence');
    // <presence entity="..."/> with no tuples parses as "".
    const pres = root === '' ? {} : root;
    if (!isObj(pres)) throw malformed('PIDF', 'no <presence> root');
    const entity = attr(pres, 'entity');
    if (entity === undefined || entity.trim() === '') throw malformed('PIDF', '<presence> has no entity (RFC 3863 §4.1.1)');
    const tuples: PidfTuple[] = [];
    for (const t of list(get(pres, 'tuple'))) {
      const id = attr(t, 'id');
      if (id === undefined) throw malformed('PIDF', '<tuple> without id (RFC 3863 §4.1.2)');
      const status = child(t, 'status');
      const b = status ? text(get(status, 'basic')) : undefined;
      let basic: PidfTuple['basic'] = 'unknown';
      if (b !== undefined) {
        const v = b.trim();
        if (v !== 'open' && v !== 'closed') throw malformed('PIDF', `<basic> must be open or closed, got ${JSON.stringify(v.slice(0, 40))}`);
        basic = v;
      }
      const tuple: PidfTuple = { id, basic };
      const note = firstText(get(t, 'note'));
      if (note !== undefined) tuple.note = note;
      const contact = firstText(get(t, 'contact'));
      if (contact !== undefined && contact !== '') tuple.contact = contact.trim();
      tuples.push(tuple);
    }
    const overall = tuples.some((t) => t.basic === 'open') ? 'open' : tuples.some((t) => t.basic === 'closed') ? 'closed' : 'unknown';
    const out: PidfDocument = { entity: entity.trim(), tuples, overall };
    const note = firstText(get(pres, 'note'));
    if (note !== undefined) out.note = note;
    return out;
  });
}
