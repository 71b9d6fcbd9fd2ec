import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock, seededRandom } from '../../src/core/clock.js';
import { Backoff } from '../../src/core/backoff.js';
import { PenaltyList } from '../../src/core/penalty.js';
import { SignInCycle } from '../../src/core/cycle.js';
import { cacheCandidates, recordFromRegistration, shouldUseCache } from '../../src/core/cache-policy.js';
import type { Candidate } from '../../src/core/types.js';

const cand = (fqdn: string, transport: 'tls' | 'tcp' = 'tls', port = transport === 'tls' ? 5061 : 5060): Candidate => ({ fqdn, port, transport, source: 'dns-srv', step: 1, origin: 'x', addresses: [] });

test('back-off grows, stays within [step/2, step], is capped, and resets', () => {
  const b = new Backoff({ baseMs: 1000, capMs: 8000, random: seededRandom(1) });
  const steps = [1000, 2000, 4000, 8000, 8000, 8000];
  for (const s of steps) {
    const d = b.next();
    assert.ok(d >= s / 2 && d <= s, `${d} within [${s / 2}, ${s}]`);
  }
  b.reset();
  const d = b.next();
  assert.ok(d >= 500 && d <= 1000);
});

test('back-off jitter spreads devices (not all the same delay)', () => {
  const r = seededRandom(9);
  const delays = new Set(Array.from({ length: 20 }, () => Math.round(new Backoff({ random: r }).next())));
  assert.ok(delays.size > 10);
});

test('a network change makes the next attempt immediate and restarts the ladder', () => {
  const b = new Backoff({ baseMs: 1000, capMs: 60000, random: () => 0.999 });
  b.next(); b.next(); b.next();
  b.networkChanged();
  assert.equal(b.next(), 0);
  assert.ok(b.next() <= 1000);
});

test('penalised candidates sort last, keep their order, and expire', () => {
  const clock = new VirtualClock();
  const p = new PenaltyList({ clock, penaltyMs: 1000 });
  const [a, b, c] = [cand('a.acme.test'), cand('b.acme.test'), cand('c.acme.test')];
  p.penalise(a);
  assert.deepEqual(p.order([a, b, c]).map((x) => x.fqdn), ['b.acme.test', 'c.acme.test', 'a.acme.test']);
  assert.equal(p.order([a]).length, 1, 'a penalty is not a ban');
  clock.advance(1000);
  assert.deepEqual(p.order([a, b, c]).map((x) => x.fqdn), ['a.acme.test', 'b.acme.test', 'c.acme.test']);
  p.penalise(b);
  p.clear(b);
  assert.equal(p.isPenalised(b), false);
});

test('cycle: first-time bootstrap uses discovery; a failure of an unreached registrar continues', () => {
  const cy = new SignInCycle();
  assert.equal(cy.inBand.length, 0);
  assert.equal(cy.onAttemptFailed(cand('pool1.acme.test')), 'continue');
  assert.equal(cy.mustRebuild, false);
});

test('cycle: after registering, in-band registrars are used; a reached one failing again abandons the cycle', () => {
  const cy = new SignInCycle();
  const home = cand('pool1.acme.test');
  const backup = cand('pool2.acme.test');
  cy.onRegistered(home, [home, backup]);
  assert.deepEqual(cy.inBand.map((c) => [c.fqdn, c.source]), [['pool1.acme.test', 'in-band'], ['pool2.acme.test', 'in-band']]);
  assert.equal(cy.onAttemptFailed(backup), 'continue', 'backup was never reached');
  assert.equal(cy.onAttemptFailed({ ...home, fqdn: 'POOL1.acme.test.' }), 'rebuild', 'case and trailing dot do not hide a reached registrar');
  assert.equal(cy.mustRebuild, true);
  cy.rebuilt();
  assert.equal(cy.mustRebuild, false);
  assert.equal(cy.onAttemptFailed(cand('pool1.acme.test', 'tcp')), 'continue', 'another transport is another registrar');
});

test('cache policy: used only when discovery failed; FQDN re-resolved or cached IPs, TLS name kept', () => {
  assert.equal(shouldUseCache({ discoveryFailed: false }), false);
  assert.equal(shouldUseCache({ discoveryFailed: true }), true);
  const rec = recordFromRegistration({
    user: 'sip:alice@acme.test',
    registrar: { fqdn: 'pool1.acme.test', port: 5061, transport: 'tls', addresses: ['10.0.0.1', '10.0.0.1', '10.0.0.2'] },
    inBand: [{ fqdn: 'pool1.acme.test', port: 5061, transport: 'tls' }],
    mediaRelays: [{ fqdn: 'edge.acme.test', addresses: ['10.0.1.1'], udpPort: 3478 }],
    now: new Date('2026-11-25T10:00:00Z'),
  });
  assert.deepEqual(rec.registrar.addresses, ['10.0.0.1', '10.0.0.2']);
  const fresh = cacheCandidates(rec, ['10.9.9.9']);
  assert.deepEqual([fresh[0]?.fqdn, fresh[0]?.addresses, fresh[0]?.source], ['pool1.acme.test', ['10.9.9.9'], 'cache']);
  const stale = cacheCandidates(rec, null);
  assert.deepEqual([stale[0]?.fqdn, stale[0]?.addresses], ['pool1.acme.test', ['10.0.0.1', '10.0.0.2']]);
});

test('cache record takes only known fields (no secret can slip in)', () => {
  const rec = recordFromRegistration({
    user: 'sip:alice@acme.test',
    registrar: { fqdn: 'p.acme.test', port: 5061, transport: 'tls', addresses: ['10.0.0.1'], password: 'x' } as never,
    inBand: [],
    mediaRelays: [{ fqdn: 'e.acme.test', addresses: [], credentials: { password: 'relay' } } as never],
    now: new Date(0),
  });
  assert.ok(!JSON.stringify(rec).includes('password'));
});
