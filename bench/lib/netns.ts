/**
 * A network namespace with only loopback, uniquely named, always deleted — on normal return,
 * on exception, and on SIGINT/SIGTERM (see installCleanupHandlers). Everything the benches send
 * stays inside it: 127.0.0.0/8 of a fresh namespace is not the machine's loopback.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { spawnSync } from 'node:child_process';
import { run, runOk, runSyncQuiet } from './proc.js';

const live = new Set<Netns>();

/** The namespace's non-loopback-range address (on lo). */
export const NS_LOCAL_ADDR = '192.0.2.1';

export class Netns {
  readonly name: string;
  private deleted = false;
  private readonly blackholes: string[] = [];

  private constructor(name: string) {
    this.name = name;
  }

  /** Creates `slb-<pid>-<rand>` with lo up, and /etc/netns/NAME/{resolv.conf,hosts}. */
  static async create(opts: { nameserver: string; hosts?: Record<string, string> }): Promise<Netns> {
    if (process.getuid?.() !== 0) throw new Error('bench needs root (ip netns, iptables)');
    const name = `slb-${process.pid}-${randomBytes(3).toString('hex')}`;
    const ns = new Netns(name);
    live.add(ns);
    try {
      await runOk('ip', ['netns', 'add', name]);
      await runOk('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      // liblinphone's network monitor (auto_net_state_mon) finds its local IP by routing towards
      // a public address; with no route, or only 127.0.0.1, it declares the network DOWN after
      // 5 s and drops its transports. A TEST-NET-1 address (RFC 5737) on lo and a default route
      // through lo satisfy it; packets to unknown addresses still never leave the namespace.
      await runOk('ip', ['-n', name, 'addr', 'add', `${NS_LOCAL_ADDR}/32`, 'dev', 'lo']);
      await runOk('ip', ['-n', name, 'route', 'add', 'default', 'dev', 'lo', 'src', NS_LOCAL_ADDR]);
      // `ip netns exec` bind-mounts /etc/netns/NAME/* over /etc/*: peers that read
      // /etc/resolv.conf (baresip, belle-sip) then ask the bench's DNS.
      mkdirSync(`/etc/netns/${name}`, { recursive: true });
      writeFileSync(`/etc/netns/${name}/resolv.conf`, `nameserver ${opts.nameserver}\noptions timeout:1 attempts:2\n`);
      const hosts = Object.entries(opts.hosts ?? {}).map(([h, a]) => `${a}\t${h}\n`).join('');
      writeFileSync(`/etc/netns/${name}/hosts`, `127.0.0.1\tlocalhost ${hostname()}\n${hosts}`);
    } catch (err) {
      ns.deleteSync();
      throw err;
    }
    return ns;
  }

  /** argv prefix that runs a command inside the namespace. */
  exec(cmd: string, args: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.name, cmd, ...args]];
  }

  async runIn(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
    const [c, a] = this.exec(cmd, args);
    return runOk(c, a, { timeoutMs });
  }

  /** Silently drops every packet sent to addr (a connect then hangs: no RST, no ICMP). */
  async blackhole(addr: string): Promise<void> {
    await this.runIn('iptables', ['-w', '-A', 'OUTPUT', '-d', `${addr}/32`, '-j', 'DROP']);
    this.blackholes.push(addr);
  }

  /** True when a TCP (or UDP) socket listens on addr:port inside the namespace. */
  async listening(proto: 'tcp' | 'udp', addr: string, port: number): Promise<boolean> {
    const [c, a] = this.exec('ss', ['-H', proto === 'tcp' ? '-ltn' : '-lun', 'src', `${addr}:${port}`]);
    const r = await run(c, a, { timeoutMs: 5_000 });
    return r.code === 0 && r.stdout.trim().length > 0;
  }

  /** Kills whatever still runs inside the namespace (only processes the bench started there). */
  private killPidsSync(): void {
    for (const pid of spawnPids(this.name)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  deleteSync(): void {
    if (this.deleted) return;
    this.deleted = true;
    this.killPidsSync();
    // Rules live in the namespace's own netfilter tables and die with it.
    runSyncQuiet('ip', ['netns', 'del', this.name]);
    rmSync(`/etc/netns/${this.name}`, { recursive: true, force: true });
    live.delete(this);
  }

  async delete(): Promise<void> {
    this.deleteSync();
  }
}

function spawnPids(name: string): number[] {
  // `ip netns pids` lists exactly the processes inside this (bench-created) namespace.
  const out = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 5_000 }).stdout;
  return String(out ?? '')
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((p) => p !== process.pid);
}

/** Deletes every namespace this process still holds. Safe to call from exit handlers. */
export function cleanupAllSync(): void {
  for (const ns of [...live]) ns.deleteSync();
}

let installed = false;
/** SIGINT/SIGTERM/uncaught errors: tear down namespaces first, then exit non-zero. */
export function installCleanupHandlers(onSignal?: () => void): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      onSignal?.();
      cleanupAllSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: uncaught ${err.stack ?? String(err)}\n`);
    cleanupAllSync();
    process.exit(1);
  });
}

/** Bench namespace names embed the owner's pid: `slb-<pid>-<hex>`. */
export function staleOwner(name: string, isAlive: (pid: number) => boolean): boolean {
  const m = /^slb-(\d+)-[0-9a-f]{6}$/.exec(name);
  return m !== null && !isAlive(Number(m[1]));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes namespaces left by a bench process that died without cleanup (SIGKILL, power loss):
 * only names of our own pattern whose owner pid is gone.
 */
export function sweepStale(log: (l: string) => void): void {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 5_000 }).stdout ?? '';
  for (const line of out.split('\n')) {
    const name = line.split(/\s/, 1)[0] ?? '';
    if (!staleOwner(name, pidAlive)) continue;
    log(`bench: deleting stale namespace ${name}`);
    for (const pid of spawnPids(name)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    runSyncQuiet('ip', ['netns', 'del', name]);
    rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
  }
}
