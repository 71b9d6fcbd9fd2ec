// PresenceAgent state machine over a scripted leg, with virtual time: ETag handling (RFC 3903),
// 409 WrongDelta, NOTIFY matching/answers (RFC 6665, [MS-SIP] BENOTIFY), malformed bodies, refresh
// timers and sign-out requests. The real-server behaviour is in test/integration/presence-engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock.js';
import { PresenceAgent, chooseFlavour } from '../../src/presence/agent.js';
import { agentOn, scriptedLeg, type ScriptedReply, type SentRequest } from '../helpers/scripted-leg.js';
import { makeRequest } from '../../src/sip/message.js';

const AOR = 'sip:alice@acme.test';

type Sent = SentRequest;
type Reply = ScriptedReply;

const fakeLeg = (supported: string[], allowEvents: string[], answer: (r: Sent) => Reply) => scriptedLeg({ supported, allowEvents, answer });

const hdr = (s: Sent, n: string): string | undefined => s.headers.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1];

test('chooseFlavour: Supported msrtc-event-categories means Lync; otherwise SIMPLE; an explicit flavour wins', () => {
  assert.equal(chooseFlavour(['gruu-10, msrtc-event-categories'], 'auto'), 'lync');
  assert.equal(chooseFlavour(['adhoclist', 'eventlist'], 'auto'), 'simple');
  assert.equal(chooseFlavour([], 'auto'), 'simple');
  assert.equal(chooseFlavour(['msrtc-event-categories'], 'simple'), 'simple');
  assert.equal(chooseFlavour([], 'lync'), 'lync');
});

test('SIMPLE publication: initial with body, modify with SIP-If-Match, 412 → fresh publish, refresh without body before expiry, remove with Expires 0', async () => {
  const clock = new VirtualClock();
  let etag = 0;
  let fail412 = false;
  const f = fakeLeg([], ['presence'], (s) => {
    if (s.method !== 'PUBLISH') return { status: 500 };
    if (fail412 && hdr(s, 'SIP-If-Match')) {
      fail412 = false;
      return { status: 412 };
    }
    return { status: 200, headers: [['SIP-ETag', `e${++etag}`], ['Expires', hdr(s, 'Expires') === '0' ? '0' : '600']] };
  });
  const { agent, rec } = agentOn(f.leg, clock);
  await agent.start();
  assert.equal(agent.flavour, 'simple');
  const [p1] = f.sent;
  assert.equal(hdr(p1!, 'SIP-If-Match'), undefined);
  assert.match(p1!.body ?? '', /<basic>open<\/basic>/);
  assert.equal(rec.steps.find((s) => s.kind === 'presence')?.detail['etag'], 'e1');

  await agent.setPresence('offline');
  const p2 = f.sent.at(-1)!;
  assert.equal(hdr(p2, 'SIP-If-Match'), 'e1');
  assert.match(p2.body ?? '', /<basic>closed<\/basic>/);
  // Same tuple id across a modify (RFC 3903 §4.4), else watchers see two tuples.
  assert.equal(/tuple id="([^"]+)"/.exec(p2.body ?? '')?.[1], /tuple id="([^"]+)"/.exec(p1!.body ?? '')?.[1]);

  fail412 = true;
  await agent.setPresence('busy');
  const [p3, p4] = f.sent.slice(-2);
  assert.equal(hdr(p3!, 'SIP-If-Match'), 'e2');
  assert.equal(hdr(p4!, 'SIP-If-Match'), undefined, 'after 412 the publication starts afresh');
  assert.match(p4!.body ?? '', /<basic>open<\/basic>/);

  const before = f.sent.length;
  clock.advance(600_000 - 121_000);
  assert.equal(f.sent.length, before, 'no refresh too early');
  clock.advance(2_000);
  await new Promise((r) => setImmediate(r));
  const refresh = f.sent.at(-1)!;
  assert.equal(f.sent.length, before + 1);
  assert.equal(hdr(refresh, 'SIP-If-Match'), 'e3');
  assert.equal(refresh.body, undefined, 'refresh carries no body (RFC 3903 §4.3)');

  await agent.stop();
  const remove = f.sent.at(-1)!;
  assert.equal(hdr(remove, 'Expires'), '0');
  assert.equal(hdr(remove, 'SIP-If-Match'), 'e4');
  assert.equal(f.hasHandler(), false);
});

