/**
 * bench/fleet (issue 7, part 3): N devices signing in through full discovery (dnsmasq SRV + A)
 * to one Kamailio over TCP with digest, from ONE node process inside the bench namespace; beside
 * SIPp sending the same REGISTER/401/REGISTER/200 load to the same Kamailio configuration. Both
 * run with the same number of sign-ins in flight. Reported: sign-ins/s, p50/p99 of per-device
 * sign-in time (siplogon), memory per signed-in device, and how many contacts Kamailio holds.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Netns } from './lib/netns.js';
import { Dnsmasq, type DnsZone } from './lib/dnsmasq.js';
import { KAMCMD_BIN, Kamailio, dumpHoldsContact, type KamailioTuning } from './lib/kamailio.js';
import { logTail, run } from './lib/proc.js';
import { DNS_ADDR, DNS_PORT, DOMAIN, REG_A } from './lib/scenarios.js';
import { FLEET_USER_REGEX, countHeldAors, fleetUser, parseUsrlocStats, sippCsv, sippRegisterScenario, type FleetResult } from './lib/fleet.js';

export const SIPP_BIN = '/usr/bin/sipp';
/**
 * siplogon: every device asks DNS itself (desk phones). siplogon-shared-dns: the devices share one
 * DnsCache, as the lines of one gateway process would (TTL-bound answers, identical questions in
 * flight asked once; NXDOMAIN without an SOA, as dnsmasq sends it, is never cached).
 * siplogon-no-dns: for comparison only, not the measure: every device is given the
 * registrar and its address (--target-fqdn with a static host), as SIPp is — no discovery at all.
 */
export type FleetClient = 'siplogon' | 'siplogon-shared-dns' | 'siplogon-no-dns' | 'sipp';
export const FLEET_CLIENTS: readonly FleetClient[] = ['siplogon', 'siplogon-shared-dns', 'siplogon-no-dns', 'sipp'];
type SiplogonVariant = Exclude<FleetClient, 'sipp'>;
/** A zone TTL like a real site's, so the shared cache can keep what it is allowed to. */
export const FLEET_DNS_TTL_S = 300;

// A bench-only credential shared by every fleet user of a throwaway registrar in a private namespace.
const PASSWORD = 'bench-only-fleet-5c1e';
// Raised for the device process, SIPp and Kamailio alike: one socket per device (+ DNS sockets).
// Capped at the hard limit: a container without CAP_SYS_RESOURCE cannot go above it (here 20 000).
const NOFILE_WANTED = 65_536;
let nofileCache: number | undefined;
export function nofile(): number {
  if (nofileCache === undefined) {
    const hard = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8', timeout: 5_000 }).stdout?.trim();
    nofileCache = hard === 'unlimited' ? NOFILE_WANTED : Math.min(NOFILE_WANTED, Number(hard) || 1_024);
  }
  return nofileCache;
}
const devicesMain = resolve(fileURLToPath(new URL('.', import.meta.url)), 'fleet-devices.js');

export interface FleetOptions {
  /** Sign-ins in flight at once (siplogon workers, SIPp -l). */
  concurrency: number;
  /** Whole-run bound: the client must be done by then. */
  boundMs: number;
  /** Per-device bound inside the siplogon process. */
  deviceBoundMs: number;
  keepLogs: boolean;
  log: (line: string) => void;
}

export function fleetZone(): DnsZone {
  // Full discovery: the device asks SRV and gets the registrar's A record with it (RFC 2782).
  return {
    domain: DOMAIN,
    srv: {
      [`_sip._tcp.${DOMAIN}`]: [{ host: `sip1.${DOMAIN}`, port: 5060, priority: 10, weight: 0 }],
      [`_sipinternal._tcp.${DOMAIN}`]: [{ host: `sip1.${DOMAIN}`, port: 5060, priority: 10, weight: 0 }],
    },
    a: { [`sip1.${DOMAIN}`]: REG_A },
  };
}

