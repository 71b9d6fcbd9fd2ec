import { Option, type Command } from 'commander';
import type { Registered, SignInSession } from '../../engine/session.js';
import { collect, addConnectionOptions, readPassword, reportError, toSignInOptions, type CommonFlags } from '../common.js';

interface Flags extends CommonFlags {
  json?: boolean;
  verbose?: boolean;
  presence?: boolean;
  presenceFlavour?: 'auto' | 'simple' | 'lync';
  presenceList?: string;
  watch?: string[];
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
    .option('--no-presence', 'do not publish presence or download contacts after signing in')
    .addOption(new Option('--presence-flavour <f>', 'presence flavour (auto reads the REGISTER 200)').choices(['auto', 'simple', 'lync']).default('auto'))
    .option('--presence-list <uri>', 'RLS list URI to subscribe to (SIMPLE, RFC 4662)')
    .option('--watch <uri>', 'contact to watch with its own SUBSCRIBE (repeatable)', collect)
    .action(async (flags: Flags) => {
      // Loaded here, not at the top: `--help` and the other commands must not pay for the engine.
      const [{ SignInSession }, { stepLine }] = await Promise.all([import('../../engine/session.js'), import('../../diagnose/render.js')]);
      let session: SignInSession;
      try {
        const opts = toSignInOptions(flags, readPassword(flags.passwordEnv));
        opts.presence =
          flags.presence === false
            ? false
            : { flavour: flags.presenceFlavour ?? 'auto', ...(flags.presenceList ? { listUri: flags.presenceList } : {}), ...(flags.watch?.length ? { contacts: flags.watch } : {}) };
        session = new SignInSession(opts);
      } catch (err) {
        reportError('sign-in', err, flags.json ? 'ndjson' : false);
        return;
      }
      const t0 = Date.now();
      const out = (o: Record<string, unknown>, text: string): void => {
        process.stdout.write(flags.json ? JSON.stringify({ t: Date.now() - t0, ...o }) + '\n' : `${new Date().toISOString().slice(11, 23)} ${text}\n`);
      };
      session.on('step', (s, phase) => {
        if (phase !== 'end') return;
        if (flags.verbose || flags.json) out({ event: 'step', step: s }, stepLine(s));
        // Signing out is news even without -v: the user asked for it and wants to know it worked.
        else if (s.kind === 'unregister') out({}, s.status === 'pass' ? `signed out: un-REGISTERed from ${s.target ?? 'the registrar'}` : `sign-out: un-REGISTER ${s.status === 'skipped' ? 'skipped' : 'failed'} (${s.error?.code ?? s.reason ?? ''}); the binding expires on its own`);
      });
      session.on('state', (state) => out({ event: 'state', state }, `state: ${state}`));
      session.on('registered', (r) => out({ event: 'registered', registration: r }, describe(r)));
      session.on('lost', (e) => out({ event: 'lost', code: e.code, message: e.message }, `lost the registrar: ${e.code}: ${e.message}`));
      session.on('retrying', (r) => out({ event: 'retrying', inMs: r.inMs, attempt: r.attempt, code: r.error.code, message: r.error.message }, `sign-in failed (${r.error.code}: ${r.error.message}); retrying in ${Math.round(r.inMs)} ms`));
      session.on('warning', (m) => out({ event: 'warning', message: m }, `warning: ${m}`));
      // Presence (issue 8): own state, the contact list with each contact's last known state.
      const states = new Map<string, string>();
      session.on('presence', (p) => out({ event: 'presence', presence: p }, `presence: ${p.state}${p.note ? ` (${p.note})` : ''} [${p.flavour}]`));
      session.on('contacts', (l) => {
        const lines = l.contacts.map((c) => {
          const groups = c.groups.map((g) => l.groups.find((x) => x.id === g)?.name ?? String(g)).join(', ');
          return `  ${c.uri}${c.name ? ` "${c.name}"` : ''} [${groups}] ${states.get(c.uri) ?? 'unknown'}`;
        });
        out({ event: 'contacts', contacts: l }, `contacts (${l.contacts.length}, from ${l.source}):${lines.length ? `\n${lines.join('\n')}` : ''}`);
      });
      session.on('contactPresence', (c) => {
        states.set(c.uri, c.state);
        out({ event: 'contactPresence', contact: c }, `contact ${c.uri}: ${c.state}${c.note ? ` (${c.note})` : ''}`);
      });
      session.on('presenceError', (e, ctx) => out({ event: 'presenceError', context: ctx, code: e.code, message: e.message }, `presence problem (${ctx}): ${e.code}: ${e.message}`));
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
          reportError('sign-in', err, flags.json ? 'ndjson' : false);
          await session.stop();
          return;
        }
      }
      if (session.state !== 'stopped') await new Promise<void>((resolve) => session.once('stopped', () => resolve()));
      if (session.state === 'stopped') process.exitCode ??= 0;
    });
}
