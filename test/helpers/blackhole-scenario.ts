/**
 * Runs inside a loopback-only network namespace (see engine-blackhole.test.ts): a real Kamailio
 * and dnsmasq, an SRV list whose first target is black-holed by iptables, then one sign-in.
 * Prints one JSON line with what happened.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKamailio } from './kamailio.js';
import { makeCa, makeServerCert } from './certs.js';
import { startDnsmasq } from './dnsmasq.js';
import { SignInSession } from '../../src/engine/session.js';

const [dead, live, dnsAddr] = ['127.0.50.10', '127.0.50.11', '127.0.50.53'];
const dir = mkdtempSync(join(tmpdir(), 'slbh-'));
const ca = makeCa(dir);
const cert = makeServerCert(dir, ca, ['pool2.acme.test']);
const k = await startKamailio({ listen: [{ proto: 'tls', address: live, port: 5061 }], tls: { certFile: cert.certFile, keyFile: cert.keyFile }, users: { alice: 'wonderland' } });
const d = await startDnsmasq(dnsAddr, 53, {
  domain: 'acme.test',
  srv: { '_sipinternaltls._tcp.acme.test': [{ target: 'pool1.acme.test', port: 5061, priority: 0 }, { target: 'pool2.acme.test', port: 5061, priority: 10 }] },
  hosts: { 'pool1.acme.test': [dead], 'pool2.acme.test': [live] },
});
try {
  const t0 = performance.now();
  const s = new SignInSession(
    { user: 'sip:alice@acme.test', password: 'wonderland', dnsServers: [d.server], ca: readFileSync(ca.certFile, 'utf8'), cache: false, networkWatchIntervalMs: 0, connectTimeoutMs: 10_000, provisioning: false },
    { once: true },
  );
  const reg = await s.ready();
  const took = performance.now() - t0;
  const steps = s.recorder.steps.filter((x) => x.kind === 'tcp-connect').map((x) => ({ target: x.target, status: x.status, startedAtMs: x.startedAtMs, reason: x.reason, code: x.error?.code }));
  await s.stop();
  console.log(JSON.stringify({ registrar: reg.registrar, tookMs: took, steps }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e) }));
} finally {
  await k.stop();
  await d.stop();
  rmSync(dir, { recursive: true, force: true });
}
