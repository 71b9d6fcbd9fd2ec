// DnsClient against small hostile / odd servers written here: silence, garbage, spoofs, TC→TCP,
// concurrency. All on 127.0.20.0/24.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { DnsClient, querySrvSet, resolveHosts } from '../../src/discovery/dns.js';
import { SiplogonError } from '../../src/errors.js';

type Q = dnsPacket.DecodedPacket;
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function udpServer(address: string, onQuery: (q: Q, rinfo: RemoteInfo, sock: UdpSocket) => void, port = 0): Promise<{ sock: UdpSocket; server: string; port: number }> {
  const sock = createSocket('udp4');
  await new Promise<void>((res, rej) => {
    sock.once('error', rej);
    sock.bind(port, address, () => res());
  });
  sock.on('message', (msg, rinfo) => {
    let q: Q;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return;
    }
    onQuery(q, rinfo, sock);
  });
  cleanups.push(() => new Promise<void>((res) => sock.close(() => res())));
  const p = sock.address().port;
  return { sock, server: `${address}:${p}`, port: p };
}

function reply(q: Q, answers: dnsPacket.Answer[], extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: q.questions, answers, ...extra });
}

const aRecord = (name: string, ip: string): dnsPacket.Answer => ({ name, type: 'A', ttl: 40, data: ip });

test('silent server: outcome timeout, with retransmissions, and it returns near the bound', async () => {
  const seen: number[] = [];
  const { server } = await udpServer('127.0.20.20', (q) => seen.push(q.id ?? -1));
  const c = new DnsClient({ servers: [server], timeoutMs: 300 });
  const t0 = performance.now();
  const r = await c.query('sip.example.test', 'A');
  const took = performance.now() - t0;
  assert.equal(r.outcome, 'timeout');
  assert.equal(r.server, server);
  assert.match(r.detail ?? '', /no answer/);
  assert.ok(took < 900, `returned after ${took} ms, more than 3× the 300 ms bound`);
  assert.ok(r.latencyMs >= 250, 'a timeout is not declared before the bound');
  // timeoutMs/3 retransmission: at least 2 sends, all with the same (random) ID.
  assert.ok(seen.length >= 2, `expected retransmissions, saw ${seen.length}`);
  assert.equal(new Set(seen).size, 1);
});

test('random IDs: successive queries do not reuse one ID', async () => {
  const ids: number[] = [];
  const { server } = await udpServer('127.0.20.21', (q, rinfo, sock) => {
    ids.push(q.id ?? -1);
    sock.send(reply(q, [aRecord('h.example.test', '127.0.20.50')]), rinfo.port, rinfo.address);
  });
  const c = new DnsClient({ servers: [server], timeoutMs: 1000 });
  for (let i = 0; i < 8; i++) assert.equal((await c.query('h.example.test', 'A')).outcome, 'answer');
  assert.ok(new Set(ids).size >= 7, `IDs look predictable: ${ids.join(',')}`);
});

test('wrong ID, wrong question, wrong type, a query echoed back and a spoofed source port are all ignored → timeout', async () => {
  const spoofer = createSocket('udp4');
  await new Promise<void>((res) => spoofer.bind(0, '127.0.20.22', () => res()));
  cleanups.push(() => new Promise<void>((res) => spoofer.close(() => res())));
  let got = 0;
  const { server } = await udpServer('127.0.20.22', (q, rinfo, sock) => {
    got++;
    const send = (b: Buffer, from = sock): void => void from.send(b, rinfo.port, rinfo.address);
    send(dnsPacket.encode({ type: 'response', id: ((q.id ?? 0) + 1) & 0xffff, questions: q.questions, answers: [aRecord('sip.example.test', '127.0.20.66')] }));
    send(dnsPacket.encode({ type: 'response', id: q.id, questions: [{ name: 'evil.example.test', type: 'A' }], answers: [aRecord('evil.example.test', '127.0.20.66')] }));
    send(dnsPacket.encode({ type: 'response', id: q.id, questions: [{ name: 'sip.example.test', type: 'AAAA' }], answers: [] }));
    send(dnsPacket.encode({ type: 'query', id: q.id, questions: q.questions })); // QR=0: not an answer
    // Perfect answer, but from another port than the one we asked.
    send(reply(q, [aRecord('sip.example.test', '127.0.20.66')]), spoofer);
  });
  const r = await new DnsClient({ servers: [server], timeoutMs: 400 }).query('sip.example.test', 'A');
  assert.ok(got >= 1);
  assert.equal(r.outcome, 'timeout');
  assert.equal(r.addresses, undefined);
});

