/**
 * Kamailio 5.6 as the registrar under test: TCP only, digest auth (RFC 3261 §22.4, qop=auth),
 * in-memory usrloc, binrpc control socket so `kamcmd ul.dump` can tell when a contact is held.
 * The config is generated here; nothing is read from the shared reference notes.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './netns.js';
import { run, startBackground, waitFor, type Background } from './proc.js';

export const KAMAILIO_BIN = '/usr/sbin/kamailio';
export const KAMCMD_BIN = '/usr/sbin/kamcmd';
const MODULE_DIRS = ['/usr/lib/x86_64-linux-gnu/kamailio/modules/', '/usr/lib/aarch64-linux-gnu/kamailio/modules/', '/usr/lib/kamailio/modules/'];

export interface KamailioOptions {
  addr: string;
  port?: number;
  domain: string;
  users: Record<string, string>;
  dir: string;
  /**
   * Fleet: every user matching `userRegex` (anchored, [A-Za-z0-9]) has this password — an
   * if-chain of 10 000 users would make each request walk the script.
   */
  userPattern?: { userRegex: string; password: string };
  /** Scale knobs (fleet). Defaults suit one device. */
  tuning?: KamailioTuning;
}

export interface KamailioTuning {
  children?: number;
  tcpChildren?: number;
  /** Core default 2048: too few for 10 000 devices each on its own connection. */
  tcpMaxConnections?: number;
  /** Kamailio raises its own RLIMIT_NOFILE to this at start (it runs as root here). */
  openFilesLimit?: number;
  /** usrloc hash table is 2^hashSize slots (default 10). */
  usrlocHashSize?: number;
  /** Shared memory, MB (-m); every TCP connection and contact lives there. Default 64. */
  shmMb?: number;
}

