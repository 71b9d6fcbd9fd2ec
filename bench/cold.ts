/**
 * bench/cold: sign-in time from client start until Kamailio holds the contact, with an injected
 * RTT on the DNS (UDP) and registrar (TCP) paths via the bench's own delay relay. Reported as
 * time and as round trips over the RTT-0 baseline: (t(RTT) − t(0)) / RTT, which removes process
 * start-up and local work so what is left is the number of sequential network round trips.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Netns } from './lib/netns.js';
import { Dnsmasq } from './lib/dnsmasq.js';
import { Kamailio, pollUntilHeld } from './lib/kamailio.js';
import { RUNNERS, type ClientName } from './lib/clients.js';
import { earlyExit, startBackground, waitFor, type Background } from './lib/proc.js';
import { DNS_ADDR, DOMAIN, REG_A, USER } from './lib/scenarios.js';
import type { Outcome } from './lib/stats.js';
import type { DnsZone } from './lib/dnsmasq.js';

export const RELAY_DNS = '127.0.0.62';
export const RELAY_SIP = '127.0.0.61';
export const COLD_RTTS = [0, 20, 100] as const;
/**
 * Sequential round trips through the relay for an SRV-based TCP sign-in: SRV query (dnsmasq puts
 * the target's A record in the additional section, RFC 2782, so no separate A query is needed),
 * REGISTER → 401, REGISTER → 200. The TCP handshake with the relay is not delayed.
 */
export const COLD_MIN_ROUND_TRIPS = 3;

const PASSWORD = 'bench-only-7f3a';
const relayMain = resolve(fileURLToPath(new URL('.', import.meta.url)), 'lib', 'relay.js');

export function coldZone(): DnsZone {
  // The registrar's A record is the relay, so every SIP byte crosses the delay.
  return {
    domain: DOMAIN,
    srv: {
      [`_sip._tcp.${DOMAIN}`]: [{ host: `sip1.${DOMAIN}`, port: 5060, priority: 10, weight: 0 }],
      [`_sipinternal._tcp.${DOMAIN}`]: [{ host: `sip1.${DOMAIN}`, port: 5060, priority: 10, weight: 0 }],
    },
    a: { [`sip1.${DOMAIN}`]: RELAY_SIP },
  };
}

export interface ColdOptions {
  boundMs: number;
  pollMs: number;
  peerExpires: number;
  siplogonMain: string;
  siplogonArgs?: string[];
  keepLogs: boolean;
  log: (line: string) => void;
}

export async function runCold(client: ClientName, rttMs: number, o: ColdOptions): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), `slb-cold-${client}-`));
  let dns: Dnsmasq | undefined;
  let reg: Kamailio | undefined;
  let relay: Background | undefined;
  let proc: Background | undefined;
  let ns: Netns;
  try {
    ns = await Netns.create({ nameserver: RELAY_DNS, hosts: {} });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
  }
  try {
    dns = new Dnsmasq(ns, DNS_ADDR, 53, coldZone(), dir);
    await dns.start();
    reg = new Kamailio(ns, { addr: REG_A, domain: DOMAIN, users: { [USER]: PASSWORD }, dir: join(dir, 'A') });
    await reg.start();
    const [c, a] = ns.exec(process.execPath, [relayMain, String(rttMs), `udp:${RELAY_DNS}:53=${DNS_ADDR}:53`, `tcp:${RELAY_SIP}:5060=${REG_A}:5060`]);
    relay = startBackground(c, a, { logFile: join(dir, 'relay.log') });
    const r = relay;
    await waitFor(
      'delay relay',
      async () => {
        if (r.hasExited()) throw new Error('delay relay exited at start; see relay.log');
        return (await ns.listening('tcp', RELAY_SIP, 5060)) && (await ns.listening('udp', RELAY_DNS, 53)) ? true : undefined;
      },
      5_000,
    );
    const t0 = performance.now();
    proc = RUNNERS[client].start({
      ns,
      dir,
      user: USER,
      domain: DOMAIN,
      password: PASSWORD,
      dnsAddr: RELAY_DNS,
      dnsPort: 53,
      peerExpires: o.peerExpires,
      siplogonMain: o.siplogonMain,
      siplogonArgs: o.siplogonArgs,
    });
    const p = proc;
    const held = await pollUntilHeld([reg], USER, {
      boundMs: o.boundMs,
      everyMs: o.pollMs,
      since: t0,
      abort: () => earlyExit(client, p),
    });
    if (held === undefined) return { kind: 'timeout', boundMs: o.boundMs };
    if ('aborted' in held) return { kind: 'error', message: held.aborted };
    return { kind: 'ok', ms: held.at - t0, registrar: held.registrar };
  } catch (err) {
    return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
  } finally {
    await proc?.stop(2_000).catch(() => undefined);
    await relay?.stop(500).catch(() => undefined);
    await reg?.stop().catch(() => undefined);
    await dns?.stop().catch(() => undefined);
    await ns.delete();
    if (o.keepLogs) o.log(`    logs: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
