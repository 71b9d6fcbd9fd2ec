/**
 * One failover measurement: a fresh namespace, DNS and registrars per run (no state leaks between
 * clients or runs), the client started, the scenario's event applied, and the time until Kamailio
 * holds the contact read from `kamcmd ul.dump` — the same measure for every client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns } from './lib/netns.js';
import { Dnsmasq } from './lib/dnsmasq.js';
import { Kamailio, pollUntilHeld } from './lib/kamailio.js';
import { RUNNERS, type ClientName } from './lib/clients.js';
import { earlyExit, sleep, type Background } from './lib/proc.js';
import { DNS_ADDR, DNS_PORT, DOMAIN, HOSTS, REG_A, REG_B, USER, zoneFor, type Scenario } from './lib/scenarios.js';
import type { Outcome } from './lib/stats.js';

export interface RunOptions {
  /** Give up on a measurement after this long (printed as "> bound"). */
  boundMs: number;
  /** ul.dump poll period. */
  pollMs: number;
  /** Time in steady state after the first registration, before the event. */
  settleMs: number;
  peerExpires: number;
  siplogonMain: string;
  siplogonArgs?: string[];
  keepLogs: boolean;
  log: (line: string) => void;
}

// A bench-only credential for a throwaway registrar inside a private namespace.
const PASSWORD = 'bench-only-7f3a';

export async function runOnce(scn: Scenario, client: ClientName, o: RunOptions): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), `slb-${scn.id}-${client}-`));
  const regs: Record<'A' | 'B', Kamailio | undefined> = { A: undefined, B: undefined };
  let dns: Dnsmasq | undefined;
  let proc: Background | undefined;
  const mk = (addr: string, name: string) =>
    new Kamailio(ns, { addr, domain: DOMAIN, users: { [USER]: PASSWORD }, dir: join(dir, name) });
  let ns: Netns;
  try {
    ns = await Netns.create({ nameserver: DNS_ADDR, hosts: HOSTS });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
  }
  try {
    dns = new Dnsmasq(ns, DNS_ADDR, DNS_PORT, zoneFor(scn), dir);
    await dns.start();
    for (const addr of scn.deadAtStart) await ns.blackhole(addr);
    for (const r of scn.registrars) regs[r] = mk(r === 'A' ? REG_A : REG_B, r);
    // a-returns: the preferred registrar is down (connection refused) when the client starts.
    for (const r of scn.registrars) if (!(scn.phase === 'a-returns' && r === 'A')) await regs[r]!.start();
    const a = regs.A!;
    const b = regs.B;

    const runner = RUNNERS[client];
    const exitedEarly = (): string | undefined => earlyExit(client, proc);
    const t0 = performance.now();
    proc = runner.start({
      ns,
      dir,
      user: USER,
      domain: DOMAIN,
      password: PASSWORD,
      dnsAddr: DNS_ADDR,
      dnsPort: DNS_PORT,
      peerExpires: o.peerExpires,
      siplogonMain: o.siplogonMain,
      siplogonArgs: o.siplogonArgs,
    });

    const measure = async (on: Kamailio[], since: number): Promise<Outcome> => {
      const r = await pollUntilHeld(on, USER, { boundMs: o.boundMs, everyMs: o.pollMs, since, abort: exitedEarly });
      if (r === undefined) return { kind: 'timeout', boundMs: o.boundMs };
      if ('aborted' in r) return { kind: 'error', message: r.aborted };
      return { kind: 'ok', ms: r.at - since, registrar: r.registrar };
    };

    if (scn.phase === 'start') return await measure([a], t0);

    // Phase 1: reach the steady state the event interrupts.
    const first = scn.phase === 'a-returns' ? b! : a;
    const pre = await measure([first], t0);
    if (pre.kind !== 'ok') {
      return { kind: 'error', message: `setup: never registered on ${first.addr} (${pre.kind === 'error' ? pre.message : 'bound hit'})` };
    }
    o.log(`    registered on ${first.addr} after ${Math.round(pre.ms)} ms; event in ${o.settleMs} ms`);
    await sleep(o.settleMs);

    let since: number;
    let target: Kamailio;
    if (scn.phase === 'kill-a') {
      since = performance.now();
      await a.kill();
      target = b!;
    } else if (scn.phase === 'blackhole-a') {
      await ns.blackhole(REG_A);
      since = performance.now();
      target = b!;
    } else {
      await a.start();
      since = performance.now();
      target = a;
    }
    return await measure([target], since);
  } catch (err) {
    return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
  } finally {
    await proc?.stop(2_000).catch(() => undefined);
    for (const k of [regs.A, regs.B]) await k?.stop().catch(() => undefined);
    await dns?.stop().catch(() => undefined);
    await ns.delete();
    if (o.keepLogs) o.log(`    logs: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
