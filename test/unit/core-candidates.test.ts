import { test } from 'node:test';
import fc from 'fast-check';
import { isWithinDomain } from '../../src/core/names.js';
import assert from 'node:assert/strict';
import { planCandidates, attachAddresses } from '../../src/core/candidates.js';
import { seededRandom } from '../../src/core/clock.js';
import { SiplogonError } from '../../src/errors.js';
import type { DiscoveryAnswers, DnsOutcome, DnsQueryResult, SrvRecord, Candidate } from '../../src/core/types.js';

const D = 'acme.test';
const q = (name: string, outcome: DnsOutcome, srv?: SrvRecord[]): DnsQueryResult => ({
  name, type: 'SRV', outcome, server: '127.0.0.53:53', latencyMs: 1, ...(srv ? { srv } : {}),
});
const r = (target: string, port: number, priority = 0, weight = 0): SrvRecord => ({ target, port, priority, weight });
const brief = (cs: Candidate[]) => cs.map((c) => `${c.step}:${c.transport}:${c.fqdn}:${c.port}:${c.source}`);
const plan = (answers: DiscoveryAnswers, policy = {}) => planCandidates({ answers, random: seededRandom(1), policy });

const full: DiscoveryAnswers = {
  domain: D,
  srv: {
    'internal-tls': q(`_sipinternaltls._tcp.${D}`, 'answer', [r('fe1.acme.test', 5061)]),
    'internal-tcp': q(`_sipinternal._tcp.${D}`, 'answer', [r('fe1.acme.test', 5060)]),
    'external-tls': q(`_sip._tls.${D}`, 'answer', [r('edge.acme.test', 443)]),
    'external-tcp': q(`_sip._tcp.${D}`, 'answer', [r('edge.acme.test', 5060)]),
  },
  dhcp: { outcome: 'answer', latencyMs: 2, sipServers: { encoding: 'fqdn', names: ['pool.acme.test'] } },
};

test('planCandidates: exactly the seed order 1..6 with DHCP names at steps 2 (TLS 5061) and 4 (TCP 5060)', () => {
  const p = plan(full);
  assert.deepEqual(brief(p.candidates), [
    '1:tls:fe1.acme.test:5061:dns-srv',
    '2:tls:pool.acme.test:5061:dhcp',
    '3:tcp:fe1.acme.test:5060:dns-srv',
    '4:tcp:pool.acme.test:5060:dhcp',
    '5:tls:edge.acme.test:443:dns-srv',
    '6:tcp:edge.acme.test:5060:dns-srv',
  ]);
  assert.deepEqual(p.hostsToResolve, ['fe1.acme.test', 'pool.acme.test', 'edge.acme.test']);
  assert.equal(p.candidates[0]!.origin, `_sipinternaltls._tcp.${D}`);
  assert.deepEqual(p.rejected, []);
});

test('planCandidates: SRV targets within a role are RFC 2782 ordered (priority first)', () => {
  const p = plan({ domain: D, srv: { 'internal-tls': q('x', 'answer', [r('b.acme.test', 5061, 20), r('a.acme.test', 5061, 10)]) } });
  assert.deepEqual(p.candidates.map((c) => c.fqdn), ['a.acme.test', 'b.acme.test']);
});

test('planCandidates: empty sources give an empty plan (no crash)', () => {
  const p = plan({ domain: D, srv: {} });
  assert.deepEqual(p, { candidates: [], rejected: [], hostsToResolve: [], duplicates: [] });
});

test('planCandidates: all sources failing (timeouts, servfail, DHCP timeout) → nothing, and no host fallbacks', () => {
  const p = plan({
    domain: D,
    srv: {
      'internal-tls': q('a', 'timeout'), 'internal-tcp': q('b', 'servfail'),
      'external-tls': q('c', 'refused'), 'external-tcp': q('d', 'error'),
    },
    dhcp: { outcome: 'timeout', latencyMs: 4000 },
  });
  assert.equal(p.candidates.length, 0);
  assert.equal(p.hostsToResolve.length, 0);
});

