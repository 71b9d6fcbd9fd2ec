// Issue 7: a black-holed leading SRV target (packets silently dropped, so a connect hangs with no
// RST) must cost about one stagger, not a connect or transaction timeout. The scenario runs in a
// network namespace with only loopback, where iptables drops the dead address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../helpers/blackhole-scenario.js', import.meta.url));
const root = process.getuid?.() === 0;
const NS = `slbh-${process.pid}`;

before(() => {
  if (!root) return;
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  execFileSync('ip', ['netns', 'exec', NS, 'iptables', '-A', 'OUTPUT', '-d', '127.0.50.10', '-j', 'DROP']);
});
after(() => {
  if (root) spawnSync('ip', ['netns', 'del', NS]);
});

test('black-holed first SRV target: signed in on the second after about one stagger', { skip: root ? false : 'needs root: network namespace + iptables' }, () => {
  const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, SCRIPT], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
    registrar?: { fqdn: string };
    tookMs?: number;
    steps?: { target: string; status: string; startedAtMs: number; reason?: string }[];
    error?: string;
  };
  assert.equal(out.error, undefined, out.error);
  assert.equal(out.registrar?.fqdn, 'pool2.acme.test');
  const dead = out.steps?.find((s) => s.target === '127.0.50.10:5061');
  const live = out.steps?.find((s) => s.target === '127.0.50.11:5061');
  assert.equal(dead?.status, 'skipped', 'the dead attempt was still hanging and got cancelled — never waited out');
  assert.match(dead?.reason ?? '', /cancelled/);
  // The live one started one stagger (250 ms) after the dead one: racing, not a timeout.
  const gap = (live?.startedAtMs ?? 0) - (dead?.startedAtMs ?? 0);
  assert.ok(gap >= 240 && gap < 2000, `second attempt started ${gap} ms after the first`);
  console.log(`# black-holed first target: signed in on pool2 in ${out.tookMs?.toFixed(0)} ms (second attempt started ${gap} ms after the first)`);
});
