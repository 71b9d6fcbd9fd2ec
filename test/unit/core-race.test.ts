import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StaggeredRace, expandRaceTargets, type RaceCommand, type RaceOptions } from '../../src/core/race.js';
import { VirtualClock } from '../../src/core/clock.js';
import { SiplogonError, TransportError } from '../../src/errors.js';
import type { Candidate, SipTransport } from '../../src/core/types.js';

function setup(transports: SipTransport[], opts: Partial<Omit<RaceOptions, 'clock' | 'onCommand'>> = {}) {
  const clock = new VirtualClock();
  const log: RaceCommand[] = [];
  const race = new StaggeredRace(transports.map((transport) => ({ transport })), { clock, onCommand: (c) => log.push(c), ...opts });
  const starts = () => log.filter((c) => c.type === 'start').map((c) => [c.index, c.at]);
  const of = <T extends RaceCommand['type']>(t: T) => log.filter((c): c is Extract<RaceCommand, { type: T }> => c.type === t);
  return { clock, log, race, starts, of };
}
const err = (code: 'CONNECT_REFUSED' | 'TLS_UNTRUSTED' | 'CONNECT_TIMEOUT', m: string = code) => new TransportError(code, m);

test('race: #0 starts at once, a black-holed #0 costs one stagger before #1 starts', () => {
  const { clock, race, starts, of } = setup(['tls', 'tls', 'tls']);
  race.start();
  assert.deepEqual(starts(), [[0, 0]]);
  clock.advance(249);
  assert.deepEqual(starts(), [[0, 0]]);
  clock.advance(1);
  assert.deepEqual(starts(), [[0, 0], [1, 250]]);
  race.succeeded(1);
  assert.deepEqual(of('winner').map((w) => [w.index, w.at]), [[1, 250]]);
  // #0 (still hanging) is cancelled as a loser, #2 never started
  assert.deepEqual(of('cancel').map((c) => [c.index, c.reason]), [[0, 'lost']]);
  assert.equal(race.state, 'won');
  assert.deepEqual(race.entryStates(), ['cancelled', 'won', 'pending']);
  assert.equal(clock.pending, 0, 'all timers cleared');
});

test('race: earlier attempts keep going; slow but alive #0 can still win after #1 started', () => {
  const { clock, race, starts, of } = setup(['tls', 'tls']);
  race.start();
  clock.advance(400);
  assert.equal(starts().length, 2);
  race.succeeded(0);
  assert.equal(of('winner')[0]!.index, 0);
  assert.deepEqual(of('cancel').map((c) => c.index), [1]);
});

test('race: failure starts the next attempt early (no stagger wait) and resets the stagger', () => {
  const { clock, race, starts } = setup(['tls', 'tls', 'tls', 'tls'], { staggerMs: 300 });
  race.start();
  clock.advance(10);
  race.failed(0, err('CONNECT_REFUSED'));
  assert.deepEqual(starts(), [[0, 0], [1, 10]]);
  clock.advance(299);
  assert.equal(starts().length, 2);
  clock.advance(1);
  assert.deepEqual(starts(), [[0, 0], [1, 10], [2, 310]]);
});

test('race: TCP that connects first is HELD while TLS is within patience, then TLS wins', () => {
  const { clock, race, of } = setup(['tcp', 'tls']);
  race.start();
  race.succeeded(0); // TCP up at t=0
  assert.equal(race.state, 'running');
  assert.deepEqual(of('hold').map((h) => h.index), [0]);
  assert.equal(of('cancel').length, 0, 'held TCP is not cancelled');
  clock.advance(250); // TLS still gets started after the stagger
  assert.deepEqual(of('start').map((s) => s.index), [0, 1]);
  clock.advance(500);
  race.succeeded(1);
  assert.deepEqual(of('winner').map((w) => [w.index, w.at]), [[1, 750]]);
  assert.deepEqual(of('cancel').map((c) => [c.index, c.reason]), [[0, 'lost']]);
});

test('race: held TCP wins once tlsPatienceMs has elapsed (TLS black-holed)', () => {
  const { clock, race, of } = setup(['tls', 'tcp'], { tlsPatienceMs: 2000 });
  race.start();
  clock.advance(250);
  race.succeeded(1); // TCP at 250
  assert.equal(of('winner').length, 0);
  clock.advance(1749);
  assert.equal(of('winner').length, 0);
  clock.advance(1);
  assert.deepEqual(of('winner').map((w) => [w.index, w.at]), [[1, 2000]]);
  assert.deepEqual(of('cancel').map((c) => [c.index, c.reason]), [[0, 'lost']]);
  assert.equal(clock.pending, 0);
});

test('race: TCP succeeding after patience wins immediately', () => {
  const { clock, race, of } = setup(['tls', 'tcp'], { tlsPatienceMs: 100, staggerMs: 250 });
  race.start();
  clock.advance(250);
  race.succeeded(1);
  assert.deepEqual(of('winner').map((w) => [w.index, w.at]), [[1, 250]]);
  assert.equal(of('hold').length, 0);
});

