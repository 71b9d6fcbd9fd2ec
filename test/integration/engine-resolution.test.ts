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

const sock = createSocket('udp4');
const asked: string[] = [];
after(() => new Promise<void>((r) => sock.close(() => r())));

async function server(): Promise<string> {
  await new Promise<void>((res) => sock.bind(0, '127.0.20.45', () => res()));
  sock.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    asked.push(`${question.type} ${question.name}`);
    // AAAA is black-holed, as by a broken middlebox; A answers for v4.example.test only.
    if (question.type === 'AAAA') return;
    const answers: dnsPacket.Answer[] = question.name === 'v4.example.test' ? [{ name: question.name, type: 'A', ttl: 60, data: '127.0.20.46' }] : [];
    sock.send(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: q.questions, answers }), rinfo.port, rinfo.address);
  });
  return `127.0.20.45:${sock.address().port}`;
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
