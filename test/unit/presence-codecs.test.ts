import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SiplogonError } from '../../src/errors.js';
import {
  buildPidf,
  parsePidf,
  parseMediaType,
  parseMultipartRelated,
  parseRlmi,
  ResourceListState,
  parseRoamingContacts,
  parseContactList,
  mergeContactDelta,
  subscribedUris,
  parseCategories,
  buildStatePublish,
  parsePublishFault,
  applyWrongDelta,
  versionsFrom,
  buildBatchSubscribe,
  availabilityToState,
  stateToAvailability,
  stateToPidfBasic,
  pidfBasicToState,
  PRESENCE_STATES,
} from '../../src/presence/index.js';

const malformed = (e: unknown): boolean => SiplogonError.is(e, 'BODY_MALFORMED');

// ---------------------------------------------------------------- state mapping
test('PresenceState maps to PIDF basic and Lync availability, and back through the ranges', () => {
  assert.deepEqual(
    PRESENCE_STATES.map((s) => [s, stateToPidfBasic(s), stateToAvailability(s)]),
    [
      ['online', 'open', 3500],
      ['busy', 'open', 6500],
      ['away', 'open', 15500],
      ['dnd', 'open', 9500],
      ['offline', 'closed', 18500],
      ['unknown', 'closed', null],
    ],
  );
  for (const s of PRESENCE_STATES) {
    const a = stateToAvailability(s);
    if (a !== null) assert.equal(availabilityToState(a), s, `round trip ${s}`);
  }
  const cases: [number, string][] = [
    [2999, 'unknown'], [3000, 'online'], [4500, 'online'], [5999, 'online'], [6000, 'busy'], [8999, 'busy'],
    [9000, 'dnd'], [11999, 'dnd'], [12000, 'away'], [12500, 'away'], [17999, 'away'], [18000, 'offline'], [99999, 'offline'], [Number.NaN, 'unknown'],
  ];
  for (const [a, s] of cases) assert.equal(availabilityToState(a), s, `availability ${a}`);
  assert.equal(pidfBasicToState('open'), 'online');
  assert.equal(pidfBasicToState('closed'), 'offline');
  assert.equal(pidfBasicToState('unknown'), 'unknown');
});

