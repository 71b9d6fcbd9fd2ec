// The lab's in-process DNS server, exercised through the real DnsClient over loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DnsClient, querySrvSet, resolveHosts } from '../../src/discovery/dns.js';
import { startDnsServer, type LabDnsServer, type LabZone } from '../../src/lab/dns-server.js';
import { SiplogonError } from '../../src/errors.js';

const zone: LabZone = {
  domains: ['acme.test'],
  ttl: 45,
  srv: {
    '_sipinternaltls._tcp.acme.test': [
      { target: 'pool1.acme.test', port: 5061, priority: 0, weight: 10 },
      { target: 'pool2.acme.test', port: 5061, priority: 5, weight: 0 },
    ],
    '_sip._tls.acme.test': [{ target: 'edge.acme.test', port: 443, priority: 0, weight: 0 }],
  },
  a: { 'pool1.acme.test': ['127.0.20.41', '127.0.20.42'], 'edge.acme.test': ['127.0.20.43'] },
  aaaa: { 'pool1.acme.test': ['::1'] },
  cname: { 'sip.acme.test': 'pool1.acme.test' },
};

let lab: LabDnsServer;
let client: DnsClient;
before(async () => {
  lab = await startDnsServer({ address: '127.0.20.40', zone });
  client = new DnsClient({ servers: [lab.server], timeoutMs: 500 });
});
after(async () => {
  await lab?.stop();
});

test('lab DNS: SRV answers with TTL, NXDOMAIN and no-data, over one port for UDP and TCP', async () => {
  lab.setFault('none');
  lab.setZone(zone);
  const r = await querySrvSet(client, 'acme.test');
  assert.equal(r['internal-tls'].outcome, 'answer');
  assert.deepEqual(r['internal-tls'].srv?.map((s) => `${s.priority}/${s.weight} ${s.target}:${s.port}`), ['0/10 pool1.acme.test:5061', '5/0 pool2.acme.test:5061']);
  assert.equal(r['internal-tls'].ttl, 45);
  assert.equal(r['internal-tcp'].outcome, 'nxdomain');
  assert.equal(r['internal-tcp'].ttl, 45, 'negative TTL from the SOA (RFC 2308)');
  assert.equal(r['external-tls'].outcome, 'answer');
  assert.equal(r['external-tcp'].outcome, 'nxdomain');
  // A name with A records but no SRV is NOERROR / no data; so is the zone apex.
  assert.equal((await client.query('edge.acme.test', 'SRV')).outcome, 'nodata');
  assert.equal((await client.query('acme.test', 'A')).outcome, 'nodata');
  // _tcp.acme.test is an empty non-terminal: it exists (RFC 8020), so no data, not NXDOMAIN.
  assert.equal((await client.query('_tcp.acme.test', 'SRV')).outcome, 'nodata');
});

test('lab DNS: A/AAAA with a CNAME, REFUSED outside its domains', async () => {
  lab.setFault('none');
  const { addresses } = await resolveHosts(client, ['sip.acme.test', 'edge.acme.test']);
  assert.deepEqual(addresses.get('sip.acme.test'), ['127.0.20.41', '127.0.20.42', '::1']);
  assert.deepEqual(addresses.get('edge.acme.test'), ['127.0.20.43']);
  assert.equal((await client.query('www.example.org', 'A')).outcome, 'refused');
});

test('lab DNS: faults servfail, refused and down; then back to none', async () => {
  lab.setFault('servfail');
  assert.equal((await client.query('pool1.acme.test', 'A')).outcome, 'servfail');
  lab.setFault('refused');
  assert.equal((await client.query('pool1.acme.test', 'A')).outcome, 'refused');
  lab.setFault('down');
  const before = lab.log.length;
  const t = await client.query('pool1.acme.test', 'A');
  assert.equal(t.outcome, 'timeout');
  assert.ok(lab.log.length > before, 'the server received the query and stayed silent');
  lab.setFault('none');
  assert.equal((await client.query('pool1.acme.test', 'A')).outcome, 'answer');
});

test('lab DNS: setZone swaps the data live', async () => {
  lab.setFault('none');
  lab.setZone({ ...zone, a: { ...zone.a, 'pool1.acme.test': ['127.0.20.49'] } });
  assert.deepEqual((await client.query('pool1.acme.test', 'A')).addresses, ['127.0.20.49']);
  lab.setZone({ domains: ['other.test'], srv: {}, a: {} });
  assert.equal((await client.query('pool1.acme.test', 'A')).outcome, 'refused');
  lab.setZone(zone);
});

test('lab DNS: an answer too big for UDP is truncated and the client gets it over TCP', async () => {
  lab.setFault('none');
  const big = Array.from({ length: 40 }, (_, i) => ({ target: `fe${i}.acme.test`, port: 5061, priority: 0, weight: i }));
  lab.setZone({ ...zone, srv: { ...zone.srv, '_sipinternal._tcp.acme.test': big } });
  const before = lab.log.length;
  const r = await client.query('_sipinternal._tcp.acme.test', 'SRV');
  assert.equal(r.outcome, 'answer');
  assert.equal(r.srv?.length, 40);
  assert.deepEqual(lab.log.slice(before).map((l) => l.transport), ['udp', 'tcp']);
  lab.setZone(zone);
});

test('lab DNS: refuses to listen off loopback and rejects a zone without domains', async () => {
  await assert.rejects(startDnsServer({ address: '0.0.0.0', zone }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  await assert.rejects(startDnsServer({ address: '192.0.2.1', zone }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  await assert.rejects(startDnsServer({ address: '127.0.20.44', zone: { ...zone, domains: [] } }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
});

test('lab DNS on [::1]: the client speaks UDP and TCP over IPv6 too', async () => {
  const v6 = await startDnsServer({ address: '::1', zone });
  try {
    assert.match(v6.server, /^\[::1\]:\d+$/);
    const c = new DnsClient({ servers: [v6.server], timeoutMs: 500 });
    const r = await c.query('pool1.acme.test', 'AAAA');
    assert.equal(r.outcome, 'answer');
    assert.deepEqual(r.addresses, ['::1']);
    assert.equal(r.server, v6.server);
    const big = Array.from({ length: 40 }, (_, i) => ({ target: `fe${i}.acme.test`, port: 5061, priority: 0, weight: i }));
    v6.setZone({ ...zone, srv: { '_sip._tcp.acme.test': big } });
    assert.equal((await c.query('_sip._tcp.acme.test', 'SRV')).srv?.length, 40);
    assert.deepEqual(v6.log.map((l) => l.transport), ['udp', 'udp', 'tcp']);
  } finally {
    await v6.stop();
  }
});
