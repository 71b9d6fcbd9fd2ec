// `siplogon diagnose` where the failure is in the network itself, so the CLI runs inside network
// namespaces we create (never on the machine's real interfaces):
// - DHCP silent: a veth pair whose far end has no DHCP server, only a dnsmasq DNS without the SIP
//   domain's records, so sign-in fails at discovery and DHCPINFORM is the first failing step.
// - Black-holed address: a namespace with only loopback where iptables drops every packet to the
//   registrar's address, so the TCP connect times out within --timeout.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, startDaemonInNs, type Daemon } from '../helpers/netns.js';
import { assertNoSecret, dumpDom, elementText, parseReport, runCli } from '../helpers/diagnose-cli.js';

const DNSMASQ = '/usr/sbin/dnsmasq';
const IPTABLES = '/usr/sbin/iptables';
const PREFIX = 'sldg-';
const D = 'example.test';
const USER = `sip:alice@${D}`;
const PASSWORD = 'Pw-netns-5uK!cheshire';
const skip = isRoot() ? false : 'needs root: creates network namespaces, binds UDP port 68 and sets iptables rules in them';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

function namespaces(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

/** Removes namespaces of earlier runs of this file whose process is gone. */
function sweep(): void {
  for (const name of namespaces()) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) ip('netns', 'del', name);
  }
}

