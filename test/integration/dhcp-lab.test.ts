import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { informDhcp } from '../../src/discovery/dhcp-client.js';
import { startDhcpResponder, type DhcpResponder } from '../../src/lab/dhcp-responder.js';
import { decodeMessage, OPT } from '../../src/discovery/dhcp-codec.js';
import { SiplogonError } from '../../src/errors.js';
import { VirtualClock, seededRandom } from '../../src/core/clock.js';
import { retransmitSchedule } from '../../src/discovery/dhcp-client.js';

const responders: DhcpResponder[] = [];
after(async () => {
  await Promise.all(responders.map((r) => r.stop()));
});

async function lab(opts: Partial<Parameters<typeof startDhcpResponder>[0]> = {}): Promise<DhcpResponder> {
  const r = await startDhcpResponder({
    sipServers: { encoding: 'fqdn', names: ['pool1.acme.test', 'pool2.acme.test'] },
    msUcClient: { ucIdentifier: 'MS-UC-Client', urlScheme: 'https', webServerFqdn: 'web.acme.test', webServerPort: '443', certProvPath: '/CertProv/CertProvisioningService.svc' },
    ...opts,
  });
  responders.push(r);
  return r;
}

const quick = { server: '127.0.0.1', clientPort: 0, initialIntervalMs: 100 } as const;

test('lab responder answers an INFORM over loopback with option 120 (compressed names) and option 43', async () => {
  const r = await lab();
  const res = await informDhcp({ ...quick, serverPort: r.port, timeoutMs: 2000 });
  assert.equal(res.outcome, 'answer', res.detail);
  assert.equal(res.server, `127.0.0.1:${r.port}`);
  assert.deepEqual(res.sipServers, { encoding: 'fqdn', names: ['pool1.acme.test', 'pool2.acme.test'] });
  assert.deepEqual(res.msUcClient, {
    ucIdentifier: 'MS-UC-Client',
    urlScheme: 'https',
    webServerFqdn: 'web.acme.test',
    webServerPort: '443',
    certProvPath: '/CertProv/CertProvisioningService.svc',
  });
  assert.deepEqual(res.optionsSeen, [53, 54, 120, 43, 60]);
  assert.equal(res.via, '127.0.0.1');
  assert.equal(r.informsReceived, 1);
});

test('IPv4 option 120, and no option 43 for another vendor class', async () => {
  const r = await lab({ sipServers: { encoding: 'ipv4', addresses: ['192.0.2.10', '192.0.2.11'] } });
  const res = await informDhcp({ ...quick, serverPort: r.port, vendorClass: 'Other-Vendor', timeoutMs: 2000 });
  assert.equal(res.outcome, 'answer', res.detail);
  assert.deepEqual(res.sipServers, { encoding: 'ipv4', addresses: ['192.0.2.10', '192.0.2.11'] });
  assert.equal(res.msUcClient, undefined);
  assert.ok(!res.optionsSeen?.includes(43));
});

test('the INFORM on the wire: op 1, ciaddr, option 55 with 120 and 43, option 60, same xid on every retransmission', async () => {
  const sink = dgram.createSocket('udp4');
  const seen: Buffer[] = [];
  sink.on('message', (m) => seen.push(m));
  await new Promise<void>((ok) => sink.bind(0, '127.0.0.1', ok));
  try {
    const res = await informDhcp({ ...quick, serverPort: sink.address().port, timeoutMs: 900, mac: '02:00:00:aa:bb:cc' });
    assert.equal(res.outcome, 'timeout');
    assert.ok(seen.length >= 3, `expected retransmissions, got ${seen.length} sends`); // ~0, 100, 300, 700 ms
    const msgs = seen.map((b) => decodeMessage(b));
    const first = msgs[0];
    assert.ok(first);
    assert.equal(first.op, 1);
    assert.equal(first.messageType, 8);
    assert.equal(first.ciaddr, '127.0.0.1');
    assert.equal(first.chaddr.toString('hex'), '020000aabbcc');
    assert.ok(first.options.get(OPT.PARAM_REQUEST)?.includes(120));
    assert.ok(first.options.get(OPT.PARAM_REQUEST)?.includes(43));
    assert.equal(first.options.get(OPT.VENDOR_CLASS)?.toString(), 'MS-UC-Client');
    assert.ok(msgs.every((m) => m.xid === first.xid));
  } finally {
    sink.close();
  }
});

test('silent responder → timeout within the bound, after retransmitting', async () => {
  const r = await lab();
  r.setFault('silent');
  const t0 = performance.now();
  const res = await informDhcp({ ...quick, serverPort: r.port, timeoutMs: 700 });
  const took = performance.now() - t0;
  assert.equal(res.outcome, 'timeout');
  assert.match(res.detail ?? '', /no DHCPACK/);
  assert.ok(took >= 650 && took < 3 * 700, `took ${took} ms for a 700 ms bound`);
  assert.ok(r.informsReceived >= 2, `informs received: ${r.informsReceived}`);
  r.setFault('none');
  const again = await informDhcp({ ...quick, serverPort: r.port, timeoutMs: 2000 });
  assert.equal(again.outcome, 'answer');
});

