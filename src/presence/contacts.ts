/**
 * Lync roaming contacts ([MS-SIP] 2.2.4.1, 3.7.4-3.7.5): the `contactList` carried by the
 * SUBSCRIBE 200 (piggybacked first NOTIFY) or a NOTIFY, and `contactDelta` updates. Element names
 * of the delta as pidgin-sipe reads them (sipe-notify.c `sipe_process_roaming_contacts`).
 */
import { attr, get, guard, isObj, isSipUri, list, malformed, parseXml, uint, xsBool } from '../xml.js';

export const ROAMING_CONTACTS_EVENT = 'vnd-microsoft-roaming-contacts';
export const ROAMING_CONTACTS_CONTENT_TYPE = 'application/vnd-microsoft-roaming-contacts+xml';

export interface ContactGroup {
  id: number;
  /** "~" is the server's default group (sipe shows it as "Other Contacts"). */
  name: string;
}

export interface Contact {
  /** Always a sip:/sips: URI (the wire form often lacks the scheme). */
  uri: string;
  /** Alias; "" means "use the display name". */
  name: string;
  groups: number[];
  /** Watch this contact's presence, or only store it. */
  subscribed: boolean;
}

export interface ContactList {
  /** [MS-SIP]: non-zero; the next delta's prevDeltaNum must match it. */
  deltaNum: number;
  groups: ContactGroup[];
  contacts: Contact[];
  /** Lync 2013 Unified Contact Store: the list lives in Exchange, this one is stale or empty. */
  ucsMigrated?: boolean;
}

export interface ContactDelta {
  deltaNum: number;
  prevDeltaNum?: number;
  addedGroups: ContactGroup[];
  modifiedGroups: ContactGroup[];
  deletedGroups: number[];
  addedContacts: Contact[];
  modifiedContacts: Contact[];
  deletedContacts: string[];
}

export type RoamingContactsDocument = { kind: 'list'; list: ContactList } | { kind: 'delta'; delta: ContactDelta };

const MAX_ENTRIES = 10_000;

/** [MS-SIP] writes contact URIs without a scheme ("bob@acme.test"); sipe adds "sip:" (`sip_uri_from_name`). */
export function normalizeContactUri(raw: string): string | undefined {
  const t = raw.trim();
  if (t === '') return undefined;
  const uri = /^sips?:/i.test(t) ? t.replace(/^sip(s?):/i, (_m, s: string) => `sip${s.toLowerCase()}:`) : `sip:${t}`;
  return isSipUri(uri) && /^sips?:[^@]+@[^@]+$/.test(uri) ? uri : undefined;
}

function groupOf(g: Record<string, unknown>, what: string): ContactGroup {
  const id = uint(attr(g, 'id'), 0x7fffffff);
  if (id === undefined) throw malformed(what, `group id is not an integer: ${JSON.stringify((attr(g, 'id') ?? '').slice(0, 20))}`);
  return { id, name: attr(g, 'name') ?? '' };
}

/** undefined for an entry without a usable URI: one bad contact must not cost the whole list. */
function contactOf(c: Record<string, unknown>): Contact | undefined {
  const uri = normalizeContactUri(attr(c, 'uri') ?? '');
  if (uri === undefined) return undefined;
  const groups: number[] = [];
  for (const g of (attr(c, 'groups') ?? '').split(/\s+/)) {
    const n = uint(g, 0x7fffffff);
    if (n !== undefined && !groups.includes(n)) groups.push(n);
  }
  return { uri, name: attr(c, 'name') ?? '', groups, subscribed: xsBool(attr(c, 'subscribed')) ?? false };
}

function deltaNumOf(o: Record<string, unknown>, what: string): number {
  const n = uint(attr(o, 'deltaNum'));
  if (n === undefined) throw malformed(what, 'deltaNum is not a non-negative integer');
  return n;
}

function entries(o: Record<string, unknown>, key: string, what: string): Record<string, unknown>[] {
  const l = list(get(o, key));
  if (l.length > MAX_ENTRIES) throw malformed(what, `more than ${MAX_ENTRIES} <${key}> entries`);
  return l;
}

