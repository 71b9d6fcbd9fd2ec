// `siplogon discover` end to end: one real dnsmasq in a server namespace answers DHCPINFORM
// (option 120 + option 43 for MS-UC-Client) and DNS; the compiled CLI runs in the client namespace
// with --dhcp-interface. The candidate list must follow the seed's steps 1–4 exactly, and an SRV
// target outside the SIP domain must be refused.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, isRoot, runInNs, startDaemonInNs, type Daemon, type Topology } from '../helpers/netns.js';

const DNSMASQ = '/usr/sbin/dnsmasq';
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const skip = isRoot() ? false : 'needs root: creates network namespaces and binds UDP port 68';

describe('siplogon discover with real DHCP + DNS (dnsmasq) in network namespaces', { skip }, () => {
  let topo: Topology | undefined;
  let daemon: Daemon | undefined;
  let tmp: string;

  before(async () => {
    assert.ok(existsSync(DNSMASQ), `${DNSMASQ} is missing: install dnsmasq-base`);
    tmp = mkdtempSync(join(tmpdir(), 'sldh-disc-'));
    topo = createTopology();
    const t = topo;
    daemon = await startDaemonInNs(
      t.srvNs,
      DNSMASQ,
      [
        '--conf-file=/dev/null', `--interface=${t.srvIf}`, '--bind-interfaces', '--no-daemon', '--log-dhcp', '--log-facility=-', '--pid-file=',
        `--dhcp-leasefile=${join(tmp, 'leases')}`, '--dhcp-range=192.0.2.0,static',
        '--dhcp-option=120,dhcp-pool.acme.test',
        '--dhcp-vendorclass=set:msuc,MS-UC-Client',
        '--dhcp-option=tag:msuc,vendor:MS-UC-Client,3,web.acme.test',
        // DNS on the same daemon, authoritative for acme.test only
        '--port=53', '--no-resolv', '--no-hosts', '--local=/acme.test/',
        '--srv-host=_sipinternaltls._tcp.acme.test,pool1.acme.test,5061,0,0',
        '--srv-host=_sipinternal._tcp.acme.test,pool1.acme.test,5060,0,0',
        '--srv-host=_sip._tls.acme.test,evil.example.net,5061,0,0',
        `--host-record=pool1.acme.test,192.0.2.11`,
        `--host-record=dhcp-pool.acme.test,192.0.2.12`,
      ],
      /DHCP, static leases only/,
    );
  });

  after(async () => {
    await daemon?.stop();
    topo?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('--json: DHCP and DNS queries with outcomes, candidates in the seed order 1, 2, 3, 4, outside-domain target refused', async () => {
    const t = topo as Topology;
    const r = await runInNs(t.cliNs, process.execPath, [CLI, 'discover', 'sip:alice@acme.test', '--dhcp-interface', t.cliIf, '--dns', `${t.srvAddr}:53`, '--dhcp-timeout', '4000', '--json'], 20_000);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      queries: { kind: string; status: string; target?: string; latencyMs?: number; detail: Record<string, unknown> }[];
      candidates: { fqdn: string; port: number; transport: string; step: number; source: string; addresses: string[] }[];
      rejected: { fqdn: string; reason: string }[];
    };
    const dhcp = out.queries.find((q) => q.kind === 'dhcp-inform');
    assert.equal(dhcp?.status, 'pass');
    assert.deepEqual((dhcp?.detail['sipServers'] as { names: string[] }).names, ['dhcp-pool.acme.test']);
    assert.equal((dhcp?.detail['msUcClient'] as { webServerFqdn?: string }).webServerFqdn, 'web.acme.test');
    const srv = Object.fromEntries(out.queries.filter((q) => q.kind === 'dns-srv').map((q) => [q.target, q.detail['outcome']]));
    assert.deepEqual(srv, {
      '_sipinternaltls._tcp.acme.test': 'answer',
      '_sipinternal._tcp.acme.test': 'answer',
      '_sip._tls.acme.test': 'answer',
      '_sip._tcp.acme.test': 'nxdomain',
    });
    for (const q of out.queries.filter((x) => x.kind !== 'candidates')) assert.equal(typeof q.latencyMs, 'number', `${q.kind} has a latency`);
    assert.deepEqual(
      out.candidates.map((c) => [c.step, c.fqdn, c.port, c.transport, c.source, c.addresses]),
      [
        [1, 'pool1.acme.test', 5061, 'tls', 'dns-srv', ['192.0.2.11']],
        [2, 'dhcp-pool.acme.test', 5061, 'tls', 'dhcp', ['192.0.2.12']],
        [3, 'pool1.acme.test', 5060, 'tcp', 'dns-srv', ['192.0.2.11']],
        [4, 'dhcp-pool.acme.test', 5060, 'tcp', 'dhcp', ['192.0.2.12']],
      ],
    );
    assert.deepEqual(out.rejected.map((x) => x.fqdn), ['evil.example.net']);
  });

  test('text mode: every query on its own line, then the numbered candidates', async () => {
    const t = topo as Topology;
    const r = await runInNs(t.cliNs, process.execPath, [CLI, 'discover', 'sip:alice@acme.test', '--dhcp-interface', t.cliIf, '--dns', `${t.srvAddr}:53`, '--dhcp-timeout', '4000'], 20_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /✔ #\d+ DHCPINFORM \(options 120, 43\)\s+\[[\d.]+ ms\]\s+option 120: dhcp-pool\.acme\.test/);
    assert.match(r.stdout, /· #\d+ DNS SRV _sip\._tcp\.acme\.test\s+\[[\d.]+ ms\]\s+not published \(NXDOMAIN\)/);
    assert.match(r.stdout, /1\. step 1\s+pool1\.acme\.test:5061\/tls/);
    assert.match(r.stdout, /4\. step 4\s+dhcp-pool\.acme\.test:5060\/tcp/);
    assert.match(r.stdout, /refused: evil\.example\.net:5061\/tls/);
    assert.ok(!/\x1b\[/.test(r.stdout), 'no terminal control sequences when piped');
  });
});
