// The examples under examples/ are documentation: each must compile (npm run build), run against
// the embedded lab on 127.0.35.x, print what it claims, and exit on its own once it has stopped
// its sessions — a handle left open by stop() would keep the process alive and fail here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
const EXIT_BOUND_MS = 60_000;

function run(name: string, args: string[] = []): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${examples}${name}.js`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not exit within ${EXIT_BOUND_MS} ms (a handle keeps it alive)\n${out}\n${err}`));
    }, EXIT_BOUND_MS);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

test('examples/readme-api: the README example signs in via discovery, sees the contacts, publishes busy, diagnoses the pool', async () => {
  const r = await run('readme-api');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^registered at pool1\.acme\.test via discovery$/m);
  assert.match(r.out, /sip:bob@acme\.test', 'sip:carol@acme\.test'/);
  assert.match(r.out, /^sip:carol@acme\.test away$/m);
  assert.match(r.out, /^pass Un-REGISTER$/m);
  assert.match(r.out, /^pass $/m, 'a passing diagnosis has no finding');
});

test('examples/gateway: 50 lines sign in sharing one DnsCache, keep no steps, and the cache answers most questions', async () => {
  const r = await run('gateway');
  assert.equal(r.code, 0, r.err);
  const m = /^50\/50 lines registered; steps kept in memory: 0; DNS cache \{ hits: (\d+), misses: (\d+), shared: (\d+)/m.exec(r.out);
  assert.ok(m, r.out);
  const [hits, misses, shared] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // 50 lines × 4 SRV questions: asked once each, all others answered from the cache or a shared query.
  assert.ok(hits + shared > misses, `hits ${hits} + shared ${shared} vs misses ${misses}`);
  assert.doesNotMatch(r.out, /FAIL (?!DNS_FAILED DNS SRV _sip\._tcp)/, 'the only failing steps are the SRV name the lab does not publish');
});

test('examples/monitor: alerts when the verdict changes, with the diagnosis and the fix', async () => {
  const r = await run('monitor', ['4', '200']);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.match(lines[0] ?? '', /^OK signed in at pool1\.acme\.test/);
  assert.match(r.out, /^ALERT AUTH_FAILED: .*rejected the user name or password/m);
  assert.match(r.out, /^ {2}fix: Check the password/m);
  assert.match(r.out, /^ALERT (CONNECT_REFUSED|ALL_CANDIDATES_FAILED)/m, 'registrar-down is a new verdict');
  assert.match(lines.at(-1) ?? '', /^OK signed in/);
});

for (const flavour of ['lync', 'simple']) {
  test(`examples/session (${flavour}): trace, own presence, contacts and their states, then stop() and exit`, async () => {
    const r = await run('session', [flavour]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^own presence \\(${flavour}\\): busy "in a meeting"$`, 'm'));
    assert.match(r.out, /^contact list from (roaming-contacts|rls): sip:bob@acme\.test, sip:carol@acme\.test$/m);
    // Lync carries "do not disturb"; PIDF only open/closed (README, Limits).
    assert.match(r.out, flavour === 'lync' ? /^ {2}sip:bob@acme\.test is dnd$/m : /^ {2}sip:bob@acme\.test is online$/m);
    assert.match(r.out, /state: stopping\nstate: stopped/);
    assert.match(r.out, /^\d+ SIP messages/m);
    assert.match(r.out, /WWW-Authenticate: Digest realm="acme\.test"/);
    assert.doesNotMatch(r.out, /wonderland/, 'the lab password is never in the trace');
  });
}
