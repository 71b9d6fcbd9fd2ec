import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PenaltyList } from '../../src/core/penalty.js';
import { Backoff } from '../../src/core/backoff.js';
import { refreshDelayMs, KeepAlive, PreferredRegistrarProbe, MAX_TIMER_MS } from '../../src/core/timers.js';
import { VirtualClock, seededRandom } from '../../src/core/clock.js';
import { SiplogonError } from '../../src/errors.js';
import type { Candidate } from '../../src/core/types.js';

const c = (fqdn: string): Candidate => ({ fqdn, port: 5061, transport: 'tls', source: 'dns-srv', step: 1, origin: 'x', addresses: [] });
const isOpt = (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION');

// ---- penalty --------------------------------------------------------------------------------

test('penalty: penalised targets move to the end (not removed), stable order, expire by the clock', () => {
  const clock = new VirtualClock();
  const pl = new PenaltyList({ clock, penaltyMs: 30_000 });
  const list = [c('a.acme.test'), c('b.acme.test'), c('c.acme.test'), c('d.acme.test')];
  pl.penalise(list[0]!, 'CONNECT_TIMEOUT');
  clock.advance(10_000);
  pl.penalise('tls:c.acme.test:5061');
  assert.deepEqual(pl.orderCandidates(list).map((x) => x.fqdn), ['b.acme.test', 'd.acme.test', 'a.acme.test', 'c.acme.test']);
  assert.deepEqual(pl.entries().map((e) => [e.key, e.reason, e.until]), [['tls:a.acme.test:5061', 'CONNECT_TIMEOUT', 30_000], ['tls:c.acme.test:5061', 'failed', 40_000]]);
  clock.advance(19_999);
  assert.equal(pl.isPenalised(list[0]!), true);
  clock.advance(1); // t = 30 000: a's penalty over
  assert.equal(pl.isPenalised(list[0]!), false);
  assert.deepEqual(pl.orderCandidates(list).map((x) => x.fqdn), ['a.acme.test', 'b.acme.test', 'd.acme.test', 'c.acme.test']);
  clock.advance(10_000);
  assert.deepEqual(pl.entries(), []);
});

test('penalty: case/trailing dot insensitive keys, repeat failure restarts the period, clear on success', () => {
  const clock = new VirtualClock();
  const pl = new PenaltyList({ clock });
  pl.penalise(c('A.acme.test.'));
  assert.equal(pl.isPenalised(c('a.acme.test')), true);
  clock.advance(29_000);
  pl.penalise(c('a.acme.test'));
  clock.advance(29_000);
  assert.equal(pl.isPenalised(c('a.acme.test')), true, 'restarted at 29 s');
  pl.clear(c('a.acme.test'));
  assert.equal(pl.isPenalised(c('a.acme.test')), false);
  assert.throws(() => new PenaltyList({ clock, penaltyMs: -1 }), isOpt);
});

test('penalty: all penalised → same order, nobody banned', () => {
  const clock = new VirtualClock();
  const pl = new PenaltyList({ clock });
  const list = [c('a.acme.test'), c('b.acme.test')];
  list.forEach((x) => pl.penalise(x));
  assert.deepEqual(pl.orderCandidates(list), list);
});

// ---- back-off -------------------------------------------------------------------------------

test('backoff: no jitter → 1,2,4,…,cap 60 s, stays at the cap', () => {
  const b = new Backoff({ random: seededRandom(1), jitter: 'none' });
  const seq = Array.from({ length: 9 }, () => b.next());
  assert.deepEqual(seq, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  assert.equal(b.attempt, 9);
});

test('backoff: equal jitter stays in [e/2, e], full jitter in [0, e], never above the cap', () => {
  fc.assert(
    fc.property(fc.integer(), fc.constantFrom('equal' as const, 'full' as const), fc.integer({ min: 1, max: 40 }), (seed, jitter, steps) => {
      const b = new Backoff({ random: seededRandom(seed), jitter, baseMs: 500, capMs: 20_000 });
      for (let i = 0; i < steps; i++) {
        const e = Math.min(20_000, 500 * 2 ** i);
        const d = b.next();
        assert.ok(d <= e && d <= 20_000, `d=${d} e=${e}`);
        assert.ok(jitter === 'full' ? d >= 0 : d >= e / 2 - 1, `d=${d} e=${e}`);
        assert.ok(Number.isInteger(d));
      }
    }),
  );
});

test('backoff: jitter really varies (not constant)', () => {
  const rnd = seededRandom(3);
  const vals = new Set(Array.from({ length: 20 }, () => { const b = new Backoff({ random: rnd }); b.next(); b.next(); return b.next(); }));
  assert.ok(vals.size > 10);
});

test('backoff: random extremes (0 and ~1) stay in bounds', () => {
  const lo = new Backoff({ random: () => 0 });
  const hi = new Backoff({ random: () => 0.999999 });
  assert.equal(lo.next(), 500);
  assert.equal(hi.next(), 999);
});

test('backoff: reset starts over; networkChanged → next delay 0 then from base', () => {
  const b = new Backoff({ random: seededRandom(1), jitter: 'none' });
  b.next(); b.next(); b.next();
  b.reset();
  assert.equal(b.next(), 1000);
  b.next(); b.next();
  b.networkChanged();
  assert.equal(b.next(), 0);
  assert.equal(b.next(), 1000);
  assert.equal(b.next(), 2000);
  // The caller already retries at once (a back-off wait cut short): no second immediate retry.
  b.networkChanged(true);
  assert.equal(b.next(), 1000);
  assert.equal(b.next(), 2000);
});

test('backoff: long outage does not overflow', () => {
  const b = new Backoff({ random: () => 0.5, jitter: 'none' });
  for (let i = 0; i < 5000; i++) b.next();
  assert.equal(b.next(), 60_000);
});

test('backoff: bad options → INVALID_OPTION', () => {
  const random = seededRandom(1);
  assert.throws(() => new Backoff({ random, baseMs: 0 }), isOpt);
  assert.throws(() => new Backoff({ random, factor: 0.5 }), isOpt);
  assert.throws(() => new Backoff({ random, baseMs: 1000, capMs: 10 }), isOpt);
  assert.throws(() => new Backoff({ random, jitter: 'weird' as 'full' }), isOpt);
});

// ---- refresh --------------------------------------------------------------------------------

test('refreshDelayMs: 3600 s → within [50 %, 90 %] of expires', () => {
  fc.assert(fc.property(fc.integer(), (seed) => {
    const d = refreshDelayMs(3600, seededRandom(seed));
    assert.ok(d >= 1_800_000 && d <= 3_240_000, String(d));
  }));
  assert.equal(refreshDelayMs(3600, () => 0), 1_800_000);
  assert.equal(refreshDelayMs(3600, () => 0.99999999), 3_239_999);
});

test('refreshDelayMs: never later than expires − margin', () => {
  // 120 s: 90 % = 108 s but margin 30 s → ≤ 90 s
  for (let i = 0; i < 50; i++) {
    const d = refreshDelayMs(120, seededRandom(i));
    assert.ok(d >= 60_000 && d <= 90_000, String(d));
  }
});

test('refreshDelayMs: tiny expires stays sane (positive, before expiry)', () => {
  for (const e of [1, 5, 10, 59]) {
    for (const r of [0, 0.5, 0.999]) {
      const d = refreshDelayMs(e, () => r);
      assert.ok(d > 0 && d < e * 1000, `expires ${e} → ${d}`);
    }
  }
  assert.equal(refreshDelayMs(1, () => 0.999), 500);
});

test('refreshDelayMs: huge expires capped to a Node-safe timer; bad input typed', () => {
  assert.equal(refreshDelayMs(10 ** 9, () => 0.5), MAX_TIMER_MS);
  for (const bad of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => refreshDelayMs(bad, () => 0.5), isOpt);
  assert.throws(() => refreshDelayMs(60, () => 0.5, { minFraction: 0.9, maxFraction: 0.5 }), isOpt);
});

// ---- keep-alive -----------------------------------------------------------------------------

test('keep-alive: ping every interval while pongs arrive', () => {
  const clock = new VirtualClock();
  const pings: number[] = [];
  let dead = 0;
  const ka = new KeepAlive({ clock, keepAliveIntervalMs: 30_000, keepAliveTimeoutMs: 10_000, sendPing: () => pings.push(clock.now()), onDead: () => dead++ });
  ka.start();
  clock.advance(30_000);
  assert.deepEqual(pings, [30_000]);
  assert.equal(ka.awaitingPong, true);
  clock.advance(2_000);
  ka.pong();
  clock.advance(30_000);
  assert.deepEqual(pings, [30_000, 62_000]);
  ka.pong();
  assert.equal(dead, 0);
  ka.stop();
  assert.equal(clock.pending, 0);
});

test('keep-alive: no pong within the timeout → dead once, then stopped', () => {
  const clock = new VirtualClock();
  const deadAt: number[] = [];
  const ka = new KeepAlive({ clock, keepAliveIntervalMs: 30_000, keepAliveTimeoutMs: 10_000, sendPing: () => {}, onDead: () => deadAt.push(clock.now()) });
  ka.start();
  clock.advance(39_999);
  assert.deepEqual(deadAt, []);
  clock.advance(1);
  assert.deepEqual(deadAt, [40_000]);
  assert.equal(ka.running, false);
  ka.pong(); // late pong ignored
  clock.advance(100_000);
  assert.deepEqual(deadAt, [40_000]);
  assert.equal(clock.pending, 0);
});

test('keep-alive: unsolicited pong ignored; jittered interval in [80 %, 100 %] (RFC 5626 §4.4.1)', () => {
  const clock = new VirtualClock();
  const pings: number[] = [];
  const ka = new KeepAlive({ clock, keepAliveIntervalMs: 100_000, random: () => 0, sendPing: () => pings.push(clock.now()), onDead: () => {} });
  ka.start();
  ka.pong();
  clock.advance(80_000);
  assert.deepEqual(pings, [80_000]);
  assert.throws(() => new KeepAlive({ clock, keepAliveIntervalMs: 0, sendPing: () => {}, onDead: () => {} }), isOpt);
});

// ---- preferred registrar probe ----------------------------------------------------------------

test('probe: back-off between failed probes, stops on success, immediate on network change', () => {
  const clock = new VirtualClock();
  const probes: number[] = [];
  const p = new PreferredRegistrarProbe({ clock, random: () => 0.999999, backoff: { baseMs: 1000, capMs: 4000 }, probe: () => probes.push(clock.now()) });
  p.start();
  clock.advance(999);
  assert.deepEqual(probes, [999]);
  p.result(false);
  clock.advance(1999);
  assert.deepEqual(probes, [999, 2998]);
  p.result(false);
  clock.advance(3999);
  p.result(false);
  clock.advance(3999); // capped
  assert.deepEqual(probes, [999, 2998, 6997, 10996]);
  p.result(false);
  p.networkChanged();
  clock.advance(0);
  assert.deepEqual(probes, [999, 2998, 6997, 10996, 10996]);
  p.result(true);
  assert.equal(p.active, false);
  clock.advance(100_000);
  assert.equal(probes.length, 5);
  assert.equal(clock.pending, 0);
});
