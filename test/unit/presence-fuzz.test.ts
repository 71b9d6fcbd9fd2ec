// Every presence parser, fed random and mutated input, returns a value or throws BODY_MALFORMED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SiplogonError } from '../../src/errors.js';
import {
  parsePidf,
  parseRlmi,
  parseRoamingContacts,
  parseCategories,
  parsePublishFault,
  parseMultipartRelated,
  parseMediaType,
  ResourceListState,
  buildPidf,
} from '../../src/presence/index.js';

function typedOrValue(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!SiplogonError.is(e, 'BODY_MALFORMED')) throw e;
  }
}

const SEEDS = [
  buildPidf({ entity: 'sip:alice@acme.test', state: 'online', note: 'hi' }),
  '<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:l@acme.test" version="2" fullState="false"><resource uri="sip:bob@acme.test"><instance id="i" state="active" cid="c@x"/></resource></list>',
  '<contactList deltaNum="7"><group id="1" name="~"/><contact uri="bob@acme.test" name="B" groups="1 2" subscribed="true"/></contactList>',
  '<contactDelta deltaNum="8" prevDeltaNum="7"><addedGroup id="3" name="F"/><deletedContact uri="bob@acme.test"/></contactDelta>',
  '<categories uri="sip:bob@acme.test"><category name="state"><state type="aggregateState"><availability>3500</availability></state></category></categories>',
  '<Fault><Faultcode>Client.BadCall.WrongDelta</Faultcode><details><operation index="1" curVersion="2"/></details></Fault>',
];
const HOSTILE = ['__proto__', 'constructor', 'prototype', 'toString', '#text', '@uri', 'hasOwnProperty'];

const xmlish = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
  // mutate a valid seed: cut, splice random text, or rename elements to hostile names
  fc.tuple(fc.constantFrom(...SEEDS), fc.nat(), fc.nat(), fc.string({ maxLength: 20 })).map(([s, a, b, ins]) => {
    const i = a % (s.length + 1);
    const j = Math.min(s.length, i + (b % 12));
    return s.slice(0, i) + ins + s.slice(j);
  }),
  fc.tuple(fc.constantFrom(...SEEDS), fc.constantFrom(...HOSTILE), fc.constantFrom('list', 'resource', 'contact', 'category', 'tuple', 'presence', 'categories', 'Fault')).map(
    ([s, h, tag]) => s.split(`<${tag}`).join(`<${h} `).split(`</${tag}>`).join(`</${h}>`),
  ),
  fc.tuple(fc.constantFrom(...SEEDS), fc.constantFrom(...HOSTILE)).map(([s, h]) => s.replace(/ (\w+)="/, ` ${h}="`)),
);

test('fuzz: every XML parser returns a value or BODY_MALFORMED', () => {
  fc.assert(
    fc.property(xmlish, (s) => {
      for (const p of [parsePidf, parseRlmi, parseRoamingContacts, parseCategories, parsePublishFault]) typedOrValue(() => p(s));
    }),
    { numRuns: 1500 },
  );
});

test('fuzz: hostile element and attribute names never leak into results', () => {
  // fast-xml-parser refuses a __proto__ element outright; that must surface as our typed error.
  assert.throws(() => parseRoamingContacts('<contactList deltaNum="1"><__proto__ uri="x"/></contactList>'), (e) => SiplogonError.is(e, 'BODY_MALFORMED'));
  const r = parseRoamingContacts('<contactList deltaNum="1"><hasOwnProperty uri="x"/><contact uri="a@b.test" groups="1" constructor="x" toString="y"/></contactList>');
  assert.equal(r.kind === 'list' && r.list.contacts[0]?.uri, 'sip:a@b.test');
  assert.equal(({} as Record<string, unknown>)['uri'], undefined, 'Object.prototype untouched');
  typedOrValue(() => parsePidf('<presence entity="sip:a@b"><__proto__ id="x"/><tuple id="constructor"><status><basic>open</basic></status></tuple></presence>'));
});

const part = fc.record({
  headers: fc.array(fc.tuple(fc.constantFrom('Content-Type', 'Content-ID', 'X', 'content-type', ' bad', ''), fc.string({ maxLength: 30 })), { maxLength: 3 }),
  body: fc.string({ maxLength: 80 }),
});

test('fuzz: multipart framing with random boundaries, headers, line ends and truncation', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 0, maxLength: 72 }),
      fc.array(part, { maxLength: 4 }),
      fc.constantFrom('\r\n', '\n', '\r'),
      fc.boolean(),
      fc.nat(),
      fc.string({ maxLength: 60 }),
      (boundary, parts, eol, quote, cut, ctNoise) => {
        const bq = quote ? `"${boundary.replace(/["\\]/g, '\\$&')}"` : boundary;
        let body = '';
        for (const p of parts) body += `--${boundary}${eol}${p.headers.map(([k, v]) => `${k}: ${v}`).join(eol)}${eol}${eol}${p.body}${eol}`;
        body += `--${boundary}--${eol}`;
        const truncated = body.slice(0, cut % (body.length + 1));
        for (const ct of [`multipart/related;boundary=${bq}`, `multipart/related;type="application/rlmi+xml";start="<x>";boundary=${bq}`, ctNoise, `multipart/related;${ctNoise}`]) {
          typedOrValue(() => parseMultipartRelated(body, ct));
          typedOrValue(() => parseMultipartRelated(truncated, ct));
          typedOrValue(() => parseMediaType(ct));
          typedOrValue(() => new ResourceListState().applyNotify(body, ct));
        }
      },
    ),
    { numRuns: 800 },
  );
});

