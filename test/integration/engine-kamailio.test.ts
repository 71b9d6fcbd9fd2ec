// The sign-in engine against real peers: three Kamailio 5.6 (a director that 301s to the home
// and backup pools, and the two pools with TLS + digest + provisioning + MRAS) and dnsmasq as DNS,
// all on 127.0.30.x. Covers bootstrap, cache, cache fallback, in-band registrars, the cycle rule,
// failover after a registrar is killed, and a corrupt cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKamailio, type KamailioHandle, type KamailioOptions } from '../helpers/kamailio.js';
import { makeCa, makeServerCert, type CertFiles } from '../helpers/certs.js';
import { startDnsmasq, type DnsmasqHandle, type DnsmasqZone } from '../helpers/dnsmasq.js';
import { SignInSession, type Registered } from '../../src/engine/session.js';
import type { SignInOptions } from '../../src/engine/options.js';
import type { StepRecord } from '../../src/engine/steps.js';
import { SiplogonError } from '../../src/errors.js';
import { parseCacheRecord } from '../../src/cache/validate.js';
import { startDhcpResponder, type DhcpResponder } from '../../src/lab/dhcp-responder.js';

const D = 'acme.test';
const IP = { director: '127.0.30.10', pool1: '127.0.30.11', pool1b: '127.0.30.13', pool2: '127.0.30.12', edge: '127.0.30.21', dns: '127.0.30.53' };
const DNS_PORT = 5353;
const PROVISIONING = `<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification"><provisionGroup name="ServerConfiguration"><mrasUri>sip:mras@${D}</mrasUri></provisionGroup></provisionGroupList>`;
const MRAS = `<response reasonPhrase="OK"><credentialsResponse><credentials><username>relayuser</username><password>RELAY-SECRET-123</password><duration>480</duration></credentials><mediaRelayList><mediaRelay><location>intranet</location><hostName>edge.${D}</hostName><udpPort>3478</udpPort><tcpPort>443</tcpPort></mediaRelay></mediaRelayList></credentialsResponse></response>`;

let dir: string;
let ca: CertFiles;
let caPem: string;
const certs: Record<string, CertFiles> = {};
const kam: Record<string, KamailioHandle | undefined> = {};
let dns: DnsmasqHandle;
let dhcp: DhcpResponder;

function poolOptions(name: 'pool1' | 'pool2'): KamailioOptions {
  const addrs = name === 'pool1' ? [IP.pool1, IP.pool1b] : [IP.pool2];
  return {
    listen: addrs.flatMap((address) => [
      { proto: 'tls' as const, address, port: 5061 },
      { proto: 'tcp' as const, address, port: 5060 },
    ]),
    tls: { certFile: (certs[name] as CertFiles).certFile, keyFile: (certs[name] as CertFiles).keyFile },
    users: { alice: 'wonderland' },
    domain: D,
    provisioning: { body: PROVISIONING },
    service: { body: MRAS },
    allowEvents: 'presence, vnd-microsoft-provisioning-v2',
  };
}

async function startPool(name: 'pool1' | 'pool2'): Promise<void> {
  kam[name] = await startKamailio(poolOptions(name));
}

const hosts = { [`director.${D}`]: [IP.director], [`pool1.${D}`]: [IP.pool1, IP.pool1b], [`pool2.${D}`]: [IP.pool2], [`edge.${D}`]: [IP.edge] };
const zoneDirect: DnsmasqZone = { domain: D, srv: { [`_sipinternaltls._tcp.${D}`]: [{ target: `pool1.${D}`, port: 5061 }] }, hosts };
const zoneDirector: DnsmasqZone = { domain: D, srv: { [`_sipinternaltls._tcp.${D}`]: [{ target: `director.${D}`, port: 5061 }] }, hosts };
const zoneTwoPools: DnsmasqZone = {
  domain: D,
  srv: { [`_sipinternaltls._tcp.${D}`]: [{ target: `pool1.${D}`, port: 5061, priority: 0 }, { target: `pool2.${D}`, port: 5061, priority: 10 }] },
  hosts,
};
const zoneEmpty: DnsmasqZone = { domain: D };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'siplogon-engine-'));
  ca = makeCa(dir);
  caPem = readFileSync(ca.certFile, 'utf8');
  for (const n of ['director', 'pool1', 'pool2']) certs[n] = makeServerCert(dir, ca, [`${n}.${D}`]);
  await startPool('pool1');
  await startPool('pool2');
  kam['director'] = await startKamailio({
    listen: [{ proto: 'tls', address: IP.director, port: 5061 }],
    tls: { certFile: (certs['director'] as CertFiles).certFile, keyFile: (certs['director'] as CertFiles).keyFile },
    users: { alice: 'wonderland' },
    domain: D,
    // Lync-style: the director names the user's home pool, then the backup.
    redirect: { contacts: [`<sip:pool2.${D}:5061;transport=tls>;q=1.0`, `<sip:pool1.${D}:5061;transport=tls>;q=0.5`] },
  });
  dns = await startDnsmasq(IP.dns, DNS_PORT, zoneDirect);
  // A DHCPINFORM responder on loopback that the DHCP-down test silences.
  dhcp = await startDhcpResponder({ address: '127.0.30.67', port: 0, sipServers: { encoding: 'fqdn', names: [`pool1.${D}`] } });
});

