// Back on the preferred registrar (issue 7) through the whole engine: the lab's DNS names pool1
// (preferred) and pool2; pool1 is down at start, the device signs in on pool2, pool1 returns and
// the probe moves the device back without a gap. Lab DNS and registrars on 127.0.32.2x.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLabCa, type LabCa } from '../../src/lab/certs.js';
import { startLabRegistrar, type LabRegistrar } from '../../src/lab/registrar.js';
import { startDnsServer, type LabDnsServer } from '../../src/lab/dns-server.js';
import { SignInSession, type Registered } from '../../src/engine/session.js';
import { QUIET } from '../helpers/quiet.js';

const D = 'back.test';
let ca: LabCa;
let dns: LabDnsServer;
let pool1: LabRegistrar;
let pool2: LabRegistrar;

before(async () => {
  ca = await createLabCa();
  dns = await startDnsServer({
    address: '127.0.32.20',
    zone: {
      domains: [D],
      ttl: 60,
      srv: { [`_sipinternaltls._tcp.${D}`]: [{ target: `pool1.${D}`, port: 5061, priority: 0, weight: 0 }, { target: `pool2.${D}`, port: 5061, priority: 10, weight: 0 }] },
      a: { [`pool1.${D}`]: ['127.0.32.21'], [`pool2.${D}`]: ['127.0.32.22'] },
    },
  });
  pool1 = await startLabRegistrar({ name: `pool1.${D}`, address: '127.0.32.21', tlsPort: 5061, tcpPort: 5060, domain: D, users: { alice: 'pw-back' }, ca });
  pool2 = await startLabRegistrar({ name: `pool2.${D}`, address: '127.0.32.22', tlsPort: 5061, tcpPort: 5060, domain: D, users: { alice: 'pw-back' }, ca });
});

after(async () => {
  await Promise.allSettled([pool1?.stop(), pool2?.stop(), dns?.stop()]);
});

function session(): SignInSession {
  return new SignInSession({
    user: `sip:alice@${D}`,
    password: 'pw-back',
    dnsServers: [dns.server],
    ca: ca.cert,
    ...QUIET,
    preferredProbe: { baseMs: 100, capMs: 200 },
  });
}

function nextRegistered(s: SignInSession, boundMs: number): Promise<Registered> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "registered" within ${boundMs} ms`)), boundMs);
    s.once('registered', (r) => {
      clearTimeout(t);
      resolve(r);
    });
  });
}

test('preferred registrar comes back: the probe moves the device back, the backup is un-REGISTERed, no loss on the way', async () => {
  await pool1.setFault('down');
  const s = session();
  const lost: string[] = [];
  s.on('lost', (e) => lost.push(e.code));
  try {
    const first = await s.ready();
    assert.equal(first.registrar.fqdn, `pool2.${D}`);
    assert.equal(pool2.bindings().length, 1);
    const back = nextRegistered(s, 10_000);
    await pool1.setFault('none');
    const reg = await back;
    assert.equal(reg.registrar.fqdn, `pool1.${D}`);
    assert.equal(reg.via, 'preferred');
    assert.deepEqual(lost, [], 'service never dropped while probing');
    assert.equal(pool1.bindings().length, 1);
    // The backup's un-REGISTER follows the move.
    for (let i = 0; i < 100 && pool2.bindings().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(pool2.bindings().length, 0, 'the backup binding was removed');
  } finally {
    await s.stop();
  }
  assert.equal(pool1.bindings().length, 0, 'signed off');
});

test('stop() just as the probe has registered on the preferred registrar: no "registered" after stop, no binding left anywhere', async () => {
  await pool1.setFault('down');
  const s = session();
  const afterStop: string[] = [];
  let stopping: Promise<void> | undefined;
  s.on('step', (st, phase) => {
    if (!stopping && phase === 'end' && st.kind === 'authenticate' && st.status === 'pass' && st.target?.startsWith(`pool1.${D}`)) stopping = s.stop();
  });
  s.on('registered', () => {
    if (stopping) afterStop.push('registered');
  });
  try {
    await s.ready();
    await pool1.setFault('none');
    for (let i = 0; i < 500 && !stopping; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(stopping, 'the probe never registered on pool1');
    await stopping;
    assert.equal(s.state, 'stopped');
    assert.deepEqual(afterStop, []);
    for (let i = 0; i < 100 && pool1.bindings().length + pool2.bindings().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual([pool1.bindings().length, pool2.bindings().length], [0, 0], 'both registrations ended');
  } finally {
    await s.stop();
  }
});
