// Pure parts of the diagnosis: which step decides the outcome, what the finding says, and how the
// text and HTML renderings present it (escaping, the failing-step anchor, no terminal codes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decisiveStep, explain, DEVICE_MESSAGE_CERTIFICATE } from '../../src/diagnose/advice.js';
import { renderHtml, renderText } from '../../src/diagnose/render.js';
import type { DiagnosisReport } from '../../src/diagnose/diagnose.js';
import type { StepRecord } from '../../src/engine/steps.js';

let id = 0;
function step(kind: StepRecord['kind'], status: StepRecord['status'], extra: Partial<StepRecord> = {}): StepRecord {
  return { id: ++id, kind, title: `${kind} step`, status, startedAtMs: 0, latencyMs: 1, detail: {}, ...extra };
}
const nx = (target: string) => step('dns-srv', 'fail', { target, detail: { outcome: 'nxdomain', server: '127.0.0.1:53' }, error: { code: 'DNS_FAILED', message: 'nxdomain' } });

test('no SRV and no DHCP answer: the first SRV query decides', () => {
  id = 0;
  const steps = [step('dhcp-inform', 'skipped'), nx('_sipinternaltls._tcp.a.test'), nx('_sipinternal._tcp.a.test'), step('candidates', 'fail', { error: { code: 'NO_CANDIDATES', message: '' } })];
  assert.equal(decisiveStep(steps, false)?.target, '_sipinternaltls._tcp.a.test');
});

test('an SRV answer named a host that does not resolve: that host decides, not the unpublished SRV names', () => {
  id = 0;
  const steps = [
    step('dhcp-inform', 'skipped'),
    step('dns-srv', 'pass', { target: '_sipinternaltls._tcp.a.test', detail: { records: [{ target: 'ghost.a.test', port: 5061 }] } }),
    nx('_sipinternal._tcp.a.test'),
    nx('_sip._tls.a.test'),
    step('dns-host', 'fail', { target: 'sipinternal.a.test', error: { code: 'DNS_FAILED', message: '' } }),
    step('dns-host', 'fail', { target: 'ghost.a.test', error: { code: 'DNS_FAILED', message: '' } }),
    step('candidates', 'fail', { error: { code: 'NO_CANDIDATES', message: '' } }),
  ];
  assert.equal(decisiveStep(steps, false)?.target, 'ghost.a.test');
});

test('an SRV name answered: unpublished SRV names are never the cause, even when nothing else explains the failure', () => {
  id = 0;
  const steps = [
    step('dns-srv', 'pass', { target: '_sipinternaltls._tcp.a.test', detail: { records: [{ target: 'pool.a.test', port: 5061 }] } }),
    nx('_sip._tcp.a.test'),
    step('dns-host', 'pass', { target: 'pool.a.test' }),
  ];
  assert.equal(decisiveStep(steps, false, 'ALL_CANDIDATES_FAILED'), undefined, 'no step explains it: the report shows the error itself');
});

test('DHCP option 120 named a registrar: a missing SRV is not the cause', () => {
  id = 0;
  const steps = [
    step('dhcp-inform', 'pass', { detail: { sipServers: { names: ['Pool.A.test.'] } } }),
    nx('_sipinternaltls._tcp.a.test'),
    step('dns-host', 'fail', { target: 'pool.a.test', error: { code: 'DNS_FAILED', message: '' } }),
  ];
  assert.equal(decisiveStep(steps, false)?.target, 'pool.a.test');
});

test('DHCP silent and no SRV: DHCPINFORM (started first) decides', () => {
  id = 0;
  const steps = [step('dhcp-inform', 'fail', { error: { code: 'DHCP_TIMEOUT', message: '' } }), nx('_sipinternaltls._tcp.a.test')];
  assert.equal(decisiveStep(steps, false)?.kind, 'dhcp-inform');
});

