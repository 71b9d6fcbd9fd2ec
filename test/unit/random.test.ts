import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomHex, randomId16 } from '../../src/random.js';

test('randomId16: integers in 0..65535, spread over the range across pool refills', () => {
  const seen = new Set<number>();
  let high = 0;
  // 5000 × 2 bytes crosses the 4 KB pool boundary twice.
  for (let i = 0; i < 5000; i++) {
    const v = randomId16();
    assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffff, `out of range: ${v}`);
    if (v >= 0x8000) high++;
    seen.add(v);
  }
  assert.ok(seen.size > 4700, `too many repeats: ${seen.size} distinct of 5000`);
  assert.ok(high > 2200 && high < 2800, `upper half drawn ${high} times of 5000`);
});

test('randomHex: 2n lowercase hex characters; never the same bytes twice', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const h = randomHex(10);
    assert.match(h, /^[0-9a-f]{20}$/);
    assert.ok(!seen.has(h), 'a value repeated');
    seen.add(h);
  }
  assert.throws(() => randomHex(5000), RangeError);
});
