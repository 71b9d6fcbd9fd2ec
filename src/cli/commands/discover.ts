import type { Command } from 'commander';

/** Placeholder until this command lands. */
export function addDiscoverCommand(program: Command): void {
  program
    .command('discover')
    .description('(not implemented yet)')
    .action(() => {
      process.stderr.write('siplogon discover: not implemented yet\n');
      process.exitCode = 2;
    });
}