export function parseRoamingContacts(body: string): RoamingContactsDocument {
  const what = 'roaming contacts';
  return guard(what, () => {
    const arrays = ['group', 'contact', 'addedGroup', 'modifiedGroup', 'deletedGroup', 'addedContact', 'modifiedContact', 'deletedContact'];
    const doc = parseXml(body, what, [...arrays.map((a) => `contactList.${a}`), ...arrays.map((a) => `contactDelta.${a}`)]);
    const lroot = get(doc, 'contactList');
    const droot = get(doc, 'contactDelta');
    if (lroot !== undefined) {
      const l = lroot === '' ? {} : lroot;
      if (!isObj(l)) throw malformed(what, 'bad <contactList>');
      const groups = entries(l, 'group', what).map((g) => groupOf(g, what));
      const contacts: Contact[] = [];
      for (const c of entries(l, 'contact', what)) {
        const contact = contactOf(c);
        if (contact && !contacts.some((x) => x.uri === contact.uri)) contacts.push(contact);
      }
      const out: ContactList = { deltaNum: deltaNumOf(l, what), groups, contacts };
      if (attr(l, 'ucsmode') === 'migrated') out.ucsMigrated = true;
      return { kind: 'list', list: out };
    }
    if (droot !== undefined) {
      const d = droot === '' ? {} : droot;
      if (!isObj(d)) throw malformed(what, 'bad <contactDelta>');
      const delta: ContactDelta = {
        deltaNum: deltaNumOf(d, what),
        addedGroups: entries(d, 'addedGroup', what).map((g) => groupOf(g, what)),
        modifiedGroups: entries(d, 'modifiedGroup', what).map((g) => groupOf(g, what)),
        deletedGroups: entries(d, 'deletedGroup', what).map((g) => groupOf(g, what).id),
        addedContacts: entries(d, 'addedContact', what).map(contactOf).filter((c): c is Contact => c !== undefined),
        modifiedContacts: entries(d, 'modifiedContact', what).map(contactOf).filter((c): c is Contact => c !== undefined),
        deletedContacts: entries(d, 'deletedContact', what)
          .map((c) => normalizeContactUri(attr(c, 'uri') ?? ''))
          .filter((u): u is string => u !== undefined),
      };
      const prev = uint(attr(d, 'prevDeltaNum'));
      if (prev !== undefined) delta.prevDeltaNum = prev;
      return { kind: 'delta', delta };
    }
    throw malformed(what, 'root is neither <contactList> nor <contactDelta>');
  });
}

export function parseContactList(body: string): ContactList {
  const d = parseRoamingContacts(body);
  if (d.kind !== 'list') throw malformed('roaming contacts', 'expected <contactList>, got <contactDelta>');
  return d.list;
}

export type MergeResult = { list: ContactList; resync: false } | { list: ContactList; resync: true; reason: 'delta-gap' | 'stale-delta' };

/**
 * Applies a delta to a list without mutating either. A delta whose prevDeltaNum is not the list's
 * deltaNum means an update was missed: the list is returned unchanged with `resync` (re-SUBSCRIBE
 * to get a full contactList). A delta not newer than the list is ignored the same way.
 * Contacts left in no known group are kept in group ids they name; a deleted group is removed
 * from every contact (sipe: the server empties it first with modifiedContact).
 */
export function mergeContactDelta(list: ContactList, delta: ContactDelta): MergeResult {
  if (delta.deltaNum <= list.deltaNum) return { list, resync: true, reason: 'stale-delta' };
  if (delta.prevDeltaNum !== undefined && delta.prevDeltaNum !== list.deltaNum) return { list, resync: true, reason: 'delta-gap' };
  const groups = new Map(list.groups.map((g) => [g.id, { ...g }]));
  for (const g of delta.addedGroups) groups.set(g.id, { ...g });
  for (const g of delta.modifiedGroups) {
    const old = groups.get(g.id);
    if (old && g.name !== '') old.name = g.name;
  }
  for (const id of delta.deletedGroups) groups.delete(id);
  const contacts = new Map(list.contacts.map((c) => [c.uri, { ...c, groups: [...c.groups] }]));
  for (const c of [...delta.addedContacts, ...delta.modifiedContacts]) {
    const old = contacts.get(c.uri);
    // An empty alias in an update keeps the old one (sipe: "new alias?" only when non-empty).
    contacts.set(c.uri, { ...c, groups: [...c.groups], name: c.name === '' && old ? old.name : c.name });
  }
  for (const uri of delta.deletedContacts) contacts.delete(uri);
  const deleted = new Set(delta.deletedGroups);
  for (const c of contacts.values()) c.groups = c.groups.filter((g) => !deleted.has(g));
  const out: ContactList = { deltaNum: delta.deltaNum, groups: [...groups.values()], contacts: [...contacts.values()] };
  if (list.ucsMigrated) out.ucsMigrated = true;
  return { list: out, resync: false };
}

/** Contacts whose presence to watch (the batched SUBSCRIBE's resources). */
export function subscribedUris(list: ContactList): string[] {
  return list.contacts.filter((c) => c.subscribed).map((c) => c.uri);
}
