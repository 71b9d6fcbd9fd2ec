// Presence after sign-in (issue 8) on the real engine against a real Kamailio 5.6 presence server
// + RLS (test/helpers/kamailio-presence.ts) on 127.0.60.1/TCP: SIMPLE publish/watch, the RLS list
// with partial updates, the Lync roaming-contacts list + category publish + batched SUBSCRIBE,
// sign-out clean-up, and a malformed contact list that must not end the session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKamailioPresence, PRESENCE_USERS, type KamailioPresencePeer } from '../helpers/kamailio-presence.js';
import { SignInSession, type SessionEvents } from '../../src/engine/session.js';
import type { PresenceOptions, SignInOptions } from '../../src/engine/options.js';
import type { ContactPresence } from '../../src/presence/agent.js';
import type { StepRecord } from '../../src/engine/steps.js';
import { diagnose } from '../../src/diagnose/diagnose.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const D = 'acme.test';
let peer: KamailioPresencePeer | undefined;
const sessions = new Set<SignInSession>();

before(async () => {
  peer = await startKamailioPresence({ address: '127.0.60.1' });
});
after(async () => {
  // Sessions a failed test left behind are signed off before the peer goes.
  await Promise.all([...sessions].map((s) => s.stop().catch(() => undefined)));
  await peer?.stop();
});

type User = keyof typeof PRESENCE_USERS;

function options(user: User, presence: PresenceOptions | false, address = '127.0.60.1'): SignInOptions {
  return {
    user: `sip:${user}@${D}`,
    password: PRESENCE_USERS[user],
    targetFqdn: `pres.${D}`,
    targetTransport: 'tcp',
    targetPort: 5060,
    hosts: { [`pres.${D}`]: [address] },
    cache: false,
    provisioning: false,
    networkWatchIntervalMs: 0,
    keepAliveIntervalMs: 0,
    transactionTimeoutMs: 5000,
    presence,
  };
}

/** A signed-in session that records every event from the start (nothing is missed between awaits). */
interface Handle {
  s: SignInSession;
  seen: { [K in keyof SessionEvents]?: SessionEvents[K][] };
  waitFor<K extends keyof SessionEvents>(event: K, pred: (...args: SessionEvents[K]) => boolean, what: string, timeoutMs?: number): Promise<SessionEvents[K]>;
}