test('garbage first, then the real answer: garbage ignored, answer accepted', async () => {
  const { server } = await udpServer('127.0.20.23', (q, rinfo, sock) => {
    // Starts with an ID that is not ours, so it cannot be taken for our (broken) answer.
    const junk = Buffer.from([((q.id ?? 0) >> 8) ^ 0xff, 0x00, 0xde, 0xad, 0xbe, 0xef]);
    sock.send(junk, rinfo.port, rinfo.address, () => sock.send(reply(q, [aRecord('sip.example.test', '127.0.20.67')]), rinfo.port, rinfo.address));
  });
  const r = await new DnsClient({ servers: [server], timeoutMs: 1000 }).query('sip.example.test', 'A');
  assert.equal(r.outcome, 'answer');
  assert.deepEqual(r.addresses, ['127.0.20.67']);
});

test('a server that only sends garbage: outcome error (not timeout), detail says malformed', async () => {
  const { server } = await udpServer('127.0.20.23', (q, rinfo, sock) => {
    sock.send(Buffer.from([((q.id ?? 0) >> 8) ^ 0xff, 1, 2, 3]), rinfo.port, rinfo.address);
  });
  const r = await new DnsClient({ servers: [server], timeoutMs: 300 }).query('sip.example.test', 'A');
  assert.equal(r.outcome, 'error');
  assert.match(r.detail ?? '', /malformed/);
});

test('our ID but a truncated packet body: outcome error at once, not a throw or a hang', async () => {
  const { server } = await udpServer('127.0.20.24', (q, rinfo, sock) => {
    const full = reply(q, [aRecord('sip.example.test', '127.0.20.68')]);
    sock.send(full.subarray(0, full.length - 3), rinfo.port, rinfo.address);
  });
  const r = await new DnsClient({ servers: [server], timeoutMs: 5000 }).query('sip.example.test', 'A');
  assert.equal(r.outcome, 'error');
  assert.match(r.detail ?? '', /malformed/);
  assert.ok(r.latencyMs < 5000, 'decided on the broken answer, not on the deadline');
});

async function tcpOn(address: string, port: number, onQuery: (q: dnsPacket.Packet, write: (b: Buffer) => void) => void): Promise<Server> {
  const srv = createServer((c) => {
    let acc = Buffer.alloc(0);
    c.on('error', () => undefined);
    c.on('data', (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      if (acc.length < 2 || acc.length < acc.readUInt16BE(0) + 2) return;
      const q = dnsPacket.streamDecode(acc);
      onQuery(q, (b) => c.write(b));
    });
  });
  await new Promise<void>((res, rej) => {
    srv.once('error', rej);
    srv.listen(port, address, () => res());
  });
  cleanups.push(() => new Promise<void>((res) => srv.close(() => res())));
  return srv;
}

test('TC=1 over UDP, then the full answer over TCP on the same server', async () => {
  const many = Array.from({ length: 30 }, (_, i) => ({ target: `fe${i}.example.test`, port: 5061, priority: 0, weight: i }));
  let tcpQueries = 0;
  const { port, server } = await udpServer('127.0.20.25', (q, rinfo, sock) => {
    sock.send(reply(q, [], { flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.TRUNCATED_RESPONSE }), rinfo.port, rinfo.address);
  });
  await tcpOn('127.0.20.25', port, (q, write) => {
    tcpQueries++;
    const name = q.questions?.[0]?.name ?? '';
    write(dnsPacket.streamEncode({
      type: 'response', id: q.id, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: q.questions,
      answers: many.map((d) => ({ name, type: 'SRV' as const, ttl: 20, data: d })),
    }));
  });
  const r = await new DnsClient({ servers: [server], timeoutMs: 1500 }).query('_sipinternaltls._tcp.example.test', 'SRV');
  assert.equal(tcpQueries, 1);
  assert.equal(r.outcome, 'answer');
  assert.equal(r.srv?.length, 30);
  assert.equal(r.ttl, 20);
  assert.equal(r.server, server);
});

