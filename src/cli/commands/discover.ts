import type { Command } from 'commander';
import { collect, parseHostPort, parseResolve, reportError } from '../common.js';

interface Flags {
  dns?: string[];
  dhcpInterface?: string;
  dhcpServer?: string;
  dhcpTimeout: string;
  dnsTimeout: string;
  resolve?: string[];
  allowDomain?: string[];
  json?: boolean;
}


export function addDiscoverCommand(program: Command): void {
  program
    .command('discover')
    .description('show how a device finds its registrar: every DHCP/DNS query with outcome and latency, then the ordered candidates (seed steps 1–6)')
    .argument('<aor>', 'SIP address of record, e.g. sip:alice@acme.test')
    .option('--dns <host:port>', 'DNS server to ask (repeatable; default: the system resolver)', collect)
    .option('--dhcp-interface <if>', 'send DHCPINFORM on this interface (needs root; off by default)')
    .option('--dhcp-server <host:port>', 'send DHCPINFORM to this server instead of broadcasting')
    .option('--dhcp-timeout <ms>', 'DHCP answer bound in milliseconds', '8000')
    .option('--dns-timeout <ms>', 'per DNS query bound in milliseconds', '2000')
    .option('--resolve <name:address>', 'use this address for a name (repeatable)', collect)
    .option('--allow-domain <domain>', 'accept registrars in this domain besides the SIP domain (repeatable)', collect)
    .option('--json', 'print the result as JSON')
    .action(async (aor: string, f: Flags) => {
      try {
        // Loaded on demand so that `--help` and the other commands do not load discovery.
        const [{ DnsClient }, { runDiscovery, describeCandidate }, { resolveOptions }, { StepRecorder }, { systemClock }, { stepLine }] = await Promise.all([
          import('../../discovery/dns.js'),
          import('../../engine/discovery.js'),
          import('../../engine/options.js'),
          import('../../engine/steps.js'),
          import('../../core/clock.js'),
          import('../../diagnose/render.js'),
        ]);
        const dhcp: Record<string, unknown> = { timeoutMs: Number(f.dhcpTimeout), initialIntervalMs: Math.min(4000, Math.max(500, Number(f.dhcpTimeout) / 4)) };
        if (f.dhcpInterface) dhcp['interface'] = f.dhcpInterface;
        if (f.dhcpServer) {
          const { host, port } = parseHostPort(f.dhcpServer);
          Object.assign(dhcp, { server: host, serverPort: port ?? 67, clientPort: 0 });
        }
        // Discovery needs no credentials; the password is never asked for here.
        const o = resolveOptions({
          user: aor,
          password: '',
          ...(f.dns?.length ? { dnsServers: f.dns } : {}),
          dnsTimeoutMs: Number(f.dnsTimeout),
          hosts: parseResolve(f.resolve),
          ...(f.allowDomain?.length ? { policy: { allowedDomains: f.allowDomain } } : {}),
          dhcp: f.dhcpInterface || f.dhcpServer ? dhcp : false,
          cache: false,
        });
        const rec = new StepRecorder(systemClock);
        if (!f.json) rec.subscribe((s, phase) => phase === 'end' && process.stdout.write(`  ${stepLine(s)}\n`));
        const dns = new DnsClient({ ...(o.dnsServers ? { servers: o.dnsServers } : {}), timeoutMs: o.dnsTimeoutMs });
        let result;
        let candidates;
        try {
          result = await runDiscovery(o, rec, dns);
          // Discovery hands names still resolving to the race as `later`; this report has no race,
          // so it waits for them (each bounded by the DNS timeout) to list every candidate in order.
          const late = await Promise.all((result.later ?? []).map((l) => l.ready));
          candidates = [...result.candidates, ...late.filter((c) => c !== undefined)];
        } finally {
          dns.close();
        }
        const rejected: Record<string, unknown>[] = result.plan?.rejected.map((r) => ({ ...describeCandidate(r.candidate), reason: r.reason })) ?? [];
        if (f.json) {
          process.stdout.write(
            JSON.stringify({ user: o.aor, domain: o.domain, queries: rec.steps, candidates: candidates.map(describeCandidate), rejected, cache: result.cacheDecision ?? null }, null, 2) + '\n',
          );
        } else {
          process.stdout.write(`\nCandidates for ${o.aor}, in the order a device tries them:\n`);
          if (candidates.length === 0) process.stdout.write('  (none: DHCP and DNS gave no usable registrar — a device would now sign in from its cache)\n');
          candidates.forEach((c, i) =>
            process.stdout.write(`  ${String(i + 1).padStart(2)}. ${c.step ? `step ${c.step}` : '      '}  ${c.fqdn}:${c.port}/${c.transport}  [${c.addresses.join(', ')}]  from ${c.origin}\n`),
          );
          for (const r of rejected) process.stdout.write(`  refused: ${String(r['fqdn'])}:${String(r['port'])}/${String(r['transport'])} — ${String(r['reason'])}\n`);
        }
        process.exitCode = candidates.length > 0 ? 0 : 1;
      } catch (err) {
        reportError('discover', err, f.json ? 'document' : false);
      }
    });
}
