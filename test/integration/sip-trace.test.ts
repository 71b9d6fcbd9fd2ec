// The redacted SIP trace end to end on 127.0.31.x:
//  - in-process diagnose() against the embedded lab (TLS, 301 director, digest SHA-256,
//    provisioning, MRAS): the trace holds the exchange in order, and the real secrets, captured
//    here from the unredacted messages, appear nowhere in the JSON, text or HTML;
//  - the compiled CLI (`siplogon diagnose --trace`) against Kamailio 5.6 over TCP through a
//    recording proxy run by this test, so the digest response and cnonce really sent are known
//    and can be looked for in stdout, the --json report (schema-validated) and the HTML report.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../src/lab/lab.js';
import { diagnose, type DiagnosisReport } from '../../src/diagnose/diagnose.js';
import { renderHtml, renderText, renderTrace } from '../../src/diagnose/render.js';
import { SipConnection } from '../../src/sip/connection.js';
import { getHeaderLines, parseMessage, type SipMessage } from '../../src/sip/message.js';
import type { SipTraceEntry } from '../../src/sip/trace.js';
import { SignInSession } from '../../src/engine/session.js';
import { startKamailio, type KamailioHandle } from '../helpers/kamailio.js';
import { dumpDom, elementText, parseReport, runCli } from '../helpers/diagnose-cli.js';

const NET = '127.0.31';
const PASSWORD = 'Tr4ce-Pw!looking-glass';
let lab: Lab;

// Ground truth: every message the engine's connections really sent and received, unredacted.
const rawOut: Buffer[] = [];
const rawIn: SipMessage[] = [];
const origSend = SipConnection.prototype.send;
const origEmit = SipConnection.prototype.emit;

before(async () => {
  lab = await startLab({ net: NET, password: PASSWORD });
  SipConnection.prototype.send = function (this: SipConnection, msg: Parameters<SipConnection['send']>[0]) {
    rawOut.push(Buffer.isBuffer(msg) ? Buffer.from(msg) : Buffer.alloc(0));
    return origSend.call(this, msg);
  };
  SipConnection.prototype.emit = function (this: SipConnection, ev: string, ...args: unknown[]) {
    if (ev === 'message') rawIn.push(args[0] as SipMessage);
    return (origEmit as (this: SipConnection, e: string, ...a: unknown[]) => boolean).call(this, ev, ...args);
  } as SipConnection['emit'];
});

after(async () => {
  SipConnection.prototype.send = origSend;
  SipConnection.prototype.emit = origEmit;
  await lab?.stop();
});

const line = (e: SipTraceEntry): string => e.startLine.replace(/ SIP\/2\.0$/, '').replace(/^SIP\/2\.0 /, '');
const authParam = (v: string, p: string): string | undefined => new RegExp(`[\\s,]${p}="?([^",]+)"?`).exec(v)?.[1];

/** Asserts `wanted` (regexps on start lines) occur in this order within `entries`. */
function assertInOrder(entries: SipTraceEntry[], wanted: RegExp[]): SipTraceEntry[] {
  const found: SipTraceEntry[] = [];
  let i = 0;
  for (const w of wanted) {
    while (i < entries.length && !w.test(line(entries[i]!))) i++;
    assert.ok(i < entries.length, `${w} not found in order; trace:\n${entries.map((e) => `${e.direction} ${line(e)}`).join('\n')}`);
    found.push(entries[i]!);
    i++;
  }
  return found;
}

