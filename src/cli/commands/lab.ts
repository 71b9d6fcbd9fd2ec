import type { Command } from 'commander';

/** Placeholder until this command lands. */
export function addLabCommand(program: Command): void {
  program
    .command('lab')
    .description('(not implemented yet)')
    .action(() => {
      process.stderr.write('siplogon lab: not implemented yet\n');
      process.exitCode = 2;
    });
}
