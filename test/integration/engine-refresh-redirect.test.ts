// A registration refresh answered with a 301 (a Lync pool moving the user's home pool, review 3):
// the session leaves "registered" at once and signs in where the redirect points, through the
// in-band list, not back through discovery to the pool that redirected it. Two plain TCP
// registrars (no auth) and the lab's DNS server on 127.0.34.3x.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getHeader } from '../../src/sip/message.js';
import { SignInSession, type Registered } from '../../src/engine/session.js';
import { startDnsServer, type LabDnsServer } from '../../src/lab/dns-server.js';
import { QUIET } from '../helpers/quiet.js';
import { startPlainSipServer, type PlainSipServer } from '../helpers/plain-sip-server.js';

const D = 'redir.test';
const IP = { dns: '127.0.34.30', pool1: '127.0.34.31', pool2: '127.0.34.32' };
const servers: PlainSipServer[] = [];
let dns: LabDnsServer;

/** A registrar granting `expires`; with `redirectRefreshTo`, a REGISTER on a Call-ID it has seen gets a 301 there. */
async function registrar(address: string, expires: number, redirectRefreshTo?: string): Promise<void> {
  const seen = new Set<string>();
  servers.push(
    await startPlainSipServer(address, 5060, (req, reply) => {
      if (req.method !== 'REGISTER') return reply(200, 'OK');
      const callId = getHeader(req, 'Call-ID') ?? '';
      const refresh = seen.has(callId) && getHeader(req, 'Expires') !== '0';
      seen.add(callId);
      if (refresh && redirectRefreshTo) return reply(301, 'Moved Permanently', [{ name: 'Contact', value: `<${redirectRefreshTo}>` }]);
      reply(200, 'OK', [{ name: 'Contact', value: `${getHeader(req, 'Contact') ?? ''};expires=${expires}` }]);
    }),
  );
}

before(async () => {
  dns = await startDnsServer({
    address: IP.dns,
    zone: {
      domains: [D],
      ttl: 60,
      srv: { [`_sipinternal._tcp.${D}`]: [{ target: `pool1.${D}`, port: 5060, priority: 0, weight: 0 }] },
      a: { [`pool1.${D}`]: [IP.pool1], [`pool2.${D}`]: [IP.pool2] },
    },
  });
  // pool1 grants 2 s, so its refresh comes quickly, and redirects that refresh to pool2.
  await registrar(IP.pool1, 2, `sip:pool2.${D}:5060;transport=tcp`);
  await registrar(IP.pool2, 600);
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await dns?.stop();
});

test('a refresh answered 301: lost at once, then registered on the pool the redirect names (in-band), not back on the old one', async () => {
  const s = new SignInSession({ user: `sip:alice@${D}`, password: 'pw-redir', dnsServers: [dns.server], ...QUIET, transactionTimeoutMs: 3000 });
  const lost: string[] = [];
  s.on('lost', (e) => lost.push(e.code));
  const regs: Registered[] = [];
  s.on('registered', (r) => regs.push(r));
  try {
    const first = await s.ready();
    assert.equal(first.registrar.fqdn, `pool1.${D}`);
    for (let i = 0; i < 400 && regs.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(lost, ['REGISTER_REJECTED'], 'the redirected refresh ends the registration');
    assert.equal(regs[1]?.registrar.fqdn, `pool2.${D}`, `signed in again at ${regs[1]?.registrar.fqdn ?? 'nothing'}`);
    assert.equal(regs[1]?.via, 'in-band');
  } finally {
    await s.stop();
  }
});