test('lab: diagnose with trace records REGISTER, 401, REGISTER, 200, SUBSCRIBE, SERVICE in order; no secret anywhere', async () => {
  rawOut.length = 0;
  rawIn.length = 0;
  const r = await diagnose({ ...lab.signInOptions({ cache: false, presence: false }), trace: true });
  assert.equal(r.result, 'pass', JSON.stringify(r.finding));
  assert.ok(r.trace, 'the report has a trace');
  const t = r.trace.entries;
  assert.equal(r.trace.omitted, 0);
  const pool = `tls ${NET}.11:5061 pool1.acme.test`;
  // The director's 301 first, then pool1.
  assertInOrder(t, [/^REGISTER sip:acme\.test$/, /^301 Moved Permanently$/]);
  const [reg1, chal, reg2, ok, sub, subOk, svc, svcOk] = assertInOrder(
    t.filter((e) => e.connection.remoteAddress === `${NET}.11`),
    [/^REGISTER /, /^401 /, /^REGISTER /, /^200 /, /^SUBSCRIBE sip:alice@acme\.test$/, /^200 /, /^SERVICE sip:mras\./, /^200 /],
  ) as [SipTraceEntry, SipTraceEntry, SipTraceEntry, SipTraceEntry, SipTraceEntry, SipTraceEntry, SipTraceEntry, SipTraceEntry];
  assert.deepEqual([reg1, chal, reg2, ok].map((e) => e.direction), ['out', 'in', 'out', 'in']);
  assert.equal(`${reg1.connection.transport} ${reg1.connection.remoteAddress}:${reg1.connection.remotePort} ${reg1.connection.servername}`, pool);
  assert.match(getHeaderLines(chal, 'WWW-Authenticate')[0] ?? '', /^Digest realm="acme\.test", nonce="[^"]+", qop="auth", algorithm=SHA-256$/, 'the offered scheme is shown whole');
  const auth = getHeaderLines(reg2, 'Authorization')[0] ?? '';
  assert.match(auth, /^Digest username="alice", realm="acme\.test", nonce="[^"<]+", uri="sip:acme\.test", response="<redacted>", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="<redacted>"$/);
  assert.match(sub.headers.find((h) => h.name === 'Event')?.value ?? '', /vnd-microsoft-provisioning-v2/);
  assert.match(subOk.body, /<mrasUri>sip:mras\.pool1\.acme\.test@acme\.test/);
  assert.match(svc.body, /<credentialsRequest/);
  assert.match(svcOk.body, /<username>[0-9a-f]+<\/username><password><redacted><\/password>/);
  assert.ok(t.every((e, k) => k === 0 || e.atMs >= t[k - 1]!.atMs), 'times never go backwards');
  assert.ok(r.steps.length > 0 && t[0]!.atMs >= 0);

  // Secrets as they really were on the wire.
  const sentAuth = rawOut.map((b) => b.toString('utf8')).flatMap((s) => (/^Authorization: (.*)$/m.exec(s) ? [/^Authorization: (.*)$/m.exec(s)![1]!] : []));
  const responses = sentAuth.map((a) => authParam(a, 'response')!);
  const cnonces = sentAuth.map((a) => authParam(a, 'cnonce')!);
  assert.ok(responses.length >= 3 && responses.every((x) => /^[0-9a-f]{64}$/.test(x)), `captured digest responses: ${responses.join(' ')}`);
  assert.ok(cnonces.every((x) => x && x.length >= 8));
  const relayPasswords = rawIn.flatMap((m) => {
    const p = /<password>([^<]+)<\/password>/.exec(m.body.toString('utf8'));
    return p ? [p[1]!] : [];
  });
  assert.equal(relayPasswords.length, 1, 'the MRAS answer carried one relay password');
  const outputs = { json: JSON.stringify(r), text: renderText(r) + renderTrace(r), html: renderHtml(r) };
  for (const [where, s] of Object.entries(outputs)) {
    for (const secret of [PASSWORD, ...responses, ...cnonces, ...relayPasswords]) assert.ok(!s.includes(secret), `${secret} in the ${where} output`);
  }
  const text = renderTrace(r);
  assert.match(text, new RegExp(`^→ \\d+\\.\\d ms {2}to ${pool.replace(/\./g, '\\.')}\\n {4}REGISTER sip:acme\\.test SIP/2\\.0$`, 'm'));
  assert.match(text, /^← \d+\.\d ms {2}from tls 127\.0\.31\.11:5061 pool1\.acme\.test\n {4}SIP\/2\.0 401 Unauthorized$/m);
  // HTML: a collapsed section, every message escaped.
  assert.match(outputs.html, /<details id="sip-trace"><summary>SIP trace \(\d+ messages, secrets redacted\)<\/summary>/);
  const section = outputs.html.slice(outputs.html.indexOf('<details id="sip-trace">'), outputs.html.indexOf('</details>', outputs.html.indexOf('<details id="sip-trace">')));
  assert.ok(section.includes('&lt;password&gt;&lt;redacted&gt;&lt;/password&gt;'), 'bodies are HTML-escaped');
  assert.ok(!/<(password|provisionGroupList|response)\b/.test(section), 'no raw markup from a message body in the page');
});

