// Review 3 finding: a registrar connection that closes after the REGISTER 200 but before the
// session starts watching the leg (during in-band provisioning, MRAS, the cache write) was never
// noticed: the leg reported the loss to nobody (no listener yet) and ignored listeners added
// later, so the session sat in "registered" on a dead socket, its refresh failure swallowed too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SipStreamFramer } from '../../src/sip/framing.js';
import { getHeader, getHeaderLines, serializeMessage, type SipRequest } from '../../src/sip/message.js';
import { SignInSession } from '../../src/engine/session.js';

const ADDR = '127.0.34.11';
const sockets = new Set<net.Socket>();
let subscribes = 0;
let registers = 0;

/** A plain TCP registrar: 200 to REGISTER (no auth); drops the connection at the first SUBSCRIBE. */
const server = net.createServer((sock) => {
  sockets.add(sock);
  sock.on('close', () => sockets.delete(sock));
  sock.on('error', () => undefined);
  const framer = new SipStreamFramer();
  sock.on('data', (chunk) => {
    for (const f of framer.push(chunk)) {
      if (f.type !== 'message' || f.message.kind !== 'request') continue;
      const req = f.message as SipRequest;
      if (req.method === 'SUBSCRIBE' && ++subscribes === 1) {
        sock.destroy();
        return;
      }
      if (req.method === 'REGISTER') registers++;
      const headers = [
        ...getHeaderLines(req, 'Via').map((value) => ({ name: 'Via', value })),
        { name: 'From', value: getHeader(req, 'From') ?? '' },
        { name: 'To', value: `${getHeader(req, 'To') ?? ''};tag=r3srv` },
        { name: 'Call-ID', value: getHeader(req, 'Call-ID') ?? '' },
        { name: 'CSeq', value: getHeader(req, 'CSeq') ?? '' },
      ];
      if (req.method === 'REGISTER') headers.push({ name: 'Contact', value: `${getHeader(req, 'Contact') ?? ''};expires=600` });
      sock.write(serializeMessage({ kind: 'response', status: 200, reason: 'OK', headers, body: Buffer.alloc(0) }));
    }
  });
});

let session: SignInSession | undefined;
after(async () => {
  await session?.stop();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

test('a connection lost during provisioning is noticed: the session leaves "registered" and signs in again', async () => {
  await new Promise<void>((r) => server.listen(5060, ADDR, r));
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
