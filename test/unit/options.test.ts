import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveOptions } from '../../src/engine/options.js';
import { signIn } from '../../src/engine/session.js';
import { SiplogonError } from '../../src/errors.js';

const base = { user: 'sip:alice@acme.test', password: 'pw-options' };
const invalid = (e: unknown): boolean => SiplogonError.is(e, 'INVALID_OPTION');

test('options: a DNS server that is not an IP address, a port out of range: INVALID_OPTION at once, at signIn() too', () => {
  assert.throws(() => resolveOptions({ ...base, dnsServers: ['dns.acme.test'] }), invalid);
  assert.throws(() => resolveOptions({ ...base, dnsServers: ['10.0.0.53:99999'] }), invalid);
  assert.throws(() => resolveOptions({ ...base, targetFqdn: 'pool.acme.test', targetPort: 70000 }), invalid);
  assert.throws(() => resolveOptions({ ...base, targetPort: 0 }), invalid);
  // No session, no loop left behind to reject later (it crashed the process before).
  assert.throws(() => signIn({ ...base, dnsServers: ['localhost:53'] }), invalid);
  assert.deepEqual(resolveOptions({ ...base, dnsServers: ['10.0.0.53', '[::1]:5353'] }).dnsServers, ['10.0.0.53', '[::1]:5353']);
});

test('options: the password is held in a closure, never a plain property of the options', async () => {
  const o = resolveOptions(base);
  assert.equal(typeof o.password, 'function');
  assert.equal(await (o.password as () => string)(), 'pw-options');
  assert.ok(!JSON.stringify(o).includes('pw-options'));
  const { inspect } = await import('node:util');
  assert.ok(!inspect(o, { depth: 5 }).includes('pw-options'));
});