async function signIn(user: User, presence: PresenceOptions | false, address?: string): Promise<Handle> {
  const s = new SignInSession(options(user, presence, address));
  sessions.add(s);
  const seen: Handle['seen'] = {};
  const waiters = new Set<() => void>();
  for (const ev of ['presence', 'contacts', 'contactPresence', 'presenceError', 'lost', 'registered'] as const) {
    s.on(ev, (...args: unknown[]) => {
      ((seen[ev] ??= []) as unknown[][]).push(args);
      for (const w of [...waiters]) w();
    });
  }
  const h: Handle = {
    s,
    seen,
    waitFor(event, pred, what, timeoutMs = 10_000) {
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
          reject(new Error(`${user}: no ${String(event)} (${what}) within ${timeoutMs} ms; seen ${JSON.stringify(seen[event] ?? [])}; kamailio: ${peer?.logs().slice(-1500)}`));
        }, timeoutMs);
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

const contactIs = (uri: string, state: ContactPresence['state']) => (c: ContactPresence) => c.uri === uri && c.state === state;
const steps = (h: Handle, kind: string) => h.s.recorder.steps.filter((x) => x.kind === kind);

/** The first ended step of `kind` (an event may be emitted just before its step ends). */
function stepEnded(h: Handle, kind: string, timeoutMs = 10_000): Promise<StepRecord> {
  return new Promise((resolve, reject) => {
    const find = (): StepRecord | undefined => h.s.recorder.steps.find((x) => x.kind === kind && x.status !== 'running');
    const now = find();
    if (now) return resolve(now);
    const t = setTimeout(() => {
      off();
      reject(new Error(`no ended ${kind} step within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = h.s.recorder.subscribe(() => {
      const r = find();
      if (!r) return;
      clearTimeout(t);
      off();
      resolve(r);
    });
  });
}

test('SIMPLE: alice publishes open with an ETag; bob (per-contact SUBSCRIBE) sees her open, then closed after setPresence, then open again', async () => {
  const alice = await signIn('alice', { flavour: 'simple', note: 'available' });
  try {
    await alice.waitFor('presence', (p) => p.state === 'online' && p.flavour === 'simple', 'own online');
    const pub = await stepEnded(alice, 'presence');
    assert.equal(pub?.status, 'pass', JSON.stringify(pub));
    assert.match(String(pub?.detail['etag']), /\S/, 'PUBLISH 200 carried a SIP-ETag (RFC 3903 §4.1)');
    assert.equal((await stepEnded(alice, 'contacts')).status, 'skipped');

    const bob = await signIn('bob', { flavour: 'simple', contacts: [`sip:alice@${D}`] });
    try {
      const [c] = await bob.waitFor('contactPresence', contactIs(`sip:alice@${D}`, 'online'), 'alice online');
      assert.equal(c.note, 'available');
      const [list] = await bob.waitFor('contacts', () => true, 'configured list');
      assert.equal(list.source, 'configured');
      assert.deepEqual(list.contacts.map((x) => x.uri), [`sip:alice@${D}`]);

      await alice.s.setPresence('offline', 'gone fishing');
      await bob.waitFor('contactPresence', contactIs(`sip:alice@${D}`, 'offline'), 'alice closed');
      await alice.s.setPresence('online');
      await bob.waitFor('contactPresence', (x) => x.uri === `sip:alice@${D}` && x.state === 'online' && x.note === undefined, 'alice open again');
      // Modify kept one publication (SIP-If-Match): bob never saw two tuples, so "closed" above was not masked by the old "open".
      assert.equal(alice.seen.presenceError, undefined, JSON.stringify(alice.seen.presenceError));
      assert.equal(bob.seen.presenceError, undefined, JSON.stringify(bob.seen.presenceError));
    } finally {
      await signOut(bob);
    }
  } finally {
    await signOut(alice);
  }
});

test("SIMPLE RLS: alice's list (bob, carol) arrives with their states, and a partial update when bob changes", async () => {
  const bob = await signIn('bob', { flavour: 'simple' });
  try {
    await bob.waitFor('presence', (p) => p.state === 'online', 'bob published');
    const alice = await signIn('alice', { flavour: 'simple', listUri: `sip:alice-buddies@${D}` });
    try {
      const [list] = await alice.waitFor('contacts', (l) => l.source === 'rls', 'RLS list');
      assert.deepEqual(list.contacts.map((c) => c.uri).sort(), [`sip:bob@${D}`, `sip:carol@${D}`]);
      const listStep = await stepEnded(alice, 'contacts');
      assert.equal(listStep?.status, 'pass', JSON.stringify(listStep));
      await alice.waitFor('contactPresence', contactIs(`sip:bob@${D}`, 'online'), 'bob online via RLS');
      assert.equal((alice.seen.contactPresence ?? []).some(([c]) => c.uri === `sip:carol@${D}` && c.state === 'online'), false, 'carol never published');

      const listsBefore = alice.seen.contacts?.length ?? 0;
      await bob.s.setPresence('offline');
      await alice.waitFor('contactPresence', contactIs(`sip:bob@${D}`, 'offline'), 'bob offline (partial RLMI)');
      // A partial notification (fullState=false) updates the state, not the list.
      assert.equal(alice.seen.contacts?.length, listsBefore);
      assert.equal(alice.seen.presenceError, undefined, JSON.stringify(alice.seen.presenceError));
    } finally {
      await signOut(alice);
    }
  } finally {
    await signOut(bob);
  }
});

test('Lync (auto from the REGISTER 200): roaming-contacts becomes the typed contact list; category publish; batched SUBSCRIBE brings bob open', async () => {
  const bob = await signIn('bob', { flavour: 'simple' });
  try {
    await bob.waitFor('presence', (p) => p.state === 'online', 'bob published');
    const alice = await signIn('alice', {});
    try {
      const [list] = await alice.waitFor('contacts', () => true, 'roaming contacts');
      assert.deepEqual(list, {
        source: 'roaming-contacts',
        deltaNum: 7,
        groups: [
          { id: 1, name: '~' },
          { id: 2, name: 'Team' },
        ],
        contacts: [
          { uri: `sip:bob@${D}`, name: 'Bob Builder', groups: [1, 2], subscribed: true },
          { uri: `sip:carol@${D}`, name: '', groups: [1], subscribed: true },
        ],
      });
      const [own] = await alice.waitFor('presence', () => true, 'own presence');
      assert.deepEqual(own, { state: 'online', flavour: 'lync' });
      const cs = await stepEnded(alice, 'contacts');
      assert.equal(cs?.status, 'pass', JSON.stringify(cs));
      assert.equal(cs?.detail['piggybacked'], true);
      assert.equal((await stepEnded(alice, 'presence')).status, 'pass');
      await alice.waitFor('contactPresence', contactIs(`sip:bob@${D}`, 'online'), 'bob via batched SUBSCRIBE');
      assert.equal(alice.seen.presenceError, undefined, JSON.stringify(alice.seen.presenceError));
    } finally {
      await signOut(alice);
    }
  } finally {
    await signOut(bob);
  }
});

test('sign-out removes the publication (watchers see closed) and ends the subscriptions (the server stops notifying)', async () => {
  const alice = await signIn('alice', { flavour: 'simple', listUri: `sip:alice-buddies@${D}` });
  await alice.waitFor('contacts', (l) => l.source === 'rls', 'RLS list');
  const bob = await signIn('bob', { flavour: 'simple', contacts: [`sip:alice@${D}`] });
  try {
    await bob.waitFor('contactPresence', contactIs(`sip:alice@${D}`, 'online'), 'alice online');
    await signOut(alice);
    const removal = alice.s.recorder.steps.find((x) => x.kind === 'presence' && /Expires: 0/.test(x.title));
    assert.equal(removal?.status, 'pass', JSON.stringify(removal));
    await bob.waitFor('contactPresence', contactIs(`sip:alice@${D}`, 'offline'), 'alice closed after sign-out');
    // bob changes state: alice's RLS subscription would be NOTIFYed (waitn_time 1 s) if it were still alive.
    await bob.s.setPresence('away');
    await new Promise((r) => setTimeout(r, 2500));
  } finally {
    await signOut(bob);
  }
  // A live subscription to a closed client shows as failed connects to its old port (recipe pitfall 7).
  await new Promise((r) => setTimeout(r, 1500));
  assert.doesNotMatch(peer!.logs(), /tcpconn_1st_send\(\): connect 127\.0\.0\.1:\d+ failed/);
});

test('a malformed roaming contact list is a typed presenceError on "contacts"; the session stays signed in and still publishes', async () => {
  const bad = await startKamailioPresence({ address: '127.0.60.2', contactList: '<contactList deltaNum="zero"><group id="1" name="~"/></contactList>' });
  try {
    const alice = await signIn('alice', {}, '127.0.60.2');
    try {
      const [err, ctx] = await alice.waitFor('presenceError', () => true, 'malformed list');
      assert.equal(err.code, 'BODY_MALFORMED');
      assert.equal(ctx, 'contacts');
      assert.equal((await stepEnded(alice, 'contacts')).status, 'fail');
      await alice.waitFor('presence', (p) => p.state === 'online', 'published anyway');
      assert.equal(alice.s.state, 'registered');
      assert.equal(alice.seen.lost, undefined);
      assert.equal(alice.seen.contacts, undefined);
    } finally {
      await signOut(alice);
    }
  } finally {
    await bad.stop();
  }
});

test('diagnose() records "presence" and "contacts" steps after sign-in (Lync flavour) and signs off cleanly', async () => {
  const report = await diagnose(options('alice', {}));
  assert.equal(report.result, 'pass', JSON.stringify(report.finding));
  const pres = report.steps.find((s) => s.kind === 'presence');
  const contacts = report.steps.find((s) => s.kind === 'contacts');
  assert.equal(pres?.status, 'pass', JSON.stringify(pres));
  assert.equal(contacts?.status, 'pass', JSON.stringify(contacts));
  assert.deepEqual(contacts?.detail['contacts'], [`sip:bob@${D}`, `sip:carol@${D}`]);
  // Presence is set up before the un-REGISTER ends the run.
  const unreg = report.steps.findIndex((s) => s.kind === 'unregister');
  assert.ok(unreg > report.steps.indexOf(contacts!), 'contacts before un-REGISTER');
  assert.equal(report.steps[unreg]?.status, 'pass');
});

test('CLI sign-in --json prints presence, the contact list and contact states as NDJSON; SIGINT signs out with exit 0', async () => {
  const bob = await signIn('bob', { flavour: 'simple' });
  try {
    await bob.waitFor('presence', (p) => p.state === 'online', 'bob published');
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const args = [main, 'sign-in', '--user', `sip:alice@${D}`, '--password-env', 'SIPLOGON_TEST_PW', '--target-fqdn', `pres.${D}`, '--transport', 'tcp', '--target-port', '5060', '--resolve', `pres.${D}:127.0.60.1`, '--no-cache', '--timeout', '5000', '--json'];
    const child = spawn(process.execPath, args, { env: { ...process.env, SIPLOGON_TEST_PW: PRESENCE_USERS.alice }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const events = (): Record<string, unknown>[] => stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no contact presence from the CLI within 15 s: ${stdout} ${stderr}`)), 15_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (events().some((e) => e['event'] === 'contactPresence' && (e['contact'] as ContactPresence).uri === `sip:bob@${D}`)) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      const ev = events();
      assert.ok(ev.some((e) => e['event'] === 'presence' && (e['presence'] as { state: string }).state === 'online'));
      const list = ev.find((e) => e['event'] === 'contacts')?.['contacts'] as { contacts: { uri: string }[] } | undefined;
      assert.deepEqual(list?.contacts.map((c) => c.uri), [`sip:bob@${D}`, `sip:carol@${D}`]);
      assert.doesNotMatch(stdout + stderr, new RegExp(PRESENCE_USERS.alice), 'the password is never printed');
    } finally {
      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
      if (code === 'hung') child.kill('SIGKILL');
      assert.equal(code, 0, stderr);
    }
  } finally {
    await signOut(bob);
  }
});
