// Review 2: presence subscriptions and the publication must survive one failed refresh, obey the
// server's retry-after on a probation termination, follow 423 Min-Expires, and not grow without
// bound when the server keeps ending subscriptions. Scripted leg, virtual time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock.js';
import { agentOn, scriptedLeg, type ScriptedReply, type SentRequest } from '../helpers/scripted-leg.js';
import { makeRequest } from '../../src/sip/message.js';
import type { SiplogonError } from '../../src/errors.js';

const AOR = 'sip:alice@acme.test';
const BOB = 'sip:bob@acme.test';

type Sent = SentRequest;
type Reply = ScriptedReply;

function setup(answer: (s: Sent) => Reply, config: Record<string, unknown> = {}) {
  const clock = new VirtualClock();
  const { leg, sent, deliver } = scriptedLeg({ answer, clock });
  const { agent } = agentOn(leg, clock, { flavour: 'simple', contacts: [BOB], ...config });
  const errors: SiplogonError[] = [];
  agent.on('presenceError', (e) => errors.push(e));
  return { clock, sent, agent, errors, deliver };
}

const hdr = (s: Sent, n: string): string | undefined => s.headers.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1];
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
/** Advances virtual time in 1 s steps so async follow-ups can schedule their own timers. */
async function advance(clock: VirtualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 1000) {
    clock.advance(Math.min(1000, ms - t));
    await flush();
  }
}
const okSub = (s: Sent, expires = '600'): Reply => ({ status: 200, headers: [['To', `<${s.uri}>;tag=srv-${s.dialog?.callId ?? 'x'}`], ['Expires', expires]] });
const okPub: Reply = { status: 200, headers: [['SIP-ETag', 'e1'], ['Expires', '3600']] };

test('a SUBSCRIBE refresh answered 503 once is retried before the subscription expires (RFC 6665 §4.1.2.2), not dropped', async () => {
  let failNext = false;
  const t = setup((s) => {
    if (s.method === 'PUBLISH') return okPub;
    if (failNext) {
      failNext = false;
      return { status: 503 };
    }
    return okSub(s);
  });
  await t.agent.start();
  const subs = () => t.sent.filter((s) => s.method === 'SUBSCRIBE');
  assert.equal(subs().length, 1);
  failNext = true;
  await advance(t.clock, 481_000); // the refresh is due 120 s before the 600 s expiry
  assert.equal(subs().length, 2, 'the refresh was sent and answered 503');
  await advance(t.clock, 118_000); // still inside the granted 600 s
  assert.ok(subs().length >= 3, `no new refresh attempt before the subscription expired (${subs().length} SUBSCRIBEs)`);
  const last = subs().at(-1)!;
  assert.equal(hdr(last, 'Expires'), '600');
  await t.agent.stop();
});

test('a PUBLISH refresh answered 503 once is retried before the publication expires, not dropped', async () => {
  let failNext = false;
  const t = setup((s) => {
    if (s.method !== 'PUBLISH') return okSub(s);
    if (failNext) {
      failNext = false;
      return { status: 503 };
    }
    return okPub;
  }, { contacts: [] });
  await t.agent.start();
  const pubs = () => t.sent.filter((s) => s.method === 'PUBLISH');
  assert.equal(pubs().length, 1);
  failNext = true;
  await advance(t.clock, 3_481_000);
  assert.equal(pubs().length, 2, 'the refresh was sent and answered 503');
  await advance(t.clock, 118_000);
  assert.ok(pubs().length >= 3, 'no new PUBLISH before the publication expired: the user silently goes offline for watchers');
  await t.agent.stop();
});

test('NOTIFY terminated;reason=probation;retry-after=300: no new SUBSCRIBE before 300 s (RFC 6665 §4.1.3), one after', async () => {
  const t = setup((s) => (s.method === 'PUBLISH' ? okPub : okSub(s)));
  await t.agent.start();
  const first = t.sent.find((s) => s.method === 'SUBSCRIBE')!;
  const notify = makeRequest('NOTIFY', 'sip:alice@127.0.0.1:5000', [
    ['From', `<${BOB}>;tag=srv-${first.dialog!.callId}`],
    ['To', `<${AOR}>;tag=${first.dialog!.fromTag}`],
    ['Call-ID', first.dialog!.callId],
    ['CSeq', '2 NOTIFY'],
    ['Event', 'presence'],
    ['Subscription-State', 'terminated;reason=probation;retry-after=300'],
  ]);
  assert.deepEqual(await t.deliver(notify), { status: 200 });
  await flush();
  const subs = () => t.sent.filter((s) => s.method === 'SUBSCRIBE');
  assert.equal(subs().length, 1, 'a probation termination with retry-after=300 was re-SUBSCRIBEd at once');
  await advance(t.clock, 299_000);
  assert.equal(subs().length, 1);
  await advance(t.clock, 2_000);
  assert.equal(subs().length, 2, 'the subscription comes back after retry-after');
  await t.agent.stop();
});

test('423 Interval Too Brief with Min-Expires: the SUBSCRIBE is sent again with Expires = Min-Expires', async () => {
  const t = setup((s) => {
    if (s.method === 'PUBLISH') return okPub;
    if (Number(hdr(s, 'Expires')) < 1800) return { status: 423, headers: [['Min-Expires', '1800']] };
    return okSub(s, '1800');
  });
  await t.agent.start();
  const subs = t.sent.filter((s) => s.method === 'SUBSCRIBE');
  assert.equal(subs.length, 2, 'the 423 was not followed by a SUBSCRIBE with the Min-Expires');
  assert.equal(hdr(subs[1]!, 'Expires'), '1800');
  assert.equal(t.agent.subscriptionCount, 1);
  assert.deepEqual(t.errors.map((e) => e.message), []);
  await t.agent.stop();
});

test('a server ending the subscription over and over does not make the agent keep every dead dialog', async () => {
  const t = setup((s) => (s.method === 'PUBLISH' ? okPub : okSub(s)));
  await t.agent.start();
  for (let i = 0; i < 200; i++) {
    const cur = t.sent.filter((s) => s.method === 'SUBSCRIBE').at(-1)!;
    await t.deliver(
      makeRequest('NOTIFY', 'sip:alice@127.0.0.1:5000', [
        ['From', `<${BOB}>;tag=srv-${cur.dialog!.callId}`],
        ['To', `<${AOR}>;tag=${cur.dialog!.fromTag}`],
        ['Call-ID', cur.dialog!.callId],
        ['CSeq', '2 NOTIFY'],
        ['Event', 'presence'],
        ['Subscription-State', 'terminated;reason=deactivated'],
      ]),
    );
    await flush();
  }
  assert.equal(t.agent.subscriptionCount, 1);
  const kept = (t.agent as unknown as { subs: unknown[] }).subs.length;
  assert.ok(kept <= 2, `the agent holds ${kept} subscription records for 1 live subscription`);
  await t.agent.stop();
});