test('RLS NOTIFYs: matched by Call-ID + our tag even before the 200; a malformed one is a BODY_MALFORMED event answered 200; unknown dialogs get 481; BENOTIFY is never answered', async () => {
  const clock = new VirtualClock();
  const f = fakeLeg([], [], (s) => (s.method === 'PUBLISH' ? { status: 200, headers: [['SIP-ETag', 'x']] } : { status: 200, headers: [['To', `<${s.uri}>;tag=srv1`], ['Contact', '<sip:rls@127.0.60.1:5060;transport=tcp>'], ['Expires', '600']] }));
  const list = 'sip:alice-buddies@acme.test';
  const { agent, errors } = agentOn(f.leg, clock, { listUri: list });
  const contacts: unknown[] = [];
  const states: unknown[] = [];
  agent.on('contacts', (l) => contacts.push(l));
  agent.on('contactPresence', (c) => states.push(c));
  const started = agent.start();
  await new Promise((r) => setImmediate(r));
  const sub = f.sent.find((s) => s.method === 'SUBSCRIBE')!;
  assert.equal(hdr(sub, 'Supported'), 'eventlist');
  const notify = (body: string, ct: string, o: { callId?: string; toTag?: string; method?: string; state?: string } = {}) =>
    makeRequest(o.method ?? 'NOTIFY', 'sip:alice@127.0.0.1:5000', [
      ['From', `<${list}>;tag=srv1`],
      ['To', `<${AOR}>;tag=${o.toTag ?? sub.dialog!.fromTag}`],
      ['Call-ID', o.callId ?? sub.dialog!.callId],
      ['CSeq', '1 NOTIFY'],
      ['Event', 'presence'],
      ['Subscription-State', o.state ?? 'active;expires=600'],
      ['Content-Type', ct],
    ], body);
  const B = 'b1';
  const ct = `multipart/related;type="application/rlmi+xml";start="<r>";boundary="${B}"`;
  const mp = (rlmi: string, parts: string[] = []) =>
    [`--${B}`, 'Content-Type: application/rlmi+xml', 'Content-ID: <r>', '', rlmi, ...parts.flatMap((p) => [`--${B}`, p]), `--${B}--`, ''].join('\r\n');
  const pidf = (who: string, basic: string) => `Content-Type: application/pidf+xml\r\nContent-ID: <${who}>\r\n\r\n<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:${who}@acme.test"><tuple id="t"><status><basic>${basic}</basic></status></tuple></presence>`;

  assert.deepEqual(await f.deliver(notify('<not-xml', ct)), { status: 200 });
  assert.equal(errors[0]?.[0].code, 'BODY_MALFORMED');
  assert.equal(errors[0]?.[1], 'contacts');
  const full = mp(`<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="${list}" version="1" fullState="true"><resource uri="sip:bob@acme.test"><instance id="i1" state="active" cid="bob"/></resource><resource uri="sip:carol@acme.test"/></list>`, [pidf('bob', 'open')]);
  assert.deepEqual(await f.deliver(notify(full, ct)), { status: 200 });
  await started;
  assert.deepEqual((contacts[0] as { contacts: { uri: string }[] }).contacts.map((c) => c.uri), ['sip:bob@acme.test', 'sip:carol@acme.test']);
  assert.deepEqual(states, [{ uri: 'sip:bob@acme.test', state: 'online' }]);
  const partial = mp(`<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="${list}" version="2" fullState="false"><resource uri="sip:bob@acme.test"><instance id="i1" state="active" cid="bob"/></resource></list>`, [pidf('bob', 'closed')]);
  await f.deliver(notify(partial, ct));
  assert.deepEqual(states.at(-1), { uri: 'sip:bob@acme.test', state: 'offline' });
  assert.equal(contacts.length, 1, 'a partial update does not re-send the list');

  assert.deepEqual(await f.deliver(notify(full, ct, { callId: 'someone-else' })), { status: 481, reason: 'Subscription Does Not Exist' });
  assert.equal(await f.deliver(notify(partial, ct, { method: 'BENOTIFY', callId: 'x' })), null);
  assert.equal(await f.deliver(makeRequest('OPTIONS', 'sip:alice@127.0.0.1', [['Call-ID', 'o']])), undefined, 'other methods fall back to the default answer');

  await agent.stop();
  const unsub = f.sent.find((x) => x.method === 'SUBSCRIBE' && hdr(x, 'Expires') === '0')!;
  assert.ok(unsub, 'un-SUBSCRIBE sent at stop');
  assert.equal(hdr(f.sent.at(-1)!, 'Expires'), '0', 'then the publication is removed');
  assert.equal(unsub.uri, 'sip:rls@127.0.60.1:5060;transport=tcp', 'in-dialog request goes to the remote target');
  assert.equal(unsub.dialog?.toTag, 'srv1');
  assert.ok((unsub.cseq ?? 0) > (sub.cseq ?? 0));
});

