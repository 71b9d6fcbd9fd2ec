// Review finding: the password is reachable from a signed-in session object. `console.log(session)`
// (util.inspect) or `JSON.stringify(session.options)` — what a user does when debugging, or a
// logger that serialises the session — printed it in clear: ResolvedOptions kept it as an
// enumerable field, and the registration leg kept it as a plain string in its options.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import util from 'node:util';
import { createLabCa } from '../../src/lab/certs.js';
import { startLabRegistrar, type LabRegistrar } from '../../src/lab/registrar.js';
import { SignInSession } from '../../src/engine/session.js';
import { QUIET } from '../helpers/quiet.js';

const PASSWORD = 'pw-Review-7f3a9c-SECRET';
let registrar: LabRegistrar | undefined;
let session: SignInSession | undefined;
after(async () => {
  await session?.stop();
  await registrar?.stop();
});

test('a signed-in session shows no password through util.inspect or JSON.stringify of its options', async () => {
  const ca = await createLabCa();
  registrar = await startLabRegistrar({ name: 'pool.review.test', address: '127.0.31.40', tlsPort: 5061, tcpPort: 5060, domain: 'review.test', users: { alice: PASSWORD }, ca });
  session = new SignInSession({
    user: 'sip:alice@review.test',
    password: PASSWORD,
    targetFqdn: 'pool.review.test',
    hosts: { 'pool.review.test': ['127.0.31.40'] },
    ca: ca.cert,
    ...QUIET,
  });
  const reg = await session.ready();
  assert.equal(reg.registrar.fqdn, 'pool.review.test', 'signed in (the password was used)');
  assert.ok(!JSON.stringify(session.options).includes(PASSWORD), 'JSON.stringify(session.options) shows the password');
  const shown = util.inspect(session, { depth: Infinity });
  assert.ok(!shown.includes(PASSWORD), 'util.inspect(session) shows the password');
});