export function kamailioConfig(o: KamailioOptions & { ctlSocket: string; modulePath: string }): string {
  const port = o.port ?? 5060;
  // The password table lives in the script: no database, and the file is 0600 in a private dir.
  const pat = o.userPattern;
  if (pat !== undefined && !/^\^[A-Za-z0-9[\]\-+*]+\$$/.test(pat.userRegex)) throw new Error(`userRegex must be an anchored [A-Za-z0-9] pattern, got "${pat.userRegex}"`);
  const clean = (pw: string): string => pw.replace(/["\\$]/g, '');
  const branches = [
    ...Object.entries(o.users).map(([u, pw]) => `($tU == "${u}") { $var(pw) = "${clean(pw)}"; }`),
    ...(pat === undefined ? [] : [`($tU =~ "${pat.userRegex}") { $var(pw) = "${clean(pat.password)}"; }`]),
  ];
  const users = [...branches.map((b, i) => `${i === 0 ? 'if' : 'else if'} ${b}`), `${branches.length === 0 ? '' : 'else '}{ sl_send_reply("403", "Forbidden"); exit; }`].join('\n  ');
  const t = o.tuning ?? {};
  const int = (name: string, v: number | undefined, dflt: number): number => {
    const n = v ?? dflt;
    if (!Number.isInteger(n) || n <= 0) throw new Error(`kamailio ${name} must be a positive integer, got ${n}`);
    return n;
  };
  const extraCore = [
    t.tcpMaxConnections !== undefined ? `tcp_max_connections=${int('tcpMaxConnections', t.tcpMaxConnections, 2048)}` : '',
    t.openFilesLimit !== undefined ? `open_files_limit=${int('openFilesLimit', t.openFilesLimit, 1024)}` : '',
  ].filter((l) => l !== '');
  return `#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=${int('children', t.children, 1)}
tcp_children=${int('tcpChildren', t.tcpChildren, 2)}
disable_tcp=no
auto_aliases=no
listen=tcp:${o.addr}:${port}
alias="${o.domain}"
tcp_connection_lifetime=3605
${extraCore.map((l) => `${l}\n`).join('')}mpath="${o.modulePath}"
loadmodule "kex.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "ctl.so"
modparam("usrloc", "db_mode", 0)
${t.usrlocHashSize !== undefined ? `modparam("usrloc", "hash_size", ${int('usrlocHashSize', t.usrlocHashSize, 10)})\n` : ''}modparam("registrar", "min_expires", 10)
modparam("ctl", "binrpc", "unix:${o.ctlSocket}")

request_route {
  if ($rm == "OPTIONS") { sl_send_reply("200", "OK"); exit; }
  if ($rm != "REGISTER") { sl_send_reply("405", "Method Not Allowed"); exit; }
  ${users}
  if (!pv_www_authenticate("$td", "$var(pw)", "0")) { www_challenge("$td", "1"); exit; }
  consume_credentials();
  if (!save("location")) { sl_reply_error(); }
  exit;
}
`;
}

export class Kamailio {
  private proc: Background | undefined;
  readonly ctlSocket: string;
  readonly logFile: string;
  private readonly cfgFile: string;

  constructor(
    private readonly ns: Netns,
    readonly opts: KamailioOptions,
  ) {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    this.ctlSocket = join(opts.dir, 'kamailio_ctl');
    this.logFile = join(opts.dir, 'kamailio.log');
    this.cfgFile = join(opts.dir, 'kamailio.cfg');
    const modulePath = MODULE_DIRS.find((d) => existsSync(join(d, 'registrar.so')));
    if (!existsSync(KAMAILIO_BIN) || !modulePath) {
      throw new Error(`kamailio is not installed (${KAMAILIO_BIN}, registrar.so): apt-get install kamailio`);
    }
    writeFileSync(this.cfgFile, kamailioConfig({ ...opts, ctlSocket: this.ctlSocket, modulePath }), { mode: 0o600 });
  }

  get addr(): string {
    return this.opts.addr;
  }

  /** Starts it and waits until both the SIP listener and the control socket answer. */
  async start(timeoutMs = 10_000): Promise<void> {
    // -DD: the process we spawn stays the main process, so its group holds every worker and a
    // group SIGKILL is a real crash of the whole registrar.
    const shm = this.opts.tuning?.shmMb;
    const [c, a] = this.ns.exec(KAMAILIO_BIN, ['-f', this.cfgFile, '-DD', '-E', '-Y', this.opts.dir, '-P', join(this.opts.dir, 'k.pid'), ...(shm !== undefined ? ['-m', String(shm)] : [])]);
    this.proc = startBackground(c, a, { logFile: this.logFile });
    const proc = this.proc;
    await waitFor(
      `kamailio on ${this.opts.addr}`,
      async () => {
        if (proc.hasExited()) throw new Error(`kamailio on ${this.opts.addr} exited: ${this.logTail()}`);
        if (!(await this.ns.listening('tcp', this.opts.addr, this.opts.port ?? 5060))) return undefined;
        return (await this.dump()) === undefined ? undefined : true;
      },
      timeoutMs,
      50,
    );
  }

  /** Crash: SIGKILL to every Kamailio process; the kernel resets its TCP connections. */
  async kill(): Promise<void> {
    if (!this.proc) return;
    this.proc.signal('SIGKILL');
    await this.proc.exited;
  }

  async stop(): Promise<void> {
    await this.proc?.stop(1_000);
  }

  /** `kamcmd ul.dump` text, or undefined when the control socket does not answer. */
  async dump(): Promise<string | undefined> {
    // The ctl socket is a filesystem path, reachable from the root namespace.
    const r = await run(KAMCMD_BIN, ['-s', `unix:${this.ctlSocket}`, 'ul.dump'], { timeoutMs: 2_000 });
    return r.code === 0 ? r.stdout : undefined;
  }

  async holds(user: string): Promise<boolean> {
    const d = await this.dump();
    return d !== undefined && dumpHoldsContact(d, user);
  }

  logTail(n = 1_500): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-n);
    } catch {
      return '(no log)';
    }
  }
}

/** Parses ul.dump output: does the AoR of `user` hold at least one contact address? */
export function dumpHoldsContact(dump: string, user: string): boolean {
  const blocks = dump.split(/\bAoR:\s*/).slice(1);
  return blocks.some((b) => {
    const aor = b.split(/\s/, 1)[0] ?? '';
    return (aor === user || aor.startsWith(`${user}@`)) && /\bAddress:\s*\S+/.test(b);
  });
}

/**
 * Polls registrars every `everyMs` until one holds `user`; returns which and when (performance.now()
 * after the answering poll), or undefined after `boundMs`. The same measure for every client.
 */
export async function pollUntilHeld(
  registrars: Kamailio[],
  user: string,
  opts: { boundMs: number; everyMs: number; since: number; abort?: () => string | undefined },
): Promise<{ at: number; registrar: string } | { aborted: string } | undefined> {
  const end = opts.since + opts.boundMs;
  for (;;) {
    const tick = performance.now();
    for (const k of registrars) {
      if (await k.holds(user)) return { at: performance.now(), registrar: k.addr };
    }
    const why = opts.abort?.();
    if (why !== undefined) return { aborted: why };
    if (performance.now() > end) return undefined;
    const wait = opts.everyMs - (performance.now() - tick);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}
