// Review 2: sign-out while a PUBLISH refresh is in flight. The removal (Expires: 0) went out at
// once with the entity tag the refresh was about to replace, so the server answered it 412 and
// the user stayed "online" to watchers for up to the publication's lifetime after signing out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock.js';
import { agentOn, header, scriptedLeg, type ScriptedReply } from '../helpers/scripted-leg.js';

test('stop() during a PUBLISH refresh: the removal quotes the entity tag the refresh produced', async () => {
  const clock = new VirtualClock();
  const sent: { ifMatch: string | undefined; expires: string | undefined }[] = [];
  let current = 'e1';
  let n = 1;
  let hold: (() => void) | undefined;
  const { leg } = scriptedLeg({
    allowEvents: [],
    answer: (s) => {
      const ifMatch = header(s, 'SIP-If-Match');
      const expires = header(s, 'Expires');
      sent.push({ ifMatch, expires });
      // A server as RFC 3903 §6 describes: a stale entity tag is 412.
      const answer = (): ScriptedReply => {
        if (ifMatch !== undefined && ifMatch !== current) return { status: 412 };
        current = `e${++n}`;
        return { status: 200, headers: [['SIP-ETag', current], ['Expires', expires === '0' ? '0' : '600']] };
      };
      // The server handles requests in arrival order; the first refresh's answer is slow to come back.
      const a = answer();
      if (ifMatch !== undefined && expires !== '0' && !hold) return new Promise((resolve) => (hold = () => resolve(a)));
      return a;
    },
  });
  const { agent } = agentOn(leg, clock, { flavour: 'simple', publishExpires: 600 });
  await agent.start();
  clock.advance(481_000);
  await new Promise((r) => setImmediate(r));
  assert.ok(hold, 'the refresh is in flight');
  const stopping = agent.stop();
  await new Promise((r) => setImmediate(r));
  hold!();
  await stopping;
  const removal = sent.find((s) => s.expires === '0');
  assert.ok(removal, 'a removal was sent');
  assert.equal(removal.ifMatch, 'e3', `the removal quoted ${removal.ifMatch} while the refresh had produced e3: the server answered 412 and kept the user online`);
  assert.deepEqual(sent.at(-1), { ifMatch: 'e3', expires: '0' }, 'nothing is published after the removal');
});
