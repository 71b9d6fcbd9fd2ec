/**
 * Pure helpers of bench/fleet: device names, percentiles, the SIPp REGISTER scenario and its CSV
 * injection file, the ul.dump contact count, and the markdown table.
 */

export const FLEET_USER_PREFIX = 'fleet';
/** Kamailio regex matching every fleet user (anchored; see kamailioConfig's userPattern). */
export const FLEET_USER_REGEX = `^${FLEET_USER_PREFIX}[0-9]+$`;

/** fleet00000, fleet00001, …: fixed width keeps the names sortable and the same length. */
export function fleetUser(i: number, n: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`device index ${i} outside 0..${n - 1}`);
  return `${FLEET_USER_PREFIX}${String(i).padStart(Math.max(5, String(n - 1).length), '0')}`;
}

/**
 * Nearest-rank percentile (p in (0, 100]): the smallest value with at least p % of the values at or
 * below it. No interpolation, so p99 of 1 000 samples is an observed sample (the 990th).
 */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile wants 0 < p ≤ 100, got ${p}`);
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length, Math.max(1, rank)) - 1];
}

/** "1000,10000" → [1000, 10000]; positive integers, at most 100 000, duplicates dropped. */
export function parseFleetSizes(v: string | undefined, dflt: readonly number[]): number[] {
  if (v === undefined) return [...dflt];
  const out: number[] = [];
  for (const raw of v.split(',')) {
    const n = Number(raw.trim());
    if (!Number.isInteger(n) || n <= 0 || n > 100_000) throw new Error(`--fleet-n wants integers 1..100000, got "${raw}"`);
    if (!out.includes(n)) out.push(n);
  }
  if (out.length === 0) throw new Error('--fleet-n is empty');
  return out;
}

function xmlSafe(what: string, v: string): string {
  // Everything we put into the scenario/CSV is our own; refuse anything that could change the
  // SIP message, the XML, or the CSV field split rather than escape it.
  if (!/^[A-Za-z0-9._-]+$/.test(v)) throw new Error(`${what} must be [A-Za-z0-9._-]+, got "${v}"`);
  return v;
}

/**
 * SIPp injection file: SEQUENTIAL, one line per call: user;domain;[authentication …] (fields 0,
 * 1, 2). SIPp 3.6 does not expand [fieldN] inside the [authentication] keyword of a scenario, but
 * it does expand a whole keyword held in a field, so field 2 carries user and password per call.
 * The password is the bench-only credential of a registrar inside a private namespace.
 */
export function sippCsv(n: number, domain: string, password: string): string {
  xmlSafe('domain', domain);
  xmlSafe('password', password);
  const lines = ['SEQUENTIAL'];
  for (let i = 0; i < n; i++) {
    const u = fleetUser(i, n);
    lines.push(`${u};${domain};[authentication username=${u} password=${password}];`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * REGISTER with digest (RFC 3261 §22.2): REGISTER → 401 → REGISTER with [authentication]
 * (SIPp computes the answer from the challenge, user/password from the CSV) → 200. One call per
 * user. The second REGISTER reuses Call-ID and raises CSeq, as RFC 3261 §10.2.4 asks of a UA.
 */
export function sippRegisterScenario(o: { expires: number }): string {
  if (!Number.isInteger(o.expires) || o.expires <= 0) throw new Error(`expires must be a positive integer, got ${o.expires}`);
  const register = (cseq: number, auth: boolean): string => `  <send retrans="500">
    <![CDATA[

      REGISTER sip:[field1] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:[field0]@[field1]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@[field1]>
      Call-ID: [call_id]
      CSeq: ${cseq} REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
      Expires: ${o.expires}
${auth ? '      [field2]\n' : ''}      User-Agent: sipp-fleet
      Content-Length: 0

    ]]>
  </send>
`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="fleet register with digest">
${register(1, false)}  <recv response="401" auth="true"/>
${register(2, true)}  <recv response="200" crlf="true"/>
</scenario>
`;
}

/**
 * `kamcmd stats.get_statistics usrloc:` → contacts and AoRs in the location table. ul.dump cannot
 * count a fleet: above ~1 000 AoRs the binrpc reply overflows ("reply too big").
 */
export function parseUsrlocStats(text: string): { contacts: number; users: number } | undefined {
  const get = (name: string): number | undefined => {
    const m = new RegExp(`^usrloc:${name}\\s*=\\s*(\\d+)\\s*$`, 'm').exec(text);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  };
  const contacts = get('location_contacts');
  const users = get('location_users');
  return contacts === undefined || users === undefined ? undefined : { contacts, users };
}

/** Number of AoRs in `kamcmd ul.dump` output that hold at least one contact address. */
export function countHeldAors(dump: string): number {
  let n = 0;
  for (const block of dump.split(/\bAoR:\s*/).slice(1)) if (/\bAddress:\s*\S+/.test(block)) n++;
  return n;
}

export interface FleetResult {
  client: 'siplogon' | 'siplogon-shared-dns' | 'siplogon-no-dns' | 'sipp';
  n: number;
  concurrency: number;
  ok: number;
  failed: number;
  /** First start → last success, ms. */
  wallMs: number;
  perSecond: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  /** Contacts Kamailio held at the end (ul.dump). */
  held: number;
  /** (after all registered − before) / N, bytes; siplogon only. */
  heapPerDevice?: number | undefined;
  rssPerDevice?: number | undefined;
  gcForced?: boolean;
  /** CPU time of the device process over the sign-in phase, ms; siplogon only. */
  cpuMs?: number;
  error?: string;
}

const kb = (b: number | undefined): string => (b === undefined ? '—' : `${(b / 1024).toFixed(1)} KB`);
const ms = (v: number | undefined): string => (v === undefined ? '—' : v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(2)} s`);

export function formatFleetTable(rows: readonly FleetResult[]): string {
  const head = '| N | client | signed in | held by Kamailio | sign-ins/s | p50 | p99 | heap / device | RSS / device | rate vs SIPp | target |';
  const sep = '|---|---|---|---|---|---|---|---|---|---|---|';
  const lines = rows.map((r) => {
    const sipp = rows.find((x) => x.client === 'sipp' && x.n === r.n && x.error === undefined);
    const ratio = r.client !== 'sipp' && sipp && sipp.perSecond > 0 && r.error === undefined ? `${(r.perSecond / sipp.perSecond).toFixed(2)}×` : '—';
    const target = r.client !== 'sipp' ? '≥ SIPp rate; ≤ 20 KB/device' : '—';
    if (r.error !== undefined) return `| ${r.n} | ${r.client} | ERROR ${r.error.replace(/\|/g, '/')} | | | | | | | | ${target} |`;
    return `| ${r.n} | ${r.client} | ${r.ok}/${r.n}${r.failed > 0 ? ` (${r.failed} failed)` : ''} | ${r.held} | ${r.perSecond.toFixed(0)} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${kb(r.heapPerDevice)} | ${kb(r.rssPerDevice)} | ${ratio} | ${target} |`;
  });
  return [head, sep, ...lines].join('\n');
}