after(async () => {
  await Promise.allSettled(Object.values(kam).map((k) => k?.stop()));
  await dns?.stop();
  await dhcp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function options(cacheFile: string, extra: Partial<SignInOptions> = {}): SignInOptions {
  return {
    user: `sip:alice@${D}`,
    password: 'wonderland',
    dnsServers: [dns.server],
    dnsTimeoutMs: 800,
    ca: caPem,
    cache: { path: cacheFile },
    connectTimeoutMs: 2000,
    transactionTimeoutMs: 3000,
    networkWatchIntervalMs: 0,
    ...extra,
  };
}

async function signInOnce(opts: SignInOptions): Promise<{ reg: Registered; steps: StepRecord[]; warnings: string[] }> {
  const s = new SignInSession(opts, { once: true });
  const warnings: string[] = [];
  s.on('warning', (m) => warnings.push(m));
  try {
    const reg = await s.ready();
    return { reg, steps: s.recorder.steps, warnings };
  } finally {
    await s.stop();
  }
}

const cacheOf = (file: string) => parseCacheRecord(JSON.parse(readFileSync(file, 'utf8')));

test('first-time bootstrap from DNS SRV: registered over TLS; cache holds FQDN, every IP, relays — never a password', async () => {
  await dns.restart(zoneDirect);
  const file = join(dir, 'bootstrap.json');
  const { reg, steps } = await signInOnce(options(file));
  assert.equal(reg.via, 'discovery');
  assert.equal(reg.registrar.fqdn, `pool1.${D}`);
  assert.equal(reg.registrar.transport, 'tls');
  assert.ok(steps.some((s) => s.kind === 'cache-load' && s.status === 'skipped'), 'first time: no cache');
  assert.ok(steps.some((s) => s.kind === 'tls-handshake' && s.status === 'pass'));
  const rec = cacheOf(file);
  assert.equal(rec.registrar.fqdn, `pool1.${D}`);
  assert.deepEqual([...rec.registrar.addresses].sort(), [IP.pool1, IP.pool1b].sort(), 'DNS load balancing: every IP cached');
  assert.deepEqual(rec.mediaRelays.map((m) => [m.fqdn, m.addresses]), [[`edge.${D}`, [IP.edge]]]);
  assert.equal(rec.mrasUri, `sip:mras@${D}`);
  const raw = readFileSync(file, 'utf8');
  assert.ok(!raw.includes('wonderland') && !raw.includes('RELAY-SECRET-123'), 'no secret in the cache');
});

test('DNS and DHCP both down: signs in from the cache', async () => {
  const file = join(dir, 'dns-down.json');
  await dns.restart(zoneDirect);
  await signInOnce(options(file));
  await dns.stop();
  dhcp.setFault('silent');
  try {
    const { reg, steps } = await signInOnce(options(file, { dnsTimeoutMs: 300, dhcp: { server: dhcp.address, serverPort: dhcp.port, clientPort: 0, timeoutMs: 600, initialIntervalMs: 200 } }));
    assert.equal(steps.find((s) => s.kind === 'dhcp-inform')?.error?.code, 'DHCP_TIMEOUT', 'DHCP asked and silent');
    assert.ok(steps.filter((s) => s.kind === 'dns-srv').every((s) => s.status === 'fail'), 'every SRV query failed');
    assert.equal(reg.via, 'cache');
    assert.equal(reg.registrar.fqdn, `pool1.${D}`);
    const use = steps.find((s) => s.kind === 'cache-use');
    assert.equal(use?.status, 'pass');
    assert.equal(use?.detail['resolvingAfresh'], `pool1.${D}`);
    assert.notEqual(steps.find((s) => s.kind === 'dns-host' && s.target === `pool1.${D}`)?.status, 'pass', 'the cached FQDN does not resolve');
    assert.ok(cacheOf(file).registrar.addresses.includes(reg.registrar.address), 'signed in via a cached IP');
  } finally {
    dhcp.setFault('none');
    await dns.restart(zoneDirect);
  }
});

test('DNS black-holed: the cached IPs go ahead one stagger after the cache is tried, not after another DNS timeout', async () => {
  const file = join(dir, 'dns-blackholed.json');
  await dns.restart(zoneDirect);
  await signInOnce(options(file));
  // A resolver that takes every query and never answers.
  const { createSocket } = await import('node:dgram');
  const hole = createSocket('udp4');
  await new Promise<void>((r) => hole.bind(DNS_PORT, '127.0.30.54', () => r()));
  const s = new SignInSession(options(file, { dnsServers: [`127.0.30.54:${DNS_PORT}`], dnsTimeoutMs: 3000, provisioning: false, presence: false }), { once: true });
  const ended: string[] = [];
  s.recorder.subscribe((st, phase) => {
    if (phase === 'end') ended.push(`${st.kind} ${st.target ?? ''}`);
  });
  try {
    const reg = await s.ready();
    const steps = s.recorder.steps;
    assert.equal(reg.via, 'cache');
    assert.ok(steps.filter((st) => st.kind === 'dns-srv').every((st) => st.error?.code === 'DNS_TIMEOUT'), 'every SRV query timed out');
    const freshEnd = ended.indexOf(`dns-host pool1.${D}`);
    assert.ok(
      freshEnd === -1 || freshEnd > ended.indexOf(`authenticate pool1.${D}:5061/tls`),
      `registered on a cached IP while the cached FQDN was still resolving (its DNS bound is 3 s): ${ended.join(', ')}`,
    );
    assert.ok(cacheOf(file).registrar.addresses.includes(reg.registrar.address));
    assert.equal(steps.find((st) => st.kind === 'tls-handshake' && st.status === 'pass')?.target, `pool1.${D}`, 'TLS still verified against the cached FQDN');
  } finally {
    await s.stop();
    hole.close();
  }
});

test('cached FQDN no longer resolves: signs in via the cached IP, TLS still verified against the cached FQDN', async () => {
  const file = join(dir, 'unresolvable.json');
  await dns.restart(zoneDirect);
  await signInOnce(options(file));
  await dns.restart(zoneEmpty); // SRV and the pool's A record gone: discovery fails, FQDN unresolvable
  const { reg, steps } = await signInOnce(options(file));
  assert.equal(reg.via, 'cache');
  assert.ok([IP.pool1, IP.pool1b].includes(reg.registrar.address));
  const tlsStep = steps.find((s) => s.kind === 'tls-handshake' && s.status === 'pass');
  assert.equal(tlsStep?.target, `pool1.${D}`);

  // The same cache pointing at pool2's address: pool2's certificate does not name pool1 → refused.
  const rec = cacheOf(file);
  writeFileSync(file, JSON.stringify({ ...rec, registrar: { ...rec.registrar, addresses: [IP.pool2] } }), { mode: 0o600 });
  const s = new SignInSession(options(file), { once: true });
  await assert.rejects(s.ready(), (e) => SiplogonError.is(e, 'TLS_NAME_MISMATCH'));
  await s.stop();
});

test('in-band: the director’s 301 names home and backup; the next sign-in goes to the home pool without discovery', async () => {
  await dns.restart(zoneDirector);
  const file = join(dir, 'in-band.json');
  const first = await signInOnce(options(file));
  assert.equal(first.reg.registrar.fqdn, `pool2.${D}`, 'registered at the home pool named first');
  assert.deepEqual(first.reg.inBand.map((c) => c.fqdn), [`pool2.${D}`, `pool1.${D}`]);
  assert.ok(first.steps.some((s) => s.kind === 'redirect' && s.status === 'pass'));
  assert.deepEqual(cacheOf(file).inBand?.map((c) => c.fqdn), [`pool2.${D}`, `pool1.${D}`]);

  await dns.restart(zoneDirect); // DNS now points elsewhere: in-band wins anyway
  const second = await signInOnce(options(file));
  assert.equal(second.reg.via, 'in-band');
  assert.equal(second.reg.registrar.fqdn, `pool2.${D}`);
  assert.ok(!second.steps.some((s) => s.kind === 'dns-srv'), 'no SRV discovery when the in-band registrar answers');
});

test('cycle rule: the recorded home registrar fails again → the cycle stops and the list is rebuilt from DNS', async () => {
  await dns.restart(zoneDirector);
  const file = join(dir, 'cycle.json');
  await signInOnce(options(file)); // records pool2 (home) and the in-band list [pool2, pool1]
  await kam['pool2']?.stop();
  kam['pool2'] = undefined;
  try {
    await dns.restart(zoneDirect); // rebuilt list: pool1 via SRV
    const { reg, steps } = await signInOnce(options(file));
    const firstSrv = steps.findIndex((s) => s.kind === 'dns-srv');
    const beforeRebuild = steps.slice(0, firstSrv);
    assert.ok(beforeRebuild.some((s) => s.kind === 'tcp-connect' && s.status === 'fail' && s.detail['fqdn'] === `pool2.${D}`), 'the home pool was tried first and failed');
    assert.ok(!beforeRebuild.some((s) => s.kind === 'tcp-connect' && s.detail['fqdn'] === `pool1.${D}` && s.status === 'pass'), 'the cycle was abandoned, not continued to the backup');
    assert.ok(firstSrv > 0, 'the list was rebuilt from DNS');
    assert.equal(reg.via, 'discovery');
    assert.equal(reg.registrar.fqdn, `pool1.${D}`);
  } finally {
    await startPool('pool2');
  }
});

test('a corrupt cache file: a warning, the file set aside, sign-in from discovery, a fresh cache written', async () => {
  await dns.restart(zoneDirect);
  const file = join(dir, 'corrupt.json');
  writeFileSync(file, '{"version":1,"registrar":{"fqdn":', { mode: 0o600 });
  const { reg, warnings } = await signInOnce(options(file));
  assert.equal(reg.via, 'discovery');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /corrupt|set aside|invalid/i);
  assert.equal(cacheOf(file).registrar.fqdn, `pool1.${D}`);
  assert.ok(readdirSync(dir).some((f) => f.startsWith('corrupt.json.corrupt-')), 'the bad file was kept aside for inspection');
});

test('registrar killed while registered: signed in again on the other registrar (time printed)', async () => {
  await dns.restart(zoneTwoPools);
  const s = new SignInSession(options(join(dir, 'failover.json'), { keepAliveIntervalMs: 1000, keepAliveTimeoutMs: 1000, backoff: { baseMs: 100, capMs: 1000 } }));
  try {
    const first = await s.ready();
    assert.equal(first.registrar.fqdn, `pool1.${D}`);
    const again = new Promise<{ reg: Registered; at: number }>((resolve) => s.once('registered', (reg) => resolve({ reg, at: performance.now() })));
    const lost = new Promise<SiplogonError>((resolve) => s.once('lost', resolve));
    const t0 = performance.now();
    kam['pool1']?.kill('SIGKILL');
    const reason = await lost;
    const { reg, at } = await again;
    assert.equal(reg.registrar.fqdn, `pool2.${D}`);
    console.log(`# failover after SIGKILL of the registrar: lost (${reason.code}) and registered on ${reg.registrar.fqdn} in ${(at - t0).toFixed(0)} ms`);
    assert.ok((await kam['pool2']?.contacts())?.length, 'pool2 holds the contact');
  } finally {
    await s.stop();
    await kam['pool1']?.stop().catch(() => undefined);
    await startPool('pool1');
  }
});

test('a 301 to a registrar outside the SIP domain is refused (same policy as DNS/DHCP answers)', async () => {
  const evil = await startKamailio({
    listen: [{ proto: 'tls', address: '127.0.30.14', port: 5061 }],
    tls: { certFile: (certs['director'] as CertFiles).certFile, keyFile: (certs['director'] as CertFiles).keyFile },
    users: { alice: 'wonderland' },
    redirect: { contacts: ['<sip:registrar.evil.example:5061;transport=tls>'] },
  });
  try {
    const s = new SignInSession(options(join(dir, 'evil.json'), { targetFqdn: `director.${D}`, hosts: { [`director.${D}`]: ['127.0.30.14'], 'registrar.evil.example': [IP.pool1] } }), { once: true });
    await assert.rejects(s.ready(), (e) => SiplogonError.is(e, 'REDIRECT_INVALID') && /outside acme\.test/.test((e as Error).message));
    await s.stop();
    const redirect = s.recorder.steps.find((x) => x.kind === 'redirect');
    assert.equal(redirect?.status, 'fail');
    assert.ok(!s.recorder.steps.some((x) => x.kind === 'tcp-connect' && x.detail['fqdn'] === 'registrar.evil.example'), 'never connected to it');
  } finally {
    await evil.stop();
  }
});