test('fuzz: ResourceListState survives random notification sequences and never moves its version backwards', () => {
  const resource = fc.record({
    who: fc.constantFrom('bob', 'carol', 'dave'),
    state: fc.constantFrom('active', 'pending', 'terminated'),
    basic: fc.constantFrom('open', 'closed', 'broken'),
    withPart: fc.boolean(),
  });
  const notif = fc.record({ version: fc.nat({ max: 12 }), full: fc.boolean(), resources: fc.array(resource, { maxLength: 3 }) });
  fc.assert(
    fc.property(fc.array(notif, { maxLength: 12 }), (seq) => {
      const s = new ResourceListState('sip:l@acme.test');
      let last = -1;
      for (const n of seq) {
        const res = n.resources
          .map((r, k) => `<resource uri="sip:${r.who}@acme.test"><instance id="i${r.who}" state="${r.state}"${r.withPart ? ` cid="p${k}"` : ''}/></resource>`)
          .join('');
        const parts = n.resources
          .map((r, k) =>
            r.withPart
              ? `--B\r\nContent-ID: <p${k}>\r\nContent-Type: application/pidf+xml\r\n\r\n<presence entity="sip:${r.who}@acme.test"><tuple id="t"><status><basic>${r.basic}</basic></status></tuple></presence>\r\n`
              : '',
          )
          .join('');
        const body = `--B\r\nContent-ID: <root>\r\nContent-Type: application/rlmi+xml\r\n\r\n<list uri="sip:l@acme.test" version="${n.version}" fullState="${n.full}">${res}</list>\r\n${parts}--B--\r\n`;
        try {
          const out = s.applyNotify(body, 'multipart/related;type="application/rlmi+xml";start="<root>";boundary=B');
          if (out.applied) {
            assert.ok(n.version > last);
            last = n.version;
          }
        } catch (e) {
          assert.ok(SiplogonError.is(e, 'BODY_MALFORMED'));
          assert.ok(n.resources.some((r) => r.withPart && r.basic === 'broken'), 'only a broken part may fail');
        }
        assert.equal(s.version ?? -1, last);
        for (const r of s.list()) assert.ok(!r.instances.some((i) => i.state === 'terminated'));
      }
    }),
    { numRuns: 400 },
  );
});
