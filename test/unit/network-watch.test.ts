import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { VirtualClock } from '../../src/core/clock.js';
import { SiplogonError } from '../../src/errors.js';
import { diffAddresses, snapshotAddresses, watchNetwork, type InterfaceTable, type LocalAddress } from '../../src/engine/network-watch.js';

const lo = { address: '127.0.0.1', internal: true, family: 'IPv4' };
const lo6 = { address: '::1', internal: true, family: 'IPv6' };
const eth = (address: string) => ({ address, internal: false, family: address.includes(':') ? 'IPv6' : 'IPv4' });

describe('snapshotAddresses / diffAddresses', () => {
  test('keeps non-internal addresses only, sorted, de-duplicated, scope ids dropped', () => {
    const snap = snapshotAddresses({
      lo: [lo, lo6],
      wlan0: [eth('192.0.2.5'), eth('FE80::1%wlan0')],
      eth0: [eth('198.51.100.2'), eth('198.51.100.2')],
      down: undefined,
    });
    assert.deepEqual(snap, [
      { iface: 'eth0', address: '198.51.100.2', family: 4 },
      { iface: 'wlan0', address: '192.0.2.5', family: 4 },
      { iface: 'wlan0', address: 'fe80::1', family: 6 },
    ]);
  });

  test('malformed reader output is ignored, not trusted', () => {
    const junk = {
      a: [null, 5, { address: 'not-an-ip', internal: false }, { address: '192.0.2.9' }, { address: 7, internal: false }],
      b: 'oops',
      c: [{ address: '192.0.2.1', internal: false }],
    } as unknown as InterfaceTable;
    assert.deepEqual(snapshotAddresses(junk), [{ iface: 'c', address: '192.0.2.1', family: 4 }]);
    assert.deepEqual(snapshotAddresses(null as unknown as InterfaceTable), []);
  });

  test('filter option drops addresses', () => {
    const snap = snapshotAddresses({ eth0: [eth('192.0.2.5'), eth('fe80::1')] }, (a) => !a.address.startsWith('fe80:'));
    assert.deepEqual(snap.map((a) => a.address), ['192.0.2.5']);
  });

  test('diff is order-insensitive and reports added/removed; interface moves count as change', () => {
    const a: LocalAddress[] = [
      { iface: 'eth0', address: '192.0.2.5', family: 4 },
      { iface: 'eth0', address: '2001:db8::5', family: 6 },
    ];
    const reversed = [...a].reverse();
    assert.deepEqual(diffAddresses(a, reversed), { added: [], removed: [], changed: false });
    const b: LocalAddress[] = [{ iface: 'eth0', address: '2001:db8::5', family: 6 }, { iface: 'eth0', address: '192.0.2.77', family: 4 }];
    const d = diffAddresses(a, b);
    assert.equal(d.changed, true);
    assert.deepEqual(d.added, [{ iface: 'eth0', address: '192.0.2.77', family: 4 }]);
    assert.deepEqual(d.removed, [{ iface: 'eth0', address: '192.0.2.5', family: 4 }]);
    const moved = diffAddresses([{ iface: 'eth0', address: '192.0.2.5', family: 4 }], [{ iface: 'wlan0', address: '192.0.2.5', family: 4 }]);
    assert.equal(moved.changed, true);
    assert.deepEqual(diffAddresses([], []), { added: [], removed: [], changed: false });
  });
});

