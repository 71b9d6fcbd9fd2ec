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
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