test('a failed connection attempt beats discovery noise; signed in: only provisioning can decide', () => {
  id = 0;
  const steps = [nx('_sipinternal._tcp.a.test'), step('tcp-connect', 'fail', { error: { code: 'CONNECT_REFUSED', message: '' } }), step('provisioning', 'fail')];
  assert.equal(decisiveStep(steps, false)?.kind, 'tcp-connect');
  assert.equal(decisiveStep(steps, true)?.kind, 'provisioning');
  assert.equal(decisiveStep([step('register', 'pass')], true), undefined);
});

test('explain: certificate mismatch names the certificate without "DNS:" prefixes and uses the device certificate message', () => {
  const f = explain(
    step('tls-handshake', 'fail', { target: 'alias.a.test', detail: { fqdn: 'alias.a.test', tls: { subjectAltNames: ['DNS:pool.a.test', 'IP Address:10.0.0.1'] } }, error: { code: 'TLS_NAME_MISMATCH', message: 'x' } }),
    { domain: 'a.test' },
  );
  assert.equal(f.diagnosis, 'The certificate names pool.a.test, 10.0.0.1, not alias.a.test.');
  assert.match(f.fix, /alias\.a\.test in subjectAltName/);
  assert.equal(f.deviceMessage, DEVICE_MESSAGE_CERTIFICATE);
});

test('explain: refused and black-holed connections name the FQDN and the address', () => {
  const base = { target: '10.0.0.9:5061', detail: { fqdn: 'pool.a.test', address: '10.0.0.9', port: 5061, timeoutMs: 1500 } };
  const refused = explain(step('tcp-connect', 'fail', { ...base, error: { code: 'CONNECT_REFUSED', message: '' } }), { domain: 'a.test' });
  assert.match(refused.diagnosis, /^pool\.a\.test \(10\.0\.0\.9:5061\) refused/);
  const dropped = explain(step('tcp-connect', 'fail', { ...base, error: { code: 'CONNECT_TIMEOUT', message: '' } }), { domain: 'a.test' });
  assert.match(dropped.diagnosis, /within 1\.5 s/);
  assert.match(dropped.fix, /Open TCP 5061 .* to 10\.0\.0\.9/);
});

function report(steps: StepRecord[], decisive: StepRecord | undefined): DiagnosisReport {
  return {
    schemaVersion: 1,
    tool: { name: 'siplogon', version: '0.0.0' },
    user: 'sip:<script>alert(1)</script>@a.test',
    mode: 'discovery',
    targetFqdn: null,
    startedAt: new Date(0).toISOString(),
    durationMs: 5,
    result: decisive ? 'fail' : 'pass',
    registrar: null,
    mediaRelays: [],
    steps,
    finding: decisive ? explain(decisive, { domain: 'a.test' }) : null,
    error: null,
  };
}

