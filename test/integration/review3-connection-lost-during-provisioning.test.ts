// Review 3 finding: a registrar connection that closes after the REGISTER 200 but before the
// session starts watching the leg (during in-band provisioning, MRAS, the cache write) was never
// noticed: the leg reported the loss to nobody (no listener yet) and ignored listeners added
// later, so the session sat in "registered" on a dead socket, its refresh failure swallowed too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { getHeader } from '../../src/sip/message.js';
import { SignInSession } from '../../src/engine/session.js';
import { startPlainSipServer, type PlainSipServer } from '../helpers/plain-sip-server.js';

const ADDR = '127.0.34.11';
let subscribes = 0;
let registers = 0;
let server: PlainSipServer | undefined;

let session: SignInSession | undefined;
after(async () => {
  await session?.stop();
  await server?.close();
});

test('a connection lost during provisioning is noticed: the session leaves "registered" and signs in again', async () => {
  // A plain TCP registrar: 200 to REGISTER (no auth); drops the connection at the first SUBSCRIBE.
  server = await startPlainSipServer(ADDR, 5060, (req, reply, sock) => {
    if (req.method === 'SUBSCRIBE' && ++subscribes === 1) return void sock.destroy();
    if (req.method === 'REGISTER') {
      registers++;
      return reply(200, 'OK', [{ name: 'Contact', value: `${getHeader(req, 'Contact') ?? ''};expires=600` }]);
    }
    reply(200, 'OK');
  });
  session = new SignInSession({
    user: 'sip:alice@review3.test',
    password: 'pw-r3',
    targetFqdn: 'pool.review3.test',
    targetTransport: 'tcp',
    hosts: { 'pool.review3.test': [ADDR] },
    cache: false,
    presence: false,
    provisioning: true,
    networkWatchIntervalMs: 0,
    keepAliveIntervalMs: 0,
    transactionTimeoutMs: 3000,
    backoff: { baseMs: 100, capMs: 200 },
  });
  const lost: string[] = [];
  session.on('lost', (e) => lost.push(e.code));
  let registeredTimes = 0;
  session.on('registered', () => registeredTimes++);
  await session.ready();
  // The loss happened before "registered"; the session must act on it at once (no Timer F, no
  // refresh to wait for: the refresh is 8 minutes away).
  const t0 = Date.now();
  while ((lost.length === 0 || registeredTimes < 2) && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(lost, ['CONNECTION_CLOSED'], `state ${session.state}: the closed connection was never reported`);
  assert.equal(registeredTimes, 2, 'signed in again on a fresh connection');
  assert.equal(registers >= 2, true);
});