test('lab: without trace the report has no trace field, and a session without sipTrace never calls any hook', async () => {
  const r = await diagnose(lab.signInOptions({ cache: false, presence: false }));
  assert.equal(r.result, 'pass');
  assert.equal('trace' in r, false);
  assert.ok(!renderHtml(r).includes('sip-trace'));
  // Two sessions at once on the same lab: only the traced one's connections call its hook.
  const seen: SipTraceEntry[] = [];
  const traced = new SignInSession({ ...lab.signInOptions({ cache: false, presence: false }), sipTrace: (e) => seen.push(e) });
  const plain = new SignInSession(lab.signInOptions({ cache: false, presence: false }));
  try {
    const [a, b] = await Promise.all([traced.ready(), plain.ready()]);
    assert.ok(a && b);
    const tracedPort = (traced as unknown as { leg?: { connection: SipConnection } }).leg?.connection.info.localPort;
    const plainConn = (plain as unknown as { leg?: { connection: SipConnection } }).leg?.connection;
    assert.ok(plainConn, 'the untraced session has a live connection');
    assert.equal((plainConn as unknown as { tracer: unknown }).tracer, undefined, 'no tracer is attached when tracing is off');
    assert.ok(seen.length >= 4, `traced session saw ${seen.length} messages`);
    assert.ok(seen.every((e) => e.connection.localPort !== plainConn.info.localPort), 'the hook never saw the untraced connection');
    if (tracedPort !== undefined) assert.ok(seen.some((e) => e.connection.localPort === tracedPort));
  } finally {
    await Promise.allSettled([traced.stop(), plain.stop()]);
  }
});

// ------------------------------------------------------------------------------------------
// CLI against Kamailio through a recording TCP proxy.

const D = 'trace.test';
const KAM = `${NET}.111`;
const PROXY = `${NET}.112`;
const CLI_PASSWORD = 'Cli-Tr4ce!cheshire';
const RELAY_SECRET = 'RELAY-TRACE-SECRET-9313';
const PROVISIONING = `<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification"><provisionGroup name="ServerConfiguration"><mrasUri>sip:mras@${D}</mrasUri></provisionGroup></provisionGroupList>`;
const MRAS = `<response reasonPhrase="OK"><credentialsResponse><credentials><username>relayuser</username><password>${RELAY_SECRET}</password><duration>480</duration></credentials><mediaRelayList><mediaRelay><location>intranet</location><hostName>edge.${D}</hostName><udpPort>3478</udpPort><tcpPort>443</tcpPort></mediaRelay></mediaRelayList></credentialsResponse></response>`;

let kam: KamailioHandle | undefined;
let proxy: net.Server | undefined;
let dir: string;
const wire: Buffer[] = [];

