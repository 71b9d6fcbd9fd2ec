import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LateJoinQueue } from '../../src/core/late-join.js';
import { VirtualClock } from '../../src/core/clock.js';
import { SiplogonError } from '../../src/errors.js';

function setup(count: number, slotMs = 250) {
  const clock = new VirtualClock();
  const joins: [number, number][] = [];
  const q = new LateJoinQueue(count, { clock, slotMs, onJoin: (k) => joins.push([k, clock.now()]) });
  return { clock, q, joins };
}

test('late join: names that settle in time join in preference order, whatever order they settle in', () => {
  const { clock, q, joins } = setup(3);
  q.start();
  clock.advance(10);
  q.settled(2);
  q.settled(1);
  assert.deepEqual(joins, [], '#0 is still resolving within its slot: #1 and #2 wait');
  clock.advance(10);
  q.settled(0);
  assert.deepEqual(joins, [[0, 20], [1, 20], [2, 20]]);
  assert.equal(clock.pending, 0);
});

test('late join: a name still resolving holds the ones below it for one slot, then they go ahead and it joins when it settles', () => {
  const { clock, q, joins } = setup(3);
  q.start();
  q.settled(1);
  clock.advance(249);
  assert.deepEqual(joins, []);
  clock.advance(1);
  assert.deepEqual(joins, [[1, 250]], '#0 passed over after 250 ms; #1 (settled) joins');
  assert.deepEqual(q.snapshot(), ['passed', 'joined', 'resolving']);
  // #2 is now the head and gets a slot of its own from 250 ms.
  clock.advance(249);
  assert.deepEqual(joins, [[1, 250]]);
  q.settled(0);
  assert.deepEqual(joins, [[1, 250], [0, 499]], 'the passed-over name joins as soon as it settles');
  clock.advance(1);
  assert.deepEqual(q.snapshot(), ['joined', 'joined', 'passed']);
  q.settled(2);
  assert.deepEqual(joins, [[1, 250], [0, 499], [2, 500]]);
  assert.equal(clock.pending, 0);
});

test('late join: names settled before the start join at the start; a black-holed head costs one slot per name', () => {
  const { clock, q, joins } = setup(4, 100);
  q.settled(3);
  q.settled(0);
  assert.deepEqual(joins, [], 'nothing joins before the race has started');
  q.start();
  assert.deepEqual(joins, [[0, 0]]);
  clock.advance(100);
  assert.deepEqual(joins, [[0, 0]], '#1 passed over; #2 is resolving too and gets its own slot');
  clock.advance(100);
  assert.deepEqual(joins, [[0, 0], [3, 200]]);
  assert.equal(clock.pending, 0, 'no slot left to time');
});

test('late join: after stop nothing joins and no timer is left; repeated or unknown reports are handled', () => {
  const { clock, q, joins } = setup(2);
  q.start();
  q.stop();
  assert.equal(clock.pending, 0);
  q.settled(0);
  q.start();
  clock.advance(1000);
  assert.deepEqual(joins, [], 'a stopped queue stays stopped');

  const b = setup(1);
  b.q.start();
  b.q.settled(0);
  b.q.settled(0);
  assert.deepEqual(b.joins, [[0, 0]], 'joins once');
  assert.throws(() => b.q.settled(1), (e: unknown) => SiplogonError.is(e) && e.code === 'INVALID_OPTION');
  assert.throws(() => new LateJoinQueue(1, { clock: b.clock, slotMs: Number.NaN, onJoin: () => undefined }), /slotMs/);

  const empty = setup(0);
  empty.q.start();
  assert.equal(empty.clock.pending, 0);
});

test('late join: onJoin may stop the queue (the race was won by what just joined)', () => {
  const clock = new VirtualClock();
  const joins: number[] = [];
  const q: LateJoinQueue = new LateJoinQueue(3, {
    clock,
    slotMs: 250,
    onJoin: (k) => {
      joins.push(k);
      q.stop();
    },
  });
  q.settled(0);
  q.settled(1);
  q.start();
  assert.deepEqual(joins, [0]);
  assert.equal(clock.pending, 0);
});