test('replies with another xid are ignored; a NAK and a looping option 120 are errors with a clear detail', async () => {
  const r = await lab();
  r.setFault('wrong-xid');
  assert.equal((await informDhcp({ ...quick, serverPort: r.port, timeoutMs: 400 })).outcome, 'timeout');
  r.setFault('nak');
  const nak = await informDhcp({ ...quick, serverPort: r.port, timeoutMs: 2000 });
  assert.equal(nak.outcome, 'error');
  assert.match(nak.detail ?? '', /DHCPNAK from 127\.0\.0\.1:\d+: lab: fault nak/);
  r.setFault('bad-option-120');
  const bad = await informDhcp({ ...quick, serverPort: r.port, timeoutMs: 2000 });
  assert.equal(bad.outcome, 'error');
  assert.match(bad.detail ?? '', /malformed option 120 .*DHCP_OPTION_MALFORMED/);
});

test('garbage and foreign datagrams do not disturb the client', async () => {
  const fake = dgram.createSocket('udp4');
  await new Promise<void>((ok) => fake.bind(0, '127.0.0.1', ok));
  const r = await lab();
  // Relay: spray garbage at whoever sends, then forward to the real responder so an answer follows.
  fake.on('message', (msg, rinfo) => {
    fake.send(Buffer.from('not dhcp at all'), rinfo.port, rinfo.address);
    fake.send(Buffer.alloc(300, 0xff), rinfo.port, rinfo.address);
    const relay = dgram.createSocket('udp4');
    relay.on('message', (ans) => {
      fake.send(ans, rinfo.port, rinfo.address);
      relay.close();
    });
    relay.send(msg, r.port, '127.0.0.1');
  });
  try {
    const res = await informDhcp({ ...quick, serverPort: fake.address().port, timeoutMs: 2000 });
    assert.equal(res.outcome, 'answer', res.detail);
    assert.deepEqual(res.sipServers, { encoding: 'fqdn', names: ['pool1.acme.test', 'pool2.acme.test'] });
  } finally {
    fake.close();
  }
});

test('AbortSignal ends the exchange with ABORTED', async () => {
  const r = await lab();
  r.setFault('silent');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  await assert.rejects(informDhcp({ ...quick, serverPort: r.port, timeoutMs: 5000, signal: ac.signal }), (e: unknown) => SiplogonError.is(e, 'ABORTED'));
  await assert.rejects(informDhcp({ ...quick, serverPort: r.port, signal: AbortSignal.abort() }), (e: unknown) => SiplogonError.is(e, 'ABORTED'));
});

test('bad options are typed errors; socket failures are outcome error with a reason', async () => {
  await assert.rejects(informDhcp({ server: 'nope' }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  await assert.rejects(informDhcp({ ...quick, timeoutMs: -1 }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  await assert.rejects(informDhcp({ ...quick, serverPort: 70000 }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  await assert.rejects(informDhcp({ ...quick, interface: 'no-such-if0' }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  await assert.rejects(startDhcpResponder({ address: '192.0.2.1', sipServers: { encoding: 'ipv4', addresses: ['192.0.2.1'] } }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  // A port someone else holds exclusively → EADDRINUSE surfaces as outcome 'error'.
  const holder = dgram.createSocket('udp4');
  await new Promise<void>((ok) => holder.bind({ port: 0, address: '0.0.0.0', exclusive: true }, ok));
  try {
    const res = await informDhcp({ ...quick, clientPort: holder.address().port, serverPort: 9, timeoutMs: 1000 });
    assert.equal(res.outcome, 'error');
    assert.match(res.detail ?? '', /DHCP_SOCKET: .*EADDRINUSE/);
  } finally {
    holder.close();
  }
});

test('retransmissions follow the RFC 2131 §4.1 schedule (virtual clock, real socket)', async () => {
  const sink = dgram.createSocket('udp4');
  let sends = 0;
  let waiter: (() => void) | undefined;
  sink.on('message', () => {
    sends++;
    waiter?.();
  });
  await new Promise<void>((ok) => sink.bind(0, '127.0.0.1', ok));
  const nextSend = (): Promise<void> => new Promise((ok) => (waiter = ok));
  const settle = (): Promise<void> => new Promise((ok) => setTimeout(ok, 50));
  try {
    const clock = new VirtualClock();
    // informDhcp draws the xid first, then the schedule: replay the same draws.
    const replay = seededRandom(7);
    replay();
    const expected = retransmitSchedule(4000, 30_000, replay);
    assert.ok(expected.length >= 2, String(expected)); // ~4 s, ~12 s and maybe ~28 s
    const first = nextSend();
    const p = informDhcp({ server: '127.0.0.1', clientPort: 0, serverPort: sink.address().port, timeoutMs: 30_000, clock, random: seededRandom(7) });
    await first;
    assert.equal(sends, 1);
    let now = 0;
    for (const at of expected) {
      clock.advance(at - 1 - now);
      now = at - 1;
      await settle();
      assert.equal(sends, 1 + expected.indexOf(at), `no early retransmission before ${at} ms`);
      const next = nextSend();
      clock.advance(1);
      now = at;
      await next;
    }
    assert.equal(sends, 1 + expected.length);
    clock.advance(30_000 - now);
    const res = await p;
    assert.equal(res.outcome, 'timeout');
    assert.equal(res.latencyMs, 30_000);
    assert.equal(clock.pending, 0, 'every timer cleared');
  } finally {
    sink.close();
  }
});
