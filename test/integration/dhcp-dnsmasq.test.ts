/**
 * informDhcp against a real dnsmasq 2.90 answering DHCPINFORM, in two network namespaces joined
 * by a veth pair. The client runs inside its namespace (broadcast to 255.255.255.255:67 from
 * port 68), so nothing reaches the machine's real interfaces.
 */
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DhcpInformResult } from '../../src/core/types.js';
import type { DhcpInformOptions } from '../../src/discovery/dhcp-client.js';
import { decodeMessage, decodeOption43 } from '../../src/discovery/dhcp-codec.js';
import { createTopology, isRoot, namespaceExists, runInNs, startDaemonInNs, type Daemon, type Topology } from '../helpers/netns.js';

const DNSMASQ = '/usr/sbin/dnsmasq';
const PROBE = fileURLToPath(new URL('../helpers/dhcp-probe.js', import.meta.url));
const skip = isRoot() ? false : 'needs root: creates network namespaces and binds UDP port 68';

describe('DHCPINFORM against dnsmasq in network namespaces', { skip }, () => {
  let topo: Topology | undefined;
  let dnsmasq: Daemon | undefined;
  let tmp: string;

  before(() => {
    // A missing server is a broken lab, not a reason to pass quietly.
    assert.ok(existsSync(DNSMASQ), `${DNSMASQ} is missing: install dnsmasq-base 2.90`);
    tmp = mkdtempSync(join(tmpdir(), 'sldh-'));
    topo = createTopology();
  });

  afterEach(async () => {
    await dnsmasq?.stop();
    dnsmasq = undefined;
  });

  after(async () => {
    await dnsmasq?.stop();
    const t = topo;
    t?.destroy();
    if (t) assert.equal(namespaceExists(t.cliNs) || namespaceExists(t.srvNs), false, 'namespaces left behind');
    rmSync(tmp, { recursive: true, force: true });
  });

  async function startDnsmasq(extra: string[]): Promise<void> {
    const t = topo!;
    dnsmasq = await startDaemonInNs(
      t.srvNs,
      DNSMASQ,
      [
        '--conf-file=/dev/null',
        '--port=0', // DNS off
        `--interface=${t.srvIf}`,
        '--bind-interfaces',
        '--no-daemon',
        '--log-dhcp',
        '--log-facility=-',
        '--pid-file=',
        `--dhcp-leasefile=${join(tmp, 'leases')}`,
        '--dhcp-range=192.0.2.0,static', // answers INFORM without handing out leases
        ...extra,
      ],
      /DHCP, static leases only/,
    );
  }

  async function probe(opts: DhcpInformOptions, boundMs: number): Promise<DhcpInformResult> {
    const t = topo!;
    const r = await runInNs(t.cliNs, process.execPath, [PROBE, JSON.stringify(opts)], boundMs);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    assert.ok(line.startsWith('{'), `probe printed no result (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    const parsed = JSON.parse(line) as { result?: DhcpInformResult; thrown?: unknown };
    assert.ok(parsed.result, `probe threw: ${JSON.stringify(parsed.thrown)}`);
    return parsed.result;
  }

  const MSUC = [
    '--dhcp-vendorclass=set:msuc,MS-UC-Client',
    '--dhcp-option=tag:msuc,vendor:MS-UC-Client,1,4d:53:2d:55:43:2d:43:6c:69:65:6e:74', // "MS-UC-Client"
    '--dhcp-option=tag:msuc,vendor:MS-UC-Client,2,68:74:74:70:73', // "https"
    '--dhcp-option=tag:msuc,vendor:MS-UC-Client,3,web.acme.test',
    '--dhcp-option=tag:msuc,vendor:MS-UC-Client,4,34:34:33', // "443" as ASCII, as Lync expects
  ];

  test('option 120 as two names (compressed by dnsmasq) and option 43 for MS-UC-Client', async () => {
    await startDnsmasq(['--dhcp-option=120,pool1.acme.test,pool2.acme.test', ...MSUC]);
    const t = topo!;
    const res = await probe({ interface: t.cliIf, timeoutMs: 4000, initialIntervalMs: 500 }, 10_000);
    assert.equal(res.outcome, 'answer', res.detail);
    assert.equal(res.server, `${t.srvAddr}:67`);
    assert.equal(res.via, `${t.cliIf} ${t.cliAddr}`);
    assert.deepEqual(res.sipServers, { encoding: 'fqdn', names: ['pool1.acme.test', 'pool2.acme.test'] });
    assert.deepEqual(res.msUcClient, { ucIdentifier: 'MS-UC-Client', urlScheme: 'https', webServerFqdn: 'web.acme.test', webServerPort: '443' });
    assert.ok(res.optionsSeen?.includes(53) && res.optionsSeen.includes(54), String(res.optionsSeen));
    assert.ok(!res.optionsSeen?.includes(51), 'an ACK to INFORM carries no lease time (RFC 2131 §4.3.5)');
    // dnsmasq saw the INFORM from our address with our vendor class.
    assert.match(dnsmasq!.output(), /DHCPINFORM\(\S+\) 192\.0\.2\.50/);
    assert.match(dnsmasq!.output(), /vendor class: MS-UC-Client/);
  });

  test('on the wire: dnsmasq compresses option 120 (offsets after the encoding byte) and writes option 43 reversed with 0xff', async () => {
    await startDnsmasq(['--dhcp-option=120,pool1.acme.test,pool2.acme.test', ...MSUC]);
    const t = topo!;
    const r = await runInNs(t.cliNs, process.execPath, [PROBE, JSON.stringify({ ciaddr: t.cliAddr }), 'raw'], 10_000);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { replyHex?: string; from?: string };
    assert.ok(out.replyHex, `no raw reply: ${r.stdout} ${r.stderr}`);
    const m = decodeMessage(Buffer.from(out.replyHex, 'hex'));
    assert.equal(m.xid, 0x5eed5eed);
    assert.equal(m.messageType, 5);
    const lbl = (s: string): string => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]).toString('hex');
    // 'pool2' then a pointer to offset 6 ("acme.test" inside the first name).
    assert.equal(m.options.get(120)?.toString('hex'), `00${lbl('pool1')}${lbl('acme')}${lbl('test')}00${lbl('pool2')}c006`);
    const o43 = m.options.get(43)?.toString('hex') ?? '';
    assert.ok(o43.endsWith('ff'), o43);
    assert.ok(o43.indexOf('0403343433') < o43.indexOf('010c'), `sub-options not reversed: ${o43}`);
    assert.deepEqual(decodeOption43(m.options.get(43)!), { ucIdentifier: 'MS-UC-Client', urlScheme: 'https', webServerFqdn: 'web.acme.test', webServerPort: '443' });
  });

  test('option 120 as IPv4 addresses; interface picked automatically', async () => {
    await startDnsmasq(['--dhcp-option=120,192.0.2.10,192.0.2.11', ...MSUC]);
    const res = await probe({ timeoutMs: 4000, initialIntervalMs: 500 }, 10_000);
    assert.equal(res.outcome, 'answer', res.detail);
    assert.deepEqual(res.sipServers, { encoding: 'ipv4', addresses: ['192.0.2.10', '192.0.2.11'] });
    assert.equal(res.via, `${topo!.cliIf} ${topo!.cliAddr}`);
  });

  test('another vendor class gets option 120 but no option 43', async () => {
    await startDnsmasq(['--dhcp-option=120,pool1.acme.test,pool2.acme.test', ...MSUC]);
    const res = await probe({ interface: topo!.cliIf, vendorClass: 'Polycom-VVX', timeoutMs: 4000, initialIntervalMs: 500 }, 10_000);
    assert.equal(res.outcome, 'answer', res.detail);
    assert.deepEqual(res.sipServers, { encoding: 'fqdn', names: ['pool1.acme.test', 'pool2.acme.test'] });
    assert.equal(res.msUcClient, undefined);
    assert.ok(!res.optionsSeen?.includes(43), String(res.optionsSeen));
  });

  test('silent network (no DHCP server) → timeout within the bound, with retransmissions', async () => {
    const bound = 1500;
    const t0 = performance.now();
    const res = await probe({ interface: topo!.cliIf, timeoutMs: bound, initialIntervalMs: 200 }, 15_000);
    const took = performance.now() - t0;
    assert.equal(res.outcome, 'timeout', res.detail);
    assert.ok(res.latencyMs >= bound - 50 && res.latencyMs < 3 * bound, `latency ${res.latencyMs}`);
    assert.match(res.detail ?? '', /\(([3-9]|\d\d+) DHCPINFORM sent\)/, 'retransmitted');
    assert.ok(took < 3 * bound + 5000, `probe process took ${took} ms`); // node start-up included
  });

  test('port 68 held by another process → outcome error naming the cause', async () => {
    const t = topo!;
    const holder = await startDaemonInNs(t.cliNs, process.execPath, [
      '-e',
      "const s=require('dgram').createSocket('udp4');s.bind({port:68,address:'0.0.0.0',exclusive:true},()=>console.log('bound'));setTimeout(()=>{},60000)",
    ], /bound/);
    try {
      const res = await probe({ interface: t.cliIf, timeoutMs: 2000 }, 10_000);
      assert.equal(res.outcome, 'error');
      assert.match(res.detail ?? '', /DHCP_SOCKET: .*0\.0\.0\.0:68.*EADDRINUSE/);
    } finally {
      await holder.stop();
    }
  });

  test('unprivileged process: EACCES on port 68 → outcome error with the reason', async () => {
    const t = topo!;
    // uid 65534 must be able to read the probe wherever the checkout lives (a clone under a 0700
    // directory is not readable by it): run a world-readable copy of the compiled modules it needs.
    const copy = mkdtempSync(join(tmpdir(), 'sldh-nobody-'));
    try {
      chmodSync(copy, 0o755);
      cpSync(fileURLToPath(new URL('../../src', import.meta.url)), join(copy, 'src'), { recursive: true });
      mkdirSync(join(copy, 'test', 'helpers'), { recursive: true, mode: 0o755 });
      cpSync(PROBE, join(copy, 'test', 'helpers', 'dhcp-probe.js'));
      writeFileSync(join(copy, 'package.json'), '{"type":"module"}\n', { mode: 0o644 });
      const probe = join(copy, 'test', 'helpers', 'dhcp-probe.js');
      const r = await runInNs(t.cliNs, 'setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, probe, JSON.stringify({ interface: t.cliIf, timeoutMs: 2000 })], 10_000);
      const line = r.stdout.trim().split('\n').pop() ?? '';
      assert.ok(line.startsWith('{'), `the unprivileged probe printed no result (exit ${String(r.code)}): ${r.stderr}`);
      const parsed = JSON.parse(line) as { result?: DhcpInformResult };
      assert.equal(parsed.result?.outcome, 'error', r.stdout + r.stderr);
      assert.match(parsed.result?.detail ?? '', /DHCP_SOCKET: .*:68.*EACCES.*root or CAP_NET_BIND_SERVICE/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  test('no route for the broadcast: ENETUNREACH → outcome error with the reason', async () => {
    const t = topo!;
    // The server namespace has an address but no default route, so 255.255.255.255 is unreachable.
    const r = await runInNs(t.srvNs, process.execPath, [PROBE, JSON.stringify({ localAddress: t.srvAddr, timeoutMs: 2000 })], 10_000);
    const parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { result?: DhcpInformResult };
    assert.equal(parsed.result?.outcome, 'error', r.stdout + r.stderr);
    assert.match(parsed.result?.detail ?? '', /DHCP_SOCKET: send to 255\.255\.255\.255:67 failed: ENETUNREACH/);
  });
});
