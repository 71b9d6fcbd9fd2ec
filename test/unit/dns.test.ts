import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as dnsPacket from 'dns-packet';
import {
  DnsClient,
  decodeStrict,
  dnsResultError,
  interpretResponse,
  isValidDnsName,
  matchesQuery,
  parseResolvConf,
  parseServer,
  formatServer,
  type Decoded,
} from '../../src/discovery/dns.js';
import { answerQuery } from '../../src/lab/dns-server.js';
import { SiplogonError } from '../../src/errors.js';

const roundTrip = (p: dnsPacket.Packet): Decoded => decodeStrict(dnsPacket.encode(p));
const resp = (flags: number, answers: dnsPacket.Answer[], q: dnsPacket.Question = { name: 'x.acme.test', type: 'A' }, extra: Partial<dnsPacket.Packet> = {}): Decoded =>
  roundTrip({ type: 'response', id: 7, flags, questions: [q], answers, ...extra });

test('parseServer: host, host:port, [v6]:port, bare v6; names and bad ports rejected', () => {
  assert.deepEqual(parseServer('127.0.20.1'), { host: '127.0.20.1', port: 53, family: 4 });
  assert.deepEqual(parseServer('127.0.20.1:5353'), { host: '127.0.20.1', port: 5353, family: 4 });
  assert.deepEqual(parseServer('[::1]:5353'), { host: '::1', port: 5353, family: 6 });
  assert.deepEqual(parseServer('[fd00::1]'), { host: 'fd00::1', port: 53, family: 6 });
  assert.deepEqual(parseServer('fd00::53'), { host: 'fd00::53', port: 53, family: 6 });
  for (const bad of ['dns.example.test', '127.0.0.1:0', '127.0.0.1:70000', '[::1]:x', '', '1.2.3.4:5:6']) {
    assert.throws(() => parseServer(bad), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'), bad);
  }
  assert.equal(formatServer({ host: '::1', port: 53 }), '[::1]:53');
  assert.equal(formatServer({ host: '127.0.0.1', port: 53 }), '127.0.0.1:53');
});

test('parseResolvConf: nameserver lines only, comments and junk ignored', () => {
  const text = '# c\nsearch acme.test\nnameserver 10.0.0.53\nnameserver  fd00::53 # six\n;nameserver 1.1.1.1\nnameserver bogus\n';
  assert.deepEqual(parseResolvConf(text), ['10.0.0.53', 'fd00::53']);
  const c = new DnsClient({ resolvConfPath: '/nonexistent/resolv.conf' });
  assert.deepEqual(c.servers, [{ host: '127.0.0.1', port: 53, family: 4 }]);
});

test('DnsClient options are validated', () => {
  for (const o of [{ servers: [] }, { servers: ['x'] }, { timeoutMs: 0 }, { timeoutMs: Number.NaN }, { retransmitMs: -1 }, { maxRecords: 0 }]) {
    assert.throws(() => new DnsClient({ servers: ['127.0.0.1'], ...o }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'), JSON.stringify(o));
  }
  const c = new DnsClient({ servers: ['127.0.0.1'], timeoutMs: 900 });
  assert.equal(c.timeoutMs, 900);
  assert.equal(c.retransmitMs, 300);
});

test('isValidDnsName: lengths and label syntax (RFC 1035 §2.3.4, RFC 1123 §2.1)', () => {
  assert.ok(isValidDnsName('fe1.acme.test'));
  assert.ok(isValidDnsName('fe1.acme.test.'));
  assert.ok(isValidDnsName('_sip._tls.acme.test', { allowUnderscore: true }));
  assert.ok(!isValidDnsName('_sip._tls.acme.test'));
  assert.ok(isValidDnsName(`${'a'.repeat(63)}.test`));
  assert.ok(!isValidDnsName(`${'a'.repeat(64)}.test`));
  const long = Array.from({ length: 60 }, () => 'abcd').join('.'); // 299 chars
  assert.ok(!isValidDnsName(long));
  assert.ok(isValidDnsName(long.slice(0, 253).replace(/\.$/, '')));
  for (const bad of ['', '.', 'a..b', '-a.test', 'a-.test', 'a b.test', 'ä.test', 'a;b.test']) assert.ok(!isValidDnsName(bad), bad);
});

test('interpretResponse: rcodes map to distinct outcomes', () => {
  assert.equal(interpretResponse(resp(3, []), 'x.acme.test', 'A').outcome, 'nxdomain');
  assert.equal(interpretResponse(resp(2, []), 'x.acme.test', 'A').outcome, 'servfail');
  assert.equal(interpretResponse(resp(5, []), 'x.acme.test', 'A').outcome, 'refused');
  assert.equal(interpretResponse(resp(0, []), 'x.acme.test', 'A').outcome, 'nodata');
  const formerr = interpretResponse(resp(1, []), 'x.acme.test', 'A');
  assert.equal(formerr.outcome, 'error');
  assert.match(formerr.detail ?? '', /FORMERR/);
});

test('interpretResponse: negative TTL is min(SOA TTL, SOA minimum) (RFC 2308 §5)', () => {
  const soa: dnsPacket.Answer = { name: 'acme.test', type: 'SOA', ttl: 300, data: { mname: 'ns.acme.test', rname: 'h.acme.test', minimum: 120 } };
  assert.equal(interpretResponse(resp(3, [], undefined, { authorities: [soa] }), 'x.acme.test', 'A').ttl, 120);
  assert.equal(interpretResponse(resp(0, [], undefined, { authorities: [soa] }), 'x.acme.test', 'A').ttl, 120);
});

test('interpretResponse: follows CNAMEs, ignores other owners and types, TTL is the minimum', () => {
  const m = resp(0, [
    { name: 'x.acme.test', type: 'CNAME', ttl: 100, data: 'y.acme.test' },
    { name: 'y.acme.test', type: 'CNAME', ttl: 90, data: 'z.acme.test' },
    { name: 'z.acme.test', type: 'A', ttl: 200, data: '127.0.20.1' },
    { name: 'z.acme.test', type: 'A', ttl: 80, data: '127.0.20.2' },
    { name: 'z.acme.test', type: 'AAAA', ttl: 5, data: '::1' },
    { name: 'evil.test', type: 'A', ttl: 1, data: '6.6.6.6' },
  ]);
  const r = interpretResponse(m, 'x.acme.test', 'A');
  assert.equal(r.outcome, 'answer');
  assert.deepEqual(r.addresses, ['127.0.20.1', '127.0.20.2']);
  assert.equal(r.ttl, 80);
  // Records for other owners are not ours even if they match the type.
  const r2 = interpretResponse(resp(0, [{ name: 'evil.test', type: 'A', ttl: 1, data: '6.6.6.6' }]), 'x.acme.test', 'A');
  assert.equal(r2.outcome, 'nodata');
  // A CNAME loop is an error, not a hang.
  const loop = resp(0, [
    { name: 'x.acme.test', type: 'CNAME', ttl: 1, data: 'y.acme.test' },
    { name: 'y.acme.test', type: 'CNAME', ttl: 1, data: 'x.acme.test' },
  ]);
  assert.equal(interpretResponse(loop, 'x.acme.test', 'A').outcome, 'error');
});

test('interpretResponse: SRV validation, "." target kept, record cap', () => {
  const q = { name: '_sip._tls.acme.test', type: 'SRV' as const };
  const srv = (target: string, port: number): dnsPacket.Answer => ({ name: q.name, type: 'SRV', ttl: 60, data: { target, port, priority: 0, weight: 0 } });
  const dot = interpretResponse(resp(0, [srv('.', 0)], q), q.name, 'SRV');
  assert.equal(dot.outcome, 'answer');
  assert.deepEqual(dot.srv?.map((s) => s.target), ['.']);
  const allBad = interpretResponse(resp(0, [srv('-x.acme.test', 5061), srv('ok.acme.test', 0)], q), q.name, 'SRV');
  assert.equal(allBad.outcome, 'error');
  assert.match(allBad.detail ?? '', /2 invalid SRV/);
  const many = Array.from({ length: 100 }, (_, i) => srv(`h${i}.acme.test`, 5061));
  const capped = interpretResponse(resp(0, many, q), q.name, 'SRV', { maxRecords: 64 });
  assert.equal(capped.srv?.length, 64);
  assert.match(capped.detail ?? '', /36 record\(s\) beyond the cap of 64/);
});

test('matchesQuery: ID, QR, question name (case-insensitive), type and count must match', () => {
  const base = { type: 'response' as const, id: 9, questions: [{ name: 'X.Acme.Test', type: 'A' as const }] };
  assert.ok(matchesQuery(roundTrip(base), 9, 'x.acme.test', 'A'));
  assert.ok(!matchesQuery(roundTrip(base), 10, 'x.acme.test', 'A'));
  assert.ok(!matchesQuery(roundTrip(base), 9, 'x.acme.test', 'AAAA'));
  assert.ok(!matchesQuery(roundTrip(base), 9, 'y.acme.test', 'A'));
  assert.ok(!matchesQuery(roundTrip({ ...base, type: 'query' }), 9, 'x.acme.test', 'A'));
  assert.ok(!matchesQuery(roundTrip({ ...base, questions: [...base.questions, { name: 'x.acme.test', type: 'A' as const }] }), 9, 'x.acme.test', 'A'));
  assert.ok(!matchesQuery(roundTrip({ ...base, questions: [] }), 9, 'x.acme.test', 'A'));
});

test('decodeStrict: a packet cut inside a record is malformed', () => {
  const full = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'a.test', type: 'A' }], answers: [{ name: 'a.test', type: 'A', ttl: 1, data: '127.0.0.1' }] });
  assert.ok(decodeStrict(full));
  for (let cut = 1; cut < full.length; cut++) assert.throws(() => decodeStrict(full.subarray(0, cut)), `cut at ${cut}`);
});

