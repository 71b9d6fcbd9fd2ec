import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { StepRecord } from '../../engine/steps.js';
import { addConnectionOptions, readPassword, reportError, toSignInOptions, type CommonFlags } from '../common.js';

interface Flags extends CommonFlags {
  json?: boolean;
  report?: string;
  trace?: boolean;
}

const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A live checklist: on a TTY the running steps spin on one status line and finished steps
 * scroll above it; when piped, one plain line per finished step.
 */
function checklist(out: NodeJS.WriteStream, stepLine: (s: StepRecord) => string): { onStep: (s: Readonly<StepRecord>, phase: 'start' | 'end') => void; done: () => void } {
  const tty = out.isTTY === true;
  const running = new Map<number, Readonly<StepRecord>>();
  let frame = 0;
  const draw = (): void => {
    if (!tty) return;
    const titles = [...running.values()].map((s) => s.title);
    out.write(`\r\x1b[2K${titles.length ? `${SPIN[frame++ % SPIN.length]} ${titles.join(' · ').slice(0, (out.columns || 100) - 4)}` : ''}`);
  };
  const timer = tty ? setInterval(draw, 80) : undefined;
  return {
    onStep(s, phase) {
      if (phase === 'start') running.set(s.id, s);
      else {
        running.delete(s.id);
        if (tty) out.write('\r\x1b[2K');
        out.write(`  ${stepLine(s as StepRecord)}\n`);
      }
      draw();
    },
    done() {
      if (timer) clearInterval(timer);
      if (tty) out.write('\r\x1b[2K');
    },
  };
}

export function addDiagnoseCommand(program: Command): void {
  const cmd = program
    .command('diagnose')
    .description('synthetic sign-in transaction (like Test-CsClientAuth): shows where and why sign-in fails, and the fix');
  addConnectionOptions(cmd, { password: true, target: true, cache: true })
    .option('--json', 'print the report as JSON (schema/diagnosis-v1.schema.json)')
    .option('--report <file.html>', 'also write a self-contained HTML report')
    .option('--trace', 'also show the SIP messages exchanged (secrets redacted): after the summary, in --json and in --report')
    .addHelpText('after', '\nExit codes: 0 signed in, 1 failed at a step, 2 usage error.')
    .action(async (flags: Flags) => {
      try {
        // Loaded on demand so that `--help` and the other commands do not load the engine.
        const [{ diagnose }, { renderHeader, renderHtml, renderSummary, renderTrace, stepLine }] = await Promise.all([import('../../diagnose/diagnose.js'), import('../../diagnose/render.js')]);
        const password = readPassword(flags.passwordEnv);
        const opts = toSignInOptions(flags, password);
        const live = flags.json ? undefined : checklist(process.stdout, stepLine);
        if (live) process.stdout.write(`${renderHeader({ user: flags.user, mode: opts.targetFqdn ? 'target-fqdn' : 'discovery', targetFqdn: opts.targetFqdn ?? null })}\n`);
        let report;
        try {
          report = await diagnose({ ...opts, ...(live ? { onStep: live.onStep } : {}), ...(flags.trace ? { trace: true } : {}) });
        } finally {
          live?.done(); // an unexpected error must not leave the spinner's interval holding the process open
        }
        if (flags.report) writeFileSync(flags.report, renderHtml(report), { mode: 0o644 });
        if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        else process.stdout.write('\n' + renderSummary(report) + (report.trace ? '\n' + renderTrace(report) : ''));
        process.exitCode = report.result === 'pass' ? 0 : 1;
      } catch (err) {
        reportError('diagnose', err, flags.json ? 'document' : false);
      }
    });
}