test('race: held TCP wins as soon as every TLS attempt has failed and none remains', () => {
  const { clock, race, of } = setup(['tls', 'tcp', 'tls']);
  race.start();
  clock.advance(250);
  race.succeeded(1); // held: TLS #0 running, #2 pending
  race.failed(0, err('TLS_UNTRUSTED')); // starts #2 early; TLS still possible
  assert.equal(of('winner').length, 0);
  assert.deepEqual(of('start').map((s) => [s.index, s.at]), [[0, 0], [1, 250], [2, 250]]);
  clock.advance(100);
  race.failed(2, err('CONNECT_REFUSED'));
  assert.deepEqual(of('winner').map((w) => [w.index, w.at]), [[1, 350]]);
  assert.match(of('winner')[0]!.reason, /every TLS attempt failed/);
});

test('race: with only TCP entries, a TCP success wins at once', () => {
  const { race, of } = setup(['tcp', 'tcp']);
  race.start();
  race.succeeded(0);
  assert.equal(of('winner')[0]!.index, 0);
  assert.deepEqual(of('cancel'), []);
});

test('race: among several held TCP successes the most preferred wins at patience', () => {
  const { clock, race, of } = setup(['tcp', 'tcp', 'tls'], { staggerMs: 100, tlsPatienceMs: 1000 });
  race.start();
  clock.advance(100);
  race.succeeded(1);
  clock.advance(50);
  race.succeeded(0);
  clock.advance(850);
  assert.deepEqual(of('winner').map((w) => [w.index, w.at]), [[0, 1000]]);
  assert.deepEqual(of('cancel').map((c) => c.index).sort(), [1, 2]);
});

test('race: all candidates dead → all-failed listing each with its error', () => {
  const { clock, race, of, log } = setup(['tls', 'tls', 'tcp']);
  race.start();
  race.failed(0, err('CONNECT_REFUSED', 'refused 1'));
  race.failed(1, err('TLS_UNTRUSTED', 'bad cert'));
  clock.advance(3000);
  race.failed(2, err('CONNECT_TIMEOUT', 'timeout 3'));
  const af = of('all-failed');
  assert.equal(af.length, 1);
  assert.deepEqual(af[0]!.failures.map((f) => [f.index, f.status, (f.error as TransportError).code]), [
    [0, 'failed', 'CONNECT_REFUSED'], [1, 'failed', 'TLS_UNTRUSTED'], [2, 'failed', 'CONNECT_TIMEOUT'],
  ]);
  assert.equal(race.state, 'all-failed');
  assert.equal(log.at(-1)!.type, 'all-failed');
  assert.equal(clock.pending, 0);
});

test('race: overall deadline → all-failed, running cancelled, unstarted listed, held TCP within patience does not win', () => {
  const { clock, race, of } = setup(['tls', 'tcp', 'tls', 'tls'], { staggerMs: 400, deadlineMs: 1000, tlsPatienceMs: 2000 });
  race.start();
  clock.advance(400);
  race.succeeded(1); // held
  clock.advance(600); // t=1000: #2 started at 800, #3 never
  const af = of('all-failed');
  assert.equal(af.length, 1);
  assert.deepEqual(af[0]!.failures.map((f) => [f.index, f.status]), [[0, 'deadline'], [1, 'deadline'], [2, 'deadline'], [3, 'not-started']]);
  assert.ok(SiplogonError.is(af[0]!.failures[0]!.error, 'CONNECT_TIMEOUT'));
  assert.deepEqual(of('cancel').map((c) => [c.index, c.reason]), [[0, 'deadline'], [1, 'deadline'], [2, 'deadline']]);
  assert.equal(of('winner').length, 0);
  assert.equal(af[0]!.at, 1000);
});

test('race: late and duplicate reports after the end are ignored', () => {
  const { race, of, log } = setup(['tls', 'tls']);
  race.start();
  race.succeeded(0);
  const n = log.length;
  race.succeeded(0);
  race.failed(1, err('CONNECT_REFUSED'));
  race.succeeded(1);
  assert.equal(log.length, n);
  assert.equal(of('winner').length, 1);
});

test('race: re-entrant report from inside onCommand (synchronous failure) is handled in order', () => {
  const clock = new VirtualClock();
  const log: RaceCommand[] = [];
  const race: StaggeredRace = new StaggeredRace([{ transport: 'tls' }, { transport: 'tls' }], {
    clock,
    onCommand: (c) => {
      log.push(c);
      if (c.type === 'start' && c.index === 0) race.failed(0, err('CONNECT_REFUSED'));
      if (c.type === 'start' && c.index === 1) race.succeeded(1);
    },
  });
  race.start();
  assert.deepEqual(log.map((c) => `${c.type}:${'index' in c ? c.index : ''}`), ['start:0', 'start:1', 'winner:1']);
});

test('race: abort cancels running and held attempts', () => {
  const { clock, race, of } = setup(['tcp', 'tls']);
  race.start();
  race.succeeded(0);
  clock.advance(250);
  race.abort();
  assert.deepEqual(of('cancel').map((c) => [c.index, c.reason]), [[0, 'aborted'], [1, 'aborted']]);
  assert.equal(race.state, 'aborted');
  assert.equal(clock.pending, 0);
});

