// The README's API example, through the package entry point, against the embedded lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signIn, diagnose, startLab, SiplogonError } from '../../src/index.js';

test('README API: signIn() gives a session with events; diagnose() a report; both through the package root', async () => {
  const lab = await startLab();
  try {
    const session = signIn(lab.signInOptions({ cache: false }));
    const seen: string[] = [];
    session.on('step', (step, phase) => {
      if (phase === 'end') seen.push(`${step.status} ${step.kind}`);
    });
    const reg = await session.ready();
    assert.equal(reg.registrar.fqdn, `pool1.${lab.domain}`);
    assert.ok(seen.includes('pass authenticate'));
    await session.stop();
    assert.equal(session.state, 'stopped');

    const report = await diagnose(lab.signInOptions({ cache: false, targetFqdn: `pool1.${lab.domain}`, password: 'wrong' }));
    assert.equal(report.result, 'fail');
    assert.equal(report.finding?.code, 'AUTH_FAILED');
    assert.ok(report.finding?.fix.length);
    assert.ok(SiplogonError.is(new SiplogonError('AUTH_FAILED', 'x'), 'AUTH_FAILED'));
  } finally {
    await lab.stop();
  }
});