test('planCandidates: host fallbacks on nxdomain/nodata, in each role\'s step', () => {
  const p = plan({
    domain: D,
    srv: {
      'internal-tls': q('a', 'nxdomain'), 'internal-tcp': q('b', 'nodata'),
      'external-tls': q('c', 'nxdomain'), 'external-tcp': q('d', 'answer', []),
    },
  });
  assert.deepEqual(brief(p.candidates), [
    '1:tls:sipinternal.acme.test:5061:dns-host',
    '3:tcp:sipinternal.acme.test:5060:dns-host',
    '5:tls:sip.acme.test:5061:dns-host',
    '5:tls:sipexternal.acme.test:443:dns-host',
    '6:tcp:sip.acme.test:5060:dns-host',
  ]);
  assert.deepEqual(p.hostsToResolve, ['sipinternal.acme.test', 'sip.acme.test', 'sipexternal.acme.test']);
});

test('planCandidates: no host fallbacks beside a published SRV name (only after every SRV name came back empty)', () => {
  // A TCP-only site: the TLS names are missing but _sipinternal._tcp exists. Lync clients, SIPE and
  // the OCS R2 Phone Edition use sipinternal./sip./sipexternal. only when no SRV record exists.
  const p = plan({
    domain: D,
    srv: {
      'internal-tls': q('a', 'nxdomain'), 'internal-tcp': q('b', 'answer', [r('pool.acme.test', 5060)]),
      'external-tls': q('c', 'nxdomain'), 'external-tcp': q('d', 'nodata'),
    },
  });
  assert.deepEqual(brief(p.candidates), ['3:tcp:pool.acme.test:5060:dns-srv']);
  assert.deepEqual(p.hostsToResolve, ['pool.acme.test']);
  // A "." target is a published record too: the site manages SRV, so no fallback either.
  const dot = plan({ domain: D, srv: { 'internal-tls': q('a', 'answer', [r('.', 0)]), 'internal-tcp': q('b', 'nxdomain') } });
  assert.equal(dot.candidates.length, 0);
  // One name timing out while the others are empty: fallbacks for the empty ones only (as before).
  const partial = plan({ domain: D, srv: { 'internal-tls': q('a', 'timeout'), 'internal-tcp': q('b', 'nxdomain') } });
  assert.deepEqual(brief(partial.candidates), ['3:tcp:sipinternal.acme.test:5060:dns-host']);
});

test('planCandidates: hostFallbacks=false adds none', () => {
  const p = plan({ domain: D, srv: { 'internal-tls': q('a', 'nxdomain') } }, { hostFallbacks: false });
  assert.equal(p.candidates.length, 0);
});

test('planCandidates: "." target = service not offered, no fallback', () => {
  const p = plan({ domain: D, srv: { 'internal-tls': q('a', 'answer', [r('.', 0)]) } });
  assert.equal(p.candidates.length, 0);
});

test('planCandidates: duplicates across steps keep the earliest (case-insensitive, trailing dot)', () => {
  const p = plan({
    domain: D,
    srv: {
      'internal-tls': q('a', 'answer', [r('FE1.acme.test.', 5061)]),
      'external-tls': q('c', 'answer', [r('fe1.ACME.test', 5061), r('edge.acme.test', 5061, 1)]),
    },
    dhcp: { outcome: 'answer', latencyMs: 1, sipServers: { encoding: 'fqdn', names: ['fe1.acme.test.'] } },
  });
  assert.deepEqual(brief(p.candidates), ['1:tls:fe1.acme.test:5061:dns-srv', '4:tcp:fe1.acme.test:5060:dhcp', '5:tls:edge.acme.test:5061:dns-srv']);
  assert.deepEqual(p.duplicates!.map((d) => [d.candidate.step, d.keptStep]), [[2, 1], [5, 1]]);
});

test('planCandidates: targets outside the SIP domain are rejected with a reason', () => {
  const p = plan({
    domain: D,
    srv: { 'internal-tls': q('a', 'answer', [r('evil.example', 5061), r('notacme.test', 5061, 1), r('fe.acme.test', 5061, 2)]) },
    dhcp: { outcome: 'answer', latencyMs: 1, sipServers: { encoding: 'fqdn', names: ['rogue.example.net'] } },
  });
  assert.deepEqual(p.candidates.map((c) => c.fqdn), ['fe.acme.test']);
  assert.deepEqual(p.rejected.map((x) => x.candidate.fqdn).sort(), ['evil.example', 'notacme.test', 'rogue.example.net', 'rogue.example.net']);
  for (const x of p.rejected) assert.match(x.reason, /outside the SIP domain acme\.test/);
  assert.ok(!p.hostsToResolve.includes('evil.example'));
});

