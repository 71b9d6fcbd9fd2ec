// Review finding: a DHCP interface that does not exist (--dhcp-interface typo) crashed the process
// with an unhandled rejection: runDiscovery started DHCPINFORM, awaited the SRV queries first, and
// the DHCP promise rejected (INVALID_OPTION) with no handler attached meanwhile. Expected: a typed
// error — discover exits 2 (usage) with one line, diagnose reports the failing dhcp-inform step.
// DNS goes to a closed loopback port (127.0.31.30), so the SRV queries take their 300 ms bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

const common = ['--dhcp-interface', 'nosuchif0', '--dns', '127.0.31.30:53', '--dns-timeout', '300'];

test('discover with a DHCP interface that does not exist: exit 2, one-line INVALID_OPTION, no crash', async () => {
  const r = await run(['discover', 'sip:alice@acme.test', ...common]);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `crashed with a stack trace: ${r.stderr}`);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /INVALID_OPTION: .*nosuchif0/);
});

test('diagnose --json with a DHCP interface that does not exist: a JSON report naming the dhcp-inform step, no crash', async () => {
  const r = await run(['diagnose', '--user', 'sip:alice@acme.test', '--password-env', 'REVIEW_PW', '--no-cache', '--json', ...common], { REVIEW_PW: 'x' });
  assert.doesNotMatch(r.stderr, /\n\s+at /, `crashed with a stack trace: ${r.stderr}`);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as { result: string; error: { code: string } | null; steps: { kind: string; status: string; error?: { code: string } }[] };
  assert.equal(report.result, 'fail');
  assert.equal(report.error?.code, 'INVALID_OPTION');
  const dhcp = report.steps.find((s) => s.kind === 'dhcp-inform');
  assert.equal(dhcp?.status, 'fail');
  assert.equal(dhcp?.error?.code, 'INVALID_OPTION');
});
