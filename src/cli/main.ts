#!/usr/bin/env node
/**
 * siplogon command line. Each subcommand lives in ./commands and only renders what the library
 * reports; no protocol logic here.
 *
 * Start-up cost matters (the failover benchmark times the process from exec to "registered"), so
 * this file and the command registrations import only commander and light helpers; each action
 * loads its implementation (engine, lab with its certificate generator, renderers) on demand.
 */
import { Command } from 'commander';
import { addRegisterCommand } from './commands/register.js';
import { addDiscoverCommand } from './commands/discover.js';
import { addSignInCommand } from './commands/sign-in.js';
import { addDiagnoseCommand } from './commands/diagnose.js';
import { addLabCommand } from './commands/lab.js';
import { toolVersion } from '../version.js';
import { jsonError } from './common.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('siplogon')
    .description('Find a SIP Registrar the way Lync/Skype for Business devices do, sign in, and diagnose failures.')
    .version(toolVersion())
    .showHelpAfterError()
    .exitOverride((err) => {
      // commander usage errors → exit 2 (documented), help/version → 0.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
      // Under --json stdout carries JSON even for a command line commander refused.
      if (process.argv.includes('--json')) process.stdout.write(jsonError(process.argv[2] === 'sign-in' ? 'ndjson' : 'document', 'INVALID_OPTION', err.message.replace(/^error: /, '')));
      process.exit(2);
    });
  addRegisterCommand(program);
  addDiscoverCommand(program);
  addSignInCommand(program);
  addDiagnoseCommand(program);
  addLabCommand(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
