/**
 * SIGKILL torture: a child process saves records in a tight loop and is killed with SIGKILL at
 * varied moments. After every kill the file must parse and validate (old or new content, never
 * torn), keep mode 0600, and leftover temp files must not pile up.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CacheStore, parseCacheRecord } from '../../src/cache/store.js';
import { seededRandom } from '../../src/core/clock.js';

const helper = fileURLToPath(new URL('../helpers/cache-writer.js', import.meta.url));
const live = new Set<ChildProcess>();
const dirs: string[] = [];

after(async () => {
  for (const c of live) c.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Resolves when the child prints "go"; rejects on exit or after `ms` (bounded wait). */
function waitForGo(child: ChildProcess, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`writer did not start within ${ms} ms`)), ms);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('go\n')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(t);
      reject(new Error(`writer exited early (code ${code}, signal ${sig})`));
    });
  });
}

function killAndWait(child: ChildProcess, ms: number): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`writer did not die within ${ms} ms of SIGKILL`)), ms);
    child.once('exit', (_code, sig) => {
      clearTimeout(t);
      live.delete(child);
      resolve(sig);
    });
    child.kill('SIGKILL');
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  kills: number;
  torn: number;
  midWrite: number; // a temp file existed at the kill: the kill landed between open and rename
  warnings: string[];
}

async function torture(mode: 'atomic' | 'naive', kills: number, seed: number, onEach?: (i: number, dir: string, file: string) => Promise<void>): Promise<Outcome> {
  const dir = await mkdtemp(path.join(tmpdir(), `siplogon-kill-${mode}-`));
  dirs.push(dir);
  const file = path.join(dir, 'cache', 'alice@acme.test.json');
  const rnd = seededRandom(seed);
  const out: Outcome = { kills: 0, torn: 0, midWrite: 0, warnings: [] };
  for (let i = 0; i < kills; i++) {
    const child = spawn(process.execPath, [helper, file, String(i), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    live.add(child);
    await waitForGo(child, 15_000);
    // Varied moments: immediately, or up to 30 ms into the loop (tens of saves on a fast disk).
    const delay = i % 5 === 0 ? 0 : rnd() * 30;
    if (delay > 0) await sleep(delay);
    const sig = await killAndWait(child, 5_000);
    assert.equal(sig, 'SIGKILL', `kill ${i}: writer was still running when killed`);
    out.kills++;
    const names = await readdir(path.dirname(file));
    if (names.some((n) => n.includes('.tmp-'))) out.midWrite++;
    if (mode === 'naive') {
      try {
        parseCacheRecord(JSON.parse(await readFile(file, 'utf8')));
      } catch {
        out.torn++;
      }
      continue;
    }
    await onEach?.(i, dir, file);
  }
  return out;
}

test('atomic saves survive SIGKILL at varied moments (60 kills): never torn, 0600, temps cleaned', { timeout: 180_000 }, async () => {
  const warnings: string[] = [];
  const res = await torture('atomic', 60, 2810, async (i, _dir, file) => {
    const names = await readdir(path.dirname(file));
    // Saves are serialised, and each save first removes dead writers' temps: at most one remains.
    assert.ok(names.filter((n) => n.includes('.tmp-')).length <= 1, `kill ${i}: temp files piled up: ${names.join(', ')}`);
    assert.ok(!names.some((n) => n.includes('.corrupt-')), `kill ${i}: nothing may ever be set aside`);
    const raw = await readFile(file, 'utf8');
    const rec = parseCacheRecord(JSON.parse(raw)); // throws on a torn or invalid file
    // The writer printed "go" only after its first save of this round, so this round's tag is there.
    assert.equal(rec.user, `sip:torture${i}@acme.test`, `kill ${i}: file holds this round's writes`);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const store = new CacheStore({ path: file, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(await store.load(), rec);
    const after = await readdir(path.dirname(file));
    assert.deepEqual(after, ['alice@acme.test.json'], `kill ${i}: load removes the dead writer's temp file`);
  });
  assert.equal(res.kills, 60);
  // Proves the kills really hit the dangerous window, not only the gaps between saves.
  assert.ok(res.midWrite >= 1, 'no kill landed between temp-file creation and rename');
  assert.deepEqual(warnings, []);
  // Reported for the record (how many kills landed mid-save, between temp creation and rename).
  process.stdout.write(`# sigkill torture: ${res.kills} kills, ${res.midWrite} landed mid-save\n`);
});

test('control: the same torture catches a non-atomic in-place writer', { timeout: 120_000 }, async () => {
  // Without temp+rename a kill between truncate and the last write leaves a torn file. If this
  // ever stops detecting tears, the torture above has lost its teeth.
  const res = await torture('naive', 30, 7);
  process.stdout.write(`# naive writer: ${res.torn}/${res.kills} kills left a torn file\n`);
  assert.ok(res.torn >= 1, `expected the naive writer to tear at least once in ${res.kills} kills`);
});
