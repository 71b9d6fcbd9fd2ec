// Presence in the embedded lab (issue 8), both flavours, through the real engine over TLS on
// loopback: the contact list and contact states reach the session's events, setPresence reaches
// the lab's records, live changes arrive as NOTIFYs, and sign-out ends every subscription.
// The Kamailio tests (presence-engine.test.ts) remain the reference peer; this proves the lab.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../../src/lab/lab.js';
import { SignInSession, type SessionEvents } from '../../src/engine/session.js';
import type { SignInOptions } from '../../src/engine/options.js';
import type { ContactPresence } from '../../src/presence/agent.js';
import { connectSip } from '../../src/sip/connection.js';
import { SipClient } from '../../src/sip/transaction.js';
import { requestWithAuth } from '../../src/sip/register.js';
import { getHeader } from '../../src/sip/message.js';

const labs = new Set<Lab>();
const sessions = new Set<SignInSession>();
after(async () => {
  await Promise.all([...sessions].map((s) => s.stop().catch(() => undefined)));
  await Promise.all([...labs].map((l) => l.stop()));
});

async function lab(flavour?: 'lync' | 'simple'): Promise<Lab> {
  const l = await startLab(flavour ? { presenceFlavour: flavour } : {});
  labs.add(l);
  return l;
}

interface Handle {
  s: SignInSession;
  seen: { [K in keyof SessionEvents]?: SessionEvents[K][] };
  waitFor<K extends keyof SessionEvents>(event: K, pred: (...args: SessionEvents[K]) => boolean, what: string): Promise<SessionEvents[K]>;
}