test('Lync: a 409 WrongDelta publish is re-sent once with the server versions; a contactList NOTIFY after a 200 without body fills the list', async () => {
  const clock = new VirtualClock();
  let services = 0;
  const fault = '<Fault><Faultcode>Client.BadCall.WrongDelta</Faultcode><details><operation index="1" curVersion="5"/><operation index="2" curVersion="7"/></details></Fault>';
  const f = fakeLeg(['msrtc-event-categories'], ['vnd-microsoft-roaming-contacts'], (s) => {
    if (s.method === 'SERVICE') return ++services === 1 ? { status: 409, body: fault, headers: [['Content-Type', 'application/msrtc-fault+xml']] } : { status: 200 };
    return { status: 200, headers: [['To', `<${s.uri}>;tag=t9`], ['Expires', '3600']] };
  });
  const { agent, errors } = agentOn(f.leg, clock);
  const lists: unknown[] = [];
  agent.on('contacts', (l) => lists.push(l));
  const started = agent.start();
  await new Promise((r) => setImmediate(r));
  const sub = f.sent[0]!;
  assert.equal(hdr(sub, 'Event'), 'vnd-microsoft-roaming-contacts');
  const ans = await f.deliver(
    makeRequest('NOTIFY', 'sip:alice@127.0.0.1', [
      ['From', `<${AOR}>;tag=t9`],
      ['To', `<${AOR}>;tag=${sub.dialog!.fromTag}`],
      ['Call-ID', sub.dialog!.callId],
      ['CSeq', '1 NOTIFY'],
      ['Subscription-State', 'active'],
      ['Content-Type', 'application/vnd-microsoft-roaming-contacts+xml'],
    ], '<contactList deltaNum="3"><group id="1" name="~"/><contact uri="bob@acme.test" name="" groups="1" subscribed="true"/></contactList>'),
  );
  assert.deepEqual(ans, { status: 200 });
  await started;
  assert.equal(agent.flavour, 'lync');
  assert.deepEqual(lists, [{ deltaNum: 3, groups: [{ id: 1, name: '~' }], contacts: [{ uri: 'sip:bob@acme.test', name: '', groups: [1], subscribed: true }], source: 'roaming-contacts' }]);
  const svc = f.sent.filter((s) => s.method === 'SERVICE');
  assert.equal(svc.length, 2);
  assert.match(svc[0]!.body ?? '', /container="2" version="0"/);
  assert.match(svc[1]!.body ?? '', /container="2" version="5"/);
  assert.match(svc[1]!.body ?? '', /container="3" version="7"/);
  assert.deepEqual(errors, []);
  // No adhoclist in Supported: one SUBSCRIBE per contact, Event: presence.
  const single = f.sent.filter((s) => s.method === 'SUBSCRIBE' && hdr(s, 'Event') === 'presence');
  assert.deepEqual(single.map((s) => s.uri), ['sip:bob@acme.test']);
  await agent.stop();
});
