// Review 2: stop() while a re-SUBSCRIBE (after the server ended a subscription) is still waiting
// for its 200. The new dialog was then left alive on the server (never un-SUBSCRIBEd: the server
// keeps NOTIFYing a signed-out device until it expires) and a refresh timer was armed after stop,
// which on the real clock keeps the process alive for minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock.js';
import { PresenceAgent } from '../../src/presence/agent.js';
import type { Leg, LegDialog, LegRequestHandler, LegResponse } from '../../src/engine/sip-port.js';
import { StepRecorder } from '../../src/engine/steps.js';
import { makeRequest, type SipResponse } from '../../src/sip/message.js';

const AOR = 'sip:alice@acme.test';
const BOB = 'sip:bob@acme.test';

interface Sent {
  method: string;
  headers: Array<[string, string]>;
  dialog?: LegDialog;
  toTag?: string;
}

test('stop() during a re-SUBSCRIBE: the dialog its 200 creates is ended with Expires: 0 and no timer is left behind', async () => {
  const clock = new VirtualClock();
  const sent: Sent[] = [];
  let handler: LegRequestHandler | undefined;
  let hold: ((r: LegResponse) => void) | undefined;
  const reply = (status: number, headers: Array<[string, string]>): LegResponse => ({
    status,
    reason: 'OK',
    body: '',
    header: (n) => headers.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1],
    response: { kind: 'response', status, reason: 'OK', headers: headers.map(([name, value]) => ({ name, value })), body: Buffer.alloc(0) } as SipResponse,
  });
  const leg = {
    target: 'pres.acme.test:5060/tcp',
    outcome: { kind: 'registered', expires: 600, allowEvents: ['presence'], supported: [], response: {} as SipResponse },
    async request(method: string, o: { headers?: Array<[string, string]>; dialog?: LegDialog }): Promise<LegResponse> {
      const s: Sent = { method, headers: o.headers ?? [], ...(o.dialog ? { dialog: o.dialog } : {}), ...(o.dialog?.toTag ? { toTag: o.dialog.toTag } : {}) };
      o.dialog?.nextCSeq();
      sent.push(s);
      if (method === 'PUBLISH') return reply(200, [['SIP-ETag', 'e1'], ['Expires', '3600']]);
      const expires = s.headers.find(([k]) => k === 'Expires')?.[1];
      const subs = sent.filter((x) => x.method === 'SUBSCRIBE' && x.headers.find(([k]) => k === 'Expires')?.[1] !== '0');
      // The second (re-)SUBSCRIBE waits until the test lets it through.
      if (expires !== '0' && subs.length === 2) return new Promise((resolve) => (hold = resolve));
      return reply(200, [['To', `<${BOB}>;tag=srv${subs.length}`], ['Expires', '600']]);
    },
    setRequestHandler(h: LegRequestHandler | undefined) {
      handler = h;
    },
  } as unknown as Leg;
  const agent = new PresenceAgent({
    leg,
    aor: AOR,
    clock,
    recorder: new StepRecorder(clock),
    transactionTimeoutMs: 1000,
    instanceId: 'urn:uuid:00000000-0000-4000-8000-000000000003',
    config: { flavour: 'simple', listUri: undefined, contacts: [BOB], initialState: 'online', note: undefined, publishExpires: 3600, subscribeExpires: 600, listTimeoutMs: 1000 },
  });
  agent.on('presenceError', () => undefined);
  await agent.start();
  const first = sent.find((s) => s.method === 'SUBSCRIBE')!;
  await handler!(
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
  hold!(reply(200, [['To', `<${BOB}>;tag=srv2`], ['Expires', '600']]));
  await stopping;
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  const ends = sent.filter((s) => s.method === 'SUBSCRIBE' && s.headers.find(([k]) => k === 'Expires')?.[1] === '0');
  assert.ok(ends.some((s) => s.toTag === 'srv2'), `the dialog the re-SUBSCRIBE created was never ended (un-SUBSCRIBEs: ${JSON.stringify(ends.map((e) => e.toTag))})`);
  assert.equal(clock.pending, 0, 'a timer was armed after stop()');
});