test('TC=1 and no TCP listener: outcome error with a reason', async () => {
  const { server } = await udpServer('127.0.20.26', (q, rinfo, sock) => {
    sock.send(reply(q, [], { flags: dnsPacket.TRUNCATED_RESPONSE }), rinfo.port, rinfo.address);
  });
  const r = await new DnsClient({ servers: [server], timeoutMs: 1500 }).query('sip.example.test', 'A');
  assert.equal(r.outcome, 'error');
  assert.match(r.detail ?? '', /truncated/i);
});

test('SERVFAIL from the first server, answer from the second; REFUSED from all stays refused', async () => {
  const bad = await udpServer('127.0.20.27', (q, rinfo, sock) => {
    sock.send(dnsPacket.encode({ type: 'response', id: q.id, flags: 2, questions: q.questions }), rinfo.port, rinfo.address);
  });
  const good = await udpServer('127.0.20.28', (q, rinfo, sock) => {
    sock.send(reply(q, [aRecord('sip.example.test', '127.0.20.69')]), rinfo.port, rinfo.address);
  });
  const r = await new DnsClient({ servers: [bad.server, good.server], timeoutMs: 3000 }).query('sip.example.test', 'A');
  assert.equal(r.outcome, 'answer');
  assert.equal(r.server, good.server);
  assert.ok(r.latencyMs < 1000, 'moved on at the SERVFAIL, did not wait for the retransmission timer');

  const refusing = await udpServer('127.0.20.29', (q, rinfo, sock) => {
    sock.send(dnsPacket.encode({ type: 'response', id: q.id, flags: 5, questions: q.questions }), rinfo.port, rinfo.address);
  });
  const only = await new DnsClient({ servers: [refusing.server], timeoutMs: 3000 }).query('sip.example.test', 'A');
  assert.equal(only.outcome, 'refused');
  const both = await new DnsClient({ servers: [bad.server, refusing.server], timeoutMs: 3000 }).query('sip.example.test', 'A');
  assert.ok(both.outcome === 'servfail' || both.outcome === 'refused');
});

test('untrusted SRV data: bad targets and ports dropped, other owner names ignored', async () => {
  const { server } = await udpServer('127.0.20.30', (q, rinfo, sock) => {
    const n = q.questions?.[0]?.name ?? '';
    sock.send(reply(q, [
      { name: n, type: 'SRV', ttl: 50, data: { target: 'ok.example.test', port: 5061, priority: 1, weight: 5 } },
      { name: n, type: 'SRV', ttl: 50, data: { target: 'bad_name!.example.test', port: 5061, priority: 1, weight: 5 } },
      { name: n, type: 'SRV', ttl: 50, data: { target: '-lead.example.test', port: 5061 } },
      { name: n, type: 'SRV', ttl: 50, data: { target: 'zero.example.test', port: 0 } },
      { name: 'other.example.test', type: 'SRV', ttl: 1, data: { target: 'other.example.test', port: 5061 } },
    ]), rinfo.port, rinfo.address);
  });
  const r = await new DnsClient({ servers: [server], timeoutMs: 1000 }).query('_sip._tls.example.test', 'SRV');
  assert.equal(r.outcome, 'answer');
  assert.deepEqual(r.srv, [{ target: 'ok.example.test', port: 5061, priority: 1, weight: 5, ttl: 50 }]);
  assert.equal(r.ttl, 50);
  assert.match(r.detail ?? '', /3 invalid SRV/);
});

