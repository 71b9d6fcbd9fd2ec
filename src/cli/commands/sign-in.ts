import type { Command } from 'commander';
import { SignInSession, type Registered } from '../../engine/session.js';
import { stepLine } from '../../diagnose/render.js';
import { addConnectionOptions, readPassword, reportError, toSignInOptions, type CommonFlags } from '../common.js';

interface Flags extends CommonFlags {
  json?: boolean;
  verbose?: boolean;
}

function describe(r: Registered): string {
  const g = r.registrar;
  const relays = r.provisioning.relays.map((x) => x.hostName).join(', ');
  return `registered at ${g.fqdn}:${g.port}/${g.transport} (${g.address}) via ${r.via} in ${r.tookMs} ms, expires ${r.expires} s${r.inBand.length ? `; home/backup ${r.inBand.map((c) => c.fqdn).join(', ')}` : ''}${relays ? `; media relays ${relays}` : ''}`;
}

export function addSignInCommand(program: Command): void {
  const cmd = program.command('sign-in').description('discover the registrar, sign in and stay registered (Ctrl-C un-registers)');
  addConnectionOptions(cmd, { password: true, target: true, cache: true })
    .option('--json', 'newline-delimited JSON events instead of text')
    .option('-v, --verbose', 'show every step')
    .action(async (flags: Flags) => {
      let session: SignInSession;
      try {
        session = new SignInSession(toSignInOptions(flags, readPassword(flags.passwordEnv)));
      } catch (err) {
        reportError('sign-in', err);
        return;
      }
      const t0 = Date.now();
      const out = (o: Record<string, unknown>, text: string): void => {
        process.stdout.write(flags.json ? JSON.stringify({ t: Date.now() - t0, ...o }) + '\n' : `${new Date().toISOString().slice(11, 23)} ${text}\n`);
      };
      session.on('step', (s, phase) => {
        if (phase === 'end' && (flags.verbose || flags.json)) out({ event: 'step', step: s }, stepLine(s));
      });
      session.on('state', (state) => out({ event: 'state', state }, `state: ${state}`));
      session.on('registered', (r) => out({ event: 'registered', registration: r }, describe(r)));
      session.on('lost', (e) => out({ event: 'lost', code: e.code, message: e.message }, `lost the registrar: ${e.code}: ${e.message}`));
      session.on('retrying', (r) => out({ event: 'retrying', inMs: r.inMs, attempt: r.attempt, code: r.error.code, message: r.error.message }, `sign-in failed (${r.error.code}: ${r.error.message}); retrying in ${Math.round(r.inMs)} ms`));
      session.on('warning', (m) => out({ event: 'warning', message: m }, `warning: ${m}`));
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        void session.stop();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await session.ready();
      } catch (err) {
        if (!stopping) {
          reportError('sign-in', err);
          await session.stop();
          return;
        }
      }
      if (session.state !== 'stopped') await new Promise<void>((resolve) => session.once('stopped', () => resolve()));
      if (session.state === 'stopped') process.exitCode ??= 0;
    });
}
