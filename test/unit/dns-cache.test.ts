import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock.js';
import type { DnsQueryResult } from '../../src/core/types.js';
import { DnsCache } from '../../src/discovery/dns-cache.js';

const res = (o: Partial<DnsQueryResult>): DnsQueryResult => ({ name: 'sip.acme.test', type: 'A', outcome: 'answer', server: '127.0.0.1:53', latencyMs: 3, ...o });
const KEY = DnsCache.key('127.0.0.1:53', 'sip.acme.test', 'A');

test('DnsCache: an answer lives for its TTL, capped by maxTtlS; latency is not stored', () => {
  const clock = new VirtualClock();
  const c = new DnsCache({ clock, maxTtlS: 60 });
  c.put(KEY, res({ addresses: ['192.0.2.1'], ttl: 30 }));
  clock.advance(29_999);
  assert.deepEqual(c.get(KEY)?.addresses, ['192.0.2.1']);
  assert.equal((c.get(KEY) as Partial<DnsQueryResult>).latencyMs, undefined);
  clock.advance(1);
  assert.equal(c.get(KEY), undefined, 'gone at its TTL');
  c.put(KEY, res({ addresses: ['192.0.2.1'], ttl: 86_400 }));
  clock.advance(60_000);
  assert.equal(c.get(KEY), undefined, 'a day-long TTL is cut to maxTtlS');
});

test('DnsCache: negative answers only with an SOA TTL (RFC 2308 §5), capped; failures and TTL 0 never', () => {
  const clock = new VirtualClock();
  const c = new DnsCache({ clock, maxNegativeTtlS: 10 });
  const k = (n: string): string => DnsCache.key('s', n, 'SRV');
  c.put(k('nx-soa'), res({ outcome: 'nxdomain', ttl: 3600 }));
  c.put(k('nodata-soa'), res({ outcome: 'nodata', ttl: 5 }));
  c.put(k('nx-no-soa'), res({ outcome: 'nxdomain' }));
  for (const outcome of ['timeout', 'servfail', 'refused', 'error'] as const) c.put(k(outcome), res({ outcome, ttl: 300 }));
  c.put(k('ttl0'), res({ addresses: ['192.0.2.1'], ttl: 0 }));
  assert.equal(c.get(k('nx-soa'))?.outcome, 'nxdomain');
  assert.equal(c.get(k('nodata-soa'))?.outcome, 'nodata');
  for (const n of ['nx-no-soa', 'timeout', 'servfail', 'refused', 'error', 'ttl0']) assert.equal(c.get(k(n)), undefined, n);
  clock.advance(5_000);
  assert.equal(c.get(k('nodata-soa')), undefined);
  assert.equal(c.get(k('nx-soa'))?.outcome, 'nxdomain');
  clock.advance(5_000);
  assert.equal(c.get(k('nx-soa')), undefined, 'an hour-long negative TTL is cut to maxNegativeTtlS');
});

test('DnsCache: least recently used goes first; entries are frozen; keys fold case and the root dot and include the servers', () => {
  const c = new DnsCache({ clock: new VirtualClock(), maxEntries: 2 });
  const k = (n: string): string => DnsCache.key('s', n, 'A');
  c.put(k('a.test'), res({ addresses: ['192.0.2.1'], ttl: 60 }));
  c.put(k('b.test'), res({ addresses: ['192.0.2.2'], ttl: 60 }));
  assert.ok(c.get(k('a.test')));
  c.put(k('c.test'), res({ addresses: ['192.0.2.3'], ttl: 60 }));
  assert.equal(c.get(k('b.test')), undefined, 'b was the least recently used');
  assert.ok(c.get(k('a.test')) && c.get(k('c.test')));
  assert.equal(c.stats().entries, 2);
  const hit = c.get(k('a.test'))!;
  assert.throws(() => (hit.addresses as string[]).push('198.51.100.1'), TypeError);
  assert.equal(DnsCache.key('s', 'SIP.Acme.Test.', 'A'), DnsCache.key('s', 'sip.acme.test', 'A'));
  assert.notEqual(DnsCache.key('10.0.0.1:53', 'x', 'A'), DnsCache.key('10.0.0.2:53', 'x', 'A'));
  assert.notEqual(DnsCache.key('s', 'x', 'A'), DnsCache.key('s', 'x', 'AAAA'));
});

test('DnsCache: bad options are refused with INVALID_OPTION', () => {
  for (const o of [{ maxEntries: 0 }, { maxTtlS: -1 }, { maxNegativeTtlS: 1.5 }]) {
    assert.throws(() => new DnsCache(o), (e: unknown) => (e as { code?: string }).code === 'INVALID_OPTION');
  }
});
