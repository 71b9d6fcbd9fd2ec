// DnsClient against a real dnsmasq 2.90 started by this file on 127.0.20.1:5353.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DnsClient, querySrvSet, resolveHosts } from '../../src/discovery/dns.js';

const DNSMASQ = '/usr/sbin/dnsmasq';
const ADDR = '127.0.20.1';
const PORT = 5353;
const SERVER = `${ADDR}:${PORT}`;

let proc: ChildProcess | undefined;
let stderr = '';

before(async () => {
  // A missing binary is a broken test environment, not a reason to skip.
  assert.ok(existsSync(DNSMASQ), `${DNSMASQ} is missing: install dnsmasq 2.90 to run the DNS integration tests`);
  proc = spawn(
    DNSMASQ,
    [
      '--conf-file=/dev/null',
      `--port=${PORT}`,
      `--listen-address=${ADDR}`,
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--no-daemon',
      '--pid-file=',
      '--local-ttl=30',
      '--local=/example.test/',
      // Three SRV records for one name: two at priority 0 with weights, one backup at priority 10.
      '--srv-host=_sipinternaltls._tcp.example.test,fe1.example.test,5061,0,60',
      '--srv-host=_sipinternaltls._tcp.example.test,fe2.example.test,5061,0,40',
      '--srv-host=_sipinternaltls._tcp.example.test,backup.example.test,5062,10,100',
      '--srv-host=_sip._tls.example.test,edge.example.test,443,0,0',
      // dnsmasq keeps one IPv4 per --host-record line: two lines give fe1 two A records.
      '--host-record=fe1.example.test,127.0.20.11',
      '--host-record=fe1.example.test,127.0.20.12,fd00::11',
      '--host-record=fe2.example.test,127.0.20.13',
      '--cname=www.example.test,fe1.example.test',
      // _sip._tcp exists (it has a TXT record) but carries no SRV: NOERROR / no data.
      '--txt-record=_sip._tcp.example.test,no-srv-here',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<never>((_, rej) => proc?.once('exit', (code) => rej(new Error(`dnsmasq exited (${code}): ${stderr}`))));
  exited.catch(() => undefined);
  // Ready when it answers; bounded so a broken start fails instead of hanging.
  const probe = new DnsClient({ servers: [SERVER], timeoutMs: 200 });
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await Promise.race([probe.query('fe2.example.test', 'A'), exited]);
    if (r.outcome === 'answer') break;
    if (Date.now() > deadline) throw new Error(`dnsmasq did not answer on ${SERVER}: ${stderr}`);
    await new Promise((res) => setTimeout(res, 50));
  }
});

after(async () => {
  if (proc && proc.exitCode === null) {
    const gone = new Promise((res) => proc?.once('exit', res));
    proc.kill('SIGTERM');
    await Promise.race([gone, new Promise((res) => setTimeout(res, 2000))]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
});

const client = (): DnsClient => new DnsClient({ servers: [SERVER], timeoutMs: 1500 });

test('dnsmasq: several SRV records for one name, all kept with priority, weight, port and TTL', async () => {
  const r = await client().query('_sipinternaltls._tcp.example.test', 'SRV');
  assert.equal(r.outcome, 'answer');
  assert.equal(r.server, SERVER);
  assert.equal(r.ttl, 30);
  assert.ok(r.latencyMs >= 0);
  const got = (r.srv ?? []).map(({ target, port, priority, weight }) => ({ target, port, priority, weight }));
  got.sort((a, b) => a.target.localeCompare(b.target));
  assert.deepEqual(got, [
    { target: 'backup.example.test', port: 5062, priority: 10, weight: 100 },
    { target: 'fe1.example.test', port: 5061, priority: 0, weight: 60 },
    { target: 'fe2.example.test', port: 5061, priority: 0, weight: 40 },
  ]);
});

test('dnsmasq: querySrvSet tells answer, NXDOMAIN and no-data apart', async () => {
  const r = await querySrvSet(client(), 'example.test');
  assert.equal(r['internal-tls'].outcome, 'answer');
  assert.equal(r['internal-tls'].srv?.length, 3);
  assert.equal(r['internal-tcp'].outcome, 'nxdomain');
  assert.equal(r['internal-tcp'].name, '_sipinternal._tcp.example.test');
  assert.equal(r['external-tls'].outcome, 'answer');
  assert.deepEqual(r['external-tls'].srv?.map((s) => [s.target, s.port]), [['edge.example.test', 443]]);
  assert.equal(r['external-tcp'].outcome, 'nodata');
});

test('dnsmasq: a multi-address host, through a CNAME, A and AAAA', async () => {
  const { addresses, queries } = await resolveHosts(client(), ['www.example.test', 'fe2.example.test', '127.0.20.99']);
  assert.deepEqual([...(addresses.get('www.example.test') ?? [])].sort(), ['127.0.20.11', '127.0.20.12', 'fd00::11']);
  assert.deepEqual(addresses.get('fe2.example.test'), ['127.0.20.13']);
  assert.deepEqual(addresses.get('127.0.20.99'), ['127.0.20.99']);
  // Two names × two families; the literal needs no query.
  assert.equal(queries.length, 4);
  const fe2v6 = queries.find((q) => q.name === 'fe2.example.test' && q.type === 'AAAA');
  assert.equal(fe2v6?.outcome, 'nodata');
  const wwwA = queries.find((q) => q.name === 'www.example.test' && q.type === 'A');
  assert.equal(wwwA?.outcome, 'answer');
  assert.equal(wwwA?.ttl, 30);
});

test('dnsmasq: a name outside its --local domain is REFUSED (no upstream)', async () => {
  const r = await client().query('sip.elsewhere.test', 'A');
  assert.equal(r.outcome, 'refused');
  assert.equal(r.server, SERVER);
});

test('dnsmasq: an existing host has no SRV (no data), an unknown one is NXDOMAIN', async () => {
  const c = client();
  assert.equal((await c.query('fe1.example.test', 'SRV')).outcome, 'nodata');
  assert.equal((await c.query('nosuch.example.test', 'A')).outcome, 'nxdomain');
});

test('dnsmasq: a dead first server, then dnsmasq: the client moves on and answers within the bound', async () => {
  // 127.0.20.2:5353 has no listener (ICMP port unreachable is ignored like silence).
  const c = new DnsClient({ servers: ['127.0.20.2:5353', SERVER], timeoutMs: 1500, retransmitMs: 100 });
  const r = await c.query('fe2.example.test', 'A');
  assert.equal(r.outcome, 'answer');
  assert.equal(r.server, SERVER);
  assert.deepEqual(r.addresses, ['127.0.20.13']);
});