test('AbortSignal: the query rejects with ABORTED promptly; bad input rejects with INVALID_OPTION', async () => {
  const { server } = await udpServer('127.0.20.31', () => undefined);
  const c = new DnsClient({ servers: [server], timeoutMs: 10_000 });
  const ac = new AbortController();
  const p = c.query('sip.example.test', 'A', ac.signal);
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(p, (e: unknown) => SiplogonError.is(e, 'ABORTED'));
  await assert.rejects(c.query('bad name.example.test', 'A'), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  await assert.rejects(c.query(`${'a'.repeat(64)}.test`, 'A'), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  // close() ends what is in flight.
  const q = c.query('sip.example.test', 'A');
  c.close();
  await assert.rejects(q, (e: unknown) => SiplogonError.is(e, 'ABORTED'));
});

/** Holds every answer until `want` queries have arrived, so only concurrent callers succeed. */
async function holdingServer(address: string, want: number): Promise<{ server: string; arrivals: number[]; answeredAt: number[] }> {
  const pending: { q: Q; rinfo: RemoteInfo }[] = [];
  const arrivals: number[] = [];
  const answeredAt: number[] = [];
  const { server } = await udpServer(address, (q, rinfo, sock) => {
    if (pending.some((p) => p.q.id === q.id && p.rinfo.port === rinfo.port)) return; // a retransmission
    arrivals.push(performance.now());
    pending.push({ q, rinfo });
    if (pending.length < want) return;
    for (const p of pending.splice(0)) {
      const qq = p.q.questions?.[0];
      const answers: dnsPacket.Answer[] =
        qq?.type === 'SRV' ? [{ name: qq.name, type: 'SRV', ttl: 10, data: { target: 'fe.example.test', port: 5061, priority: 0, weight: 0 } }]
          : qq?.type === 'AAAA' ? [{ name: qq.name, type: 'AAAA', ttl: 10, data: 'fd00::20' }]
            : [aRecord(qq?.name ?? '', '127.0.20.70')];
      answeredAt.push(performance.now());
      sock.send(reply(p.q, answers), p.rinfo.port, p.rinfo.address);
    }
  });
  return { server, arrivals, answeredAt };
}

test('querySrvSet: all four SRV queries are in flight together', async () => {
  const h = await holdingServer('127.0.20.32', 4);
  const r = await querySrvSet(new DnsClient({ servers: [h.server], timeoutMs: 2000 }), 'example.test');
  assert.equal(h.arrivals.length, 4);
  // Every question arrived before the first answer left: they were concurrent.
  assert.ok(Math.max(...h.arrivals) <= Math.min(...h.answeredAt));
  for (const role of ['internal-tls', 'internal-tcp', 'external-tls', 'external-tcp'] as const) {
    assert.equal(r[role].outcome, 'answer', role);
  }
  assert.equal(r['external-tcp'].name, '_sip._tcp.example.test');
});

test('querySrvSet with custom names; resolveHosts asks A and AAAA for all names together', async () => {
  const h = await holdingServer('127.0.20.33', 4);
  const c = new DnsClient({ servers: [h.server], timeoutMs: 2000 });
  const { addresses, queries } = await resolveHosts(c, ['a.example.test', 'b.example.test', '[fd00::1]']);
  assert.equal(queries.length, 4);
  assert.ok(queries.every((q) => q.outcome === 'answer'));
  assert.deepEqual(addresses.get('a.example.test'), ['127.0.20.70', 'fd00::20']);
  assert.deepEqual(addresses.get('[fd00::1]'), ['fd00::1']);
  const types: string[] = [];
  const rec = await udpServer('127.0.20.35', (q, rinfo, sock) => {
    types.push(q.questions?.[0]?.type ?? '');
    sock.send(reply(q, []), rinfo.port, rinfo.address);
  });
  const v6only = await resolveHosts(new DnsClient({ servers: [rec.server], timeoutMs: 1000 }), ['c.example.test'], { families: [6] });
  assert.deepEqual(types, ['AAAA']);
  assert.equal(v6only.queries[0]?.outcome, 'nodata');
  assert.deepEqual(v6only.addresses.get('c.example.test'), []);

  const h2 = await holdingServer('127.0.20.34', 4);
  const custom = await querySrvSet(new DnsClient({ servers: [h2.server], timeoutMs: 2000 }), 'acme.test', {
    'internal-tls': '_a._tcp', 'internal-tcp': '_b._tcp', 'external-tls': '_c._tls', 'external-tcp': '_d._tcp',
  });
  assert.equal(custom['external-tls'].name, '_c._tls.acme.test');
  assert.equal(custom['internal-tcp'].outcome, 'answer');
});

const udpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;

test('concurrent queries share one socket with distinct IDs; answers out of order reach their own query; the socket closes when idle', async () => {
  const pending: { q: Q; rinfo: RemoteInfo }[] = [];
  const names = Array.from({ length: 12 }, (_, i) => `h${i}.example.test`);
  const { server, sock } = await udpServer('127.0.20.36', (q, rinfo) => {
    pending.push({ q, rinfo });
    if (pending.length < names.length) return;
    // Every question is in: answer newest first, each name with its own address.
    for (const p of pending.reverse()) {
      const name = p.q.questions?.[0]?.name ?? '';
      sock.send(reply(p.q, [aRecord(name, `127.0.20.${100 + names.indexOf(name)}`)]), p.rinfo.port, p.rinfo.address);
    }
  });
  const before = udpHandles();
  const c = new DnsClient({ servers: [server], timeoutMs: 2000 });
  const all = Promise.all(names.map((n) => c.query(n, 'A')));
  await new Promise((r) => setImmediate(r));
  assert.equal(udpHandles() - before, 1, 'one UDP socket for the whole burst');
  const results = await all;
  results.forEach((r, i) => {
    assert.equal(r.outcome, 'answer');
    assert.deepEqual(r.addresses, [`127.0.20.${100 + i}`]);
  });
  assert.equal(new Set(pending.map((p) => p.rinfo.port)).size, 1, 'one source port');
  assert.equal(new Set(pending.map((p) => p.q.id)).size, names.length, 'IDs unique on the shared socket');
  // Closed one loop turn after the last query; node drops the handle in a later close phase.
  for (let i = 0; i < 100 && udpHandles() !== before; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(udpHandles(), before, 'the socket is closed once no query is in flight');
});

test('shared socket: an answer with one query\'s ID but another\'s question is taken by neither', async () => {
  const seen: Q[] = [];
  const { server, sock } = await udpServer('127.0.20.37', (q, rinfo) => {
    seen.push(q);
    if (seen.length < 2) return;
    const [a, b] = seen as [Q, Q];
    // Swap: a's ID with b's question and vice versa; then only b gets its true answer.
    sock.send(dnsPacket.encode({ type: 'response', id: a.id, questions: b.questions, answers: [aRecord(b.questions?.[0]?.name ?? '', '127.0.20.66')] }), rinfo.port, rinfo.address);
    sock.send(dnsPacket.encode({ type: 'response', id: b.id, questions: a.questions, answers: [aRecord(a.questions?.[0]?.name ?? '', '127.0.20.66')] }), rinfo.port, rinfo.address);
    sock.send(reply(b, [aRecord(b.questions?.[0]?.name ?? '', '127.0.20.68')]), rinfo.port, rinfo.address);
  });
  const c = new DnsClient({ servers: [server], timeoutMs: 400 });
  const [ra, rb] = await Promise.all([c.query('one.example.test', 'A'), c.query('two.example.test', 'A')]);
  const byName = new Map([ra, rb].map((r) => [r.name, r]));
  const first = seen[0]?.questions?.[0]?.name ?? '';
  const second = seen[1]?.questions?.[0]?.name ?? '';
  assert.equal(byName.get(first)?.outcome, 'timeout', 'the swapped answers were not taken');
  assert.deepEqual(byName.get(second)?.addresses, ['127.0.20.68']);
});

test('shared DnsCache: identical questions from two clients are asked once; then answered from the cache until the TTL ends', async () => {
  const { DnsCache } = await import('../../src/discovery/dns-cache.js');
  const { VirtualClock } = await import('../../src/core/clock.js');
  const asked: Q[] = [];
  const { server, sock } = await udpServer('127.0.20.38', (q, rinfo) => {
    asked.push(q);
    // Slow enough that every asker is waiting before the answer comes.
    setTimeout(() => sock.send(reply(q, [aRecord('sip.example.test', '127.0.20.69')]), rinfo.port, rinfo.address), 30);
  });
  const cacheClock = new VirtualClock();
  const cache = new DnsCache({ clock: cacheClock });
  const c1 = new DnsClient({ servers: [server], timeoutMs: 1000, cache });
  const c2 = new DnsClient({ servers: [server], timeoutMs: 1000, cache });
  const first = await Promise.all([c1.query('sip.example.test', 'A'), c2.query('SIP.example.test.', 'A'), c1.query('sip.example.test', 'A'), c2.query('sip.example.test', 'A')]);
  // Distinct IDs: a retransmission (same ID) on a slow machine is still one query.
  const queries = (): number => new Set(asked.map((q) => q.id)).size;
  assert.equal(queries(), 1, 'one query on the wire for four askers');
  for (const r of first) assert.deepEqual(r.addresses, ['127.0.20.69']);
  assert.equal(first[0]?.cached, undefined, 'asked now, not from the cache');
  const again = await c2.query('sip.example.test', 'A');
  assert.equal(queries(), 1);
  assert.equal(again.cached, true);
  assert.equal(again.latencyMs, 0);
  assert.deepEqual(again.addresses, ['127.0.20.69']);
  cacheClock.advance(40_000); // the record's TTL is 40 s
  assert.equal((await c1.query('sip.example.test', 'A')).cached, undefined);
  assert.equal(queries(), 2, 'asked again once the TTL ran out');
  assert.deepEqual(cache.stats(), { hits: 1, misses: 5, shared: 3, entries: 1 });
});

test('shared DnsCache: one asker aborting, or the starting client closing, does not fail the others; failures are not cached', async () => {
  const { DnsCache } = await import('../../src/discovery/dns-cache.js');
  const ids = new Set<number>();
  const { server, sock } = await udpServer('127.0.20.39', (q, rinfo) => {
    ids.add(q.id ?? -1);
    const name = q.questions?.[0]?.name ?? '';
    if (name.startsWith('silent')) return;
    setTimeout(() => sock.send(reply(q, [aRecord(name, '127.0.20.70')]), rinfo.port, rinfo.address), 50);
  });
  const cache = new DnsCache();
  const starter = new DnsClient({ servers: [server], timeoutMs: 1000, cache });
  const other = new DnsClient({ servers: [server], timeoutMs: 1000, cache });
  const ac = new AbortController();
  const aborted = starter.query('a.example.test', 'A', ac.signal);
  const waiting = other.query('a.example.test', 'A');
  ac.abort();
  await assert.rejects(aborted, (e: unknown) => SiplogonError.is(e, 'ABORTED'));
  const closedStarter = starter.query('b.example.test', 'A');
  const otherB = other.query('b.example.test', 'A');
  starter.close();
  await assert.rejects(closedStarter, (e: unknown) => SiplogonError.is(e, 'ABORTED'));
  assert.deepEqual((await waiting).addresses, ['127.0.20.70']);
  assert.deepEqual((await otherB).addresses, ['127.0.20.70']);
  assert.equal(ids.size, 2, 'one query per name for both askers');
  // A timeout is a fact about this moment: the next asker asks again.
  const t1 = await other.query('silent.example.test', 'A');
  const t2 = await other.query('silent.example.test', 'A');
  assert.equal(t1.outcome, 'timeout');
  assert.equal(t2.outcome, 'timeout');
  assert.equal(t2.cached, undefined);
  assert.equal(ids.size, 4, 'the silent name was asked again by the second query');
});

test('shared DnsCache: when every asker gives up the shared query stops; clients with other bounds do not share', async () => {
  const { DnsCache } = await import('../../src/discovery/dns-cache.js');
  const seen: number[] = [];
  const { server } = await udpServer('127.0.20.49', (q) => seen.push(q.id ?? -1));
  const cache = new DnsCache();
  const c = new DnsClient({ servers: [server], timeoutMs: 3000, retransmitMs: 1000, cache });
  const a1 = new AbortController();
  const a2 = new AbortController();
  const p1 = c.query('gone.example.test', 'A', a1.signal);
  const p2 = c.query('gone.example.test', 'A', a2.signal);
  await new Promise((r) => setTimeout(r, 50));
  a1.abort();
  a2.abort();
  await assert.rejects(p1, (e: unknown) => SiplogonError.is(e, 'ABORTED'));
  await assert.rejects(p2, (e: unknown) => SiplogonError.is(e, 'ABORTED'));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(seen.length, 1, `no retransmission after both askers left (saw ${seen.length} packets)`);

  // A 300 ms client does not wait on a 3 s client's query for the same name.
  const slow = c.query('silent.example.test', 'A');
  const quick = await new DnsClient({ servers: [server], timeoutMs: 300, cache }).query('silent.example.test', 'A');
  assert.equal(quick.outcome, 'timeout');
  assert.ok(quick.latencyMs < 1500, `the quick client answered after ${Math.round(quick.latencyMs)} ms`);
  assert.equal((await slow).outcome, 'timeout');
});
