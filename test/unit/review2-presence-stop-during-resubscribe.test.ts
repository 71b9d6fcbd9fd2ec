// Review 2: stop() while a re-SUBSCRIBE (after the server ended a subscription) is still waiting
// for its 200. The new dialog was then left alive on the server (never un-SUBSCRIBEd: the server
// keeps NOTIFYing a signed-out device until it expires) and a refresh timer was armed after stop,
// which on the real clock keeps the process alive for minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock.js';
import { agentOn, header, scriptedLeg, type ScriptedReply } from '../helpers/scripted-leg.js';
import { makeRequest } from '../../src/sip/message.js';

const AOR = 'sip:alice@acme.test';
const BOB = 'sip:bob@acme.test';

test('stop() during a re-SUBSCRIBE: the dialog its 200 creates is ended with Expires: 0 and no timer is left behind', async () => {
  const clock = new VirtualClock();
  let hold: ((r: ScriptedReply) => void) | undefined;
  const { leg, sent, deliver } = scriptedLeg({
    clock,
    answer: (s) => {
      if (s.method === 'PUBLISH') return { status: 200, headers: [['SIP-ETag', 'e1'], ['Expires', '3600']] };
      const expires = header(s, 'Expires');
      const subs = sent.filter((x) => x.method === 'SUBSCRIBE' && header(x, 'Expires') !== '0');
      // The second (re-)SUBSCRIBE waits until the test lets it through.
      if (expires !== '0' && subs.length === 2) return new Promise((resolve) => (hold = resolve));
      return { status: 200, headers: [['To', `<${BOB}>;tag=srv${subs.length}`], ['Expires', '600']] };
    },
  });
  const { agent } = agentOn(leg, clock, { flavour: 'simple', contacts: [BOB] });
  await agent.start();
  const first = sent.find((s) => s.method === 'SUBSCRIBE')!;
  await deliver(
    makeRequest('NOTIFY', 'sip:alice@127.0.0.1:5000', [
      ['From', `<${BOB}>;tag=srv1`],
      ['To', `<${AOR}>;tag=${first.dialog!.fromTag}`],
      ['Call-ID', first.dialog!.callId],
      ['CSeq', '2 NOTIFY'],
      ['Event', 'presence'],
      ['Subscription-State', 'terminated;reason=deactivated'],
    ]),
  );
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.ok(hold, 'the re-SUBSCRIBE is in flight');
  const stopping = agent.stop();
  hold!({ status: 200, headers: [['To', `<${BOB}>;tag=srv2`], ['Expires', '600']] });
  await stopping;
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  const ends = sent.filter((s) => s.method === 'SUBSCRIBE' && header(s, 'Expires') === '0');
  assert.ok(ends.some((s) => s.toTag === 'srv2'), `the dialog the re-SUBSCRIBE created was never ended (un-SUBSCRIBEs: ${JSON.stringify(ends.map((e) => e.toTag))})`);
  assert.equal(clock.pending, 0, 'a timer was armed after stop()');
});
