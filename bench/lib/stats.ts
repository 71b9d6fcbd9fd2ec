/** Pure helpers: outcomes, medians, ratios and the markdown table. */

export type Outcome = { kind: 'ok'; ms: number; registrar: string } | { kind: 'timeout'; boundMs: number } | { kind: 'error'; message: string };

export interface Summary {
  /** Median in ms; Infinity when the median run hit the bound; undefined when no valid run. */
  medianMs: number | undefined;
  boundMs: number | undefined;
  runs: number;
  errors: number;
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const hi = s[mid] as number;
  if (s.length % 2 === 1) return hi;
  const lo = s[mid - 1] as number;
  // Infinity - Infinity is NaN: two timed-out middles are still "over the bound".
  return lo === Infinity ? Infinity : (lo + hi) / 2;
}

/** Timeouts count as +Infinity (slower than anything measured); errors are left out. */
export function summarize(outcomes: readonly Outcome[]): Summary {
  const vals: number[] = [];
  let bound: number | undefined;
  let errors = 0;
  for (const o of outcomes) {
    if (o.kind === 'ok') vals.push(o.ms);
    else if (o.kind === 'timeout') {
      vals.push(Infinity);
      bound = Math.max(bound ?? 0, o.boundMs);
    } else errors++;
  }
  return { medianMs: median(vals), boundMs: bound, runs: outcomes.length, errors };
}

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
}

export function formatSummary(s: Summary | undefined): string {
  if (!s || s.runs === 0) return '—';
  if (s.medianMs === undefined) return `error (${s.errors}/${s.runs})`;
  const v = s.medianMs === Infinity ? `> ${formatSeconds(s.boundMs ?? 0).replace(/\.0+ s$/, ' s')}` : formatSeconds(s.medianMs);
  return s.errors > 0 ? `${v} (${s.errors} err)` : v;
}

/** peer/siplogon; "> x" when the peer hit its bound (the true ratio is at least that). */
export function formatRatio(peer: Summary | undefined, base: Summary | undefined): string {
  const p = peer?.medianMs;
  const b = base?.medianMs;
  if (p === undefined || b === undefined || b === Infinity || b <= 0) return '—';
  if (p === Infinity) return `> ${Math.round((peer?.boundMs ?? 0) / b)}×`;
  const r = p / b;
  return `${r < 10 ? r.toFixed(1) : Math.round(r)}×`;
}

export interface Row {
  title: string;
  targetMs: number | undefined;
  byClient: Partial<Record<'siplogon' | 'baresip' | 'linphone', Summary>>;
  /**
   * 'start': timed from process start, so the healthy run's time (the `baseline` row) is in it;
   * otherwise timed from the fault itself.
   */
  phase?: 'start' | 'registered';
  /** The healthy "no dead target" row every 'start' row is compared with. */
  baseline?: boolean;
}

/**
 * What the fault cost siplogon: a 'start' row minus the healthy row (Node's start-up and a clean
 * sign-in are in both), or the row itself when it is timed from the fault. The issue's targets
 * are about this cost; the absolute time is in the siplogon column.
 */
export function faultCost(row: Row, rows: readonly Row[]): number | undefined {
  if (row.baseline) return undefined;
  const m = row.byClient.siplogon?.medianMs;
  if (m === undefined || m === Infinity) return m;
  if (row.phase !== 'start') return m;
  const base = rows.find((r) => r.baseline)?.byClient.siplogon?.medianMs;
  return base === undefined || base === Infinity ? undefined : Math.max(0, m - base);
}

export function formatTable(rows: readonly Row[]): string {
  const head = '| scenario | siplogon | siplogon: cost of the fault | baresip | linphone | ratio baresip/siplogon | ratio linphone/siplogon | target (cost) |';
  const sep = '|---|---|---|---|---|---|---|---|';
  const lines = rows.map((r) => {
    const c = r.byClient;
    const cost = faultCost(r, rows);
    const costText = cost === undefined ? '—' : cost === Infinity ? 'over the bound' : formatSeconds(cost);
    const verdict = r.targetMs === undefined || cost === undefined ? '' : cost <= r.targetMs ? ' ✓' : ' ✗';
    const target = r.targetMs === undefined ? '—' : `≤ ${+(r.targetMs / 1000).toFixed(2)} s${verdict}`;
    return `| ${r.title} | ${formatSummary(c.siplogon)} | ${costText} | ${formatSummary(c.baresip)} | ${formatSummary(c.linphone)} | ${formatRatio(
      c.baresip,
      c.siplogon,
    )} | ${formatRatio(c.linphone, c.siplogon)} | ${target} |`;
  });
  return [head, sep, ...lines].join('\n');
}

/** Sequential round trips over the RTT-0 baseline: (t(RTT) − t(0)) / RTT, from medians. */
export function roundTrips(atRtt: Summary | undefined, atZero: Summary | undefined, rttMs: number): number | undefined {
  const t = atRtt?.medianMs;
  const z = atZero?.medianMs;
  if (t === undefined || z === undefined || t === Infinity || z === Infinity || rttMs <= 0) return undefined;
  return (t - z) / rttMs;
}

export interface ColdRow {
  client: string;
  byRtt: Record<number, Summary>;
}

export function formatColdTable(rtts: readonly number[], rows: readonly ColdRow[], minRoundTrips: number): string {
  const withRtt = rtts.filter((r) => r > 0);
  const head = `| client | ${rtts.map((r) => `RTT ${r} ms`).join(' | ')} | ${withRtt.map((r) => `round trips @${r} ms`).join(' | ')} | target |`;
  const sep = `|${'---|'.repeat(2 + rtts.length + withRtt.length)}`;
  const lines = rows.map((row) => {
    const times = rtts.map((r) => formatSummary(row.byRtt[r]));
    const trips = withRtt.map((r) => {
      const n = roundTrips(row.byRtt[r], row.byRtt[0], r);
      return n === undefined ? '—' : n.toFixed(1);
    });
    return `| ${row.client} | ${times.join(' | ')} | ${trips.join(' | ')} | ≤ ${minRoundTrips + 1} (${minRoundTrips} + 1) |`;
  });
  return [head, sep, ...lines].join('\n');
}
