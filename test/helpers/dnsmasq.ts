/**
 * A real dnsmasq (Debian dnsmasq-base 2.90) as the DNS server of a test, authoritative for one
 * domain: unknown names inside it are NXDOMAIN, names outside it REFUSED. Started and stopped by
 * the test; fails loudly when the binary is missing. Zones can be changed by restarting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DnsClient } from '../../src/discovery/dns.js';

export const DNSMASQ_BIN = '/usr/sbin/dnsmasq';

export interface DnsmasqZone {
  domain: string;
  /** SRV name (full) → records. */
  srv?: Record<string, { target: string; port: number; priority?: number; weight?: number }[]>;
  /** Host → addresses (one --host-record per address: dnsmasq keeps one IPv4 per line). */
  hosts?: Record<string, string[]>;
}

export interface DnsmasqHandle {
  /** "address:port" for DnsClient / --dns. */
  server: string;
  stop(): Promise<void>;
  /** Replace the zone (dnsmasq is restarted on the same address and port). */
  restart(zone: DnsmasqZone): Promise<void>;
  logs(): string;
}

function args(address: string, port: number, z: DnsmasqZone): string[] {
  const a = ['--conf-file=/dev/null', `--port=${port}`, `--listen-address=${address}`, '--bind-interfaces', '--no-resolv', '--no-hosts', '--no-daemon', '--pid-file=', '--log-queries', '--no-negcache', '--local-ttl=1', `--local=/${z.domain}/`];
  for (const [name, recs] of Object.entries(z.srv ?? {})) for (const r of recs) a.push(`--srv-host=${name},${r.target},${r.port},${r.priority ?? 0},${r.weight ?? 0}`);
  for (const [host, addrs] of Object.entries(z.hosts ?? {})) for (const ip of addrs) a.push(`--host-record=${host},${ip}`);
  return a;
}

export async function startDnsmasq(address: string, port: number, zone: DnsmasqZone): Promise<DnsmasqHandle> {
  if (!existsSync(DNSMASQ_BIN)) throw new Error(`${DNSMASQ_BIN} is missing: install dnsmasq-base (the .ci/run script does) to run real-DNS tests`);
  const server = `${address}:${port}`;
  let proc: ChildProcess | undefined;
  let log = '';
  const start = async (z: DnsmasqZone): Promise<void> => {
    const p = spawn(DNSMASQ_BIN, args(address, port, z), { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    p.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<never>((_, rej) => p.once('exit', (code) => rej(new Error(`dnsmasq exited (${code}): ${log}`))));
    exited.catch(() => undefined);
    const probe = new DnsClient({ servers: [server], timeoutMs: 200 });
    const deadline = Date.now() + 5000;
    try {
      for (;;) {
        const r = await Promise.race([probe.query(`probe.${z.domain}`, 'A'), exited]);
        if (r.outcome === 'nxdomain' || r.outcome === 'answer' || r.outcome === 'nodata') return;
        if (Date.now() > deadline) throw new Error(`dnsmasq did not answer on ${server}: ${log}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    } finally {
      probe.close();
    }
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((res) => p.once('exit', res));
    p.kill('SIGTERM');
    await Promise.race([gone, new Promise((res) => setTimeout(res, 2000))]);
    if (p.exitCode === null) p.kill('SIGKILL');
  };
  await start(zone);
  return {
    server,
    stop,
    async restart(z) {
      await stop();
      await start(z);
    },
    logs: () => log,
  };
}
