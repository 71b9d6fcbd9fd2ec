import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistrarCycle } from '../../src/core/cycle.js';
import { shouldUseCache, cacheCandidates, recordFromRegistration } from '../../src/core/cache-policy.js';
import { planCandidates, attachAddresses } from '../../src/core/candidates.js';
import { seededRandom } from '../../src/core/clock.js';
import { SiplogonError } from '../../src/errors.js';
import type { CacheRecord, Candidate, DiscoveryAnswers } from '../../src/core/types.js';

const fe1 = { fqdn: 'fe1.acme.test', port: 5061, transport: 'tls' as const };
const fe2 = { fqdn: 'fe2.acme.test', port: 5061, transport: 'tls' as const };
const dir = { fqdn: 'dir.acme.test', port: 5061, transport: 'tls' as const };

test('cycle: first time → discovery; after registration with in-band home/backup → in-band first', () => {
  const cy = new RegistrarCycle();
  assert.equal(cy.firstTime, true);
  const p1 = cy.beginCycle();
  assert.equal(p1.kind, 'discovery');
  assert.match(p1.reason, /first sign-in/);
  cy.onRegistered(dir);
  cy.learnInBand([fe1, fe2, { ...fe1, fqdn: 'FE1.acme.test.' }], '301 from dir.acme.test');
  const p2 = cy.beginCycle();
  assert.equal(p2.kind, 'in-band');
  assert.deepEqual(p2.candidates.map((c) => [c.fqdn, c.source, c.step, c.origin]), [
    ['fe1.acme.test', 'in-band', null, 'in-band home registrar'],
    ['fe2.acme.test', 'in-band', null, 'in-band backup registrar #1'],
  ]);
});

test('cycle: registered before but no in-band list → discovery', () => {
  const cy = new RegistrarCycle({ reached: ['tls:dir.acme.test:5061'] });
  assert.equal(cy.beginCycle().kind, 'discovery');
});

test('cycle: failure of an unknown registrar → continue; of a reached one → rebuild; inside a rebuild → continue', () => {
  const cy = new RegistrarCycle();
  cy.beginCycle();
  assert.equal(cy.onAttemptFailed(fe2).action, 'continue');
  cy.onRegistered(fe1);
  cy.learnInBand([fe1, fe2], 'provisioning');
  cy.beginCycle();
  const d = cy.onAttemptFailed({ fqdn: 'FE1.ACME.TEST.', port: 5061, transport: 'tls' });
  assert.deepEqual([d.action, d.key], ['rebuild', 'tls:fe1.acme.test:5061']);
  assert.match(d.reason, /rebuild from DNS and DHCP/);
  assert.equal(cy.beginRebuild().kind, 'rebuild');
  const d2 = cy.onAttemptFailed(fe1);
  assert.equal(d2.action, 'continue', 'no rebuild loop');
  // same registrar over another transport/port is a different registrar
  assert.equal(cy.onAttemptFailed({ ...fe1, transport: 'tcp', port: 5060 }).action, 'continue');
  // the reasons are data for the diagnosis
  const kinds = cy.events.map((e) => e.type);
  assert.deepEqual(kinds, ['cycle', 'attempt-failed', 'registered', 'in-band', 'cycle', 'attempt-failed', 'cycle', 'attempt-failed', 'attempt-failed']);
});

test('cycle: in-band list ignores invalid entries with a reason; snapshot round-trips', () => {
  const cy = new RegistrarCycle();
  const ok = cy.learnInBand([fe1, { fqdn: 'bad name', port: 5061, transport: 'tls' }, { fqdn: 'x.acme.test', port: 0, transport: 'tcp' }], '301');
  assert.deepEqual(ok, [fe1]);
  const ev = cy.events.at(-1);
  assert.ok(ev && ev.type === 'in-band' && ev.ignored.length === 2);
  cy.onRegistered(fe1);
  const again = new RegistrarCycle(cy.snapshot());
  assert.deepEqual(again.snapshot(), cy.snapshot());
  assert.equal(again.beginCycle().kind, 'in-band');
});

// ---- cache policy -------------------------------------------------------------------------

const D = 'acme.test';
const plan = (a: DiscoveryAnswers) => planCandidates({ answers: a, random: seededRandom(1) });
const cached: CacheRecord = {
  version: 1, writtenAt: '2026-01-01T00:00:00.000Z', user: 'sip:alice@acme.test',
  registrar: { fqdn: 'pool.acme.test', port: 5061, transport: 'tls', addresses: ['192.0.2.50', '192.0.2.51'] },
  mediaRelays: [],
};

test('shouldUseCache: DNS SRV and DHCP both fail → use cache', () => {
  const p = plan({ domain: D, srv: { 'internal-tls': { name: 'x', type: 'SRV', outcome: 'timeout', server: 's', latencyMs: 1 } }, dhcp: { outcome: 'timeout', latencyMs: 1 } });
  const d = shouldUseCache({ plan: p });
  assert.deepEqual([d.useCache, d.reason], [true, 'discovery-empty']);
});

