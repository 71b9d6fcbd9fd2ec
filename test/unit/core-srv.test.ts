import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { orderSrv } from '../../src/core/srv.js';
import { seededRandom, type RandomSource } from '../../src/core/clock.js';
import type { SrvRecord } from '../../src/core/types.js';

const rec = (target: string, priority: number, weight: number, port = 5061): SrvRecord => ({ target, port, priority, weight });
const fixed = (...vals: number[]): RandomSource => {
  let i = 0;
  return () => vals[i++ % vals.length]!;
};

test('orderSrv: empty input gives []', () => {
  assert.deepEqual(orderSrv([], seededRandom(1)), []);
});

test('orderSrv: a lone "." target means service not offered', () => {
  assert.deepEqual(orderSrv([rec('.', 0, 0)], seededRandom(1)), []);
});

test('orderSrv: "." inside a larger set is dropped, the rest kept', () => {
  const out = orderSrv([rec('.', 0, 0), rec('a.acme.test', 1, 1)], seededRandom(1));
  assert.deepEqual(out.map((r) => r.target), ['a.acme.test']);
});

test('orderSrv: single record is returned as is', () => {
  const r = rec('a.acme.test', 7, 0);
  assert.deepEqual(orderSrv([r], seededRandom(3)), [r]);
});

test('orderSrv: priority ascending regardless of weight or input order', () => {
  const out = orderSrv([rec('c', 30, 100), rec('a', 10, 0), rec('b', 20, 65535)], seededRandom(9));
  assert.deepEqual(out.map((r) => r.target), ['a', 'b', 'c']);
});

test('orderSrv: does not modify its input', () => {
  const input = [rec('b', 2, 1), rec('a', 1, 1)];
  const copy = structuredClone(input);
  orderSrv(input, seededRandom(1));
  assert.deepEqual(input, copy);
});

test('orderSrv: weight-0 record is picked first only when the draw is exactly 0 (RFC 2782)', () => {
  const recs = [rec('heavy', 0, 10), rec('zero', 0, 0)];
  // draw 0 → running sum list [zero:0, heavy:10] → zero (sum 0 >= 0)
  assert.deepEqual(orderSrv(recs, fixed(0)).map((r) => r.target), ['zero', 'heavy']);
  // any draw > 0 → heavy first
  assert.deepEqual(orderSrv(recs, fixed(0.5)).map((r) => r.target), ['heavy', 'zero']);
  assert.deepEqual(orderSrv(recs, fixed(0.99)).map((r) => r.target), ['heavy', 'zero']);
});

test('orderSrv: weight-0 records still get a small chance over many draws', () => {
  const rnd = seededRandom(42);
  let zeroFirst = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) if (orderSrv([rec('w', 0, 5), rec('z', 0, 0)], rnd)[0]!.target === 'z') zeroFirst++;
  // P = 1/(5+1) ≈ 0.167 — small but not zero
  assert.ok(zeroFirst > n * 0.12 && zeroFirst < n * 0.21, `zeroFirst=${zeroFirst}`);
});

test('orderSrv: all weights 0 in a priority → every order reachable, all kept', () => {
  const seen = new Set<string>();
  const rnd = seededRandom(5);
  for (let i = 0; i < 200; i++) seen.add(orderSrv([rec('a', 0, 0), rec('b', 0, 0), rec('c', 0, 0)], rnd).map((r) => r.target).join(''));
  assert.ok(seen.has('abc'));
  for (const s of seen) assert.equal([...s].sort().join(''), 'abc');
});

test('orderSrv: weights give proportional first picks (ties in priority)', () => {
  const rnd = seededRandom(7);
  const counts = { a: 0, b: 0 };
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const first = orderSrv([rec('a', 5, 30), rec('b', 5, 10)], rnd)[0]!.target as 'a' | 'b';
    counts[first]++;
  }
  // expected a: 31/41 ≈ 0.756 (inclusive [0,sum] draw)
  assert.ok(counts.a / n > 0.72 && counts.a / n < 0.79, JSON.stringify(counts));
});

test('orderSrv: same seed → same order (replayable)', () => {
  const recs = [rec('a', 0, 10), rec('b', 0, 20), rec('c', 0, 30), rec('d', 1, 1)];
  assert.deepEqual(orderSrv(recs, seededRandom(11)), orderSrv(recs, seededRandom(11)));
});

const srvArb = fc.array(
  fc.record({
    target: fc.constantFrom('a.acme.test', 'b.acme.test', 'c.acme.test', 'd.acme.test', 'e.acme.test'),
    port: fc.integer({ min: 1, max: 65535 }),
    priority: fc.integer({ min: 0, max: 5 }),
    weight: fc.integer({ min: 0, max: 100 }),
  }),
  { maxLength: 12 },
);

test('property: orderSrv returns a permutation of the input with non-decreasing priority', () => {
  fc.assert(
    fc.property(srvArb, fc.integer(), (recs, seed) => {
      const out = orderSrv(recs, seededRandom(seed));
      assert.equal(out.length, recs.length);
      const key = (r: SrvRecord) => JSON.stringify(r);
      assert.deepEqual(out.map(key).sort(), recs.map(key).sort());
      for (let i = 1; i < out.length; i++) assert.ok(out[i - 1]!.priority <= out[i]!.priority);
    }),
    { numRuns: 500 },
  );
});

test('property: orderSrv tolerates a random source returning values near 1', () => {
  fc.assert(
    fc.property(srvArb, (recs) => {
      const out = orderSrv(recs, () => 0.9999999999);
      assert.equal(out.length, recs.length);
    }),
  );
});
