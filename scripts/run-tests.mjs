#!/usr/bin/env node
// Runs node's built-in test runner over the compiled test files, listed explicitly:
// on Node 20 `node --test DIR` can silently run zero tests, so we enumerate and refuse an empty set.
// Usage: node scripts/run-tests.mjs [unit|integration] [extra node --test flags]
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const want = process.argv[2] === 'unit' || process.argv[2] === 'integration' ? [process.argv[2]] : ['unit', 'integration'];
const files = [];
for (const tier of want) {
  const dir = join(root, 'dist', 'test', tier);
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir, { recursive: true })) {
    const name = String(f);
    if (name.endsWith('.test.js')) files.push(join(dir, name));
  }
}
files.sort();
if (files.length === 0) {
  console.error('run-tests: no compiled test files found under dist/test — did the build run?');
  process.exit(1);
}
// Integration tests start real servers on fixed loopback addresses; one file at a time keeps
// them from competing for the 2 cores and makes timing-sensitive failures reproducible.
const args = ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files];

// As root, the whole run gets a network namespace of its own (only `lo`): two runs at once
// (two worktrees) never collide on those fixed addresses, and no test packet can reach a real
// interface. SIPLOGON_TEST_HOST_NET=1 runs on the host's network instead.
const isolate = process.getuid?.() === 0 && process.env.SIPLOGON_TEST_HOST_NET !== '1' && process.env.SIPLOGON_TEST_NETNS !== '1';
if (isolate) {
  const probe = spawnSync('unshare', ['--net', '--', 'true'], { stdio: 'ignore' });
  if (probe.status === 0) {
    console.log('run-tests: in a private network namespace (unshare --net; SIPLOGON_TEST_HOST_NET=1 to opt out)');
    const r = spawnSync('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, ...args], {
      stdio: 'inherit',
      env: { ...process.env, SIPLOGON_TEST_NETNS: '1' },
    });
    process.exit(r.status ?? 1);
  }
  console.log('run-tests: cannot create a network namespace here; running on the host network');
}
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
