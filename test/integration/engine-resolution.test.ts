// RFC 8305 §3 in discovery: a resolver that drops one family's queries must not cost the DNS
// timeout when the other family has answered. A small UDP DNS server on 127.0.20.45.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { DnsClient } from '../../src/discovery/dns.js';
import { resolveCandidates } from '../../src/engine/discovery.js';
import { resolveOptions } from '../../src/engine/options.js';
import { StepRecorder } from '../../src/engine/steps.js';
import { systemClock } from '../../src/core/clock.js';
import type { Candidate } from '../../src/core/types.js';
import { createLabCa } from '../../src/lab/certs.js';
import { startLabRegistrar } from '../../src/lab/registrar.js';
import { SignInSession } from '../../src/engine/session.js';
import type { SignInOptions } from '../../src/engine/options.js';
import { recordFromRegistration } from '../../src/core/cache-policy.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QUIET } from '../helpers/quiet.js';

const sock = createSocket('udp4');
const asked: string[] = [];
after(() => new Promise<void>((r) => sock.close(() => r())));

// Started by whichever test runs first, so each test also runs alone (--test-name-pattern).
let started: Promise<string> | undefined;
const server = (): Promise<string> => (started ??= startServer());

async function startServer(): Promise<string> {
  await new Promise<void>((res) => sock.bind(0, '127.0.20.45', () => res()));
  sock.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    asked.push(`${question.type} ${question.name}`);
    const name = question.name.toLowerCase();
    // slow.race.test is black-holed entirely; AAAA is black-holed for the first test's names.
    if (name === 'slow.race.test' || (question.type === 'AAAA' && !name.endsWith('race.test'))) return;
    const answers: dnsPacket.Answer[] = [];
    if (name === 'v4.example.test' && question.type === 'A') answers.push({ name, type: 'A', ttl: 60, data: '127.0.20.46' });
    if (name === 'fast.race.test' && question.type === 'A') answers.push({ name, type: 'A', ttl: 60, data: '127.0.20.46' });
    if (name === 'dead.race.test' && question.type === 'A') answers.push({ name, type: 'A', ttl: 60, data: '127.0.20.44' });
    if (name === '_late._tcp.race.test' && question.type === 'SRV') {
      answers.push({ name, type: 'SRV', ttl: 60, data: { target: 'dead.race.test', port: 5060, priority: 10, weight: 0 } });
      answers.push({ name, type: 'SRV', ttl: 60, data: { target: 'late.race.test', port: 5060, priority: 20, weight: 0 } });
    }
    if (name === 'late.race.test' && question.type === 'A') {
      // Answers, but only after the race has started (and lost) with the better-ranked name.
      const reply = dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: q.questions, answers: [{ name, type: 'A', ttl: 60, data: '127.0.20.46' }] });
      setTimeout(() => sock.send(reply, rinfo.port, rinfo.address), 300);
      return;
    }
    if (name === '_over._tcp.race.test' && question.type === 'SRV') {
      // The better-ranked name is black-holed; the one below it answers at once.
      answers.push({ name, type: 'SRV', ttl: 60, data: { target: 'slow.race.test', port: 5060, priority: 10, weight: 0 } });
      answers.push({ name, type: 'SRV', ttl: 60, data: { target: 'fast.race.test', port: 5060, priority: 20, weight: 0 } });
    }
    if (name === '_sipinternal._tcp.race.test' && question.type === 'SRV') {
      // No glue: both targets must be looked up; the better one answers, the other never does.
      answers.push({ name, type: 'SRV', ttl: 60, data: { target: 'fast.race.test', port: 5060, priority: 10, weight: 0 } });
      answers.push({ name, type: 'SRV', ttl: 60, data: { target: 'slow.race.test', port: 5060, priority: 20, weight: 0 } });
    }
    sock.send(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: q.questions, answers }), rinfo.port, rinfo.address);
  });
  return `127.0.20.45:${sock.address().port}`;
}

/** A lab registrar named `name` on 127.0.20.46 and a session for alice@race.test (DNS bound 10 s). */
async function raceSession(name: string, extra: Partial<SignInOptions> = {}) {
  const registrar = await startLabRegistrar({ name, address: '127.0.20.46', tlsPort: 5061, tcpPort: 5060, domain: 'race.test', users: { alice: 'pw-race' }, ca: await createLabCa() });
  const s = new SignInSession({
    user: 'sip:alice@race.test',
    password: 'pw-race',
    dnsServers: [await server()],
    dnsTimeoutMs: 10_000,
    ...QUIET,
    ...extra,
  });
  return { s, registrar };
}

const candidate = (fqdn: string): Candidate => ({ fqdn, port: 5061, transport: 'tls', source: 'dns-srv', step: 1, origin: 'test', addresses: [] });