test('property: any bytes either fail to decode or interpret into validated, capped records', () => {
  const seedPacket = dnsPacket.encode({
    type: 'response', id: 1, flags: 0,
    questions: [{ name: '_sip._tls.acme.test', type: 'SRV' }],
    answers: [
      { name: '_sip._tls.acme.test', type: 'SRV', ttl: 9, data: { target: 'fe.acme.test', port: 5061, priority: 1, weight: 2 } },
      { name: '_sip._tls.acme.test', type: 'CNAME', ttl: 9, data: 'fe.acme.test' },
      { name: 'fe.acme.test', type: 'A', ttl: 9, data: '127.0.0.1' },
    ],
  });
  const mutated = fc.array(fc.tuple(fc.nat(seedPacket.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }).map((edits) => {
    const b = Buffer.from(seedPacket);
    for (const [i, v] of edits) b[i] = v;
    return b;
  });
  const anyBytes = fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u));
  fc.assert(
    fc.property(fc.oneof(mutated, anyBytes), fc.constantFrom('SRV' as const, 'A' as const, 'AAAA' as const), (buf, type) => {
      let msg: Decoded;
      try {
        msg = decodeStrict(buf);
      } catch {
        return; // rejected as malformed: the client reports outcome 'error'
      }
      const name = type === 'SRV' ? '_sip._tls.acme.test' : 'fe.acme.test';
      const r = interpretResponse(msg, name, type, { maxRecords: 4 });
      assert.ok(['answer', 'nxdomain', 'nodata', 'servfail', 'refused', 'error'].includes(r.outcome));
      for (const s of r.srv ?? []) {
        assert.ok(s.target === '.' || isValidDnsName(s.target), s.target);
        assert.ok(s.target === '.' || (s.port >= 1 && s.port <= 65535));
      }
      assert.ok((r.srv?.length ?? 0) <= 4 && (r.addresses?.length ?? 0) <= 4);
    }),
    { numRuns: 3000, seed: 20 },
  );
});

