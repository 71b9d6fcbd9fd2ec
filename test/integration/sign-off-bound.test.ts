// stop() against a registrar that hangs (connection open, nothing answered): the sign-off is
// bounded by signOffTimeoutMs, not by the transaction timeout (review finding: up to ~96 s with
// un-SUBSCRIBE, un-PUBLISH and un-REGISTER each waiting 32 s). Lab registrar on 127.0.32.10.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLabCa } from '../../src/lab/certs.js';
import { startLabRegistrar } from '../../src/lab/registrar.js';
import { SignInSession } from '../../src/engine/session.js';
import { QUIET } from '../helpers/quiet.js';
import type { SignInOptions } from '../../src/engine/options.js';

/** A lab registrar on 127.0.32.10 and a session signed in to it (target given: no discovery). */
async function signedIn(extra: Partial<SignInOptions> = {}) {
  const ca = await createLabCa();
  const registrar = await startLabRegistrar({ name: 'pool.hang.test', address: '127.0.32.10', tlsPort: 5061, tcpPort: 5060, domain: 'hang.test', users: { alice: 'pw-hang' }, ca });
  const s = new SignInSession({
    user: 'sip:alice@hang.test',
    password: 'pw-hang',
    targetFqdn: 'pool.hang.test',
    hosts: { 'pool.hang.test': ['127.0.32.10'] },
    ca: ca.cert,
    ...QUIET,
    ...extra,
  });
  const warnings: string[] = [];
  s.on('warning', (m) => warnings.push(m));
  await s.ready().catch(async (e: unknown) => {
    await registrar.stop();
    throw e;
  });
  return { s, registrar, warnings };
}

test('stop() against a hung registrar ends within signOffTimeoutMs: the connection is closed, a warning says why', async () => {
  const { s, registrar, warnings } = await signedIn({ transactionTimeoutMs: 30_000, signOffTimeoutMs: 400 });
  try {
    await registrar.setFault('hung');
    const t0 = performance.now();
    await s.stop();
    const took = performance.now() - t0;
    // Loose bound: 30 s is the transaction timeout the un-REGISTER would otherwise wait out.
    assert.ok(took < 10_000, `stop() took ${Math.round(took)} ms`);
    assert.equal(s.state, 'stopped');
    assert.ok(warnings.some((w) => /sign-off took longer than 400 ms/.test(w)), warnings.join('; '));
    const unreg = s.recorder.steps.find((st) => st.kind === 'unregister');
    assert.notEqual(unreg?.status, 'pass');
  } finally {
    await registrar.stop();
  }
});

test('stop() against a healthy registrar un-REGISTERs as before (the bound does not fire)', async () => {
  const { s, registrar, warnings } = await signedIn();
  try {
    assert.equal(registrar.bindings().length, 1);
    await s.stop();
    assert.equal(s.recorder.steps.find((st) => st.kind === 'unregister')?.status, 'pass');
    assert.equal(registrar.bindings().length, 0, 'the binding was removed');
    assert.deepEqual(warnings, []);
  } finally {
    await registrar.stop();
  }
});
