// Review finding (not fixed here: the error document's shape is a product decision): with --json,
// `diagnose` and `discover` print nothing on stdout when they fail before a report exists (an
// unset password variable, a bad --timeout); only a text line goes to stderr. A script doing
// JSON.parse(stdout) then fails, unlike `register --json`, which prints {"ok":false,code,message}.
// Kept as a TODO test: it shows the defect without turning the suite red.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('diagnose --json and discover --json print a JSON error document on a usage error', { todo: 'no JSON on stdout for errors raised before the report (see the file comment)' }, () => {
  const env = { ...process.env };
  delete env['REVIEW_UNSET_PW'];
  const runs = [
    spawnSync(process.execPath, [CLI, 'diagnose', '--user', 'sip:alice@acme.test', '--password-env', 'REVIEW_UNSET_PW', '--no-cache', '--json'], { env, encoding: 'utf8', timeout: 15_000 }),
    spawnSync(process.execPath, [CLI, 'discover', 'sip:alice@acme.test', '--dns-timeout', 'soon', '--json'], { env, encoding: 'utf8', timeout: 15_000 }),
  ];
  for (const r of runs) {
    assert.equal(r.status, 2, r.stderr);
    const doc = JSON.parse(r.stdout) as { error?: { code?: string } };
    assert.equal(doc.error?.code, 'INVALID_OPTION');
  }
});