test('planCandidates: allowedDomains accepts listed domains (and subdomains) without the outside flag', () => {
  const p = plan(
    { domain: D, srv: { 'internal-tls': q('a', 'answer', [r('pool.lync.corp', 5061), r('x.evil.example', 5061, 1)]) } },
    { allowedDomains: ['LYNC.corp.'] },
  );
  assert.deepEqual(p.candidates.map((c) => [c.fqdn, c.outsideDomain]), [['pool.lync.corp', undefined]]);
  assert.equal(p.rejected.length, 1);
});

test('planCandidates: allowOutsideDomain keeps them flagged outsideDomain=true', () => {
  const p = plan({ domain: D, srv: { 'internal-tls': q('a', 'answer', [r('evil.example', 5061)]) } }, { allowOutsideDomain: true });
  assert.equal(p.candidates.length, 1);
  assert.equal(p.candidates[0]!.outsideDomain, true);
  assert.equal(p.rejected.length, 0);
});

test('planCandidates: syntactically invalid names and ports are rejected', () => {
  const long = `${'a'.repeat(64)}.acme.test`;
  const tooLong = `${Array.from({ length: 30 }, () => 'abcdefghi').join('.')}.acme.test`;
  const p = plan({
    domain: D,
    srv: {
      'internal-tls': q('a', 'answer', [
        r(long, 5061, 0), r(tooLong, 5061, 1), r('bad_name.acme.test', 5061, 2), r('-x.acme.test', 5061, 3),
        r('a..acme.test', 5061, 4), r('ok.acme.test', 0, 5), r('ok.acme.test', 70000, 6), r('192.0.2.1', 5061, 7),
        r('fine.acme.test', 5061, 8),
      ]),
    },
  });
  assert.deepEqual(p.candidates.map((c) => c.fqdn), ['fine.acme.test']);
  assert.equal(p.rejected.length, 8);
  assert.match(p.rejected[0]!.reason, /63/);
  assert.match(p.rejected[1]!.reason, /253/);
  assert.match(p.rejected[2]!.reason, /invalid characters/);
  assert.match(p.rejected[5]!.reason, /invalid port 0/);
  assert.match(p.rejected[7]!.reason, /all-numeric/);
});

