/**
 * npm run bench — failover benchmark: siplogon vs baresip vs linphonec, side by side.
 * Prints a markdown table of medians and writes JSON to .bench-out/. Benches print, they do not
 * assert speed: the exit code is non-zero only when the harness (or a client) breaks.
 *
 *   --scenarios none,dead1,...   (default all)     --runs N (default 3)
 *   --clients siplogon,baresip,linphone            --smoke (siplogon only, 1 run, short bound)
 *   --bound-ms N (default 150000)  --poll-ms N (20)  --keep-logs  --siplogon-main PATH
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runOnce, type RunOptions } from './failover.js';
import { installCleanupHandlers } from './lib/netns.js';
import { parseClientList, RUNNERS, type ClientName } from './lib/clients.js';
import { parseScenarioList } from './lib/scenarios.js';
import { formatSeconds, formatTable, summarize, type Outcome, type Row } from './lib/stats.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string' },
      runs: { type: 'string' },
      clients: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      'bound-ms': { type: 'string' },
      'poll-ms': { type: 'string' },
      'settle-ms': { type: 'string' },
      'keep-logs': { type: 'boolean', default: false },
      'siplogon-main': { type: 'string' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const smoke = values.smoke === true;
  const scenarios = parseScenarioList(values.scenarios);
  const clients: ClientName[] = smoke ? ['siplogon'] : parseClientList(values.clients);
  const runs = smoke ? 1 : positiveInt('runs', values.runs, 3);
  // Smoke: 6 scenarios must fit in CI's 2 minutes; siplogon's own targets are all ≤ 10 s.
  const boundMs = positiveInt('bound-ms', values['bound-ms'], smoke ? 15_000 : 150_000);
  const opts: RunOptions = {
    boundMs,
    pollMs: positiveInt('poll-ms', values['poll-ms'], 20),
    settleMs: positiveInt('settle-ms', values['settle-ms'], 1_000),
    peerExpires: 60,
    siplogonMain: resolve(values['siplogon-main'] ?? join(root, 'dist', 'src', 'cli', 'main.js')),
    keepLogs: values['keep-logs'] === true,
    log: (l) => process.stderr.write(`${l}\n`),
  };
  if (process.getuid?.() !== 0) throw new Error('the failover bench needs root (network namespaces, iptables)');
  for (const c of clients) RUNNERS[c].check(opts);
  installCleanupHandlers();

  const results: Array<{ scenario: string; client: ClientName; run: number; outcome: Outcome }> = [];
  const rows: Row[] = [];
  let broken = 0;
  for (const scn of scenarios) {
    const row: Row = { title: scn.title, targetMs: scn.targetMs, byClient: {} };
    for (let run = 1; run <= runs; run++) {
      // Clients interleave within a run so slow drift of the machine hits all of them alike.
      for (const c of clients) {
        opts.log(`${scn.id} run ${run}/${runs} ${c} …`);
        const outcome = await runOnce(scn, c, opts);
        const shown =
          outcome.kind === 'ok' ? `${formatSeconds(outcome.ms)} (on ${outcome.registrar})` : outcome.kind === 'timeout' ? `> ${formatSeconds(outcome.boundMs)}` : `ERROR ${outcome.message}`;
        opts.log(`    ${shown}`);
        if (outcome.kind === 'error') broken++;
        results.push({ scenario: scn.id, client: c, run, outcome });
      }
    }
    for (const c of clients) row.byClient[c] = summarize(results.filter((r) => r.scenario === scn.id && r.client === c).map((r) => r.outcome));
    rows.push(row);
  }

  const when = new Date().toISOString();
  const machine = `${hostname()}, ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
  const table = formatTable(rows);
  process.stdout.write(`\nFailover — median of ${runs} run(s), time until Kamailio holds the contact; ${when}; ${machine}\n\n${table}\n`);
  const outDir = resolve(values.out ?? join(root, '.bench-out'));
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `failover-${when.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ bench: 'failover', when, machine, smoke, runs, boundMs, pollMs: opts.pollMs, peerExpires: opts.peerExpires, results, rows }, null, 2));
  process.stdout.write(`\nJSON: ${file}\n`);
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