test('HTML: everything from the record is escaped; the decisive row carries id="failing-step"; no external resources', () => {
  id = 0;
  const skipped = step('dhcp-inform', 'skipped', { reason: 'no interface' });
  const bad = step('register', 'fail', { title: 'REGISTER <b>x</b>', target: 'p.a.test:5061/tls', detail: { status: '403 "Forbidden" & <gone>' }, error: { code: 'REGISTER_REJECTED', message: '<img src=x onerror=alert(1)>' } });
  const html = renderHtml(report([skipped, bad], bad));
  assert.ok(!html.includes('<script>alert') && !html.includes('<img src=x'), 'no markup injected from the record');
  assert.match(html, /<tr class="fail decisive" id="failing-step"><td>2<\/td>/);
  assert.equal(html.match(/id="failing-step"/g)?.length, 1);
  assert.match(html, /answered REGISTER with 403 &quot;Forbidden&quot; &amp; &lt;gone&gt;\./, 'no dangling space when the reason is empty');
  assert.ok(!/\b(?:src|href)=["']?(?:https?:)?\/\//.test(html), 'self-contained: no external resources');
});

test('text: one plain line per step, no terminal control codes, the finding block last', () => {
  id = 0;
  const skipped = step('dhcp-inform', 'skipped', { title: 'DHCPINFORM', reason: 'bypassed' });
  const failing = step('tcp-connect', 'fail', { title: 'TCP connect p', target: '10.0.0.9:5061', detail: { fqdn: 'p.a.test' }, error: { code: 'CONNECT_REFUSED', message: 'refused' } });
  const text = renderText(report([skipped, failing], failing));
  assert.ok(!/\x1b|\r/.test(text));
  const lines = text.split('\n');
  assert.match(lines[1] ?? '', /^ {2}– #1 DHCPINFORM {2}\[1\.0 ms\] {2}bypassed$/);
  assert.match(lines[2] ?? '', /^ {2}✖ #2 TCP connect p {2}\[1\.0 ms\] {2}CONNECT_REFUSED: refused$/);
  assert.ok(lines.includes('Failed step : #2 TCP connect p (CONNECT_REFUSED)'), 'the summary cites the number the line shows');
});

test('text: an unpublished SRV name is a fact, not a failure; on success failed discovery steps are "Noticed"', () => {
  id = 0;
  const dhcp = step('dhcp-inform', 'fail', { title: 'DHCPINFORM', error: { code: 'DHCP_TIMEOUT', message: 'no answer' } });
  const srvMissing = nx('_sip._tcp.a.test');
  const ok: DiagnosisReport = { ...report([dhcp, srvMissing], undefined), result: 'pass', finding: null };
  const text = renderText(ok);
  assert.match(text, /^ {2}· #2 dns-srv step .*not published \(NXDOMAIN\)$/m);
  assert.match(text, /^Noticed {5}: #1 DHCPINFORM failed \(DHCP_TIMEOUT\)/m);
  assert.ok(!/Noticed.*dns-srv/.test(text), 'an unpublished name is not noticed');
  const html = renderHtml(ok);
  assert.match(html, /<tr class="info"><td>2<\/td><td class="st">not published<\/td>/);
  assert.match(html, /<ul class="noticed"><li>Step 1: DHCPINFORM failed \(DHCP_TIMEOUT\)/);
});

test('explain: the fix follows where the name came from (--target-fqdn or discovery) and what DNS answered', () => {
  id = 0;
  const t = explain(step('dns-host', 'fail', { target: 'nosuch.a.test', detail: { origin: '--target-fqdn', a: 'nxdomain', aaaa: 'nxdomain' }, error: { code: 'DNS_FAILED', message: '' } }), { domain: 'a.test' });
  assert.match(t.fix, /check the name given with --target-fqdn/);
  assert.doesNotMatch(t.fix, /SRV\/DHCP/);
  const down = explain(step('dns-host', 'fail', { target: 'director.a.test', detail: { origin: 'DHCP option 120 (names)', a: 'timeout', aaaa: 'timeout', server: '10.0.0.53:53', timeoutMs: 2000 }, error: { code: 'DNS_TIMEOUT', message: '' } }), { domain: 'a.test' });
  assert.match(down.diagnosis, /did not answer/);
  assert.doesNotMatch(down.fix, /Publish/, 'the record may exist: the server is silent');
  const refused = explain(step('dns-host', 'fail', { target: 'p.other.test', detail: { origin: '--target-fqdn', a: 'refused', aaaa: 'refused' }, error: { code: 'DNS_FAILED', message: '' } }), { domain: 'a.test' });
  assert.match(refused.diagnosis, /REFUSED: it does not serve that zone/);
  const refusedConn = explain(step('tcp-connect', 'fail', { target: '10.0.0.9:5070', detail: { source: 'target' }, error: { code: 'CONNECT_REFUSED', message: '' } }), { domain: 'a.test' });
  assert.match(refusedConn.fix, /--target-port/);
  const byIp = explain(step('tls-handshake', 'fail', { target: '10.0.0.9', detail: { fqdn: '10.0.0.9', source: 'target', tls: { subjectAltNames: ['DNS:pool1.a.test'] } }, error: { code: 'TLS_NAME_MISMATCH', message: '' } }), { domain: 'a.test' });
  assert.match(byIp.fix, /--target-fqdn pool1\.a\.test/);
  assert.doesNotMatch(byIp.fix, /Reissue/);
});
