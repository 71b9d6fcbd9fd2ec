// `siplogon diagnose` as a user runs it: the compiled CLI in a child process (password only via an
// environment variable) against real peers on 127.0.40.x — Kamailio 5.6 registrars (TLS, digest,
// provisioning, MRAS, a pair 301-ing to each other, one without provisioning) and dnsmasq zones
// (complete, no SRV, SRV naming a host without an address). Each failure class must name the right
// first failing step and the right fix; every --json output is validated against the schema; the
// HTML report is rendered in headless chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKamailio, type KamailioHandle } from '../helpers/kamailio.js';
import { makeCa, makeServerCert, type CertFiles } from '../helpers/certs.js';
import { startDnsmasq, type DnsmasqHandle } from '../helpers/dnsmasq.js';
import { assertNoSecret, dumpDom, elementText, parseReport, runCli, type CliRun } from '../helpers/diagnose-cli.js';
import type { DiagnosisReport } from '../../src/diagnose/diagnose.js';
import type { StepRecord } from '../../src/engine/steps.js';

const D = 'example.test';
const USER = `sip:alice@${D}`;
const PASSWORD = 'Pw-7f3Qz!wonderland';
const WRONG = 'Wrong-9xKq!looking-glass';
const IP = {
  pool: '127.0.40.11',
  noprov: '127.0.40.14',
  dir1: '127.0.40.21',
  dir2: '127.0.40.22',
  refused: '127.0.40.30',
  edge: '127.0.40.41',
  dnsGood: '127.0.40.53',
  dnsNoSrv: '127.0.40.54',
  dnsGhost: '127.0.40.55',
};
const DNS_PORT = 5353;
const PROVISIONING = `<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification"><provisionGroup name="ServerConfiguration"><mrasUri>sip:mras@${D}</mrasUri></provisionGroup></provisionGroupList>`;
const MRAS = `<response reasonPhrase="OK"><credentialsResponse><credentials><username>relayuser</username><password>RELAY-SECRET-4711</password><duration>480</duration></credentials><mediaRelayList><mediaRelay><location>intranet</location><hostName>edge.${D}</hostName><udpPort>3478</udpPort><tcpPort>443</tcpPort></mediaRelay></mediaRelayList></credentialsResponse></response>`;

let dir: string;
let ca: CertFiles;
const kam: KamailioHandle[] = [];
const dns: DnsmasqHandle[] = [];
let dnsGood: DnsmasqHandle;
let dnsNoSrv: DnsmasqHandle;
let dnsGhost: DnsmasqHandle;

const hosts: Record<string, string[]> = {
  [`pool.${D}`]: [IP.pool],
  [`alias.${D}`]: [IP.pool], // a name the pool's certificate does not carry
  [`noprov.${D}`]: [IP.noprov],
  [`dir1.${D}`]: [IP.dir1],
  [`dir2.${D}`]: [IP.dir2],
  [`down.${D}`]: [IP.refused],
  [`edge.${D}`]: [IP.edge],
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sldg-cli-'));
  ca = makeCa(dir);
  const cert = (name: string): { certFile: string; keyFile: string } => {
    const c = makeServerCert(dir, ca, [`${name}.${D}`]);
    return { certFile: c.certFile, keyFile: c.keyFile };
  };
  const tls = (address: string) => [{ proto: 'tls' as const, address, port: 5061 }];
  const started = await Promise.allSettled([
    startKamailio({ listen: tls(IP.pool), tls: cert('pool'), users: { alice: PASSWORD }, domain: D, provisioning: { body: PROVISIONING }, service: { body: MRAS }, allowEvents: 'presence, vnd-microsoft-provisioning-v2' }),
    // No provisioning route: SUBSCRIBE vnd-microsoft-provisioning-v2 gets 405.
    startKamailio({ listen: tls(IP.noprov), tls: cert('noprov'), users: { alice: PASSWORD }, domain: D }),
    // Two directors, each naming the other as the user's home pool.
    startKamailio({ listen: tls(IP.dir1), tls: cert('dir1'), users: { alice: PASSWORD }, domain: D, redirect: { contacts: [`<sip:dir2.${D}:5061;transport=tls>`] } }),
    startKamailio({ listen: tls(IP.dir2), tls: cert('dir2'), users: { alice: PASSWORD }, domain: D, redirect: { contacts: [`<sip:dir1.${D}:5061;transport=tls>`] } }),
    startDnsmasq(IP.dnsGood, DNS_PORT, { domain: D, srv: { [`_sipinternaltls._tcp.${D}`]: [{ target: `pool.${D}`, port: 5061 }] }, hosts }),
    startDnsmasq(IP.dnsNoSrv, DNS_PORT, { domain: D, hosts }),
    startDnsmasq(IP.dnsGhost, DNS_PORT, { domain: D, srv: { [`_sipinternaltls._tcp.${D}`]: [{ target: `ghost.${D}`, port: 5061 }] }, hosts }),
  ]);
  for (const r of started) {
    if (r.status !== 'fulfilled') continue;
    if ('contacts' in r.value) kam.push(r.value);
    else dns.push(r.value);
  }
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  [dnsGood, dnsNoSrv, dnsGhost] = dns as [DnsmasqHandle, DnsmasqHandle, DnsmasqHandle];
});