test('race: bad input gives typed errors', () => {
  const clock = new VirtualClock();
  assert.throws(() => new StaggeredRace([], { clock, onCommand: () => {} }), (e: unknown) => SiplogonError.is(e, 'NO_CANDIDATES'));
  assert.throws(() => new StaggeredRace([{ transport: 'tls' }], { clock, onCommand: () => {}, staggerMs: Number.NaN }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  assert.throws(() => new StaggeredRace([{ transport: 'tls' }], { clock, onCommand: () => {}, deadlineMs: -1 }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  const r = new StaggeredRace([{ transport: 'tls' }], { clock, onCommand: () => {} });
  r.start();
  assert.throws(() => r.succeeded(5), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
});

const cand = (fqdn: string, transport: SipTransport, addresses: string[]): Candidate => ({ fqdn, port: 5061, transport, source: 'dns-srv', step: 1, origin: 'x', addresses });

test('expandRaceTargets: interleaves families within a candidate (RFC 8305 §4), keeps candidate order', () => {
  const out = expandRaceTargets([
    cand('a.acme.test', 'tls', ['2001:db8::1', '2001:db8::2', '2001:db8::3', '192.0.2.1']),
    cand('none.acme.test', 'tls', []),
    cand('b.acme.test', 'tcp', ['192.0.2.2', '192.0.2.2', '2001:db8::9']),
  ]);
  assert.deepEqual(out.map((t) => `${t.candidateIndex}:${t.address}:${t.transport}`), [
    '0:2001:db8::1:tls', '0:192.0.2.1:tls', '0:2001:db8::2:tls', '0:2001:db8::3:tls',
    '2:192.0.2.2:tcp', '2:2001:db8::9:tcp',
  ]);
});

test('race, late entries: an entry added while #0 hangs starts one stagger after #0, not at once; one added when nothing runs starts at once', () => {
  const { clock, race, starts, of } = setup(['tls'], { openEnded: true });
  const done = race.expect('tls');
  race.start();
  clock.advance(100);
  assert.deepEqual(race.add([{ transport: 'tls' }]), [1]);
  done();
  assert.deepEqual(starts(), [[0, 0]], 'within the stagger of #0: waits');
  clock.advance(150);
  assert.deepEqual(starts(), [[0, 0], [1, 250]]);
  const done2 = race.expect('tcp');
  race.failed(0, err('CONNECT_REFUSED'));
  race.failed(1, err('CONNECT_REFUSED'));
  assert.equal(of('all-failed').length, 0, 'not over while a source may still add entries');
  clock.advance(1000);
  race.add([{ transport: 'tcp' }]);
  assert.deepEqual(starts().at(-1), [2, 1250], 'nothing running: started at once');
  done2();
  race.failed(2, err('CONNECT_REFUSED'));
  assert.deepEqual(of('all-failed').map((f) => f.failures.map((x) => x.status)), [['failed', 'failed', 'failed']]);
});

test('race, late entries: a TCP success is held while a TLS name is still resolving; TLS added late wins; if it never comes the TCP wins at patience or when the source closes', () => {
  {
    const { clock, race, of } = setup(['tcp'], { openEnded: true, tlsPatienceMs: 2000 });
    const done = race.expect('tls');
    race.start();
    race.succeeded(0);
    assert.equal(of('hold').length, 1, 'TLS may still come: held');
    clock.advance(300);
    race.add([{ transport: 'tls' }]);
    done();
    race.succeeded(1);
    assert.deepEqual(of('winner').map((w) => w.index), [1], 'the TLS entry wins over the held TCP');
    assert.deepEqual(of('cancel').map((c) => c.index), [0]);
  }
  {
    const { race, of } = setup(['tcp'], { openEnded: true, tlsPatienceMs: 2000 });
    const done = race.expect('tls');
    race.start();
    race.succeeded(0);
    done(); // the TLS name did not resolve
    assert.deepEqual(of('winner').map((w) => [w.index, w.reason]), [[0, 'every TLS attempt failed: held TCP accepted']]);
  }
  {
    const { clock, race, of } = setup(['tcp'], { openEnded: true, tlsPatienceMs: 2000 });
    race.expect('tls'); // never closes
    race.start();
    race.succeeded(0);
    clock.advance(2000);
    assert.deepEqual(of('winner').map((w) => w.index), [0], 'patience bounds the wait for a name that never resolves');
  }
});

test('race, open-ended: no entries and no source → all-failed at start; an empty closed race is not left hanging', () => {
  const { race, of } = setup([], { openEnded: true });
  race.start();
  assert.equal(race.state, 'all-failed');
  assert.equal(of('all-failed').length, 1);
  assert.throws(() => setup([]), (e: unknown) => SiplogonError.is(e, 'NO_CANDIDATES'));
  const b = setup([], { openEnded: true });
  const done = b.race.expect('tcp');
  b.race.start();
  assert.equal(b.race.state, 'running');
  done();
  assert.equal(b.race.state, 'all-failed');
});
