// Library-user QA: what a caller of signIn() meets through the package root, against the lab
// on 127.0.35.x. Each test states the surprise it guards against.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { signIn, diagnose, startLab, connectSip, SiplogonError, UsageError, type Lab, type SessionState } from '../../src/index.js';

let lab: Lab;
before(async () => {
  lab = await startLab({ net: '127.0.35' });
});
after(async () => {
  await lab?.stop();
});

test('a registered listener that throws is reported as a warning: sign-in is not retried, ready() resolves, stop() leaves no binding', async () => {
  const s = signIn(lab.signInOptions({ cache: false, presence: false, backoff: { baseMs: 100, capMs: 200 } }));
  let registered = 0;
  const warnings: string[] = [];
  s.on('registered', () => {
    registered++;
    throw new Error('bug in the caller');
  });
  s.on('warning', (m) => warnings.push(m));
  const retries: string[] = [];
  s.on('retrying', (r) => retries.push(r.error.code));
  try {
    const reg = await Promise.race([s.ready(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('ready() did not settle within 10 s')), 10_000))]);
    assert.equal(reg.registrar.fqdn, `pool1.${lab.domain}`);
    // Give a wrongly-retrying loop time to show itself (backoff 100–200 ms).
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(registered, 1);
    assert.deepEqual(retries, []);
    assert.equal(s.state, 'registered');
    assert.ok(warnings.some((w) => w.includes("'registered' listener threw") && w.includes('bug in the caller')), warnings.join('; '));
  } finally {
    await s.stop();
  }
  assert.deepEqual(lab.pool1.bindings(), [], 'stop() un-REGISTERed the one binding');
});

test('listeners attached right after signIn() see the first state and the first step start', async () => {
  const s = signIn(lab.signInOptions({ presence: false, cache: { path: `/tmp/siplogon-apiqa-${process.pid}.json`, readOnly: true } }));
  const states: SessionState[] = [];
  const starts: number[] = [];
  s.on('state', (st) => states.push(st));
  s.on('step', (step, phase) => {
    if (phase === 'start') starts.push(step.id);
  });
  try {
    await s.ready();
  } finally {
    await s.stop();
  }
  assert.equal(states[0], 'discovering');
  assert.equal(starts[0], 1, 'step #1 (cache-load) started after the listener was attached');
});

test('setPresence() refuses a state it cannot publish with a usage error, and does not keep it for later', async () => {
  const s = signIn(lab.signInOptions({ cache: false }));
  const published: string[] = [];
  s.on('presence', (p) => published.push(p.state));
  try {
    await s.ready();
    for (const bad of ['bogus', 'unknown']) {
      await assert.rejects(s.setPresence(bad as 'busy'), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION') && e instanceof UsageError);
    }
    await s.setPresence('away', 'lunch');
    assert.equal(published.at(-1), 'away');
  } finally {
    await s.stop();
  }
  await assert.rejects(s.setPresence('busy'), (e: unknown) => SiplogonError.is(e, 'PRESENCE_FAILED') && /stopped/.test((e as Error).message));
});

test('a CA of the wrong type is a usage error at signIn(), and rejects connectSip() instead of crashing the process', async () => {
  assert.throws(() => signIn({ ...lab.signInOptions({ cache: false }), ca: 42 as unknown as string }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  assert.throws(() => signIn({ ...lab.signInOptions({ cache: false }), ca: [lab.ca.cert, {} as string] }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  const address = lab.addresses[`pool1.${lab.domain}`] as string;
  await assert.rejects(
    connectSip({ address, port: lab.pool1.tlsPort, transport: 'tls', servername: `pool1.${lab.domain}` }, { ca: 42 as unknown as string, connectTimeoutMs: 2000 }),
    (e: unknown) => SiplogonError.is(e, 'TLS_HANDSHAKE_FAILED'),
  );
});

test('an already-aborted signal stops signIn() and diagnose() before they sign in', async () => {
  const ac = new AbortController();
  ac.abort();
  const s = signIn({ ...lab.signInOptions({ cache: false, presence: false }), signal: ac.signal });
  await assert.rejects(s.ready(), (e: unknown) => SiplogonError.is(e, 'ABORTED'));
  await s.stop();
  assert.equal(s.state, 'stopped');
  const report = await diagnose({ ...lab.signInOptions({ cache: false, presence: false }), signal: ac.signal });
  assert.equal(report.result, 'fail');
  assert.equal(report.error?.code, 'ABORTED');
  assert.deepEqual(lab.pool1.bindings(), []);
});