test('lab answerQuery: NXDOMAIN vs NODATA vs REFUSED vs FORMERR', () => {
  const zone = { domains: ['acme.test'], srv: {}, a: { 'h.acme.test': ['127.0.20.1'] } };
  const ask = (name: string, type: 'A' | 'SRV'): dnsPacket.Packet => answerQuery(zone, { type: 'query', id: 3, questions: [{ name, type }] });
  const rcode = (p: dnsPacket.Packet): number => (p.flags ?? 0) & 0xf;
  assert.equal(rcode(ask('h.acme.test', 'A')), 0);
  assert.equal(ask('h.acme.test', 'A').answers?.length, 1);
  assert.equal(rcode(ask('h.acme.test', 'SRV')), 0);
  assert.equal(ask('h.acme.test', 'SRV').answers, undefined);
  assert.equal(rcode(ask('nope.acme.test', 'A')), 3);
  assert.equal(rcode(ask('h.other.test', 'A')), 5);
  assert.equal(rcode(answerQuery(zone, { type: 'query', id: 3, questions: [] })), 1);
  assert.equal(rcode(answerQuery(zone, { type: 'query', id: 3, questions: [{ name: 'h.acme.test', type: 'A' }] }, 'servfail')), 2);
});

test('dnsResultError: outcome → stable code', () => {
  const base = { name: 'a.acme.test', type: 'A' as const, server: '127.0.0.1:53', latencyMs: 1 };
  assert.equal(dnsResultError({ ...base, outcome: 'answer', addresses: ['127.0.0.1'] }), undefined);
  assert.equal(dnsResultError({ ...base, outcome: 'timeout' })?.code, 'DNS_TIMEOUT');
  assert.equal(dnsResultError({ ...base, outcome: 'error', detail: 'malformed answer' })?.code, 'DNS_MALFORMED');
  for (const o of ['nxdomain', 'nodata', 'servfail', 'refused'] as const) assert.equal(dnsResultError({ ...base, outcome: o })?.code, 'DNS_FAILED');
  const e = dnsResultError({ ...base, outcome: 'refused' });
  assert.ok(SiplogonError.is(e, 'DNS_FAILED'));
  assert.equal(e?.details.server, '127.0.0.1:53');
});