describe('watchNetwork poller (virtual time)', () => {
  function rig(initial: InterfaceTable) {
    let table = initial;
    let reads = 0;
    const clock = new VirtualClock();
    const events: { before: string[]; after: string[] }[] = [];
    const w = watchNetwork({
      intervalMs: 1000,
      clock,
      read: () => {
        reads++;
        return table;
      },
    });
    w.on('change', (before, after) => events.push({ before: before.map((x) => x.address), after: after.map((x) => x.address) }));
    return { w, clock, events, set: (t: InterfaceTable) => (table = t), reads: () => reads };
  }

  test('emits once per change, with before and after, at the next poll', () => {
    const r = rig({ lo: [lo], eth0: [eth('192.0.2.5')] });
    r.clock.advance(5000);
    assert.deepEqual(r.events, [], 'no change, no event');
    assert.equal(r.reads(), 6, 'initial snapshot + one read per interval');

    r.set({ lo: [lo], wlan0: [eth('198.51.100.9')] });
    r.clock.advance(999);
    assert.deepEqual(r.events, [], 'not before the interval elapses');
    r.clock.advance(1);
    assert.deepEqual(r.events, [{ before: ['192.0.2.5'], after: ['198.51.100.9'] }]);
    r.clock.advance(10_000);
    assert.equal(r.events.length, 1, 'a stable new network emits no more');

    // Loopback changes are not network changes.
    r.set({ lo: [lo, lo6], wlan0: [eth('198.51.100.9')] });
    r.clock.advance(3000);
    assert.equal(r.events.length, 1);

    // Network gone entirely, then back.
    r.set({ lo: [lo] });
    r.clock.advance(1000);
    r.set({ lo: [lo], wlan0: [eth('198.51.100.9')] });
    r.clock.advance(1000);
    assert.deepEqual(r.events.slice(1), [
      { before: ['198.51.100.9'], after: [] },
      { before: [], after: ['198.51.100.9'] },
    ]);
    assert.deepEqual(r.w.current.map((a) => a.address), ['198.51.100.9']);
    r.w.stop();
  });

  test('stop() cancels the timer; no reads or events afterwards; idempotent', () => {
    const r = rig({ eth0: [eth('192.0.2.5')] });
    r.w.stop();
    r.w.stop();
    assert.equal(r.clock.pending, 0);
    const before = r.reads();
    r.set({ eth0: [eth('192.0.2.6')] });
    r.clock.advance(10_000);
    assert.equal(r.reads(), before);
    assert.deepEqual(r.events, []);
  });

  test('stop() from inside a change listener stops further polling', () => {
    const r = rig({ eth0: [eth('192.0.2.5')] });
    r.w.on('change', () => r.w.stop());
    r.set({ eth0: [eth('192.0.2.6')] });
    r.clock.advance(1000);
    assert.equal(r.events.length, 1);
    assert.equal(r.clock.pending, 0);
  });

  test('a throwing reader does not crash: error event, keeps last snapshot, keeps polling', () => {
    const clock = new VirtualClock();
    let mode: 'ok' | 'throw' | 'new' = 'ok';
    const w = watchNetwork({
      intervalMs: 500,
      clock,
      read: () => {
        if (mode === 'throw') throw new Error('uv_interface_addresses failed');
        return { eth0: [eth(mode === 'ok' ? '192.0.2.5' : '192.0.2.6')] };
      },
    });
    const errors: Error[] = [];
    const changes: LocalAddress[][] = [];
    w.on('error', (e) => errors.push(e));
    w.on('change', (_b, a) => changes.push(a));
    mode = 'throw';
    clock.advance(1000);
    assert.equal(errors.length, 2);
    assert.equal(changes.length, 0, 'a failed read is not "all addresses gone"');
    mode = 'new';
    clock.advance(500);
    assert.deepEqual(changes.map((c) => c.map((x) => x.address)), [['192.0.2.6']]);
    w.stop();
  });

  test('without an error listener a throwing reader is silent (no unhandled error event)', () => {
    const clock = new VirtualClock();
    const w = watchNetwork({ clock, read: () => { throw new Error('boom'); } });
    assert.doesNotThrow(() => clock.advance(10_000));
    assert.deepEqual(w.current, []);
    w.stop();
  });

  test('a throwing change listener propagates but polling goes on', () => {
    const r = rig({ eth0: [eth('192.0.2.5')] });
    r.w.on('change', () => {
      throw new Error('listener bug');
    });
    r.set({ eth0: [eth('192.0.2.6')] });
    assert.throws(() => r.clock.advance(1000), /listener bug/);
    assert.equal(r.clock.pending, 1, 'next poll still armed');
    r.set({ eth0: [eth('192.0.2.7')] });
    assert.throws(() => r.clock.advance(1000), /listener bug/);
    assert.deepEqual(r.events.map((e) => e.after), [['192.0.2.6'], ['192.0.2.7']]);
    r.w.stop();
  });

  test('default interval is 2000 ms', () => {
    const clock = new VirtualClock();
    let reads = 0;
    const w = watchNetwork({ clock, read: () => (reads++, {}) });
    clock.advance(1999);
    assert.equal(reads, 1);
    clock.advance(1);
    assert.equal(reads, 2);
    w.stop();
  });

  test('bad options → INVALID_OPTION', () => {
    for (const intervalMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, '100' as unknown as number]) {
      assert.throws(() => watchNetwork({ intervalMs, clock: new VirtualClock() }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
    }
    assert.throws(() => watchNetwork({ read: 5 as unknown as () => InterfaceTable, clock: new VirtualClock() }), (e: unknown) =>
      SiplogonError.is(e, 'INVALID_OPTION'),
    );
  });

  test('default reader is os.networkInterfaces (real machine, no change expected)', () => {
    const clock = new VirtualClock();
    const w = watchNetwork({ clock });
    assert.deepEqual(w.current, snapshotAddresses(os.networkInterfaces()));
    w.stop();
  });
});