test('planCandidates: invalid SIP domain → typed UsageError INVALID_OPTION', () => {
  assert.throws(() => plan({ domain: 'bad domain!', srv: {} }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  assert.throws(() => plan({ domain: '', srv: {} }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
});

test('planCandidates: DHCP IPv4 encoding → steps 2/4 with fqdn = SIP domain and addresses pre-filled', () => {
  const p = plan({
    domain: 'Acme.Test.',
    srv: {},
    dhcp: { outcome: 'answer', latencyMs: 1, sipServers: { encoding: 'ipv4', addresses: ['192.0.2.10', '192.0.2.11', '999.1.1.1'] } },
  });
  assert.deepEqual(brief(p.candidates), ['2:tls:acme.test:5061:dhcp', '4:tcp:acme.test:5060:dhcp']);
  assert.deepEqual(p.candidates[0]!.addresses, ['192.0.2.10', '192.0.2.11']);
  assert.deepEqual(p.hostsToResolve, []);
  assert.equal(p.rejected.length, 2); // the bad address at both steps
  assert.match(p.rejected[0]!.reason, /not an IPv4 address/);
});

test('planCandidates: a DHCP IPv4 target is not merged with an SRV target that has the domain name', () => {
  const p = plan({
    domain: D,
    srv: { 'internal-tls': q('a', 'answer', [r('acme.test', 5061)]) },
    dhcp: { outcome: 'answer', latencyMs: 1, sipServers: { encoding: 'ipv4', addresses: ['192.0.2.10'] } },
  });
  assert.deepEqual(brief(p.candidates), ['1:tls:acme.test:5061:dns-srv', '2:tls:acme.test:5061:dhcp', '4:tcp:acme.test:5060:dhcp']);
  assert.deepEqual(p.hostsToResolve, ['acme.test']);
});

test('planCandidates: DHCP that did not answer contributes nothing', () => {
  for (const outcome of ['timeout', 'error', 'skipped'] as const) {
    const p = plan({ domain: D, srv: {}, dhcp: { outcome, latencyMs: 1, sipServers: { encoding: 'fqdn', names: ['x.acme.test'] } } });
    assert.equal(p.candidates.length, 0, outcome);
  }
});

test('attachAddresses: fills by normalised name, drops unresolved, keeps order, keeps pre-filled literals', () => {
  const p = plan({
    domain: D,
    srv: { 'internal-tls': q('a', 'answer', [r('fe1.acme.test', 5061), r('fe2.acme.test', 5061, 1)]), 'internal-tcp': q('b', 'answer', [r('fe1.acme.test', 5060)]) },
    dhcp: { outcome: 'answer', latencyMs: 1, sipServers: { encoding: 'ipv4', addresses: ['192.0.2.10'] } },
  });
  const resolved = new Map<string, string[]>([['FE1.acme.test.', ['2001:db8::1', '192.0.2.1']], ['acme.test', ['198.51.100.1']], ['fe2.acme.test', []]]);
  const before = structuredClone(p.candidates);
  const out = attachAddresses(p.candidates, resolved);
  assert.deepEqual(out.map((c) => `${c.step}:${c.fqdn}:${c.addresses.join('|')}`), [
    '1:fe1.acme.test:2001:db8::1|192.0.2.1',
    '2:acme.test:192.0.2.10',
    '3:fe1.acme.test:2001:db8::1|192.0.2.1',
    '4:acme.test:192.0.2.10',
  ]);
  assert.deepEqual(p.candidates, before, 'inputs untouched');
  assert.deepEqual(attachAddresses([], resolved), []);
});

test('property: plan steps non-decreasing, no duplicate identities, every kept target inside the domain', () => {
  const host = fc.constantFrom('fe1.acme.test', 'FE1.acme.test.', 'sip.acme.test', 'evil.example', 'acme.test', 'bad_name.acme.test', 'x.sub.acme.test');
  const srvQ = fc.oneof(
    fc.record({ outcome: fc.constant('answer' as const), srv: fc.array(fc.record({ target: host, port: fc.constantFrom(5060, 5061, 443, 0), priority: fc.nat(3), weight: fc.nat(10) }), { maxLength: 5 }) }),
    fc.record({ outcome: fc.constantFrom('nxdomain' as const, 'nodata' as const, 'timeout' as const, 'servfail' as const) }),
  );
  const roleQ = fc.option(srvQ, { nil: undefined });
  fc.assert(
    fc.property(roleQ, roleQ, roleQ, roleQ, fc.option(fc.array(host, { maxLength: 3 }), { nil: undefined }), fc.integer(), (a, b, c2, d, names, seed) => {
      const mk = (x: typeof a) => (x ? { name: 'q', type: 'SRV' as const, server: 's', latencyMs: 1, ...x } : undefined);
      const srv: DiscoveryAnswers['srv'] = {};
      if (a) srv['internal-tls'] = mk(a)!;
      if (b) srv['internal-tcp'] = mk(b)!;
      if (c2) srv['external-tls'] = mk(c2)!;
      if (d) srv['external-tcp'] = mk(d)!;
      const answers: DiscoveryAnswers = { domain: D, srv, ...(names ? { dhcp: { outcome: 'answer' as const, latencyMs: 1, sipServers: { encoding: 'fqdn' as const, names } } } : {}) };
      const p = planCandidates({ answers, random: seededRandom(seed) });
      const keys = p.candidates.map((x) => `${x.transport}:${x.fqdn}:${x.port}`);
      assert.equal(new Set(keys).size, keys.length);
      for (let i = 1; i < p.candidates.length; i++) assert.ok(p.candidates[i - 1]!.step! <= p.candidates[i]!.step!);
      for (const x of p.candidates) {
        assert.ok(isWithinDomain(x.fqdn, D));
        assert.equal(x.fqdn, x.fqdn.toLowerCase());
        assert.ok(!x.fqdn.endsWith('.'));
        assert.equal(x.transport, x.step === 1 || x.step === 2 || x.step === 5 ? 'tls' : 'tcp');
      }
      assert.deepEqual(new Set(p.hostsToResolve), new Set(p.candidates.map((x) => x.fqdn)));
    }),
    { numRuns: 300 },
  );
});
