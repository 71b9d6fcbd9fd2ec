import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import type { LabFault } from '../../lab/lab.js';
import { reportError } from '../common.js';

const FAULTS: LabFault[] = ['none', 'dns-down', 'dhcp-silent', 'registrar-down', 'registrar-silent', 'wrong-certificate', 'bad-password', 'provisioning-refused'];

export function addLabCommand(program: Command): void {
  program
    .command('lab')
    .description('run the embedded lab (loopback DNS, DHCP responder, director + two pools); --demo signs in against it and diagnoses')
    .option('--demo', 'run the demo: sign-in, failover, two diagnoses, then exit')
    .addOption(new Option('--fault <fault>', 'start with this fault switched on').choices(FAULTS).default('none'))
    .action(async (flags: { demo?: boolean; fault: LabFault }) => {
      try {
        // The lab pulls in the certificate generator (selfsigned and its ASN.1 stack, the CLI's
        // heaviest import): load it only when this command runs.
        if (flags.demo) {
          const { runDemo } = await import('../../lab/demo.js');
          const ok = await runDemo();
          process.exitCode = ok ? 0 : 1;
          return;
        }
        const { startLab } = await import('../../lab/lab.js');
        const lab = await startLab();
        await lab.setFault(flags.fault);
        const dir = mkdtempSync(join(tmpdir(), 'siplogon-lab-'));
        const caFile = join(dir, 'lab-ca.pem');
        writeFileSync(caFile, lab.ca.cert);
        const common = `--user ${lab.user} --password-env LAB_PW --dns ${lab.dns.server} --dhcp-server ${lab.dhcp.address}:${lab.dhcp.port} --ca ${caFile}`;
        process.stdout.write(
          [
            `siplogon lab running (fault: ${flags.fault}) — Ctrl-C to stop.`,
            `  domain ${lab.domain}; DNS ${lab.dns.server}; DHCP responder ${lab.dhcp.address}:${lab.dhcp.port}`,
            ...Object.entries(lab.addresses).filter(([k]) => k.includes('.')).map(([k, v]) => `  ${k} → ${v}`),
            `  user ${lab.user}, password: ${lab.password} (lab only)`,
            '',
            'Try, in another terminal:',
            `  export LAB_PW=${lab.password}`,
            `  npx siplogon sign-in ${common} -v`,
            `  npx siplogon diagnose ${common}`,
            `  npx siplogon discover ${lab.user} --dns ${lab.dns.server} --dhcp-server ${lab.dhcp.address}:${lab.dhcp.port}`,
            '',
          ].join('\n'),
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await lab.stop();
        // The CA file was only for the commands printed above.
        rmSync(dir, { recursive: true, force: true });
      } catch (err) {
        reportError('lab', err);
      }
    });
}
