// Review 2: an unreadable cache file (here a symlink, which the store refuses) is a side note, not
// the reason discovery failed: with DNS down the diagnosis must still name DNS, not "Read the local
// cache failed … See the step detail".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startLab, type Lab } from '../../src/lab/lab.js';
import { diagnose } from '../../src/diagnose/diagnose.js';

let lab: Lab;
let dir: string;
before(async () => {
  lab = await startLab({ net: '127.33.42' });
  dir = await mkdtemp(path.join(tmpdir(), 'siplogon-review2-'));
});
after(async () => {
  await lab?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('DNS down and the cache file unreadable: the finding is the DNS timeout, with the DNS fix', async () => {
  const real = path.join(dir, 'elsewhere.json');
  await writeFile(real, '{}');
  const file = path.join(dir, 'alice.json');
  await symlink(real, file);
  await lab.setFault('dns-down');
  try {
    const r = await diagnose(lab.signInOptions({ cache: { path: file, readOnly: true }, presence: false, dhcp: false, dnsTimeoutMs: 300 }));
    assert.equal(r.result, 'fail');
    assert.equal(r.steps.find((s) => s.kind === 'cache-load')?.error?.code, 'CACHE_IO', 'the cache read did fail');
    assert.equal(r.finding?.kind, 'dns-srv', `finding was ${r.finding?.kind}: ${r.finding?.diagnosis}`);
    assert.equal(r.finding?.code, 'DNS_TIMEOUT');
    assert.match(r.finding?.fix ?? '', /DNS server/);
  } finally {
    await lab.setFault('none');
  }
});
