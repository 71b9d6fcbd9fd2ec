import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock.js';
import { Race, type RaceCommand } from '../../src/core/race.js';

function setup(transports: ('tls' | 'tcp')[], o: { staggerMs?: number; tlsPatienceMs?: number } = {}) {
  const clock = new VirtualClock();
  const log: string[] = [];
  const cmds: RaceCommand[] = [];
  const race = new Race(transports.map((transport) => ({ transport })), { clock, ...o }, (c) => {
    cmds.push(c);
    log.push(`${clock.now()}:${c.type}${'index' in c ? c.index : ''}`);
  });
  return { clock, log, cmds, race };
}

test('a black-holed first candidate costs one stagger, then #1 starts and wins', () => {
  const { clock, log, race } = setup(['tls', 'tls']);
  race.start();
  assert.deepEqual(log, ['0:start0']);
  clock.advance(249);
  assert.deepEqual(log, ['0:start0']);
  clock.advance(1);
  assert.deepEqual(log, ['0:start0', '250:start1']);
  clock.advance(5);
  race.succeeded(1);
  assert.deepEqual(log, ['0:start0', '250:start1', '255:cancel0', '255:winner1']);
  assert.ok(race.finished);
});

test('two dead leading candidates cost two staggers', () => {
  const { clock, log, race } = setup(['tls', 'tls', 'tls']);
  race.start();
  clock.advance(500);
  assert.deepEqual(log, ['0:start0', '250:start1', '500:start2']);
  race.succeeded(2);
  assert.deepEqual(log.slice(-3), ['500:cancel0', '500:cancel1', '500:winner2']);
});

test('a failure starts the next candidate at once, not after the stagger', () => {
  const { clock, log, race } = setup(['tls', 'tls', 'tls']);
  race.start();
  clock.advance(10);
  race.failed(0);
  assert.deepEqual(log, ['0:start0', '10:start1']);
  clock.advance(249);
  assert.deepEqual(log, ['0:start0', '10:start1']);
  clock.advance(1);
  assert.deepEqual(log, ['0:start0', '10:start1', '260:start2']);
});

test('earlier attempts keep running: a slow #0 that answers after #1 started still wins', () => {
  const { clock, log, race } = setup(['tls', 'tls']);
  race.start();
  clock.advance(300);
  race.succeeded(0);
  assert.deepEqual(log, ['0:start0', '250:start1', '300:cancel1', '300:winner0']);
});

test('a TCP candidate that connects first does not win while TLS is within its patience', () => {
  const { clock, log, race } = setup(['tls', 'tcp'], { tlsPatienceMs: 2000 });
  race.start();
  clock.advance(250); // #1 (TCP) starts
  clock.advance(10);
  race.succeeded(1); // TCP connected first: held
  assert.ok(!race.finished);
  assert.equal(race.state(1), 'held');
  clock.advance(500);
  race.succeeded(0); // TLS connects within patience: wins, TCP cancelled
  assert.deepEqual(log, ['0:start0', '250:start1', '760:cancel1', '760:winner0']);
});

test('TCP wins after the patience when TLS is still hanging', () => {
  const { clock, log, race } = setup(['tls', 'tcp'], { tlsPatienceMs: 2000 });
  race.start();
  clock.advance(260);
  race.succeeded(1);
  clock.advance(1739);
  assert.ok(!race.finished);
  clock.advance(1);
  assert.deepEqual(log, ['0:start0', '250:start1', '2000:cancel0', '2000:winner1']);
});

test('TCP wins at once when every TLS attempt has failed', () => {
  const { clock, log, race } = setup(['tls', 'tcp', 'tls']);
  race.start();
  clock.advance(250);
  race.succeeded(1);
  assert.ok(!race.finished);
  race.failed(0); // starts #2 (TLS) at once: TCP still held
  assert.ok(!race.finished);
  clock.advance(5);
  race.failed(2);
  assert.deepEqual(log.slice(-1), ['255:winner1']);
});

test('a TLS candidate not yet started still holds a TCP success (no TLS→TCP downgrade by order)', () => {
  const { clock, race } = setup(['tcp', 'tls'], { staggerMs: 250, tlsPatienceMs: 2000 });
  race.start();
  race.succeeded(0); // TCP connects at t=0, TLS #1 not started yet
  assert.ok(!race.finished);
  clock.advance(250); // TLS starts
  race.failed(1);
  assert.ok(race.finished);
});

test('all candidates dead ends in all-failed once, after every one failed', () => {
  const { clock, cmds, race } = setup(['tls', 'tcp']);
  race.start();
  race.failed(0);
  clock.advance(1);
  assert.ok(!race.finished);
  race.failed(1);
  assert.deepEqual(cmds.at(-1), { type: 'all-failed' });
  assert.equal(cmds.filter((c) => c.type === 'all-failed').length, 1);
  assert.equal(clock.pending, 0);
});

test('an empty race fails at once; late successes of cancelled entries are closed', () => {
  const e = setup([]);
  e.race.start();
  assert.deepEqual(e.cmds, [{ type: 'all-failed' }]);
  const { clock, cmds, race } = setup(['tls', 'tls']);
  race.start();
  clock.advance(250);
  race.succeeded(1);
  race.succeeded(0); // cancelled loser connected after all
  assert.deepEqual(cmds.at(-1), { type: 'cancel', index: 0 });
  race.failed(0); // ignored
  assert.equal(cmds.filter((c) => c.type === 'winner').length, 1);
});

test('no timers are left behind after a winner', () => {
  const { clock, race } = setup(['tls', 'tls', 'tcp', 'tcp']);
  race.start();
  race.succeeded(0);
  assert.equal(clock.pending, 0);
});

test('abandon cancels every attempt in flight and ends the race without a winner', () => {
  const { clock, cmds, race } = setup(['tls', 'tls', 'tcp']);
  race.start();
  clock.advance(250);
  race.succeeded(1); // wins immediately (TLS) — so use a fresh race for the abandon case
  const r2 = setup(['tls', 'tcp', 'tls']);
  r2.race.start();
  r2.clock.advance(250);
  r2.race.succeeded(1); // TCP held
  r2.race.abandon();
  assert.deepEqual(r2.cmds.slice(-3), [{ type: 'cancel', index: 0 }, { type: 'cancel', index: 1 }, { type: 'abandoned' }]);
  assert.equal(r2.clock.pending, 0);
  r2.race.failed(0);
  r2.race.abandon();
  assert.equal(r2.cmds.filter((c) => c.type === 'abandoned').length, 1);
  assert.ok(cmds.some((c) => c.type === 'winner'));
});
