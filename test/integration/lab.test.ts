// The embedded lab (README command 1) and the faults it can switch on, seen through the same
// engine the CLI uses. Real-peer tests (Kamailio, dnsmasq) remain the reference.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startLab, type Lab } from '../../src/lab/lab.js';
import { diagnose } from '../../src/diagnose/diagnose.js';
import { SiplogonError } from '../../src/errors.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
let lab: Lab;

before(async () => {
  lab = await startLab();
});
after(async () => {
  await lab?.stop();
});

test('`siplogon lab --demo` signs in via DHCP + DNS + 301, shows presence and the contact list, fails over (presence too), diagnoses, and exits 0', () => {
  const r = spawnSync(process.execPath, [CLI, 'lab', '--demo'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /✔ #\d+ DHCPINFORM \(options 120, 43\).*option 120: director\.acme\.test/);
  assert.match(r.stdout, /301 redirect from director\.acme\.test/);
  assert.match(r.stdout, /registered at pool1\.acme\.test:5061\/tls .* via discovery/);
  assert.match(r.stdout, /registered at pool2\.acme\.test:5061\/tls .* ms after the home pool died/);
  assert.match(r.stdout, /Failed step : #\d+ TLS handshake with director\.acme\.test \(TLS_NAME_MISMATCH\)/);
  assert.match(r.stdout, /Result {6}: Success/);
  // Issue 8: own presence and the contact list with each contact's state, on pool1 and again on pool2.
  const home = r.stdout.slice(0, r.stdout.indexOf('2. The home pool'));
  assert.match(home, /→ presence: online \(lync flavour\)/);
  assert.match(home, /→ contacts in groups ~, Team: Bob Builder \(sip:bob@acme\.test\) online; sip:carol@acme\.test away "back at 3"/);
  assert.match(r.stdout, /→ on pool2\.acme\.test again: presence: online \(lync flavour\)/);
  assert.match(r.stdout, /→ on pool2\.acme\.test again: contacts in groups ~, Team: Bob Builder \(sip:bob@acme\.test\) online; sip:carol@acme\.test away/);
  assert.doesNotMatch(r.stdout, /presence problems/);
  assert.ok(!r.stdout.includes('wonderland') && !r.stderr.includes('wonderland'), 'the demo never prints the password');
});

test('CLI sign-in (text, no -v): registered, then SIGINT prints the sign-out and exits 0', async () => {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'siplogon-signin-text-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, lab.ca.cert);
  const child = spawn(process.execPath, [CLI, 'sign-in', '--user', lab.user, '--password-env', 'LAB_PW', '--dns', lab.dns.server, '--ca', caFile, '--no-cache', '--no-presence'], {
    env: { ...process.env, LAB_PW: lab.password },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  try {
    for (let i = 0; i < 500 && !/registered at /.test(out); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(out, /registered at pool1\.acme\.test/);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(out, /signed out: un-REGISTERed from pool1\.acme\.test/);
    assert.ok(!out.includes(lab.password));
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

const cases: { fault: Parameters<Lab['setFault']>[0]; kind: string; code: string }[] = [
  { fault: 'bad-password', kind: 'authenticate', code: 'AUTH_FAILED' },
  { fault: 'provisioning-refused', kind: 'provisioning', code: 'PROVISIONING_FAILED' },
  { fault: 'registrar-down', kind: 'tcp-connect', code: 'CONNECT_REFUSED' },
];
for (const c of cases) {
  test(`lab fault ${c.fault}: the diagnosis names ${c.kind} (${c.code})`, async () => {
    await lab.setFault(c.fault);
    try {
      const r = await diagnose(lab.signInOptions({ cache: false }));
      assert.equal(r.result, 'fail');
      assert.equal(r.finding?.kind, c.kind);
      assert.equal(r.finding?.code, c.code);
      assert.ok(!JSON.stringify(r).includes(lab.password));
    } finally {
      await lab.setFault('none');
    }
  });
}

test('lab fault registrar-silent: the diagnosis waits 8 s per SIP transaction (not Timer F\'s 32 s) and names the hung registrar', async () => {
  await lab.setFault('registrar-silent');
  try {
    // The lab's own options carry a short bound; leave it unset to see the diagnosis default.
    const r = await diagnose(lab.signInOptions({ cache: false, targetFqdn: `pool1.${lab.domain}`, transactionTimeoutMs: undefined }));
    assert.equal(r.result, 'fail');
    assert.equal(r.finding?.code, 'TRANSACTION_TIMEOUT');
    const decisive = r.steps.find((st) => st.id === r.finding?.stepId);
    assert.equal(decisive?.detail['timeoutMs'], 8000);
    assert.match(r.finding?.diagnosis ?? '', /never answered REGISTER within 8 s/);
  } finally {
    await lab.setFault('none');
  }
});

test('a password source that fails (a vault that is down): CREDENTIALS_UNAVAILABLE at the REGISTER step, not a DNS or registrar finding', async () => {
  const r = await diagnose(
    lab.signInOptions({
      cache: false,
      password: () => {
        throw new Error('vault down: token s3cr3t-token expired');
      },
    }),
  );
  assert.equal(r.result, 'fail');
  assert.equal(r.finding?.code, 'CREDENTIALS_UNAVAILABLE');
  assert.equal(r.finding?.kind, 'register');
  assert.match(r.finding?.fix ?? '', /password source/);
  assert.doesNotMatch(r.finding?.fix ?? '', /Publish|SRV/);
  assert.ok(!JSON.stringify(r).includes('s3cr3t-token'), 'the source\'s own message, which may quote secrets, is not repeated');
  const registers = r.steps.filter((st) => st.kind === 'register');
  assert.equal(registers.length, 1, 'no other registrar is tried: none would fare better');
});

test('diagnose() reads the device cache but never writes it (a run against a test pool must not become its next registrar)', async () => {
  const { mkdtempSync, existsSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'siplogon-diag-cache-'));
  try {
    const file = join(dir, 'device.json');
    const r = await diagnose(lab.signInOptions({ cache: { path: file } }));
    assert.equal(r.result, 'pass');
    assert.ok(!existsSync(file), 'no cache file written');
    assert.ok(r.steps.every((st) => st.kind !== 'cache-write' || st.status !== 'pass'), 'no cache-write step passed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lab fault dhcp-silent + dns-down: discovery fails at DHCP first, with the DHCP fix', async () => {
  await lab.setFault('dhcp-silent');
  lab.dns.setFault('down');
  try {
    const r = await diagnose(lab.signInOptions({ cache: false, dnsTimeoutMs: 300, dhcp: { server: lab.dhcp.address, serverPort: lab.dhcp.port, clientPort: 0, timeoutMs: 600, initialIntervalMs: 200 } }));
    assert.equal(r.result, 'fail');
    assert.equal(r.finding?.kind, 'dhcp-inform');
    assert.equal(r.finding?.code, 'DHCP_TIMEOUT');
    assert.match(r.finding?.fix ?? '', /option 120/);
  } finally {
    await lab.setFault('none');
  }
});

test('stop() while REGISTER hangs on a silent registrar returns at once, not after Timer F', async () => {
  const { SignInSession } = await import('../../src/engine/session.js');
  await lab.setFault('registrar-silent', 'pool1');
  try {
    const s = new SignInSession(lab.signInOptions({ cache: false, targetFqdn: `pool1.${lab.domain}`, transactionTimeoutMs: 30_000 }));
    await new Promise<void>((resolve) => s.on('step', (st, phase) => phase === 'start' && st.kind === 'register' && resolve()));
    const t0 = performance.now();
    await s.stop();
    const took = performance.now() - t0;
    assert.equal(s.state, 'stopped');
    assert.ok(took < 10_000, `stop() took ${took} ms with a 30 s Timer F pending`);
    await assert.rejects(s.ready(), (e: unknown) => (e as { code?: string }).code === 'ABORTED');
  } finally {
    await lab.setFault('none');
  }
});

test('stepHistory: a signed-in session keeps only the newest N steps; `step` listeners still hear every one; bad values are refused', async () => {
  const { SignInSession } = await import('../../src/engine/session.js');
  const quiet = { cache: false as const, presence: false as const, provisioning: false, networkWatchIntervalMs: 0, keepAliveIntervalMs: 0 };
  const s = new SignInSession({ ...lab.signInOptions({ ...quiet, stepHistory: 2 }), password: lab.password });
  let heard = 0;
  s.on('step', (_st, phase) => phase === 'end' && heard++);
  try {
    await s.ready();
    assert.ok(heard > 5, `a full sign-in is more than 5 steps, heard ${heard}`);
    assert.equal(s.recorder.steps.length, 2);
    assert.equal(s.recorder.steps.at(-1)?.kind, 'authenticate');
  } finally {
    await s.stop();
  }
  const none = new SignInSession({ ...lab.signInOptions({ ...quiet, stepHistory: 0 }), password: lab.password });
  try {
    await none.ready();
    assert.equal(none.recorder.steps.length, 0);
  } finally {
    await none.stop();
  }
  for (const bad of [-1, 1.5, Number.NaN]) {
    assert.throws(() => new SignInSession({ ...lab.signInOptions({ stepHistory: bad }), password: lab.password }), (e: unknown) => (e as { code?: string }).code === 'INVALID_OPTION');
  }
});

test('dnsCache: a second session sharing the cache discovers from it (SRV answers and NXDOMAINs with the SOA TTL) and signs in; the diagnosis still asks DNS', async () => {
  const { SignInSession } = await import('../../src/engine/session.js');
  const { DnsCache } = await import('../../src/discovery/dns-cache.js');
  const dnsCache = new DnsCache();
  const quiet = { cache: false as const, presence: false as const, provisioning: false, networkWatchIntervalMs: 0, keepAliveIntervalMs: 0, dnsCache };
  const srvSteps = async (): Promise<Array<Record<string, unknown>>> => {
    const s = new SignInSession({ ...lab.signInOptions(quiet), password: lab.password });
    try {
      await s.ready();
      return s.recorder.steps.filter((st) => st.kind === 'dns-srv').map((st) => st.detail);
    } finally {
      await s.stop();
    }
  };
  const first = await srvSteps();
  assert.equal(first.length, 4);
  assert.ok(first.every((d) => d['cached'] === undefined), 'the first session asks DNS');
  const second = await srvSteps();
  assert.equal(second.length, 4);
  assert.ok(second.every((d) => d['cached'] === true), `the second session answers every SRV question from the cache: ${JSON.stringify(second)}`);
  assert.ok(second.some((d) => d['outcome'] === 'nxdomain') && second.some((d) => d['outcome'] === 'answer'), 'positive and negative answers both cached');
  const report = await diagnose({ ...lab.signInOptions(quiet), password: lab.password });
  assert.equal(report.result, 'pass');
  const diagSrv = report.steps.filter((st) => st.kind === 'dns-srv');
  assert.ok(diagSrv.length === 4 && diagSrv.every((st) => st.detail['cached'] === undefined), 'the diagnosis sees the network as it is');
});

test('registerAt: a redirect outside the AoR\'s domain is refused (REDIRECT_INVALID) unless allowed; a later Contact inside it is followed', async () => {
  const { startLabRegistrar } = await import('../../src/lab/registrar.js');
  const { registerAt } = await import('../../src/sip/sign-on.js');
  const pool1 = lab.pool1;
  // Directors of their own on 127.0.20.47/.48 (the lab registrars listen on fixed ports).
  const director = async (address: string, contacts: string[]) =>
    startLabRegistrar({ name: `dir.${lab.domain}`, address, tlsPort: 5061, tcpPort: 5060, domain: lab.domain, users: {}, ca: lab.ca, redirectTo: contacts });
  const poolContact = `sip:pool1.${lab.domain}:${pool1.tcpPort};transport=tcp`;
  const mixed = await director('127.0.20.47', ['sip:evil.other.test:5060;transport=tcp', poolContact]);
  const only = await director('127.0.20.48', ['sip:evil.other.test:5060;transport=tcp']);
  const resolved: string[] = [];
  const opts = (allowedDomains?: string[]) => ({
    registration: { aor: lab.user, password: () => lab.password, expires: 60 },
    resolve: async (name: string) => {
      resolved.push(name);
      if (name === `pool1.${lab.domain}`) return pool1.address;
      throw new Error('NXDOMAIN');
    },
    ...(allowedDomains ? { allowedDomains } : {}),
  });
  try {
    const r = await registerAt({ host: mixed.address, port: mixed.tcpPort, transport: 'tcp' }, opts());
    try {
      assert.equal(r.hops.at(-1)?.host, `pool1.${lab.domain}`, 'the first Contact outside acme.test is skipped, the next one followed');
    } finally {
      await r.registration.unregister().catch(() => undefined);
      r.connection.close();
    }
    await assert.rejects(registerAt({ host: only.address, port: only.tcpPort, transport: 'tcp' }, opts()), (e: unknown) => SiplogonError.is(e, 'REDIRECT_INVALID') && /evil\.other\.test/.test((e as Error).message));
    assert.ok(!resolved.includes('evil.other.test'), 'a refused registrar is not even resolved');
    // Allowed explicitly: it is followed (and here fails to resolve).
    await assert.rejects(registerAt({ host: only.address, port: only.tcpPort, transport: 'tcp' }, opts(['other.test'])), (e: unknown) => SiplogonError.is(e, 'DNS_FAILED'));
    assert.ok(resolved.includes('evil.other.test'));
  } finally {
    await mixed.stop();
    await only.stop();
  }
});
