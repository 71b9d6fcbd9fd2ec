import type { Command } from 'commander';

/** Placeholder until this command lands. */
export function addRegisterCommand(program: Command): void {
  program
    .command('register')
    .description('(not implemented yet)')
    .action(() => {
      process.stderr.write('siplogon register: not implemented yet\n');
      process.exitCode = 2;
    });
}
