/**
 * Failover scenarios of project issue 7, as data. Addresses are inside the bench's own namespace.
 * "Dead" targets are black-holed with iptables DROP: a TCP connect then gets no SYN-ACK and no
 * RST, the worst case for a client (it waits for its own connect/transaction timer).
 */
import type { DnsZone, SrvRecord } from './dnsmasq.js';

export const DOMAIN = 'acme.test';
export const USER = 'alice';
export const AOR = `sip:${USER}@${DOMAIN}`;
export const DNS_ADDR = '127.0.0.72';
export const DNS_PORT = 53;
export const REG_A = '127.0.0.71';
export const REG_B = '127.0.0.73';
export const DEAD = ['127.0.0.81', '127.0.0.82'] as const;

export const HOSTS: Record<string, string> = {
  [`sip1.${DOMAIN}`]: REG_A,
  [`sip2.${DOMAIN}`]: REG_B,
  [`dead1.${DOMAIN}`]: DEAD[0],
  [`dead2.${DOMAIN}`]: DEAD[1],
};

export type ScenarioId = 'none' | 'dead1' | 'dead2' | 'killed' | 'blackholed' | 'comeback';

/**
 * start: measured from client start until the live registrar holds the contact.
 * kill-a / blackhole-a: client first registers on A; measured from the event until B holds it.
 * a-returns: A is down at start, client registers on B; measured from A being back until A holds it.
 */
export type Phase = 'start' | 'kill-a' | 'blackhole-a' | 'a-returns';

export interface Scenario {
  id: ScenarioId;
  title: string;
  phase: Phase;
  /** SRV targets, in priority order, by host name (see HOSTS). */
  srv: Array<{ host: string; priority: number }>;
  /** Registrars to run (A only, or A and B). */
  registrars: Array<'A' | 'B'>;
  /** Addresses black-holed before the client starts. */
  deadAtStart: string[];
  /** siplogon target from issue 7, in ms (undefined: none set). */
  targetMs: number | undefined;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'none',
    title: 'no dead target',
    phase: 'start',
    srv: [{ host: `sip1.${DOMAIN}`, priority: 10 }],
    registrars: ['A'],
    deadAtStart: [],
    targetMs: undefined,
  },
  {
    id: 'dead1',
    title: '1 dead leading SRV target',
    phase: 'start',
    srv: [
      { host: `dead1.${DOMAIN}`, priority: 10 },
      { host: `sip1.${DOMAIN}`, priority: 20 },
    ],
    registrars: ['A'],
    deadAtStart: [DEAD[0]],
    targetMs: 250,
  },
  {
    id: 'dead2',
    title: '2 dead leading SRV targets',
    phase: 'start',
    srv: [
      { host: `dead1.${DOMAIN}`, priority: 10 },
      { host: `dead2.${DOMAIN}`, priority: 20 },
      { host: `sip1.${DOMAIN}`, priority: 30 },
    ],
    registrars: ['A'],
    deadAtStart: [DEAD[0], DEAD[1]],
    targetMs: 500,
  },
  {
    id: 'killed',
    title: 'registrar killed while registered (backup in SRV)',
    phase: 'kill-a',
    srv: [
      { host: `sip1.${DOMAIN}`, priority: 10 },
      { host: `sip2.${DOMAIN}`, priority: 20 },
    ],
    registrars: ['A', 'B'],
    deadAtStart: [],
    targetMs: 500,
  },
  {
    id: 'blackholed',
    title: 'registrar black-holed while registered (backup in SRV)',
    phase: 'blackhole-a',
    srv: [
      { host: `sip1.${DOMAIN}`, priority: 10 },
      { host: `sip2.${DOMAIN}`, priority: 20 },
    ],
    registrars: ['A', 'B'],
    deadAtStart: [],
    targetMs: 10_000,
  },
  {
    id: 'comeback',
    title: 'preferred registrar comes back',
    phase: 'a-returns',
    srv: [
      { host: `sip1.${DOMAIN}`, priority: 10 },
      { host: `sip2.${DOMAIN}`, priority: 20 },
    ],
    registrars: ['A', 'B'],
    deadAtStart: [],
    targetMs: 5_000,
  },
];

export function scenarioById(id: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.id === id);
}

/** Parses `--scenarios a,b` (or `all`); unknown names are an error listing the valid ones. */
export function parseScenarioList(list: string | undefined): Scenario[] {
  if (list === undefined || list === '' || list === 'all') return [...SCENARIOS];
  const out: Scenario[] = [];
  for (const raw of list.split(',')) {
    const id = raw.trim();
    const s = scenarioById(id);
    if (!s) throw new Error(`unknown scenario "${id}" (valid: ${SCENARIOS.map((x) => x.id).join(', ')})`);
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/** The DNS zone for a scenario: the same SRV list under the Lync TCP name and the plain RFC 3263 one. */
export function zoneFor(s: Scenario): DnsZone {
  const recs: SrvRecord[] = s.srv.map((t) => ({ host: t.host, port: 5060, priority: t.priority, weight: 0 }));
  return {
    domain: DOMAIN,
    srv: { [`_sip._tcp.${DOMAIN}`]: recs, [`_sipinternal._tcp.${DOMAIN}`]: recs },
    a: { ...HOSTS },
  };
}