test('shouldUseCache: answers found but none resolves → use cache; some resolve → do not', () => {
  const p = plan({ domain: D, srv: { 'internal-tls': { name: 'x', type: 'SRV', outcome: 'answer', server: 's', latencyMs: 1, srv: [{ target: 'fe1.acme.test', port: 5061, priority: 0, weight: 0 }] } } });
  assert.deepEqual(shouldUseCache({ plan: p }).reason, 'not-yet-resolved');
  assert.equal(shouldUseCache({ plan: p }).useCache, false);
  const none = attachAddresses(p.candidates, new Map());
  assert.deepEqual([shouldUseCache({ plan: p, resolved: none }).useCache, shouldUseCache({ plan: p, resolved: none }).reason], [true, 'resolution-failed']);
  const some = attachAddresses(p.candidates, new Map([['fe1.acme.test', ['192.0.2.1']]]));
  assert.deepEqual([shouldUseCache({ plan: p, resolved: some }).useCache, shouldUseCache({ plan: p, resolved: some }).reason], [false, 'discovery-ok']);
});

test('shouldUseCache: DHCP works while DNS fails → no cache', () => {
  const p = plan({ domain: D, srv: {}, dhcp: { outcome: 'answer', latencyMs: 1, sipServers: { encoding: 'ipv4', addresses: ['192.0.2.9'] } } });
  const resolved = attachAddresses(p.candidates, new Map());
  assert.equal(shouldUseCache({ plan: p, resolved }).useCache, false);
});

test('cacheCandidates: cached FQDN still resolves → fresh addresses, fqdn kept', () => {
  const [c, ...rest] = cacheCandidates(cached, ['198.51.100.7']);
  assert.equal(rest.length, 0);
  assert.deepEqual([c!.fqdn, c!.port, c!.transport, c!.source, c!.step, c!.addresses], ['pool.acme.test', 5061, 'tls', 'cache', null, ['198.51.100.7']]);
});

test('cacheCandidates: cached FQDN no longer resolves → cached IPs, TLS name still the cached FQDN', () => {
  for (const res of [null, []]) {
    const [c] = cacheCandidates(cached, res);
    assert.deepEqual([c!.fqdn, c!.addresses], ['pool.acme.test', ['192.0.2.50', '192.0.2.51']]);
    assert.match(c!.origin, /cached addresses/);
  }
  assert.deepEqual(cacheCandidates({ ...cached, registrar: { ...cached.registrar, addresses: [] } }, null), []);
});

test('cacheCandidates: corrupt record → CacheError CACHE_CORRUPT', () => {
  for (const bad of [{ ...cached, registrar: undefined }, { ...cached, registrar: { ...cached.registrar, fqdn: 'not a name' } }, { ...cached, registrar: { ...cached.registrar, port: 99999 } }]) {
    assert.throws(() => cacheCandidates(bad as unknown as CacheRecord, null), (e: unknown) => SiplogonError.is(e, 'CACHE_CORRUPT'));
  }
});

test('recordFromRegistration: whole replacement, connected address first, only known fields, no secrets', () => {
  const registrar: Candidate & { password?: string } = {
    fqdn: 'FE1.acme.test.', port: 5061, transport: 'tls', source: 'in-band', step: null, origin: 'x',
    addresses: ['192.0.2.1', '192.0.2.2'], password: 'hunter2',
  };
  const facts = {
    user: 'sip:alice@acme.test', registrar, connectedAddress: '192.0.2.2', at: new Date(Date.UTC(2026, 0, 2)),
    inBand: [fe1, fe2], mediaRelays: [{ fqdn: 'edge.acme.test', addresses: ['203.0.113.1'], udpPort: 3478, secret: 'x' }],
    password: 'hunter2',
  };
  const rec = recordFromRegistration(facts);
  assert.deepEqual(rec, {
    version: 1, writtenAt: '2026-01-02T00:00:00.000Z', user: 'sip:alice@acme.test',
    registrar: { fqdn: 'fe1.acme.test', port: 5061, transport: 'tls', addresses: ['192.0.2.2', '192.0.2.1'] },
    mediaRelays: [{ fqdn: 'edge.acme.test', addresses: ['203.0.113.1'], udpPort: 3478 }],
    inBand: [fe1, fe2],
  });
  assert.ok(!JSON.stringify(rec).includes('hunter2'));
  assert.ok(!JSON.stringify(rec).includes('secret'));
  // flush: nothing of an older record survives
  const later = recordFromRegistration({ user: 'sip:alice@acme.test', registrar: fe2AsReg(), at: new Date(0) });
  assert.equal(later.inBand, undefined);
  assert.deepEqual(later.mediaRelays, []);
  assert.throws(() => recordFromRegistration({ ...facts, at: new Date('nope') }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
});

function fe2AsReg() {
  return { ...fe2, addresses: ['192.0.2.3'] };
}