/** Signs in recording every event from the start, so nothing is missed between awaits. */
async function signIn(l: Lab, extra: Partial<SignInOptions> = {}): Promise<Handle> {
  const s = new SignInSession(l.signInOptions({ cache: false, keepAliveIntervalMs: 0, ...extra }));
  sessions.add(s);
  const seen: Handle['seen'] = {};
  const waiters = new Set<() => void>();
  for (const ev of ['presence', 'contacts', 'contactPresence', 'presenceError', 'registered'] as const) {
    s.on(ev, (...args: unknown[]) => {
      ((seen[ev] ??= []) as unknown[][]).push(args);
      for (const w of [...waiters]) w();
    });
  }
  const h: Handle = {
    s,
    seen,
    waitFor(event, pred, what) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = (seen[event] ?? []).find((args) => pred(...args));
          if (!hit) return false;
          clearTimeout(t);
          waiters.delete(check);
          resolve(hit);
          return true;
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${String(event)} (${what}) within 5 s; seen ${JSON.stringify(seen[event] ?? [])}; errors ${JSON.stringify(seen.presenceError ?? [])}`));
        }, 5000);
        if (!check()) waiters.add(check);
      });
    },
  };
  await s.ready();
  return h;
}

async function signOut(h: Handle): Promise<void> {
  await h.s.stop();
  sessions.delete(h.s);
}

/** Polls `cond` until true; fails after 3 s (a bound, not a speed claim). */
async function eventually(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`not within 3 s: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const is = (uri: string, state: ContactPresence['state'], note?: string) => (c: ContactPresence) => c.uri === uri && c.state === state && (note === undefined || c.note === note);

test('Lync lab (default): roaming contact list, category publish, batched SUBSCRIBE → NOTIFY states; setPresence and live changes; sign-out ends it all', async () => {
  const l = await lab();
  const D = l.domain;
  const aor = `sip:alice@${D}`;
  const h = await signIn(l);
  const pres = l.pool1.presence!;
  try {
    const [list] = await h.waitFor('contacts', () => true, 'roaming contacts');
    assert.deepEqual(list, {
      source: 'roaming-contacts',
      deltaNum: 1,
      groups: [
        { id: 1, name: '~' },
        { id: 2, name: 'Team' },
      ],
      contacts: [
        { uri: `sip:bob@${D}`, name: 'Bob Builder', groups: [1, 2], subscribed: true },
        { uri: `sip:carol@${D}`, name: '', groups: [1], subscribed: true },
      ],
    });
    await h.waitFor('contactPresence', is(`sip:bob@${D}`, 'online'), 'bob online');
    await h.waitFor('contactPresence', is(`sip:carol@${D}`, 'away', 'back at 3'), 'carol away');
    const [own] = await h.waitFor('presence', () => true, 'own presence');
    assert.deepEqual(own, { state: 'online', flavour: 'lync' });
    assert.deepEqual(pres.publications[0], { aor, flavour: 'lync', op: 'category', state: 'online', availability: 3500 });
    assert.deepEqual(
      pres.subscriptions().map((s) => s.kind).sort(),
      ['batch', 'roaming-contacts', 'roaming-self'],
      'one batched presence SUBSCRIBE, not one per contact',
    );

    await h.s.setPresence('busy', 'in a meeting');
    assert.deepEqual(pres.publications.at(-1), { aor, flavour: 'lync', op: 'category', state: 'busy', availability: 6500, note: 'in a meeting' });
    assert.deepEqual(pres.presenceOf(aor), { state: 'busy', note: 'in a meeting', flavour: 'lync' });

    // A change on the server is a partial RLMI NOTIFY in the batch dialog.
    l.setContactPresence(`sip:bob@${D}`, 'dnd');
    await h.waitFor('contactPresence', is(`sip:bob@${D}`, 'dnd'), 'bob dnd');
    // The client answers after it has handled the NOTIFY: the 200 may trail the event.
    await eventually(() => pres.notifyAnswers.length >= 2, 'answers to both NOTIFYs');
    assert.ok(pres.notifyAnswers.every((s) => s === 200), `NOTIFYs answered 200: ${pres.notifyAnswers.join(',')}`);
    assert.equal(h.seen.presenceError, undefined, JSON.stringify(h.seen.presenceError));
  } finally {
    await signOut(h);
  }
  // Sign-out un-SUBSCRIBEd in each dialog (Expires: 0) before the un-REGISTER.
  assert.deepEqual(pres.ended.map((s) => s.kind).sort(), ['batch', 'roaming-contacts', 'roaming-self']);
  assert.equal(l.pool1.bindings().length, 0);
  // RFC 6665 §4.1.2.3: the final "terminated" NOTIFY after our un-SUBSCRIBE is accepted, not 481.
  await eventually(() => pres.notifyAnswers.length >= 3, 'answers to the terminated NOTIFYs');
  assert.ok(pres.notifyAnswers.every((s) => s === 200), `every NOTIFY answered 200 (incl. the final ones): ${pres.notifyAnswers.join(',')}`);
});

test('Lync lab: presence follows the failover to pool2 (new list, new states, a new publication there)', async () => {
  const l = await lab();
  const D = l.domain;
  const h = await signIn(l, { backoff: { baseMs: 100, capMs: 500 } });
  try {
    await h.waitFor('contactPresence', is(`sip:carol@${D}`, 'away'), 'carol away on pool1');
    const before = h.seen.contacts?.length ?? 0;
    await l.setFault('registrar-down', 'pool1');
    await h.waitFor('registered', (r) => r.registrar.fqdn === `pool2.${D}`, 'registered on pool2');
    await h.waitFor('contacts', () => (h.seen.contacts?.length ?? 0) > before, 'the list again');
    // The new leg's agent reports every contact afresh.
    const states = (): ContactPresence[] => (h.seen.contactPresence ?? []).map(([c]) => c);
    await h.waitFor('contactPresence', () => states().filter((c) => c.uri === `sip:carol@${D}` && c.state === 'away').length >= 2, 'carol away again');
    assert.equal(l.pool2.presence!.publications[0]?.state, 'online');
    assert.ok(l.pool2.presence!.subscriptions().some((s) => s.kind === 'batch'));
  } finally {
    await signOut(h);
    await l.setFault('none');
  }
});

test('SIMPLE lab: PUBLISH with SIP-ETag (initial, modify, remove), the RLS list with names and PIDF states, a partial NOTIFY on change', async () => {
  const l = await lab('simple');
  const D = l.domain;
  const aor = `sip:alice@${D}`;
  const po = l.signInOptions().presence;
  assert.equal(po === false ? undefined : po?.listUri, `sip:alice-buddies@${D}`, 'the lab passes its list URI when SIMPLE');
  const h = await signIn(l);
  const pres = l.pool1.presence!;
  try {
    const [own] = await h.waitFor('presence', () => true, 'own presence');
    assert.deepEqual(own, { state: 'online', flavour: 'simple' }, 'the REGISTER 200 did not advertise msrtc-event-categories');
    const [list] = await h.waitFor('contacts', (x) => x.source === 'rls', 'RLS list');
    assert.deepEqual(list.contacts.map((c) => [c.uri, c.name]), [
      [`sip:bob@${D}`, 'Bob Builder'],
      [`sip:carol@${D}`, ''],
    ]);
    await h.waitFor('contactPresence', is(`sip:bob@${D}`, 'online'), 'bob open');
    // PIDF basic only knows open/closed (RFC 3863 §4.1.4): away is open, the note says the rest.
    await h.waitFor('contactPresence', is(`sip:carol@${D}`, 'online', 'back at 3'), 'carol open with her note');
    const first = pres.publications[0];
    assert.equal(first?.op, 'initial');
    assert.equal(first?.basic, 'open');
    assert.match(first?.etag ?? '', /\S/);

    await h.s.setPresence('offline', 'gone fishing');
    // 'modify' is recorded only when SIP-If-Match named the current entity-tag (else 412).
    const mod = pres.publications.at(-1);
    assert.equal(mod?.op, 'modify');
    assert.equal(mod?.basic, 'closed');
    assert.equal(mod?.note, 'gone fishing');
    assert.notEqual(mod?.etag, first?.etag, 'a fresh entity-tag per modification (RFC 3903 §6)');

    l.setContactPresence(`sip:carol@${D}`, 'offline');
    await h.waitFor('contactPresence', is(`sip:carol@${D}`, 'offline'), 'carol closed (partial RLMI)');
    assert.equal(h.seen.contacts?.length, 1, 'a partial notification changes states, not the list');
    assert.deepEqual(pres.subscriptions().map((s) => s.kind), ['rls']);
    assert.equal(h.seen.presenceError, undefined, JSON.stringify(h.seen.presenceError));
  } finally {
    await signOut(h);
  }
  assert.equal(pres.publications.at(-1)?.op, 'remove');
  assert.equal(pres.presenceOf(aor), undefined);
  assert.deepEqual(pres.ended.map((s) => s.kind), ['rls']);
});

test('SIMPLE lab without a list: one Event: presence SUBSCRIBE per contact → PIDF NOTIFY; an unknown contact is a 404 presenceError', async () => {
  const l = await lab('simple');
  const D = l.domain;
  const h = await signIn(l, { presence: { listUri: undefined, contacts: [`sip:bob@${D}`, `sip:nobody@${D}`] } });
  try {
    await h.waitFor('contactPresence', is(`sip:bob@${D}`, 'online'), 'bob via PIDF');
    const [err, ctx] = await h.waitFor('presenceError', () => true, 'nobody refused');
    assert.equal(err.code, 'PRESENCE_FAILED');
    assert.equal(ctx, 'contactPresence');
    assert.equal(err.details['status'], 404);
    assert.deepEqual(l.pool1.presence!.subscriptions().map((s) => [s.kind, s.watched]), [['single', [`sip:bob@${D}`]]]);
  } finally {
    await signOut(h);
  }
});

test('the lab refuses bad presence requests with the right status, never a crash', async () => {
  const l = await lab('simple');
  const D = l.domain;
  const conn = await connectSip({ address: l.pool1.address, port: l.pool1.tcpPort, transport: 'tcp' }, { connectTimeoutMs: 2000 });
  const client = new SipClient(conn, { timerFMs: 3000 });
  const creds = { username: 'alice', password: l.password };
  const aor = `sip:alice@${D}`;
  const send = async (method: string, uri: string, headers: Array<[string, string]>, body?: string) => {
    const h = (): Array<[string, string]> => [['To', `<${uri}>`], ['Contact', '<sip:alice@127.0.0.1;transport=tcp>'], ...headers];
    return requestWithAuth(client, method, { uri, headers: h, ...(body !== undefined ? { body } : {}) }, creds);
  };
  try {
    assert.equal((await send('PUBLISH', aor, [['Event', 'presence'], ['SIP-If-Match', 'no-such-tag'], ['Expires', '60']])).status, 412, 'unknown entity-tag (RFC 3903 §6 step 4)');
    assert.equal((await send('PUBLISH', aor, [['Event', 'presence'], ['Content-Type', 'application/pidf+xml']], '<presence')).status, 400, 'malformed PIDF');
    assert.equal((await send('PUBLISH', aor, [['Event', 'presence']])).status, 400, 'initial PUBLISH without a body');
    assert.equal((await send('PUBLISH', `sip:bob@${D}`, [['Event', 'presence'], ['Content-Type', 'application/pidf+xml']], '<x/>')).status, 403, 'publishing for someone else');
    const noList = await send('SUBSCRIBE', l.listUri, [['Event', 'presence'], ['Expires', '60']]);
    assert.equal(noList.status, 421, 'list SUBSCRIBE without Supported: eventlist (RFC 4662 §4.4)');
    assert.equal(getHeader(noList, 'Require'), 'eventlist');
    assert.equal((await send('SUBSCRIBE', aor, [['Event', 'vnd-microsoft-roaming-contacts'], ['Expires', '60']])).status, 489, 'no Lync events on a SIMPLE lab');
    const stray = await requestWithAuth(client, 'SUBSCRIBE', { uri: `sip:bob@${D}`, headers: () => [['To', `<sip:bob@${D}>;tag=nope`], ['Contact', '<sip:alice@127.0.0.1>'], ['Event', 'presence'], ['Expires', '0']] }, creds);
    assert.equal(stray.status, 481, 'in-dialog SUBSCRIBE for a dialog the lab does not know');
    // Still serving after all that.
    assert.equal((await send('OPTIONS', `sip:pool1.${D}`, [])).status, 200);
  } finally {
    conn.close();
  }
});
