// Review finding: session.stop() while the session is between the REGISTER 200 and "registered"
// (in-band provisioning, MRAS, cache write) never resolved: stop() found no wake-up hook to call,
// signInOnce() then returned, the loop set the state back to "registered", emitted "registered"
// after stop(), and waited in stayRegistered() for a loss that a healthy registrar never gives.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLabCa } from '../../src/lab/certs.js';
import { startLabRegistrar, type LabRegistrar } from '../../src/lab/registrar.js';
import { SignInSession } from '../../src/engine/session.js';

let registrar: LabRegistrar | undefined;
after(async () => {
  await registrar?.stop();
});

test('stop() during in-band provisioning resolves, ends "stopped", emits no "registered" after stop, un-REGISTERs', async () => {
  const ca = await createLabCa();
  registrar = await startLabRegistrar({ name: 'pool.review.test', address: '127.0.31.60', tlsPort: 5061, tcpPort: 5060, domain: 'review.test', users: { alice: 'pw-r' }, ca, mrasUri: 'sip:mras@review.test' });
  const s = new SignInSession({
    user: 'sip:alice@review.test',
    password: 'pw-r',
    targetFqdn: 'pool.review.test',
    hosts: { 'pool.review.test': ['127.0.31.60'] },
    ca: ca.cert,
    cache: false,
    presence: false,
    provisioning: true,
    networkWatchIntervalMs: 0,
    keepAliveIntervalMs: 0,
  });
  s.ready().catch(() => undefined);
  let stopCalled = false;
  const afterStop: string[] = [];
  s.on('registered', () => {
    if (stopCalled) afterStop.push('registered');
  });
  s.on('state', (st) => {
    if (stopCalled) afterStop.push(st);
  });
  let stopped: Promise<string> | undefined;
  s.on('step', (st, phase) => {
    if (st.kind === 'provisioning' && phase === 'start' && !stopCalled) {
      stopCalled = true;
      stopped = s.stop().then(() => 'stopped');
    }
  });
  // Wait for the provisioning step to begin (the registrar accepted the REGISTER).
  const t0 = Date.now();
  while (!stopped && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
  assert.ok(stopped, 'the provisioning step never started');
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<string>((r) => {
    timer = setTimeout(() => r('hung'), 8_000);
  });
  const outcome = await Promise.race([stopped, hung]);
  clearTimeout(timer);
  if (outcome === 'hung') {
    // Leave nothing behind for the next test file: end the registration the hard way.
    await registrar.stop();
    registrar = undefined;
  }
  assert.equal(outcome, 'stopped', 'stop() during provisioning did not resolve');
  assert.equal(s.state, 'stopped');
  assert.deepEqual(afterStop.filter((e) => e === 'registered'), [], `events after stop(): ${afterStop.join(', ')}`);
  assert.deepEqual(registrar?.bindings() ?? [], [], 'the binding was removed (un-REGISTER)');
});
