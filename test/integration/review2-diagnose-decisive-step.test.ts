// Review 2: a sign-in that ends with a definitive answer (401 after credentials) must be diagnosed
// by that answer, not by an earlier candidate that merely was down. A pool of two front ends with
// one down and a wrong password used to be reported as "refused: start the Registrar service".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../../src/lab/lab.js';
import { diagnose } from '../../src/diagnose/diagnose.js';

let lab: Lab;
before(async () => {
  lab = await startLab({ net: '127.33.41' });
});
after(async () => {
  await lab?.stop();
});

test('home pool down, backup pool rejects the password: the finding is AUTH_FAILED with the password fix', async () => {
  await lab.pool1.setFault('down');
  await lab.pool2.setFault('bad-password');
  try {
    const r = await diagnose(lab.signInOptions({ cache: false, presence: false }));
    assert.equal(r.result, 'fail');
    assert.equal(r.error?.code, 'AUTH_FAILED');
    assert.equal(r.finding?.code, 'AUTH_FAILED', `finding was ${r.finding?.code}: ${r.finding?.diagnosis}`);
    assert.equal(r.finding?.kind, 'authenticate');
    assert.match(r.finding?.fix ?? '', /password/);
  } finally {
    await lab.setFault('none');
  }
});

test('home pool silent, backup pool rejects the password: the finding is AUTH_FAILED, not the timeout', async () => {
  await lab.pool1.setFault('silent');
  await lab.pool2.setFault('bad-password');
  try {
    const r = await diagnose(lab.signInOptions({ cache: false, presence: false, transactionTimeoutMs: 1500 }));
    assert.equal(r.error?.code, 'AUTH_FAILED');
    assert.equal(r.finding?.code, 'AUTH_FAILED', `finding was ${r.finding?.code}: ${r.finding?.diagnosis}`);
  } finally {
    await lab.setFault('none');
  }
});
