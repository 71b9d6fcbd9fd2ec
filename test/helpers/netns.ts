/**
 * Two network namespaces joined by a veth pair (TEST-NET-1, RFC 5737), so DHCP broadcasts stay
 * off the machine's real interfaces. Names carry our pid so parallel runs never collide, and a
 * run that died without cleaning up is swept by the next one.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export const NS_PREFIX = 'sldh-';

export interface Topology {
  srvNs: string;
  cliNs: string;
  srvIf: string;
  cliIf: string;
  srvAddr: string;
  cliAddr: string;
  destroy(): void;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes namespaces left by earlier runs whose process is gone. */
export function sweepStaleNamespaces(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^sldh-(\d+)-/.exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      try {
        ip('netns', 'del', name);
      } catch {
        /* raced with someone else */
      }
    }
  }
}

let seq = 0;

export function createTopology(): Topology {
  sweepStaleNamespaces();
  const n = ++seq;
  const srvNs = `${NS_PREFIX}${process.pid}-${n}-s`;
  const cliNs = `${NS_PREFIX}${process.pid}-${n}-c`;
  // Interface names are limited to 15 bytes (IFNAMSIZ - 1).
  const tag = `${process.pid % 1_000_000}${n}`;
  const srvIf = `sd${tag}s`.slice(0, 15);
  const cliIf = `sd${tag}c`.slice(0, 15);
  const topo: Topology = {
    srvNs,
    cliNs,
    srvIf,
    cliIf,
    srvAddr: '192.0.2.1',
    cliAddr: '192.0.2.50',
    destroy() {
      // Deleting a namespace deletes its veth end, and the peer goes with it.
      for (const ns of [srvNs, cliNs]) {
        try {
          ip('netns', 'del', ns);
        } catch {
          /* not created or already gone */
        }
      }
      try {
        ip('link', 'del', srvIf);
      } catch {
        /* only left in the root namespace if setup failed half-way */
      }
    },
  };
  try {
    ip('netns', 'add', srvNs);
    ip('netns', 'add', cliNs);
    ip('link', 'add', srvIf, 'type', 'veth', 'peer', 'name', cliIf);
    ip('link', 'set', srvIf, 'netns', srvNs);
    ip('link', 'set', cliIf, 'netns', cliNs);
    ip('-n', srvNs, 'addr', 'add', `${topo.srvAddr}/24`, 'dev', srvIf);
    ip('-n', cliNs, 'addr', 'add', `${topo.cliAddr}/24`, 'dev', cliIf);
    for (const ns of [srvNs, cliNs]) ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', srvNs, 'link', 'set', srvIf, 'up');
    ip('-n', cliNs, 'link', 'set', cliIf, 'up');
    // Without a route, a send to 255.255.255.255 fails with ENETUNREACH.
    ip('-n', cliNs, 'route', 'add', 'default', 'dev', cliIf);
  } catch (e) {
    topo.destroy();
    throw e;
  }
  return topo;
}

export function namespaceExists(name: string): boolean {
  return ip('netns', 'list').split('\n').some((l) => l.split(' ')[0] === name);
}

/** Runs a command inside a namespace and collects its output; killed after `timeoutMs`. */
export function runInNs(ns: string, cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Daemon {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a long-running process in a namespace and resolves once `ready` matches its output;
 * rejects (and kills it) if it exits first or does not get ready within `timeoutMs`.
 */
export function startDaemonInNs(ns: string, cmd: string, args: string[], ready: RegExp, timeoutMs = 5000): Promise<Daemon> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let settled = false;
    let exited = false;
    const exitedP = new Promise<void>((r) => child.on('exit', () => ((exited = true), r())));
    const daemon: Daemon = {
      child,
      output: () => out,
      async stop() {
        if (!exited) child.kill('SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exitedP;
        clearTimeout(kill);
      },
    };
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (!settled && ready.test(out)) {
        settled = true;
        clearTimeout(t);
        resolve(daemon);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const t = setTimeout(() => {
      if (settled) return;
      settled = true;
      void daemon.stop();
      reject(new Error(`${cmd} not ready after ${timeoutMs} ms; output:\n${out}`));
    }, timeoutMs);
    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      reject(e);
    });
    child.on('exit', (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      reject(new Error(`${cmd} exited with ${code} before it was ready; output:\n${out}`));
    });
  });
}
