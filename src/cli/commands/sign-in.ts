import type { Command } from 'commander';

/** Placeholder until this command lands. */
export function addSignInCommand(program: Command): void {
  program
    .command('sign-in')
    .description('(not implemented yet)')
    .action(() => {
      process.stderr.write('siplogon sign-in: not implemented yet\n');
      process.exitCode = 2;
    });
}
