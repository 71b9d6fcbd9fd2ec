/**
 * A monitoring job: run the synthetic transaction (diagnose) every N seconds and alert when the
 * result changes, with the diagnosis and the fix. Against the lab, a fault is switched on for
 * the middle rounds so the job has something to alert on.
 * Run: npm run build && node dist/examples/monitor.js [rounds] [intervalMs]
 */
import { diagnose, startLab, SiplogonError, type DiagnosisReport, type LabFault } from '../src/index.js';

const rounds = Number(process.argv[2] ?? 4);
const intervalMs = Number(process.argv[3] ?? 1000);
const faults: LabFault[] = ['none', 'bad-password', 'registrar-down', 'none'];

const lab = await startLab({ net: '127.0.35' });
let last: string | undefined;
try {
  for (let i = 0; i < rounds; i++) {
    await lab.setFault(faults[i % faults.length] ?? 'none');
    let report: DiagnosisReport;
    try {
      report = await diagnose({
        ...lab.signInOptions({ cache: false, presence: false }),
        // A monitor wants its verdict within a bound, whatever the network does.
        transactionTimeoutMs: 3000,
        signal: AbortSignal.timeout(20_000),
      });
    } catch (e) {
      // Only bad options end up here (a UsageError); a failed sign-in is a report.
      console.log('ALERT: the probe itself is misconfigured:', SiplogonError.is(e) ? e.code : e);
      break;
    }
    const f = report.finding;
    // Alert when the verdict or its reason changes, not on every failing round.
    const verdict = `${report.result} ${report.error?.code ?? f?.code ?? ''}`;
    if (verdict !== last) {
      if (report.result === 'fail') console.log(`ALERT ${report.error?.code ?? f?.code}: ${f?.diagnosis ?? ''}\n  fix: ${f?.fix ?? ''}`);
      else console.log(`OK signed in at ${report.registrar?.fqdn} in ${report.durationMs} ms`);
      last = verdict;
    } else console.log(`still ${report.result}`);
    if (i + 1 < rounds) await new Promise((r) => setTimeout(r, intervalMs));
  }
} finally {
  await lab.stop();
}
