// Review finding: with --json, `diagnose` and `discover` printed nothing on stdout when they
// failed before a report existed (an unset password variable, a bad --dns-timeout), so a script
// doing JSON.parse(stdout) failed. Now: {"ok":false,"error":{code,message}} (register adds the same
// `error` object to its own document), and sign-in's NDJSON stream an {"event":"error"} line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('diagnose, discover and register --json print a JSON error document on a usage error; sign-in --json an error event', () => {
  const env = { ...process.env };
  delete env['REVIEW_UNSET_PW'];
  const runs = [
    spawnSync(process.execPath, [CLI, 'diagnose', '--user', 'sip:alice@acme.test', '--password-env', 'REVIEW_UNSET_PW', '--no-cache', '--json'], { env, encoding: 'utf8', timeout: 15_000 }),
    spawnSync(process.execPath, [CLI, 'discover', 'sip:alice@acme.test', '--dns-timeout', 'soon', '--json'], { env, encoding: 'utf8', timeout: 15_000 }),
  ];
  // Bad values caught by the engine's option checks, not only the CLI's (newcomer QA: a DNS name
  // as --dns crashed with a stack trace; port 70000 ran and failed at connect; --timeout 0 passed).
  env['REVIEW_SET_PW'] = 'x';
  for (const bad of [['--dns', 'localhost:53'], ['--target-fqdn', 'pool1.acme.test', '--target-port', '70000'], ['--timeout', '0']]) {
    runs.push(spawnSync(process.execPath, [CLI, 'diagnose', '--user', 'sip:alice@acme.test', '--password-env', 'REVIEW_SET_PW', '--no-cache', '--json', ...bad], { env, encoding: 'utf8', timeout: 15_000 }));
  }
  // Refused by the command-line parser itself (unknown option, missing required option).
  runs.push(spawnSync(process.execPath, [CLI, 'diagnose', '--json', '--bogus'], { env, encoding: 'utf8', timeout: 15_000 }));
  runs.push(spawnSync(process.execPath, [CLI, 'discover', '--json'], { env, encoding: 'utf8', timeout: 15_000 }));
  runs.push(spawnSync(process.execPath, [CLI, 'register', '--registrar', 'pool1.acme.test', '--transport', 'tls', '--user', 'sip:alice@acme.test', '--password-env', 'REVIEW_UNSET_PW', '--json'], { env, encoding: 'utf8', timeout: 15_000 }));
  for (const r of runs) {
    assert.equal(r.status, 2, r.stderr);
    const doc = JSON.parse(r.stdout) as { ok?: boolean; error?: { code?: string; message?: string } };
    assert.equal(doc.ok, false);
    assert.equal(doc.error?.code, 'INVALID_OPTION');
    assert.ok(doc.error?.message, 'a message for people');
  }
  const signIn = spawnSync(process.execPath, [CLI, 'sign-in', '--user', 'sip:alice@acme.test', '--password-env', 'REVIEW_UNSET_PW', '--no-cache', '--json'], { env, encoding: 'utf8', timeout: 15_000 });
  assert.equal(signIn.status, 2, signIn.stderr);
  const lines = signIn.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event?: string; code?: string });
  assert.deepEqual(lines.at(-1), { ...lines.at(-1), event: 'error', code: 'INVALID_OPTION' });
});
