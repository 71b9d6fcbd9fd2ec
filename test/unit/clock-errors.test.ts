import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock, seededRandom } from '../../src/core/clock.js';
import { SiplogonError, AuthenticationError } from '../../src/errors.js';

test('VirtualClock runs timers in time order, ties in creation order', () => {
  const c = new VirtualClock(100);
  const seen: string[] = [];
  c.setTimeout(() => seen.push('b'), 20);
  c.setTimeout(() => seen.push('a'), 10);
  c.setTimeout(() => seen.push('a2'), 10);
  const h = c.setTimeout(() => seen.push('never'), 15);
  c.clearTimeout(h);
  c.advance(15);
  assert.deepEqual(seen, ['a', 'a2']);
  assert.equal(c.now(), 115);
  c.advance(5);
  assert.deepEqual(seen, ['a', 'a2', 'b']);
  assert.equal(c.pending, 0);
});

test('VirtualClock runs timers scheduled by timers within the same advance', () => {
  const c = new VirtualClock();
  const at: number[] = [];
  c.setTimeout(() => { at.push(c.now()); c.setTimeout(() => at.push(c.now()), 5); }, 5);
  c.advance(10);
  assert.deepEqual(at, [5, 10]);
});

test('seededRandom replays and stays in [0,1)', () => {
  const a = seededRandom(7), b = seededRandom(7);
  for (let i = 0; i < 1000; i++) {
    const x = a();
    assert.equal(x, b());
    assert.ok(x >= 0 && x < 1);
  }
});

test('SiplogonError.is brands across copies and keeps the code', () => {
  const e = new AuthenticationError('AUTH_FAILED', 'rejected', { details: { status: 401 } });
  assert.ok(SiplogonError.is(e, 'AUTH_FAILED'));
  assert.ok(!SiplogonError.is(e, 'CONNECT_REFUSED'));
  assert.ok(!SiplogonError.is(new Error('x')));
  assert.equal(e.name, 'AuthenticationError');
  assert.deepEqual(JSON.parse(JSON.stringify(e)).code, 'AUTH_FAILED');
});

test('StepRecorder keeps a bounded window when asked, ids stay unique, listeners see every step', async () => {
  const { StepRecorder } = await import('../../src/engine/steps.js');
  const clock = new VirtualClock();
  const rec = new StepRecorder(clock, { keep: 3 });
  let heard = 0;
  rec.subscribe((_s, phase) => phase === 'end' && heard++);
  for (let i = 0; i < 10; i++) rec.begin('keepalive', `step ${i}`).pass();
  assert.equal(rec.steps.length, 3);
  assert.deepEqual(rec.steps.map((s) => s.id), [8, 9, 10]);
  assert.equal(heard, 10);
  const all = new StepRecorder(clock);
  for (let i = 0; i < 1000; i++) all.begin('keepalive', `s${i}`).pass();
  assert.equal(all.steps.length, 1000, 'unbounded by default (the diagnosis keeps every step)');
});

test('SiplogonError { stack: false }: an outcome without a stack trace; the stack limit is restored', async () => {
  const { DnsError } = await import('../../src/errors.js');
  const before = Error.stackTraceLimit;
  const quiet = new DnsError('DNS_FAILED', 'x.test: nxdomain', { stack: false });
  assert.equal(Error.stackTraceLimit, before);
  assert.equal(quiet.code, 'DNS_FAILED');
  assert.equal(quiet.name, 'DnsError');
  assert.ok(!/\n\s+at /.test(quiet.stack ?? ''), `no frames expected: ${quiet.stack}`);
  const loud = new DnsError('DNS_FAILED', 'x.test: nxdomain');
  assert.match(loud.stack ?? '', /\n\s+at /);
});

test('systemClock: a cleared timer never fires; clearing twice, clearing undefined or a fired timer is harmless', async () => {
  const { systemClock } = await import('../../src/core/clock.js');
  const fired: string[] = [];
  const a = systemClock.setTimeout(() => fired.push('a'), 5);
  const b = systemClock.setTimeout(() => fired.push('b'), 5);
  assert.notEqual(a.id, b.id);
  systemClock.clearTimeout(a);
  systemClock.clearTimeout(a);
  systemClock.clearTimeout(undefined);
  systemClock.clearTimeout(new VirtualClock().setTimeout(() => undefined, 1));
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(fired, ['b']);
  systemClock.clearTimeout(b);
});
