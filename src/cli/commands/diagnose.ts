import type { Command } from 'commander';

/** Placeholder until this command lands. */
export function addDiagnoseCommand(program: Command): void {
  program
    .command('diagnose')
    .description('(not implemented yet)')
    .action(() => {
      process.stderr.write('siplogon diagnose: not implemented yet\n');
      process.exitCode = 2;
    });
}
