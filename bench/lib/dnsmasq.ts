/**
 * dnsmasq 2.90 as the site DNS inside the namespace: SRV lists per scenario (RFC 2782), A records
 * for the targets, NXDOMAIN for anything else under the domain (--local), REFUSED outside it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './netns.js';
import { startBackground, waitFor, type Background } from './proc.js';

export const DNSMASQ_BIN = '/usr/sbin/dnsmasq';

export interface SrvRecord {
  host: string;
  port: number;
  priority: number;
  weight: number;
}

export interface DnsZone {
  domain: string;
  /** Owner names (e.g. `_sip._tcp.acme.test`) → SRV records. */
  srv: Record<string, SrvRecord[]>;
  /** Host name → IPv4 address. */
  a: Record<string, string>;
}

export function dnsmasqArgs(addr: string, port: number, zone: DnsZone, opts: { logQueries?: boolean; ttl?: number } = {}): string[] {
  const args = [
    '--conf-file=/dev/null',
    `--port=${port}`,
    `--listen-address=${addr}`,
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--no-daemon',
    '--no-negcache',
    '--cache-size=0',
    `--local=/${zone.domain}/`,
    // Fleet runs turn it off: thousands of log lines would be measured as DNS latency.
    ...(opts.logQueries === false ? [] : ['--log-queries']),
    // dnsmasq answers its local records with TTL 0 unless told; a resolver cache needs a real one.
    ...(opts.ttl !== undefined ? [`--local-ttl=${opts.ttl}`] : []),
  ];
  for (const [owner, recs] of Object.entries(zone.srv)) {
    for (const r of recs) args.push(`--srv-host=${owner},${r.host},${r.port},${r.priority},${r.weight}`);
  }
  for (const [host, a] of Object.entries(zone.a)) args.push(`--host-record=${host},${a}`);
  return args;
}

export class Dnsmasq {
  private proc: Background | undefined;
  constructor(
    private readonly ns: Netns,
    readonly addr: string,
    readonly port: number,
    private readonly zone: DnsZone,
    private readonly dir: string,
    private readonly opts: { logQueries?: boolean; ttl?: number } = {},
  ) {
    if (!existsSync(DNSMASQ_BIN)) throw new Error(`dnsmasq is not installed (${DNSMASQ_BIN}): apt-get install dnsmasq-base`);
  }

  async start(timeoutMs = 5_000): Promise<void> {
    const [c, a] = this.ns.exec(DNSMASQ_BIN, dnsmasqArgs(this.addr, this.port, this.zone, this.opts));
    const proc = startBackground(c, a, { logFile: join(this.dir, 'dnsmasq.log') });
    this.proc = proc;
    await waitFor(
      `dnsmasq on ${this.addr}:${this.port}`,
      async () => {
        if (proc.hasExited()) throw new Error('dnsmasq exited at start; see dnsmasq.log');
        return (await this.ns.listening('udp', this.addr, this.port)) ? true : undefined;
      },
      timeoutMs,
    );
  }

  async stop(): Promise<void> {
    await this.proc?.stop(1_000);
  }
}