test('A answers, AAAA is black-holed: the name resolves after the resolution delay, not the DNS timeout; a name with no A waits for AAAA in full', async () => {
  const addr = await server();
  const o = resolveOptions({ user: 'sip:alice@example.test', password: 'x', dnsTimeoutMs: 10_000, resolutionDelayMs: 50 });
  const rec = new StepRecorder(systemClock);
  const dns = new DnsClient({ servers: [addr], timeoutMs: 10_000 });
  try {
    const t0 = performance.now();
    const r = await resolveCandidates([candidate('v4.example.test')], ['v4.example.test'], o, rec, dns);
    const took = performance.now() - t0;
    assert.deepEqual(r.candidates.map((c) => c.addresses), [['127.0.20.46']]);
    assert.ok(asked.includes('AAAA v4.example.test'), 'AAAA was asked');
    // Loose bound: the DNS timeout is 10 s; the resolution delay is 50 ms.
    assert.ok(took < 5_000, `took ${Math.round(took)} ms: waited for the black-holed AAAA`);
    const step = rec.steps.find((s) => s.kind === 'dns-host');
    assert.equal(step?.status, 'pass');
    assert.equal(step?.detail['a'], 'answer');
    assert.match(String(step?.detail['aaaa']), /no answer within the 50 ms resolution delay/);

    // No A addresses (NODATA): nothing to go on, so the AAAA gets its full (here short) bound.
    const short = resolveOptions({ user: 'sip:alice@example.test', password: 'x', dnsTimeoutMs: 400, resolutionDelayMs: 50 });
    const dns2 = new DnsClient({ servers: [addr], timeoutMs: 400 });
    const r2 = await resolveCandidates([candidate('none.example.test')], ['none.example.test'], short, rec, dns2);
    assert.deepEqual(r2.candidates, []);
    const failed = rec.steps.filter((s) => s.kind === 'dns-host').at(-1);
    assert.equal(failed?.status, 'fail');
    assert.equal(failed?.detail['a'], 'nodata');
    assert.equal(failed?.detail['aaaa'], 'timeout');
    assert.equal(failed?.error?.code, 'DNS_FAILED');
  } finally {
    dns.close();
  }
});

test('a registrar name that never resolves does not hold up the race: signed in on the resolved one while it is still resolving', async () => {
  const { s, registrar } = await raceSession('fast.race.test');
  try {
    const reg = await s.ready();
    assert.equal(reg.registrar.fqdn, 'fast.race.test');
    const slow = s.recorder.steps.find((st) => st.kind === 'dns-host' && st.target === 'slow.race.test');
    assert.equal(slow?.status, 'running', 'registered while the other name was still resolving (its DNS bound is 10 s)');
    const plan = s.recorder.steps.find((st) => st.kind === 'candidates');
    assert.deepEqual(plan?.detail['stillResolving'], ['slow.race.test']);
  } finally {
    await s.stop();
    await registrar.stop();
  }
});

test('a name that resolves late joins the race: the better-ranked registrar refuses, the late one signs in', async () => {
  const { s, registrar } = await raceSession('late.race.test', { srvNames: { 'internal-tcp': '_late._tcp' } });
  try {
    const reg = await s.ready();
    assert.equal(reg.registrar.fqdn, 'late.race.test');
    const plan = s.recorder.steps.find((st) => st.kind === 'candidates');
    assert.deepEqual(plan?.detail['stillResolving'], ['late.race.test'], 'the race started before late.race.test resolved');
    const connects = s.recorder.steps.filter((st) => st.kind === 'tcp-connect').map((st) => [st.detail['fqdn'], st.status]);
    assert.deepEqual(connects, [['dead.race.test', 'fail'], ['late.race.test', 'pass']]);
  } finally {
    await s.stop();
    await registrar.stop();
  }
});

test('a better-ranked name that never resolves holds the one below it for one stagger, not the DNS timeout', async () => {
  const { s, registrar } = await raceSession('fast.race.test', { srvNames: { 'internal-tcp': '_over._tcp' } });
  try {
    const reg = await s.ready();
    assert.equal(reg.registrar.fqdn, 'fast.race.test');
    const slow = s.recorder.steps.find((st) => st.kind === 'dns-host' && st.target === 'slow.race.test');
    assert.equal(slow?.status, 'running', 'registered while the better-ranked name was still resolving (its DNS bound is 10 s)');
    const plan = s.recorder.steps.find((st) => st.kind === 'candidates');
    assert.equal(plan?.status, 'pass');
    assert.deepEqual(plan?.detail['candidates'], [], 'nothing above slow.race.test resolved: the race starts empty');
    assert.deepEqual(plan?.detail['stillResolving'], ['slow.race.test']);
    assert.deepEqual((plan?.detail['resolvedBehind'] as { fqdn: string }[]).map((c) => c.fqdn), ['fast.race.test']);
    const connects = s.recorder.steps.filter((st) => st.kind === 'tcp-connect').map((st) => [st.detail['fqdn'], st.status]);
    assert.deepEqual(connects, [['fast.race.test', 'pass']]);
  } finally {
    await s.stop();
    await registrar.stop();
  }
});

test('in-band registrars from the cache: the home pool whose name never resolves does not hold up the backup for more than a stagger', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'siplogon-inband-'));
  const file = join(dir, 'cache.json');
  // A device that signed in before and learned its home (slow) and backup (fast) registrars.
  const rec = recordFromRegistration({
    user: 'sip:alice@race.test',
    registrar: { fqdn: 'fast.race.test', port: 5060, transport: 'tcp', addresses: ['127.0.20.46'] },
    inBand: [
      { fqdn: 'slow.race.test', port: 5060, transport: 'tcp' },
      { fqdn: 'fast.race.test', port: 5060, transport: 'tcp' },
    ],
    at: new Date(),
  });
  writeFileSync(file, JSON.stringify(rec), { mode: 0o600 });
  const { s, registrar } = await raceSession('fast.race.test', { cache: { path: file } });
  try {
    const reg = await s.ready();
    assert.equal(reg.via, 'in-band');
    assert.equal(reg.registrar.fqdn, 'fast.race.test');
    const slow = s.recorder.steps.find((st) => st.kind === 'dns-host' && st.target === 'slow.race.test');
    assert.equal(slow?.status, 'running', 'signed in on the backup while the home pool was still resolving (its DNS bound is 10 s)');
    assert.ok(!s.recorder.steps.some((st) => st.kind === 'dns-srv'), 'no discovery: the in-band list served');
  } finally {
    await s.stop();
    await registrar.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