test('CLI: `diagnose --trace` against Kamailio prints, reports (JSON + HTML) the exchange in order and never a secret', async (t) => {
  dir = mkdtempSync(join(tmpdir(), 'sltrace-'));
  t.after(async () => {
    proxy?.close();
    await kam?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  kam = await startKamailio({ listen: [{ proto: 'tcp', address: KAM, port: 5060 }], users: { alice: CLI_PASSWORD }, domain: D, provisioning: { body: PROVISIONING }, service: { body: MRAS }, allowEvents: 'presence, vnd-microsoft-provisioning-v2' });
  const sockets = new Set<net.Socket>();
  proxy = net.createServer((c) => {
    const up = net.connect({ host: KAM, port: 5060 });
    sockets.add(c).add(up);
    c.on('data', (d) => {
      wire.push(Buffer.from(d));
      up.write(d);
    });
    up.on('data', (d) => {
      wire.push(Buffer.from(d));
      c.write(d);
    });
    const end = (): void => {
      c.destroy();
      up.destroy();
    };
    c.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  t.after(() => sockets.forEach((s) => s.destroy()));
  await new Promise<void>((res, rej) => proxy!.once('error', rej).listen(5060, PROXY, () => res()));

  const reportFile = join(dir, 'report.html');
  const common = ['diagnose', '--user', `sip:alice@${D}`, '--password-env', 'SIPLOGON_PW', '--no-cache', '--target-fqdn', `pool.${D}`, '--transport', 'tcp', '--target-port', '5060', '--resolve', `pool.${D}:${PROXY}`, '--resolve', `edge.${D}:${NET}.113`, '--timeout', '3000'];
  const json = await runCli([...common, '--json', '--trace', '--report', reportFile], { env: { SIPLOGON_PW: CLI_PASSWORD } });
  assert.equal(json.code, 0, json.stderr + json.stdout.slice(0, 2000));
  const report: DiagnosisReport = parseReport(json);
  const text = await runCli([...common, '--trace'], { env: { SIPLOGON_PW: CLI_PASSWORD } });
  assert.equal(text.code, 0, text.stderr);
  const plain = await runCli([...common, '--json'], { env: { SIPLOGON_PW: CLI_PASSWORD } });
  assert.equal('trace' in parseReport(plain), false, '--json without --trace has no trace');

  assert.ok(report.trace);
  const [, , reg2] = assertInOrder(report.trace.entries, [/^REGISTER sip:trace\.test$/, /^401 Unauthorized$/, /^REGISTER sip:trace\.test$/, /^200 OK$/, /^SUBSCRIBE /, /^200 /, /^SERVICE sip:mras@trace\.test$/, /^200 /]);
  assert.equal(reg2!.connection.transport, 'tcp');
  assert.equal(reg2!.connection.servername, `pool.${D}`);
  assert.match(getHeaderLines(reg2!, 'Authorization')[0] ?? '', /response="<redacted>"/);

  // What really went over the wire (all three runs), parsed from the proxy's recording.
  const sent = Buffer.concat(wire).toString('utf8');
  const responses = [...sent.matchAll(/[\s,]response="?([0-9a-f]{32,64})"?/g)].map((m) => m[1]!);
  const cnonces = [...sent.matchAll(/[\s,]cnonce="?([^",\s]+)"?/g)].map((m) => m[1]!);
  assert.ok(responses.length >= 6, `digest responses seen on the wire: ${responses.length}`);
  assert.ok(sent.includes(RELAY_SECRET), 'the relay password did cross the wire');
  const html = readFileSync(reportFile, 'utf8');
  for (const [where, s] of [['--json stdout', json.stdout], ['--trace stdout', text.stdout], ['HTML', html], ['stderr', json.stderr + text.stderr]] as const) {
    for (const secret of [CLI_PASSWORD, RELAY_SECRET, ...responses, ...cnonces]) assert.ok(!s.includes(secret), `${secret} in ${where}`);
  }

  // Text: after the summary, arrows, times, the connection label, then headers and bodies.
  const out = text.stdout;
  assert.ok(out.indexOf('Result      : Success') < out.indexOf('SIP trace ('), 'the trace comes after the summary');
  assert.match(out, new RegExp(`^→ \\d+\\.\\d ms {2}to tcp ${PROXY.replace(/\./g, '\\.')}:5060 pool\\.trace\\.test\\n {4}REGISTER sip:trace\\.test SIP/2\\.0$`, 'm'));
  assert.match(out, /^← \d+\.\d ms {2}from tcp [\d.]+:5060 pool\.trace\.test\n {4}SIP\/2\.0 401 Unauthorized$/m);
  assert.match(out, /^ {4}WWW-Authenticate: Digest realm="trace\.test", nonce="[^"]+"/m);
  assert.match(out, /^ {4}<response reasonPhrase="OK">.*<password><redacted><\/password>/m);

  // HTML: collapsed, escaped, and it renders (headless chromium).
  assert.match(html, /<details id="sip-trace">/);
  const dom = await dumpDom(reportFile);
  const shown = elementText(dom, 'sip-trace') ?? '';
  assert.match(shown, /SIP trace \(\d+ messages, secrets redacted\)/);
  assert.match(shown, /REGISTER sip:trace\.test SIP\/2\.0/);
  assert.match(shown, /<password><redacted><\/password>/, 'the body reads as text once rendered');
});

test('lab: a hook that throws never breaks sign-in; the diagnosis still records the trace', async () => {
  let calls = 0;
  const r = await diagnose({
    ...lab.signInOptions({ cache: false, presence: false }),
    trace: true,
    sipTrace: () => {
      calls++;
      throw new Error('observer bug');
    },
  });
  assert.equal(r.result, 'pass', JSON.stringify(r.finding));
  assert.ok(calls >= 8, `hook called ${calls} times`);
  assert.equal(r.trace?.entries.length, calls, 'the caller hook saw exactly what the report kept');
});