after(async () => {
  await Promise.allSettled([...kam.map((k) => k.stop()), ...dns.map((d) => d.stop())]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Diag {
  run: CliRun;
  report: DiagnosisReport;
  html: string;
  reportFile: string;
  failing: StepRecord | undefined;
}

let seq = 0;

/** Runs `siplogon diagnose --json --report F` with the password in $SIPLOGON_PW; validates and checks secrets. */
async function diagnoseCli(args: string[], password = PASSWORD): Promise<Diag> {
  const reportFile = join(dir, `report-${++seq}.html`);
  const run = await runCli(['diagnose', '--user', USER, '--password-env', 'SIPLOGON_PW', '--no-cache', '--json', '--report', reportFile, ...args], { env: { SIPLOGON_PW: password } });
  const report = parseReport(run);
  assertNoSecret(password, run, reportFile);
  assert.ok(!run.stdout.includes('RELAY-SECRET-4711'), 'MRAS relay password in the report');
  const failing = report.finding ? report.steps.find((s) => s.id === report.finding?.stepId) : undefined;
  return { run, report, html: readFileSync(reportFile, 'utf8'), reportFile, failing };
}

function assertFailedAt(d: Diag, kind: StepRecord['kind'], code: string, fixWords: RegExp[]): void {
  const f = d.report.finding;
  assert.equal(d.run.code, 1, `exit code 1 for a failed sign-in; stderr:\n${d.run.stderr}`);
  assert.equal(d.report.result, 'fail');
  assert.ok(f, `a finding; steps:\n${d.report.steps.map((s) => `${s.id} ${s.kind} ${s.status} ${s.error?.code ?? ''}`).join('\n')}`);
  assert.equal(f.kind, kind, `decisive step kind; finding: ${JSON.stringify(f)}`);
  assert.equal(f.code, code);
  assert.ok(d.failing, 'finding.stepId names a recorded step');
  assert.equal(d.failing.status, 'fail', 'the decisive step failed');
  assert.equal(d.failing.kind, kind);
  // "First failing step": once a registrar was tried, no earlier connection/registration step failed.
  const attempt = new Set<StepRecord['kind']>(['tcp-connect', 'tls-handshake', 'register', 'challenge', 'authenticate', 'redirect']);
  if (attempt.has(kind)) {
    const earlier = d.report.steps.filter((s) => s.id < d.failing!.id && s.status === 'fail' && attempt.has(s.kind));
    assert.deepEqual(earlier.map((s) => s.title), [], 'no earlier attempt step failed');
  }
  for (const w of fixWords) assert.match(f.fix, w, `fix text: ${f.fix}`);
  assert.ok(d.html.includes('id="failing-step"'), 'HTML marks the failing step');
}

const stepsOf = (r: DiagnosisReport, kind: StepRecord['kind']) => r.steps.filter((s) => s.kind === kind);
const dnsArgs = (h: DnsmasqHandle) => ['--dns', h.server];

test('full pass via DNS discovery: SRV → pool, TLS facts, digest, provisioning, MRAS; exit 0', async () => {
  const d = await diagnoseCli([...dnsArgs(dnsGood), '--ca', ca.certFile, '--timeout', '3000']);
  assert.equal(d.run.code, 0, d.run.stderr);
  assert.equal(d.report.result, 'pass');
  assert.equal(d.report.finding, null);
  assert.equal(d.report.mode, 'discovery');
  assert.equal(d.report.registrar?.fqdn, `pool.${D}`);
  assert.equal(d.report.registrar?.transport, 'tls');
  assert.deepEqual(d.report.mediaRelays, [{ fqdn: `edge.${D}`, addresses: [IP.edge] }]);
  const srv = stepsOf(d.report, 'dns-srv').find((s) => s.target === `_sipinternaltls._tcp.${D}`);
  assert.equal(srv?.status, 'pass');
  assert.equal(stepsOf(d.report, 'dns-host').find((s) => s.target === `pool.${D}`)?.status, 'pass');
  assert.equal(stepsOf(d.report, 'dhcp-inform')[0]?.status, 'skipped');
  const tls = stepsOf(d.report, 'tls-handshake')[0];
  assert.equal(tls?.status, 'pass');
  const info = tls?.detail['tls'] as { subjectAltNames?: string[]; issuer?: string; validTo?: string } | undefined;
  assert.ok(info?.subjectAltNames?.includes(`DNS:pool.${D}`), `SAN reported: ${JSON.stringify(info)}`);
  assert.match(String(info?.issuer), /siplogon test CA/);
  for (const k of ['tcp-connect', 'register', 'challenge', 'authenticate', 'provisioning', 'media-relay'] as const)
    assert.equal(stepsOf(d.report, k)[0]?.status, 'pass', `${k} passed`);
  for (const s of d.report.steps) if (s.status !== 'skipped') assert.equal(typeof s.latencyMs, 'number', `latency for ${s.title}`);
  assert.ok(d.html.includes('badge pass'));
  assert.ok(!/\b(?:src|href)=/.test(d.html), 'self-contained: nothing loaded from elsewhere');
  const dom = await dumpDom(d.reportFile);
  assert.equal(elementText(dom, 'failing-step'), undefined, 'a clean pass has no failing step');
  assert.match(elementText(dom, 'finding') ?? '', new RegExp(`Signed in to pool\\.example\\.test:5061/tls`));
});

test('full pass with --target-fqdn: DHCP and SRV bypassed, only the name resolved', async () => {
  const d = await diagnoseCli(['--target-fqdn', `pool.${D}`, ...dnsArgs(dnsGood), '--ca', ca.certFile, '--timeout', '3000']);
  assert.equal(d.run.code, 0, d.run.stderr);
  assert.equal(d.report.result, 'pass');
  assert.equal(d.report.mode, 'target-fqdn');
  assert.equal(d.report.targetFqdn, `pool.${D}`);
  const dhcp = stepsOf(d.report, 'dhcp-inform')[0];
  assert.equal(dhcp?.status, 'skipped');
  assert.match(String(dhcp?.reason), /bypassed/);
  assert.equal(stepsOf(d.report, 'dns-srv').length, 0, 'no SRV query with --target-fqdn');
  assert.equal(d.report.registrar?.via, 'target');
});

test('SRV missing: first failing step is the _sipinternaltls SRV query; fix says publish it', async () => {
  const d = await diagnoseCli([...dnsArgs(dnsNoSrv), '--ca', ca.certFile, '--timeout', '2000']);
  assertFailedAt(d, 'dns-srv', 'DNS_FAILED', [new RegExp(`_sipinternaltls\\._tcp\\.${D.replace('.', '\\.')}`), /[Pp]ublish/]);
  assert.equal(d.failing?.target, `_sipinternaltls._tcp.${D}`);
  assert.match(d.report.finding?.diagnosis ?? '', /does not exist|no SRV record/);
  assert.equal(d.report.finding?.deviceMessage, 'Unable to contact Registrar for authentication. Please sign in again.');
});

test('SRV target unresolvable: the A/AAAA query for the SRV target, not the other (unpublished) SRV names', async () => {
  const d = await diagnoseCli([...dnsArgs(dnsGhost), '--ca', ca.certFile, '--timeout', '2000']);
  assertFailedAt(d, 'dns-host', 'DNS_FAILED', [new RegExp(`A \\(or AAAA\\) record for ghost\\.${D.replace('.', '\\.')}`)]);
  assert.equal(d.failing?.target, `ghost.${D}`);
});

test('connection refused: the TCP connect step; fix says start the service or correct the port', async () => {
  const d = await diagnoseCli(['--target-fqdn', `down.${D}`, ...dnsArgs(dnsGood), '--ca', ca.certFile, '--timeout', '2000']);
  assertFailedAt(d, 'tcp-connect', 'CONNECT_REFUSED', [/Start the Registrar/i, /port/]);
  assert.equal(d.failing?.target, `${IP.refused}:5061`);
});

test('certificate name mismatch: the TLS step; diagnosis names the certificate and the expected name', async () => {
  const d = await diagnoseCli(['--target-fqdn', `alias.${D}`, ...dnsArgs(dnsGood), '--ca', ca.certFile, '--timeout', '2000']);
  assertFailedAt(d, 'tls-handshake', 'TLS_NAME_MISMATCH', [/[Rr]eissue/, new RegExp(`alias\\.${D.replace('.', '\\.')}`), /subjectAltName/]);
  assert.match(d.report.finding?.diagnosis ?? '', new RegExp(`pool\\.${D.replace('.', '\\.')}`));
  assert.equal(d.report.finding?.deviceMessage, 'Cannot connect to the server. Retrying. If the problem continues, contact your support team.');
  assert.equal(stepsOf(d.report, 'register').length, 0, 'no REGISTER over an unverified connection');
  const dom = await dumpDom(d.reportFile);
  const row = elementText(dom, 'failing-step');
  assert.ok(row, 'rendered DOM has the failing step row');
  assert.match(row, new RegExp(`TLS handshake with alias\\.${D.replace('.', '\\.')}`));
  assert.match(row, /TLS_NAME_MISMATCH/);
  const finding = elementText(dom, 'finding');
  assert.ok(finding?.includes(`Fix. ${d.report.finding?.fix ?? '?'}`), `rendered fix: ${finding}`);
  assert.match(finding ?? '', /Sign-in failed at step \d+: TLS handshake/);
});

test('untrusted CA: the TLS step with the issuer; fix says install the CA', async () => {
  // No --ca: the system trust store does not know the test CA, exactly like a device without it.
  const d = await diagnoseCli(['--target-fqdn', `pool.${D}`, ...dnsArgs(dnsGood), '--timeout', '2000']);
  assertFailedAt(d, 'tls-handshake', 'TLS_UNTRUSTED', [/[Ii]nstall the issuing CA/, /--ca/]);
  assert.match(d.report.finding?.diagnosis ?? '', /siplogon test CA/);
});

test('wrong password: the authenticate step after the challenge; fix says check the password', async () => {
  const d = await diagnoseCli(['--target-fqdn', `pool.${D}`, ...dnsArgs(dnsGood), '--ca', ca.certFile, '--timeout', '3000'], WRONG);
  assertFailedAt(d, 'authenticate', 'AUTH_FAILED', [/[Cc]heck the password/]);
  assert.equal(stepsOf(d.report, 'challenge')[0]?.status, 'pass', 'the challenge came before');
  assert.equal(stepsOf(d.report, 'register')[0]?.status, 'pass');
  assert.ok(!d.html.includes(PASSWORD), 'the right password is nowhere either');
  const dom = await dumpDom(d.reportFile);
  assert.match(elementText(dom, 'failing-step') ?? '', /Authenticate as alice.*AUTH_FAILED/);
  assert.match(elementText(dom, 'finding') ?? '', /Check the password/);
});

test('redirect loop: two directors 301 to each other; the redirect step names the loop', async () => {
  const d = await diagnoseCli(['--target-fqdn', `dir1.${D}`, ...dnsArgs(dnsGood), '--ca', ca.certFile, '--timeout', '3000']);
  assertFailedAt(d, 'redirect', 'REDIRECT_LOOP', [/home pool/]);
  assert.match(d.report.finding?.diagnosis ?? '', new RegExp(`dir1\\.${D.replace('.', '\\.')}.*dir2\\.${D.replace('.', '\\.')}`));
  assert.equal(stepsOf(d.report, 'redirect').length, 2, 'dir1 → dir2 followed, dir2 → dir1 recognised as the loop');
});

test('provisioning refused: registered, but SUBSCRIBE answered 405; result fail with the provisioning fix', async () => {
  const d = await diagnoseCli(['--target-fqdn', `noprov.${D}`, ...dnsArgs(dnsGood), '--ca', ca.certFile, '--timeout', '3000']);
  assertFailedAt(d, 'provisioning', 'PROVISIONING_FAILED', [/vnd-microsoft-provisioning-v2/, /policy|provisioning service/]);
  assert.match(d.report.finding?.diagnosis ?? '', /405/);
  assert.equal(d.report.registrar?.fqdn, `noprov.${D}`, 'it did sign in');
  assert.equal(stepsOf(d.report, 'authenticate')[0]?.status, 'pass');
});

test('text mode when piped: plain checklist lines, no ANSI or spinner, the finding at the end; password absent', async () => {
  const run = await runCli(['diagnose', '--user', USER, '--password-env', 'SIPLOGON_PW', '--no-cache', '--target-fqdn', `alias.${D}`, '--dns', dnsGood.server, '--ca', ca.certFile, '--timeout', '2000'], { env: { SIPLOGON_PW: PASSWORD } });
  assert.equal(run.code, 1, run.stderr);
  assert.ok(!/\x1b\[|\r/.test(run.stdout), `no terminal control sequences when piped:\n${JSON.stringify(run.stdout)}`);
  for (const f of ['⠋', '⠙', '⠹']) assert.ok(!run.stdout.includes(f), 'no spinner frames');
  const lines = run.stdout.split('\n');
  assert.ok(lines.some((l) => /^ {2}✖ #\d+ TLS handshake with alias\.example\.test .*TLS_NAME_MISMATCH/.test(l)), `a plain line per step:\n${run.stdout}`);
  assert.ok(lines.some((l) => /^ {2}– #\d+ DHCPINFORM .*bypassed/.test(l)), 'skipped steps are listed too');
  assert.ok(lines.some((l) => /^Fix {9}: Reissue/.test(l)), 'the fix is printed');
  assert.ok(lines.some((l) => l.startsWith('Device shows: "Cannot connect to the server.')));
  assertNoSecret(PASSWORD, run);
});

test('text mode on a terminal: a live checklist with a spinner line, finished steps above it, then the finding', async () => {
  const run = await runCli(['diagnose', '--user', USER, '--password-env', 'SIPLOGON_PW', '--no-cache', '--target-fqdn', `pool.${D}`, '--dns', dnsGood.server, '--ca', ca.certFile, '--timeout', '3000'], { env: { SIPLOGON_PW: WRONG }, tty: true });
  assert.equal(run.code, 1, run.stdout);
  assert.ok(run.stdout.includes('\r\x1b[2K'), 'the status line is redrawn in place');
  assert.match(run.stdout, /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (TCP connect|TLS handshake|REGISTER|Authenticate)/, 'a spinner shows the running step');
  assert.match(run.stdout, /✖ #\d+ Authenticate as alice .*AUTH_FAILED/);
  assert.match(run.stdout, /Fix {9}: Check the password/);
  assert.ok(!run.stdout.includes(WRONG), 'the password typed into the environment never shows on the terminal');
});

test('usage errors exit 2 with a clear message and no stack trace', async () => {
  const cases: { args: string[]; env?: Record<string, string>; says: RegExp }[] = [
    { args: ['diagnose', '--password-env', 'SIPLOGON_PW'], env: { SIPLOGON_PW: PASSWORD }, says: /--user/ },
    { args: ['diagnose', '--user', USER, '--password-env', 'NOT_SET_ANYWHERE'], says: /NOT_SET_ANYWHERE is not set/ },
    { args: ['diagnose', '--user', USER, '--password-env', 'SIPLOGON_PW', '--timeout', 'soon'], env: { SIPLOGON_PW: PASSWORD }, says: /--timeout must be a number ≥ 1, got "soon"/ },
    { args: ['diagnose', '--user', 'alice', '--password-env', 'SIPLOGON_PW', '--no-cache', '--target-fqdn', `pool.${D}`], env: { SIPLOGON_PW: PASSWORD }, says: /INVALID_URI|sip:/ },
    { args: ['diagnose', '--user', USER, '--password-env', 'SIPLOGON_PW', '--transport', 'udp'], env: { SIPLOGON_PW: PASSWORD }, says: /udp/ },
  ];
  for (const c of cases) {
    const run = await runCli(c.args, { ...(c.env ? { env: c.env } : {}), killAfterMs: 15_000 });
    assert.equal(run.code, 2, `exit 2 for ${c.args.join(' ')}; stderr: ${run.stderr}`);
    assert.match(run.stderr, c.says);
    assert.ok(!/\n\s+at /.test(run.stderr), `no stack trace: ${run.stderr}`);
    assert.ok(!run.stderr.includes(PASSWORD) && !run.stdout.includes(PASSWORD));
  }
});
