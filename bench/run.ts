/**
 * npm run bench — siplogon vs baresip vs linphonec, side by side, in a loopback-only namespace.
 * Prints markdown tables of medians and writes JSON to .bench-out/. Benches print, they do not
 * assert speed: the exit code is non-zero only when the harness (or a client) breaks — including,
 * in --smoke, a client that does not sign in at all when no fault is injected (no dead target,
 * RTT 0): that is a broken pipeline, not a slow one.
 *
 *   --bench failover,cold,fleet (default failover)   --clients siplogon,baresip,linphone   --runs N (3)
 *   --scenarios none,dead1,dead2,killed,blackholed,comeback (failover; default all)
 *   --rtts 0,20,100 (cold)   --bound-ms N (150000)   --poll-ms N (20)   --settle-ms N (1000)
 *   --fleet-n 1000,10000 (fleet; default both)   --fleet-clients siplogon,siplogon-shared-dns,siplogon-no-dns,sipp (all)   --concurrency N (200)
 *   --smoke  siplogon only (every fleet variant), one run, short bound, all three benches, fleet N=50 (CI: < 2 min)
 *   --keep-logs   --siplogon-main PATH (another build of the CLI)   --out DIR
 *   --siplogon-args="--stagger 100 --timeout 2000"  (appended to sign-in; note the =)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runOnce, type RunOptions } from './failover.js';
import { runCold, COLD_RTTS, COLD_MIN_ROUND_TRIPS } from './cold.js';
import { runFleet, checkFleetClient, FLEET_CLIENTS, type FleetClient } from './fleet.js';
import { formatFleetTable, parseFleetSizes, type FleetResult } from './lib/fleet.js';
import { installCleanupHandlers, sweepStale } from './lib/netns.js';
import { parseClientList, RUNNERS, type ClientName } from './lib/clients.js';
import { parseScenarioList } from './lib/scenarios.js';
import { formatColdTable, formatSeconds, formatTable, summarize, type ColdRow, type Outcome, type Row } from './lib/stats.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

function parseRtts(v: string | undefined): number[] {
  if (v === undefined) return [...COLD_RTTS];
  const out = v.split(',').map((s) => Number(s.trim()));
  if (out.some((n) => !Number.isInteger(n) || n < 0 || n > 10_000)) throw new Error(`--rtts wants integers 0..10000, got "${v}"`);
  // RTT 0 is the baseline the round-trip count is computed from.
  return [...new Set([0, ...out])].sort((a, b) => a - b);
}

// JSON has no Infinity (it would become null): a median over the bound is written as "Infinity".
const jsonOut = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x === Infinity ? 'Infinity' : x), 2);

function show(o: Outcome): string {
  if (o.kind === 'ok') return `${formatSeconds(o.ms)} (on ${o.registrar})`;
  if (o.kind === 'timeout') return `> ${formatSeconds(o.boundMs)}`;
  return `ERROR ${o.message}`;
}

function parseFleetClients(v: string | undefined): FleetClient[] {
  if (v === undefined || v === 'all') return [...FLEET_CLIENTS];
  const out = v.split(',').map((s) => s.trim());
  for (const c of out) if (!(FLEET_CLIENTS as readonly string[]).includes(c)) throw new Error(`unknown fleet client "${c}" (valid: ${FLEET_CLIENTS.join(', ')})`);
  return [...new Set(out)] as FleetClient[];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      bench: { type: 'string' },
      scenarios: { type: 'string' },
      rtts: { type: 'string' },
      runs: { type: 'string' },
      clients: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      'bound-ms': { type: 'string' },
      'poll-ms': { type: 'string' },
      'settle-ms': { type: 'string' },
      'keep-logs': { type: 'boolean', default: false },
      'siplogon-main': { type: 'string' },
      'siplogon-args': { type: 'string' },
      out: { type: 'string' },
      'fleet-n': { type: 'string' },
      'fleet-clients': { type: 'string' },
      concurrency: { type: 'string' },
    },
    strict: true,
  });
  const smoke = values.smoke === true;
  const benches = (values.bench ?? (smoke ? 'failover,cold,fleet' : 'failover')).split(',').map((s) => s.trim());
  for (const b of benches) if (b !== 'failover' && b !== 'cold' && b !== 'fleet') throw new Error(`unknown bench "${b}" (valid: failover, cold, fleet)`);
  const fleetSizes = smoke ? [50] : parseFleetSizes(values['fleet-n'], [1_000, 10_000]);
  const fleetClients: FleetClient[] = smoke ? ['siplogon', 'siplogon-shared-dns', 'siplogon-no-dns'] : parseFleetClients(values['fleet-clients']);
  const concurrency = positiveInt('concurrency', values.concurrency, 200);
  const scenarios = parseScenarioList(values.scenarios);
  const rtts = smoke && values.rtts === undefined ? [0, 20] : parseRtts(values.rtts);
  const clients: ClientName[] = smoke ? ['siplogon'] : parseClientList(values.clients);
  const runs = smoke ? 1 : positiveInt('runs', values.runs, 3);
  // Smoke: everything must fit in CI's 2 minutes (worst case ≈ 3 × (2 × bound + settle) + 5 × bound).
  const boundMs = positiveInt('bound-ms', values['bound-ms'], smoke ? 8_000 : 150_000);
  const opts: RunOptions = {
    boundMs,
    pollMs: positiveInt('poll-ms', values['poll-ms'], 20),
    settleMs: positiveInt('settle-ms', values['settle-ms'], 1_000),
    peerExpires: 60,
    siplogonMain: resolve(values['siplogon-main'] ?? join(root, 'dist', 'src', 'cli', 'main.js')),
    siplogonArgs: (values['siplogon-args'] ?? '').split(/\s+/).filter((a) => a !== ''),
    keepLogs: values['keep-logs'] === true,
    log: (l) => process.stderr.write(`${l}\n`),
  };
  if (process.getuid?.() !== 0) throw new Error('the benches need root (network namespaces, iptables)');
  if (benches.includes('failover') || benches.includes('cold')) for (const c of clients) RUNNERS[c].check(opts);
  if (benches.includes('fleet')) for (const c of fleetClients) checkFleetClient(c);
  installCleanupHandlers();
  sweepStale(opts.log);

  const when = new Date().toISOString();
  const machine = `${hostname()}, ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
  const outDir = resolve(values.out ?? join(root, '.bench-out'));
  mkdirSync(outDir, { recursive: true });
  let broken = 0;

  if (benches.includes('failover')) {
    const results: Array<{ scenario: string; client: ClientName; run: number; outcome: Outcome }> = [];
    const rows: Row[] = [];
    for (const scn of scenarios) {
      for (let run = 1; run <= runs; run++) {
        // Clients interleave within a run so drift of the machine hits all of them alike.
        for (const c of clients) {
          opts.log(`failover ${scn.id} run ${run}/${runs} ${c} …`);
          const outcome = await runOnce(scn, c, opts);
          opts.log(`    ${show(outcome)}`);
          if (outcome.kind === 'error' || (smoke && scn.id === 'none' && outcome.kind === 'timeout')) broken++;
          results.push({ scenario: scn.id, client: c, run, outcome });
        }
      }
      const byClient: Row['byClient'] = {};
      for (const c of clients) byClient[c] = summarize(results.filter((r) => r.scenario === scn.id && r.client === c).map((r) => r.outcome));
      rows.push({ title: scn.title, targetMs: scn.targetMs, byClient, phase: scn.phase === 'start' ? 'start' : 'registered', baseline: scn.id === 'none' });
    }
    process.stdout.write(
      `\n### Failover — median of ${runs} run(s), time until Kamailio holds the contact\n${when}; ${machine}\n\n${formatTable(rows)}\n`,
    );
    const file = join(outDir, `failover-${when.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, jsonOut({ bench: 'failover', when, machine, smoke, runs, boundMs, pollMs: opts.pollMs, peerExpires: opts.peerExpires, results, rows }));
    process.stdout.write(`\nJSON: ${file}\n`);
  }

  if (benches.includes('cold')) {
    const results: Array<{ rttMs: number; client: ClientName; run: number; outcome: Outcome }> = [];
    for (let run = 1; run <= runs; run++) {
      for (const rtt of rtts) {
        for (const c of clients) {
          opts.log(`cold RTT ${rtt} ms run ${run}/${runs} ${c} …`);
          const outcome = await runCold(c, rtt, opts);
          opts.log(`    ${show(outcome)}`);
          if (outcome.kind === 'error' || (smoke && rtt === 0 && outcome.kind === 'timeout')) broken++;
          results.push({ rttMs: rtt, client: c, run, outcome });
        }
      }
    }
    const rows: ColdRow[] = clients.map((c) => ({
      client: c,
      byRtt: Object.fromEntries(rtts.map((r) => [r, summarize(results.filter((x) => x.client === c && x.rttMs === r).map((x) => x.outcome))])),
    }));
    process.stdout.write(
      `\n### Cold sign-in — median of ${runs} run(s), client start until Kamailio holds the contact; round trips = (t(RTT) − t(0)) / RTT\n${when}; ${machine}\n\n${formatColdTable(rtts, rows, COLD_MIN_ROUND_TRIPS)}\n`,
    );
    const file = join(outDir, `cold-${when.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, jsonOut({ bench: 'cold', when, machine, smoke, runs, rtts, boundMs, pollMs: opts.pollMs, results, rows }));
    process.stdout.write(`\nJSON: ${file}\n`);
  }

  if (benches.includes('fleet')) {
    const results: FleetResult[] = [];
    for (const n of fleetSizes) {
      for (const c of fleetClients) {
        opts.log(`fleet N=${n} ${c} (${concurrency} in flight) …`);
        const r = await runFleet(c, n, {
          concurrency,
          // Whole run: generous for a slow machine (≥ 2 min, 30 ms a device), still bounded.
          boundMs: values['bound-ms'] !== undefined ? boundMs : Math.max(120_000, n * 30),
          deviceBoundMs: 60_000,
          keepLogs: opts.keepLogs,
          log: opts.log,
        });
        opts.log(
          r.error !== undefined
            ? `    ERROR ${r.error}`
            : `    ${r.ok}/${n} signed in, ${r.held} held, ${r.perSecond.toFixed(0)}/s${r.p50Ms !== undefined ? `, p50 ${Math.round(r.p50Ms)} ms p99 ${Math.round(r.p99Ms ?? 0)} ms` : ''}`,
        );
        // A fleet that does not fully sign in with no fault injected is a broken pipeline.
        if (r.error !== undefined || (c !== 'sipp' && (r.ok !== n || r.held !== n))) broken++;
        results.push(r);
      }
    }
    process.stdout.write(
      `\n### Fleet — N devices through full discovery (SRV + A) to one Kamailio over TCP with digest, ${concurrency} sign-ins in flight; memory = (after − before) / N with forced GC\n${when}; ${machine}\n\n${formatFleetTable(results)}\n`,
    );
    const file = join(outDir, `fleet-${when.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, jsonOut({ bench: 'fleet', when, machine, smoke, concurrency, sizes: fleetSizes, results }));
    process.stdout.write(`\nJSON: ${file}\n`);
  }

  if (broken > 0) process.stderr.write(`bench: ${broken} run(s) failed to measure (see ERROR lines)\n`);
  return broken > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