export function fleetKamailioTuning(n: number): KamailioTuning {
  // tcp_max_connections defaults to 2048; every device holds one (SIPp closes its per call, but
  // a closing connection still counts until the worker releases it).
  const conns = Math.max(2_048, n + 2_048);
  return {
    children: 1,
    tcpChildren: 4,
    tcpMaxConnections: conns,
    openFilesLimit: Math.min(nofile(), conns + 1_024),
    usrlocHashSize: 14,
    shmMb: n > 2_000 ? 512 : 128,
  };
}

/** `sh -c 'ulimit -n 65536 && exec …'`: the open-file limit is raised for the child only. */
function withNofile(cmd: string, args: string[]): [string, string[]] {
  return ['sh', ['-c', `ulimit -n ${nofile()} && exec "$0" "$@"`, cmd, ...args]];
}

interface Child {
  pid: number;
  exited: Promise<number | null>;
  done: () => boolean;
  kill: () => void;
}

function spawnIn(ns: Netns, cmd: string, args: string[], o: { logFile: string; env?: NodeJS.ProcessEnv; onStdout?: (s: string) => void }): Child & { stdinEnd: () => void } {
  const [c, a] = ns.exec(...withNofile(cmd, args));
  const fd = openSync(o.logFile, 'a');
  const child = spawn(c, a, { detached: true, stdio: ['pipe', o.onStdout ? 'pipe' : fd, fd], env: o.env ?? process.env });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  let done = false;
  const exited = new Promise<number | null>((res) => {
    child.on('exit', (code) => {
      done = true;
      res(code);
    });
    child.on('error', () => {
      done = true;
      res(null);
    });
  });
  if (o.onStdout) child.stdout?.setEncoding('utf8').on('data', o.onStdout);
  child.stdin?.on('error', () => undefined);
  return {
    pid,
    exited,
    done: () => done,
    kill: () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    },
    stdinEnd: () => child.stdin?.end(),
  };
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_r, rej) => (t = setTimeout(() => rej(new Error(`${what}: no result within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/**
 * Contacts Kamailio holds, from its usrloc statistics; cross-checked by ul.dump's count when the
 * dump still fits in a binrpc reply (small N), and by looking up the first and the last device.
 */
async function heldCount(k: Kamailio, n: number): Promise<number> {
  const kamcmd = (args: string[]) => run(KAMCMD_BIN, ['-s', `unix:${k.ctlSocket}`, ...args], { timeoutMs: 10_000 });
  const st = await kamcmd(['stats.get_statistics', 'usrloc:']);
  const stats = parseUsrlocStats(st.stdout);
  if (st.code !== 0 || !stats) throw new Error(`kamcmd stats.get_statistics usrloc: failed: ${st.stderr.trim() || st.stdout.trim()}`);
  if (stats.users !== stats.contacts) throw new Error(`Kamailio holds ${stats.contacts} contacts for ${stats.users} AoRs (expected one each)`);
  const dump = await k.dump();
  // A dump too big for binrpc comes back as an error (exit 255) or as "error: 500 …" (exit 0).
  if (dump !== undefined && /\bDomains:/.test(dump) && countHeldAors(dump) !== stats.contacts) throw new Error(`ul.dump counts ${countHeldAors(dump)} AoRs, usrloc stats ${stats.contacts}`);
  for (const i of stats.contacts === n ? [0, n - 1] : []) {
    const u = fleetUser(i, n);
    const r = await kamcmd(['ul.lookup', 'location', u]);
    if (r.code !== 0 || !dumpHoldsContact(r.stdout, u)) throw new Error(`usrloc stats say all ${n} held, but ul.lookup ${u} finds no contact`);
  }
  return stats.contacts;
}

async function runSiplogon(ns: Netns, k: Kamailio, n: number, dir: string, o: FleetOptions, variant: SiplogonVariant): Promise<FleetResult> {
  let buf = '';
  let resolveLine: (l: string) => void = () => undefined;
  const line = new Promise<string>((r) => (resolveLine = r));
  // SLB_FLEET_NODE_ARGS: extra node flags for the device process (e.g. --cpu-prof), for digging.
  const extra = (process.env.SLB_FLEET_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
  const child = spawnIn(ns, process.execPath, ['--expose-gc', ...extra, devicesMain, String(n), String(o.concurrency), DOMAIN, `${DNS_ADDR}:${DNS_PORT}`, String(o.deviceBoundMs)], {
    logFile: join(dir, 'siplogon-fleet.log'),
    // The password goes through the environment only, never argv (visible in ps).
    env: { ...process.env, FLEET_PW: PASSWORD, ...(variant === 'siplogon-shared-dns' ? { SLB_FLEET_SHARED_DNS: '1' } : {}), ...(variant === 'siplogon-no-dns' ? { SLB_FLEET_TARGET: `sip1.${DOMAIN}=${REG_A}` } : {}) },
    onStdout: (s) => {
      buf += s;
      const m = /^FLEET_RESULT (.*)$/m.exec(buf);
      if (m?.[1] !== undefined) resolveLine(m[1]);
    },
  });
  try {
    const early = child.exited.then((code) => {
      throw new Error(`device process exited (${code}) before its result: ${logTail(join(dir, 'siplogon-fleet.log'))}`);
    });
    const raw = await bounded(Promise.race([line, early]), o.boundMs, 'siplogon fleet');
    const r = JSON.parse(raw) as FleetResult & { failedCodes: Record<string, number>; before: unknown; after: unknown };
    if (r.failed > 0) o.log(`    failed devices by code: ${JSON.stringify(r.failedCodes)}`);
    o.log(`    memory before ${JSON.stringify(r.before)} after ${JSON.stringify(r.after)}`);
    const cacheStats = (r as { dnsCache?: unknown }).dnsCache;
    if (cacheStats !== undefined) o.log(`    shared DNS cache ${JSON.stringify(cacheStats)}`);
    if (r.cpuMs !== undefined) o.log(`    device process CPU ${Math.round(r.cpuMs)} ms over ${Math.round(r.wallMs)} ms wall (${((100 * r.cpuMs) / Math.max(1, r.wallMs)).toFixed(0)} %)`);
    const held = await heldCount(k, n);
    return { ...r, client: variant, held };
  } finally {
    child.stdinEnd();
    await bounded(child.exited, 5_000, 'device process exit').catch(() => child.kill());
    child.kill();
  }
}

/**
 * SIPp's last statistics line (-trace_stat): successful/failed call counts, and the time from its
 * StartTime to its CurrentTime (each "date<TAB>time<TAB>epoch.micro"; ElapsedTime only has seconds).
 */
export function parseSippStat(csv: string): { elapsedMs: number; ok: number; failed: number } | undefined {
  const lines = csv.trim().split('\n');
  const head = lines[0]?.split(';');
  const last = lines[lines.length - 1]?.split(';');
  if (!head || !last || lines.length < 2) return undefined;
  const col = (name: string): string | undefined => {
    const i = head.indexOf(name);
    return i < 0 ? undefined : last[i];
  };
  const epoch = (v: string | undefined): number => Number(v?.split('\t')[2]);
  const elapsedMs = (epoch(col('CurrentTime')) - epoch(col('StartTime'))) * 1000;
  const ok = Number(col('SuccessfulCall(C)'));
  const failed = Number(col('FailedCall(C)'));
  if (!Number.isFinite(elapsedMs) || elapsedMs < 0 || !Number.isInteger(ok) || !Number.isInteger(failed)) return undefined;
  return { elapsedMs, ok, failed };
}

async function runSipp(ns: Netns, k: Kamailio, n: number, dir: string, o: FleetOptions): Promise<FleetResult> {
  const scenario = join(dir, 'register.xml');
  const csv = join(dir, 'users.csv');
  const stat = join(dir, 'sipp-stat.csv');
  writeFileSync(scenario, sippRegisterScenario({ expires: 600 }), { mode: 0o600 });
  writeFileSync(csv, sippCsv(n, DOMAIN, PASSWORD), { mode: 0o600 });
  const args = [
    `${REG_A}:5060`,
    '-sf', scenario,
    '-inf', csv,
    '-t', 'tn', // one TCP connection per call, as each siplogon device has its own
    '-i', '127.0.0.1',
    '-m', String(n),
    '-l', String(o.concurrency),
    '-r', '100000', // as fast as it goes; -l is the real limit
    '-max_socket', String(nofile() - 1_024),
    '-recv_timeout', String(o.deviceBoundMs),
    '-timeout', `${Math.ceil(o.boundMs / 1000)}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_stat', '-stf', stat, '-fd', '1',
    '-trace_err', '-error_file', join(dir, 'sipp-errors.log'),
  ];
  const t0 = performance.now();
  const child = spawnIn(ns, SIPP_BIN, args, { logFile: join(dir, 'sipp.log') });
  try {
    const code = await bounded(child.exited, o.boundMs + 10_000, 'sipp');
    const wall = performance.now() - t0;
    const s = existsSync(stat) ? parseSippStat(readFileSync(stat, 'utf8')) : undefined;
    const held = await heldCount(k, n);
    if (!s) throw new Error(`sipp exited (${code}) without statistics: ${logTail(join(dir, 'sipp.log'))}`);
    if (code !== 0) o.log(`    sipp exit ${code}: ${logTail(join(dir, 'sipp-errors.log'), 200)}`);
    // SIPp's own clock when it has one (it excludes process start); wall time as a cross-check.
    const ms = s.elapsedMs > 0 ? s.elapsedMs : wall;
    o.log(`    sipp elapsed ${ms} ms (wall incl. start ${Math.round(wall)} ms)`);
    return { client: 'sipp', n, concurrency: o.concurrency, ok: s.ok, failed: s.failed, wallMs: ms, perSecond: (s.ok * 1000) / ms, p50Ms: undefined, p99Ms: undefined, held };
  } finally {
    child.kill();
  }
}

/** One measurement: fresh namespace, dnsmasq and Kamailio; always torn down. */
export async function runFleet(client: FleetClient, n: number, o: FleetOptions): Promise<FleetResult> {
  const dir = mkdtempSync(join(tmpdir(), `slb-fleet-${client}-`));
  let dns: Dnsmasq | undefined;
  let reg: Kamailio | undefined;
  const fail = (err: unknown): FleetResult => ({
    client,
    n,
    concurrency: o.concurrency,
    ok: 0,
    failed: 0,
    wallMs: 0,
    perSecond: 0,
    p50Ms: undefined,
    p99Ms: undefined,
    held: 0,
    error: err instanceof Error ? err.message : String(err),
  });
  let ns: Netns;
  try {
    ns = await Netns.create({ nameserver: DNS_ADDR, hosts: {} });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return fail(err);
  }
  try {
    dns = new Dnsmasq(ns, DNS_ADDR, DNS_PORT, fleetZone(), dir, { logQueries: false, ttl: FLEET_DNS_TTL_S });
    await dns.start();
    reg = new Kamailio(ns, {
      addr: REG_A,
      domain: DOMAIN,
      users: {},
      userPattern: { userRegex: FLEET_USER_REGEX, password: PASSWORD },
      tuning: fleetKamailioTuning(n),
      dir: join(dir, 'A'),
    });
    await reg.start();
    return client === 'sipp' ? await runSipp(ns, reg, n, dir, o) : await runSiplogon(ns, reg, n, dir, o, client);
  } catch (err) {
    return fail(err);
  } finally {
    await reg?.stop().catch(() => undefined);
    await dns?.stop().catch(() => undefined);
    await ns.delete();
    if (o.keepLogs) o.log(`    logs: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

export function checkFleetClient(c: FleetClient): void {
  if (c === 'sipp' && !existsSync(SIPP_BIN)) throw new Error(`${SIPP_BIN} is missing: apt-get install sip-tester`);
  if (c !== 'sipp' && !existsSync(devicesMain)) throw new Error(`${devicesMain} is missing: run \`npm run build\``);
}