// ---------------------------------------------------------------- PIDF
test('buildPidf produces the minimal PIDF Kamailio accepts and parsePidf reads it back', () => {
  const body = buildPidf({ entity: 'sip:alice@acme.test', basic: 'open', note: 'available', tupleId: 't-502424' });
  assert.match(body, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@acme\.test">/);
  assert.match(body, /<tuple id="t-502424"><status><basic>open<\/basic><\/status><contact>sip:alice@acme\.test<\/contact><note>available<\/note><\/tuple>/);
  assert.deepEqual(parsePidf(body), {
    entity: 'sip:alice@acme.test',
    tuples: [{ id: 't-502424', basic: 'open', note: 'available', contact: 'sip:alice@acme.test' }],
    overall: 'open',
  });
  const closed = parsePidf(buildPidf({ entity: 'sip:alice@acme.test', state: 'offline' }));
  assert.equal(closed.overall, 'closed');
  assert.equal(closed.tuples[0]?.id, 't1');
  // a note is escaped, not interpreted
  assert.equal(parsePidf(buildPidf({ entity: 'sip:a@b.test', state: 'busy', note: '<b>&"x"' })).tuples[0]?.note, '<b>&"x"');
});

test('buildPidf refuses what would make an invalid document', () => {
  assert.throws(() => buildPidf({ entity: 'alice@acme.test' }), (e) => SiplogonError.is(e, 'INVALID_URI'));
  assert.throws(() => buildPidf({ entity: 'sip:a@b.test', tupleId: '1bad id' }), (e) => SiplogonError.is(e, 'INVALID_OPTION'));
});

test('parsePidf: two publications (Kamailio pitfall 4) give two tuples and overall open', () => {
  const body =
    '<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@acme.test">' +
    '<tuple id="t-7fbea2"><status><basic>closed</basic></status></tuple>' +
    '<tuple xmlns="urn:ietf:params:xml:ns:pidf" id="t-ae5dbd"><status><basic>open</basic></status><contact priority="0.8">sip:alice@acme.test</contact></tuple></presence>';
  const p = parsePidf(body);
  assert.deepEqual(p.tuples.map((t) => [t.id, t.basic, t.contact]), [['t-7fbea2', 'closed', undefined], ['t-ae5dbd', 'open', 'sip:alice@acme.test']]);
  assert.equal(p.overall, 'open');
});

test('parsePidf: prefixed namespaces, no basic, and no tuples', () => {
  const p = parsePidf('<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" entity="pres:bob@acme.test"><p:tuple id="x"><p:status/></p:tuple></p:presence>');
  assert.deepEqual(p, { entity: 'pres:bob@acme.test', tuples: [{ id: 'x', basic: 'unknown' }], overall: 'unknown' });
  assert.deepEqual(parsePidf('<presence entity="sip:bob@acme.test"/>'), { entity: 'sip:bob@acme.test', tuples: [], overall: 'unknown' });
});

test('parsePidf: bad input is BODY_MALFORMED', () => {
  for (const bad of [
    '',
    'not xml',
    '<presence entity="sip:a@b">',
    '<presence/>', // no entity
    '<other entity="sip:a@b"/>',
    '<presence entity="sip:a@b"><tuple><status><basic>open</basic></status></tuple></presence>', // tuple without id
    '<presence entity="sip:a@b"><tuple id="t"><status><basic>maybe</basic></status></tuple></presence>',
    '<!DOCTYPE x [<!ENTITY a "aaaa">]><presence entity="&a;"/>',
  ]) {
    assert.throws(() => parsePidf(bad), malformed, JSON.stringify(bad));
  }
});

// ---------------------------------------------------------------- multipart/related
const CRLF = '\r\n';
function rlsNotify(opts: { boundary: string; quoted?: boolean; start?: string; rlmi: string; parts: { cid: string; type: string; body: string }[]; eol?: string }): { body: string; contentType: string } {
  const eol = opts.eol ?? CRLF;
  const b = opts.boundary;
  const lines: string[] = [];
  lines.push(`--${b}`, 'Content-Transfer-Encoding: binary', 'Content-ID: <rlmi-root@acme.test>', 'Content-Type: application/rlmi+xml;charset="UTF-8"', '', opts.rlmi);
  for (const p of opts.parts) lines.push(`--${b}`, 'Content-Transfer-Encoding: binary', `Content-ID: <${p.cid}>`, `Content-Type: ${p.type};charset="UTF-8"`, '', p.body);
  lines.push(`--${b}--`, '');
  const bq = opts.quoted === false ? b : `"${b}"`;
  const start = opts.start ?? '<rlmi-root@acme.test>';
  return { body: lines.join(eol), contentType: `multipart/related;type="application/rlmi+xml";start="${start}";boundary=${bq}` };
}
const pidf = (who: string, basic: 'open' | 'closed', id = `t-${who}`): string =>
  `<?xml version="1.0"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:${who}@acme.test"><tuple id="${id}"><status><basic>${basic}</basic></status></tuple></presence>`;
const rlmi = (version: number, full: boolean, resources: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<list uri="sip:alice-buddies@acme.test" xmlns="urn:ietf:params:xml:ns:rlmi" version="${version}" fullState="${full}">${resources}</list>`;

test('parseMediaType: quoted values with escapes, unquoted start=<cid>, case-insensitive names', () => {
  const m = parseMediaType('Multipart/Related; TYPE="application/rlmi+xml"; start=<a@b>; boundary="x\\"y"');
  assert.equal(m.type, 'multipart/related');
  assert.deepEqual(m.params, { type: 'application/rlmi+xml', start: '<a@b>', boundary: 'x"y' });
  for (const bad of ['', 'text', 'multipart/related; boundary="open', 'a/b; =x', 'a/b; x']) assert.throws(() => parseMediaType(bad), malformed, bad);
});

test('multipart/related: parts, Content-IDs, root by start, quoted and unquoted boundary, CRLF and bare LF', () => {
  for (const [quoted, eol] of [[true, CRLF], [false, CRLF], [true, '\n']] as const) {
    const n = rlsNotify({
      boundary: 'VOuKQ8tJqVQ1S5q-0',
      quoted,
      eol,
      rlmi: rlmi(2, false, '<resource uri="sip:bob@acme.test"><instance id="i1" state="active" cid="bob-cid@acme.test"/></resource>'),
      parts: [{ cid: 'bob-cid@acme.test', type: 'application/pidf+xml', body: pidf('bob', 'open') }],
    });
    const m = parseMultipartRelated(n.body, n.contentType);
    assert.equal(m.type, 'application/rlmi+xml');
    assert.equal(m.start, 'rlmi-root@acme.test');
    assert.equal(m.parts.length, 2);
    assert.equal(m.root.contentId, 'rlmi-root@acme.test');
    assert.equal(m.root.contentType, 'application/rlmi+xml');
    assert.equal(m.parts[1]?.contentId, 'bob-cid@acme.test');
    assert.equal(m.parts[1]?.headers['content-transfer-encoding'], 'binary');
    // The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    assert.equal(m.parts[1]?.body, pidf('bob', 'open'));
    assert.equal(parsePidf(m.parts[1]!.body).overall, 'open');
  }
});

test('multipart/related: root is the first part without start; preamble and epilogue are ignored', () => {
  const body = `preamble${CRLF}--b1${CRLF}Content-Type: text/plain${CRLF}${CRLF}one${CRLF}--b1 ${CRLF}${CRLF}two${CRLF}--b1--${CRLF}epilogue --b1 junk`;
  const m = parseMultipartRelated(body, 'multipart/related; boundary=b1');
  assert.deepEqual(m.parts.map((p) => [p.contentType, p.body]), [['text/plain', 'one'], ['text/plain', 'two']]);
  assert.equal(m.root, m.parts[0]);
  assert.equal(m.start, undefined);
});

test('multipart/related: a missing boundary, a wrong type, truncation or a dangling start are BODY_MALFORMED', () => {
  const ok = rlsNotify({ boundary: 'bnd', rlmi: rlmi(1, true, ''), parts: [] });
  const cases: [string, string][] = [
    [ok.body, 'multipart/related;type="application/rlmi+xml"'], // no boundary
    [ok.body, 'multipart/related;boundary=other'], // boundary absent from the body
    [ok.body, 'multipart/mixed;boundary=bnd'],
    [ok.body, 'application/pidf+xml'],
    [ok.body.replace('--bnd--', ''), ok.contentType], // no closing delimiter
    [ok.body, ok.contentType.replace('rlmi-root', 'nope')], // start names no part
    [`--bnd${CRLF}Content-Type text/plain${CRLF}${CRLF}x${CRLF}--bnd--`, 'multipart/related;boundary=bnd'], // bad header
    [`--bnd${CRLF}Content-Type: text/plain${CRLF}x${CRLF}--bnd--`, 'multipart/related;boundary=bnd'], // no blank line
    [`--bnd--${CRLF}`, 'multipart/related;boundary=bnd'], // no parts
    ['x', `multipart/related;boundary="${'a'.repeat(71)}"`], // boundary longer than 70
  ];
  for (const [body, ct] of cases) assert.throws(() => parseMultipartRelated(body, ct), malformed, ct);
});

// ---------------------------------------------------------------- RLMI
test('parseRlmi reads the Kamailio shapes: full list without instances, partial with instances', () => {
  const v1 = parseRlmi(rlmi(1, true, '<resource uri="sip:bob@acme.test"/><resource uri="sip:carol@acme.test"/>'));
  assert.deepEqual(v1, {
    uri: 'sip:alice-buddies@acme.test',
    version: 1,
    fullState: true,
    resources: [{ uri: 'sip:bob@acme.test', instances: [] }, { uri: 'sip:carol@acme.test', instances: [] }],
  });
  const v2 = parseRlmi(rlmi(2, false, '<resource uri="sip:carol@acme.test"><name>Carol</name><instance id="Scf8UhwQ" state="active" cid="Scf8UhwQ@sip:carol@acme.test"/></resource>'));
  assert.deepEqual(v2.resources[0], { uri: 'sip:carol@acme.test', name: 'Carol', instances: [{ id: 'Scf8UhwQ', state: 'active', cid: 'Scf8UhwQ@sip:carol@acme.test' }] });
  const lync = parseRlmi(
    '<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:alice@acme.test" version="0" fullState="false"><resource uri="sip:dave@acme.test"><instance id="1" state="resubscribe" poolFqdn="pool2.acme.test"/></resource></list>',
  );
  assert.deepEqual(lync.resources[0]?.instances[0], { id: '1', state: 'resubscribe', poolFqdn: 'pool2.acme.test' });
});

test('parseRlmi: bad version, fullState, state or missing uri are BODY_MALFORMED', () => {
  for (const bad of [
    '<list uri="sip:l@x" version="-1" fullState="true"/>',
    '<list uri="sip:l@x" version="1" fullState="yes"/>',
    '<list version="1" fullState="true"/>',
    '<list uri="sip:l@x" version="1" fullState="true"><resource/></list>',
    '<list uri="sip:l@x" version="1" fullState="true"><resource uri="sip:a@x"><instance id="1" state="sleeping"/></resource></list>',
    '<notalist/>',
  ]) {
    assert.throws(() => parseRlmi(bad), malformed, bad);
  }
});

test('ResourceListState replays the Kamailio RLS sequence v1 full, v2 partial, v3 partial bob only', () => {
  const s = new ResourceListState('sip:alice-buddies@acme.test');
  const n1 = rlsNotify({ boundary: 'b', rlmi: rlmi(1, true, '<resource uri="sip:bob@acme.test"/><resource uri="sip:carol@acme.test"/>'), parts: [] });
  assert.deepEqual(s.applyNotify(n1.body, n1.contentType), { applied: true, fullState: true, version: 1, changed: ['sip:bob@acme.test', 'sip:carol@acme.test'], gap: false });
  assert.equal(s.stateOf('sip:bob@acme.test'), 'unknown');
  const n2 = rlsNotify({
    boundary: 'b',
    rlmi: rlmi(2, false,
      '<resource uri="sip:carol@acme.test"><instance id="ic" state="active" cid="c@x"/></resource>' +
      '<resource uri="sip:bob@acme.test"><instance id="ib" state="active" cid="b@x"/></resource>'),
    parts: [
      { cid: 'c@x', type: 'application/pidf+xml', body: pidf('carol', 'closed') },
      { cid: 'b@x', type: 'application/pidf+xml', body: pidf('bob', 'open') },
    ],
  });
  assert.equal(s.applyNotify(n2.body, n2.contentType).applied, true);
  assert.equal(s.stateOf('sip:bob@acme.test'), 'online');
  assert.equal(s.stateOf('sip:carol@acme.test'), 'offline');
  const doc = s.get('sip:bob@acme.test')?.instances[0]?.document;
  assert.equal(doc?.kind, 'pidf');
  const n3 = rlsNotify({
    boundary: 'b',
    rlmi: rlmi(3, false, '<resource uri="sip:bob@acme.test"><instance id="ib" state="active" cid="b3@x"/></resource>'),
    parts: [{ cid: 'b3@x', type: 'application/pidf+xml', body: pidf('bob', 'closed') }],
  });
  assert.deepEqual(s.applyNotify(n3.body, n3.contentType), { applied: true, fullState: false, version: 3, changed: ['sip:bob@acme.test'], gap: false });
  assert.equal(s.stateOf('sip:bob@acme.test'), 'offline');
  assert.equal(s.stateOf('sip:carol@acme.test'), 'offline', 'carol untouched by a partial that does not list her');
  assert.equal(s.version, 3);
  assert.equal(s.needsResubscribe, false);
  // The same notification again, or an older one, changes nothing.
  assert.deepEqual(s.applyNotify(n3.body, n3.contentType), { applied: false, reason: 'duplicate', version: 3 });
  assert.deepEqual(s.applyNotify(n2.body, n2.contentType), { applied: false, reason: 'stale', version: 2 });
  assert.equal(s.stateOf('sip:bob@acme.test'), 'offline');
});

test('ResourceListState: full state replaces, terminated removes, gaps flag a re-subscribe, bad parts change nothing', () => {
  const s = new ResourceListState();
  const part = (v: number, full: boolean, res: string, parts: { cid: string; type: string; body: string }[] = []) => {
    const n = rlsNotify({ boundary: 'q', rlmi: rlmi(v, full, res), parts });
    return s.applyNotify(n.body, n.contentType);
  };
  // A partial before any full state: applied, but we know we missed the start.
  assert.equal(part(5, false, '<resource uri="sip:bob@acme.test"><instance id="i" state="active" cid="p"/></resource>', [{ cid: 'p', type: 'application/pidf+xml', body: pidf('bob', 'open') }]).applied, true);
  assert.equal(s.needsResubscribe, true);
  assert.equal(s.uri, 'sip:alice-buddies@acme.test');
  // Full state clears the flag and replaces the list.
  part(6, true, '<resource uri="sip:carol@acme.test"><instance id="c" state="active" cid="c"/></resource>', [{ cid: 'c', type: 'application/pidf+xml', body: pidf('carol', 'open') }]);
  assert.equal(s.needsResubscribe, false);
  assert.equal(s.get('sip:bob@acme.test'), undefined);
  assert.equal(s.stateOf('sip:carol@acme.test'), 'online');
  // A listed instance without a cid part keeps its previous document.
  part(7, false, '<resource uri="sip:carol@acme.test"><instance id="c" state="active"/></resource>');
  assert.equal(s.stateOf('sip:carol@acme.test'), 'online');
  // Skipping version 8: gap.
  const r = part(9, false, '<resource uri="sip:carol@acme.test"><instance id="c" state="terminated" reason="noresource"/></resource>');
  assert.equal(r.applied && r.gap, true);
  assert.equal(s.needsResubscribe, true);
  assert.deepEqual(s.get('sip:carol@acme.test')?.instances, []);
  assert.equal(s.stateOf('sip:carol@acme.test'), 'unknown');
  // A malformed PIDF part rejects the whole notification before any change.
  assert.throws(() => part(10, true, '<resource uri="sip:x@acme.test"><instance id="x" state="active" cid="x"/></resource>', [{ cid: 'x', type: 'application/pidf+xml', body: '<presence' }]), malformed);
  assert.equal(s.version, 9);
  assert.equal(s.get('sip:x@acme.test'), undefined);
  // Another list's notification is not ours.
  const other = s.apply(parseRlmi('<list uri="sip:other@acme.test" version="99" fullState="true"/>'));
  assert.deepEqual(other, { applied: false, reason: 'wrong-list', version: 99 });
  // Root part that is not RLMI.
  const n = rlsNotify({ boundary: 'q', start: '<p>', rlmi: rlmi(11, true, ''), parts: [{ cid: 'p', type: 'application/pidf+xml', body: pidf('a', 'open') }] });
  assert.throws(() => s.applyNotify(n.body, n.contentType), malformed);
});

test('ResourceListState maps msrtc-event-categories parts (Lync batched answer) through availability', () => {
  const s = new ResourceListState('sip:alice@acme.test');
  const cat = (uri: string, a: number) =>
    `<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="${uri}"><category name="state" instance="0"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="aggregateState"><availability>${a}</availability></state></category></categories>`;
  const n = rlsNotify({
    boundary: 'L',
    rlmi: '<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:alice@acme.test" version="1" fullState="true"><resource uri="sip:bob@acme.test"><instance id="1" state="active" cid="bob"/></resource><resource uri="sip:dave@acme.test"><instance id="1" state="active" cid="dave"/></resource></list>',
    parts: [
      { cid: 'bob', type: 'application/msrtc-event-categories+xml', body: cat('sip:bob@acme.test', 6500) },
      { cid: 'dave', type: 'application/msrtc-event-categories+xml', body: cat('sip:dave@acme.test', 15500) },
    ],
  });
  s.applyNotify(n.body, n.contentType);
  assert.equal(s.stateOf('sip:bob@acme.test'), 'busy');
  assert.equal(s.stateOf('sip:dave@acme.test'), 'away');
  assert.deepEqual(s.list().map((r) => r.uri), ['sip:bob@acme.test', 'sip:dave@acme.test']);
});

// ---------------------------------------------------------------- roaming contacts
const CONTACTS =
  '<contactList deltaNum="7"><group id="1" name="~" externalURI=""/><group id="2" name="Team" externalURI=""/>' +
  '<contact uri="bob@acme.test" name="Bob Builder" groups="1 2" subscribed="true" externalURI=""/>' +
  '<contact uri="carol@acme.test" name="" groups="1" subscribed="true" externalURI=""/></contactList>';

test('roaming contacts: the peer\'s contactList, with sip: added to bare URIs', () => {
  assert.deepEqual(parseContactList(CONTACTS), {
    deltaNum: 7,
    groups: [{ id: 1, name: '~' }, { id: 2, name: 'Team' }],
    contacts: [
      { uri: 'sip:bob@acme.test', name: 'Bob Builder', groups: [1, 2], subscribed: true },
      { uri: 'sip:carol@acme.test', name: '', groups: [1], subscribed: true },
    ],
  });
  // The [MS-SIP] 3.7.5.2 example shape: trailing space in groups, contactExtension child, not subscribed.
  const l = parseContactList(
    '<contactList deltaNum="685"><group id="1" name="~" externalURI=""/><contact uri="contact1@tradewind.com" name="" groups="1 3 " subscribed="false" externalURI=""><contactExtension/></contact>' +
      '<contact uri="SIP:Dave@acme.test" groups="1"/><contact uri="no-at-sign" groups="1"/><contact groups="1"/></contactList>',
  );
  assert.deepEqual(l.contacts.map((c) => [c.uri, c.groups, c.subscribed]), [['sip:contact1@tradewind.com', [1, 3], false], ['sip:Dave@acme.test', [1], false]]);
  assert.deepEqual(subscribedUris(parseContactList(CONTACTS)), ['sip:bob@acme.test', 'sip:carol@acme.test']);
  assert.equal(parseContactList('<contactList deltaNum="1" ucsmode="migrated"/>').ucsMigrated, true);
});

test('roaming contacts: deltas merge, gaps and stale deltas ask for a resync', () => {
  const base = parseContactList(CONTACTS);
  const d = parseRoamingContacts(
    '<contactDelta deltaNum="8" prevDeltaNum="7"><addedGroup id="3" name="Friends"/><modifiedGroup id="2" name="Core team"/>' +
      '<addedContact uri="sip:dave@acme.test" name="Dave" groups="3" subscribed="true"/><modifiedContact uri="sip:bob@acme.test" name="" groups="2" subscribed="false"/>' +
      '<deletedContact uri="carol@acme.test"/></contactDelta>',
  );
  assert.equal(d.kind, 'delta');
  if (d.kind !== 'delta') return;
  const m = mergeContactDelta(base, d.delta);
  assert.equal(m.resync, false);
  assert.deepEqual(m.list, {
    deltaNum: 8,
    groups: [{ id: 1, name: '~' }, { id: 2, name: 'Core team' }, { id: 3, name: 'Friends' }],
    contacts: [
      { uri: 'sip:bob@acme.test', name: 'Bob Builder', groups: [2], subscribed: false },
      { uri: 'sip:dave@acme.test', name: 'Dave', groups: [3], subscribed: true },
    ],
  });
  assert.equal(base.contacts.length, 2, 'the input list is not mutated');
  const del = parseRoamingContacts('<contactDelta deltaNum="9" prevDeltaNum="8"><deletedGroup id="3"/></contactDelta>');
  if (del.kind !== 'delta') throw new Error('expected delta');
  const m2 = mergeContactDelta(m.list, del.delta);
  assert.deepEqual(m2.list.groups.map((g) => g.id), [1, 2]);
  assert.deepEqual(m2.list.contacts.find((c) => c.uri === 'sip:dave@acme.test')?.groups, []);
  const gap = parseRoamingContacts('<contactDelta deltaNum="12" prevDeltaNum="11"/>');
  if (gap.kind !== 'delta') throw new Error('expected delta');
  assert.deepEqual(mergeContactDelta(m2.list, gap.delta), { list: m2.list, resync: true, reason: 'delta-gap' });
  const stale = parseRoamingContacts('<contactDelta deltaNum="8"/>');
  if (stale.kind !== 'delta') throw new Error('expected delta');
  assert.deepEqual(mergeContactDelta(m2.list, stale.delta), { list: m2.list, resync: true, reason: 'stale-delta' });
});

test('roaming contacts: bad documents are BODY_MALFORMED', () => {
  for (const bad of ['<contactList/>', '<contactList deltaNum="x"/>', '<contactList deltaNum="1"><group id="a" name="x"/></contactList>', '<roamingData/>', '<contactList deltaNum="1">']) {
    assert.throws(() => parseRoamingContacts(bad), malformed, bad);
  }
  assert.throws(() => parseContactList('<contactDelta deltaNum="2"/>'), malformed);
});

// ---------------------------------------------------------------- msrtc-event-categories
test('categories: aggregateState availability and note; unknown categories are ignored', () => {
  const body =
    '<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="sip:bob@acme.test">' +
    '<category name="state" instance="0" publishTime="2012-07-12T13:58:54.237"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="aggregateState"><availability>9500\n</availability></state></category>' +
    '<category name="note"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal" uri="">Back at 3</body></note></category>' +
    '<category name="contactCard"><contactCard><identity><name><displayName>Bob</displayName></name></identity></contactCard></category>' +
    '<category name="somethingNew"><x/></category></categories>';
  assert.deepEqual(parseCategories(body), { uri: 'sip:bob@acme.test', state: 'dnd', availability: 9500, note: 'Back at 3' });
  assert.deepEqual(parseCategories('<categories uri="sip:x@y"><category name="calendarData"/></categories>'), { uri: 'sip:x@y', state: 'unknown' });
  // Without an aggregate, the most available published state.
  const two = parseCategories(
    '<categories uri="sip:x@y"><category name="state"><state type="machineState"><availability>18500</availability></state></category><category name="state"><state type="userState"><availability>6500</availability></state></category></categories>',
  );
  assert.deepEqual(two, { uri: 'sip:x@y', state: 'busy', availability: 6500 });
  for (const bad of ['<categories/>', '<category name="state"/>', '<categories uri="x">']) assert.throws(() => parseCategories(bad), malformed, bad);
});

// ---------------------------------------------------------------- category publish + 409
test('category publish: machineState in containers 2 and 3 with versions, optional note', () => {
  const { body, publications } = buildStatePublish({ uri: 'sip:alice@acme.test', state: 'online', instance: 0x30000abc, versions: { 3: 4 } });
  assert.match(body, /^<publish xmlns="http:\/\/schemas\.microsoft\.com\/2006\/09\/sip\/rich-presence"><publications uri="sip:alice@acme\.test">/);
  assert.match(body, /<publication categoryName="state" instance="805309116" container="2" version="0" expireType="endpoint"><state xmlns="http:\/\/schemas\.microsoft\.com\/2006\/09\/sip\/state" manual="false" xmlns:xsi="http:\/\/www\.w3\.org\/2001\/XMLSchema-instance" xsi:type="machineState"><availability>3500<\/availability>/);
  assert.match(body, /container="3" version="4"/);
  assert.deepEqual(publications, [
    { categoryName: 'state', instance: 805309116, container: 2, version: 0 },
    { categoryName: 'state', instance: 805309116, container: 3, version: 4 },
  ]);
  const withNote = buildStatePublish({ uri: 'sip:alice@acme.test', state: 6500, instance: 1, note: { text: 'a&b', containers: [200] } });
  assert.match(withNote.body, /<publication categoryName="note" instance="0" container="200" version="0" expireType="static"><note xmlns="http:\/\/schemas\.microsoft\.com\/2006\/09\/sip\/note"><body type="personal" uri="">a&amp;b<\/body><\/note><\/publication>/);
  assert.equal(withNote.publications.length, 3);
  assert.throws(() => buildStatePublish({ uri: 'sip:a@b', state: 'unknown', instance: 1 }), (e) => SiplogonError.is(e, 'INVALID_OPTION'));
  assert.throws(() => buildStatePublish({ uri: 'sip:a@b', state: 'online', instance: -1 }), (e) => SiplogonError.is(e, 'INVALID_OPTION'));
  assert.throws(() => buildStatePublish({ uri: 'a@b', state: 'online', instance: 1 }), (e) => SiplogonError.is(e, 'INVALID_URI'));
});

test('409 msrtc-fault WrongDelta gives curVersion per 1-based publication index; resend uses them', () => {
  const fault = parsePublishFault(
    '<?xml version="1.0" encoding="utf-8"?><Fault xmlns="http://schemas.microsoft.com/2006/09/sip/mrtc-fault"><Faultcode>Client.BadCall.WrongDelta</Faultcode>' +
      '<details><operation index="1" curVersion="3"/><operation index="2" curVersion="5"/><operation index="9" curVersion="1"/></details></Fault>',
  );
  assert.deepEqual(fault, { faultCode: 'Client.BadCall.WrongDelta', wrongDelta: true, operations: [{ index: 1, curVersion: 3 }, { index: 2, curVersion: 5 }, { index: 9, curVersion: 1 }] });
  const first = buildStatePublish({ uri: 'sip:alice@acme.test', state: 'online', instance: 7 });
  const fixed = applyWrongDelta(first.publications, fault);
  assert.deepEqual(fixed.map((p) => p.version), [3, 5]);
  const again = buildStatePublish({ uri: 'sip:alice@acme.test', state: 'online', instance: 7, versions: versionsFrom(fixed).state });
  assert.match(again.body, /container="2" version="3"/);
  assert.match(again.body, /container="3" version="5"/);
  assert.equal(parsePublishFault('<Fault><Faultcode>Server.Busy</Faultcode></Fault>').wrongDelta, false);
  for (const bad of ['<Fault/>', '<Fault><Faultcode>x</Faultcode><details><operation index="0" curVersion="1"/></details></Fault>', '<Fault><Faultcode>x</Faultcode><details><operation index="1"/></details></Fault>', 'junk']) {
    assert.throws(() => parsePublishFault(bad), malformed, bad);
  }
});

// ---------------------------------------------------------------- batched SUBSCRIBE
test('batched SUBSCRIBE body lists resources and categories as sipe sends them', () => {
  const body = buildBatchSubscribe({ uri: 'sip:alice@acme.test', resources: ['sip:bob@acme.test', 'sip:carol@acme.test'], actionId: 63792024 });
  assert.equal(
    body,
    '<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="sip:alice@acme.test" name=""><action name="subscribe" id="63792024"><adhocList>' +
      '<resource uri="sip:bob@acme.test"/><resource uri="sip:carol@acme.test"/></adhocList><categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist">' +
      '<category name="calendarData"/><category name="contactCard"/><category name="note"/><category name="state"/></categoryList></action></batchSub>',
  );
  assert.throws(() => buildBatchSubscribe({ uri: 'sip:a@b', resources: [] }), (e) => SiplogonError.is(e, 'INVALID_OPTION'));
  assert.throws(() => buildBatchSubscribe({ uri: 'sip:a@b', resources: ['sip:"x'] }), (e) => SiplogonError.is(e, 'INVALID_URI'));
  assert.throws(() => buildBatchSubscribe({ uri: 'sip:a@b', resources: ['sip:c@d'], categories: ['a"b'] }), (e) => SiplogonError.is(e, 'INVALID_OPTION'));
});