describe('siplogon diagnose inside network namespaces', { skip }, () => {
  const created: string[] = [];
  let tmp: string;
  let dns: Daemon | undefined;
  const ns = (tag: string): string => {
    const name = `${PREFIX}${process.pid}-${tag}`;
    ip('netns', 'add', name);
    created.push(name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
    return name;
  };

  before(() => {
    // A missing tool is a broken lab, not a reason to pass quietly.
    for (const bin of [DNSMASQ, IPTABLES]) assert.ok(existsSync(bin), `${bin} is missing: apt-get install -y ${bin.endsWith('dnsmasq') ? 'dnsmasq-base' : 'iptables'}`);
    sweep();
    tmp = mkdtempSync(join(tmpdir(), 'sldg-ns-'));
  });

  after(async () => {
    await dns?.stop();
    for (const name of created) {
      try {
        ip('netns', 'del', name); // takes its veth end, and the peer with it
      } catch {
        /* never created */
      }
    }
    const left = namespaces().filter((n) => created.includes(n));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(left, [], 'namespaces left behind');
  });

  let topo: { srv: string; cli: string; srvIf: string; cliIf: string } | undefined;
  /** Server and client namespaces joined by a veth pair (TEST-NET-1, RFC 5737). */
  function dhcpTopology(): { srv: string; cli: string; srvIf: string; cliIf: string } {
    if (topo) return topo;
    const srv = ns('dhs');
    const cli = ns('dhc');
    const tag = `${process.pid % 100000}`;
    const srvIf = `sg${tag}s`;
    const cliIf = `sg${tag}c`;
    ip('link', 'add', srvIf, 'type', 'veth', 'peer', 'name', cliIf);
    ip('link', 'set', srvIf, 'netns', srv);
    ip('link', 'set', cliIf, 'netns', cli);
    ip('-n', srv, 'addr', 'add', '192.0.2.1/24', 'dev', srvIf);
    ip('-n', cli, 'addr', 'add', '192.0.2.50/24', 'dev', cliIf);
    ip('-n', srv, 'link', 'set', srvIf, 'up');
    ip('-n', cli, 'link', 'set', cliIf, 'up');
    ip('-n', cli, 'route', 'add', 'default', 'dev', cliIf); // a broadcast needs a route
    topo = { srv, cli, srvIf, cliIf };
    return topo;
  }

  async function restartDns(args: string[], ready: RegExp): Promise<void> {
    await dns?.stop();
    dns = undefined;
    const t = dhcpTopology();
    dns = await startDaemonInNs(t.srv, DNSMASQ, ['--conf-file=/dev/null', '--port=53', `--interface=${t.srvIf}`, '--bind-interfaces', '--no-resolv', '--no-hosts', '--no-daemon', '--pid-file=', `--local=/${D}/`, '--log-facility=-', ...args], ready);
  }

  test('DHCP silent: DHCPINFORM is the first failing step, with the option 120/43 fix and --target-fqdn', async () => {
    const { cli, cliIf } = dhcpTopology();
    // DNS only (no --dhcp-range: DHCP stays off), authoritative for the domain but without SIP records.
    await restartDns([], /started, version/);
    const reportFile = join(tmp, 'dhcp-silent.html');
    const dhcpTimeout = 1500;
    const run = await runCli(
      ['diagnose', '--user', USER, '--password-env', 'SIPLOGON_PW', '--no-cache', '--dhcp-interface', cliIf, '--dhcp-timeout', String(dhcpTimeout), '--dns', '192.0.2.1:53', '--timeout', '2000', '--json', '--report', reportFile],
      { ns: cli, env: { SIPLOGON_PW: PASSWORD } },
    );
    const report = parseReport(run);
    assertNoSecret(PASSWORD, run, reportFile);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(report.mode, 'discovery');
    const f = report.finding;
    assert.equal(f?.kind, 'dhcp-inform', JSON.stringify(report.steps.map((s) => [s.id, s.kind, s.status, s.error?.code])));
    assert.equal(f?.code, 'DHCP_TIMEOUT');
    const step = report.steps.find((s) => s.id === f?.stepId);
    assert.equal(step?.target, cliIf);
    assert.ok((step?.latencyMs ?? 0) >= dhcpTimeout * 0.9, `waited for the DHCP bound (${step?.latencyMs} ms)`);
    assert.ok((step?.latencyMs ?? Infinity) < dhcpTimeout * 3, `and gave up within 3× the bound (${step?.latencyMs} ms)`);
    assert.match(f?.diagnosis ?? '', new RegExp(`No DHCP server answered DHCPINFORM on ${cliIf}`));
    assert.match(f?.fix ?? '', /option 120/);
    assert.match(f?.fix ?? '', /MS-UC-Client/);
    assert.match(f?.fix ?? '', /--target-fqdn/);
    // DNS was asked too, and answered "no such SRV": the report shows both, the finding picks DHCP.
    assert.equal(report.steps.find((s) => s.target === `_sipinternaltls._tcp.${D}`)?.detail['outcome'], 'nxdomain');
    const dom = await dumpDom(reportFile);
    assert.match(elementText(dom, 'failing-step') ?? '', /DHCPINFORM.*DHCP_TIMEOUT/);
    assert.match(elementText(dom, 'finding') ?? '', /Fix\. Configure option 120/);
  });

  test('DHCP answers option 120 + 43 but nothing listens on the registrar: the DHCP step passes with the options seen, TCP connect decides', async () => {
    const { cli, cliIf } = dhcpTopology();
    await restartDns(
      [
        `--dhcp-leasefile=${join(tmp, 'leases')}`,
        '--dhcp-range=192.0.2.0,static', // answers INFORM (RFC 2131 §3.4) without handing out leases
        `--dhcp-option=120,pool.${D}`,
        '--dhcp-vendorclass=set:msuc,MS-UC-Client',
        '--dhcp-option=tag:msuc,vendor:MS-UC-Client,1,4d:53:2d:55:43:2d:43:6c:69:65:6e:74', // "MS-UC-Client"
        '--dhcp-option=tag:msuc,vendor:MS-UC-Client,2,68:74:74:70:73', // "https"
        `--dhcp-option=tag:msuc,vendor:MS-UC-Client,3,web.${D}`,
        '--dhcp-option=tag:msuc,vendor:MS-UC-Client,4,34:34:33', // "443"
        `--host-record=pool.${D},192.0.2.1`,
      ],
      /DHCP, static leases only/,
    );
    const reportFile = join(tmp, 'dhcp-answered.html');
    const run = await runCli(
      ['diagnose', '--user', USER, '--password-env', 'SIPLOGON_PW', '--no-cache', '--dhcp-interface', cliIf, '--dhcp-timeout', '4000', '--dns', '192.0.2.1:53', '--timeout', '2000', '--json', '--report', reportFile],
      { ns: cli, env: { SIPLOGON_PW: PASSWORD } },
    );
    const report = parseReport(run);
    assertNoSecret(PASSWORD, run, reportFile);
    assert.equal(run.code, 1, run.stderr);
    const dhcp = report.steps.find((s) => s.kind === 'dhcp-inform');
    assert.equal(dhcp?.status, 'pass', JSON.stringify(dhcp));
    assert.deepEqual(dhcp?.detail['sipServers'], { encoding: 'fqdn', names: [`pool.${D}`] });
    assert.deepEqual(dhcp?.detail['msUcClient'], { ucIdentifier: 'MS-UC-Client', urlScheme: 'https', webServerFqdn: `web.${D}`, webServerPort: '443' });
    const seen = dhcp?.detail['optionsSeen'] as number[] | undefined;
    assert.ok(seen?.includes(120) && seen.includes(43), `options seen: ${String(seen)}`);
    assert.equal(report.finding?.kind, 'tcp-connect', JSON.stringify(report.steps.map((s) => [s.id, s.kind, s.status, s.error?.code])));
    assert.equal(report.finding?.code, 'CONNECT_REFUSED');
    const failing = report.steps.find((s) => s.id === report.finding?.stepId);
    assert.equal(failing?.detail['source'], 'dhcp', 'the candidate came from option 120');
    assert.match(report.finding?.diagnosis ?? '', new RegExp(`pool\\.example\\.test \\(192\\.0\\.2\\.1:5061\\) refused`));
    assert.match(dns?.output() ?? '', /DHCPINFORM\(\S+\) 192\.0\.2\.50/);
  });

  test('black-holed registrar address: CONNECT_TIMEOUT at the TCP step within the --timeout bound', async () => {
    const bh = ns('bh');
    const target = '127.0.40.99';
    execFileSync('ip', ['netns', 'exec', bh, IPTABLES, '-A', 'OUTPUT', '-d', target, '-j', 'DROP'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    const reportFile = join(tmp, 'black-hole.html');
    const bound = 1500;
    const run = await runCli(
      ['diagnose', '--user', USER, '--password-env', 'SIPLOGON_PW', '--no-cache', '--target-fqdn', `pool.${D}`, '--resolve', `pool.${D}:${target}`, '--timeout', String(bound), '--json', '--report', reportFile],
      { ns: bh, env: { SIPLOGON_PW: PASSWORD }, killAfterMs: 20_000 },
    );
    const report = parseReport(run);
    assertNoSecret(PASSWORD, run, reportFile);
    assert.equal(run.code, 1, run.stderr);
    const f = report.finding;
    assert.equal(f?.kind, 'tcp-connect', JSON.stringify(report.steps.map((s) => [s.id, s.kind, s.status, s.error?.code])));
    assert.equal(f?.code, 'CONNECT_TIMEOUT');
    const step = report.steps.find((s) => s.id === f?.stepId);
    assert.equal(step?.target, `${target}:5061`);
    assert.ok((step?.latencyMs ?? 0) >= bound * 0.9, `it waited for the bound (${step?.latencyMs} ms)`);
    assert.ok((step?.latencyMs ?? Infinity) < bound * 3, `the connect gave up within 3× the bound (${step?.latencyMs} ms)`);
    // Loose: node start-up inside the namespace plus the bound, nowhere near the kernel's SYN retries (~2 min).
    assert.ok(run.wallMs < bound * 3 + 5000, `the whole run returned in ${Math.round(run.wallMs)} ms`);
    assert.match(f?.diagnosis ?? '', /dropped \(firewall\)|host is down/);
    assert.match(f?.fix ?? '', new RegExp(`Open TCP 5061 .* to ${target.replace(/\./g, '\\.')}`));
    assert.equal(report.steps.filter((s) => s.kind === 'register').length, 0);
    assert.ok(readFileSync(reportFile, 'utf8').includes('CONNECT_TIMEOUT'));
  });
});
