/** The compiled CLI `siplogon register` against a real Kamailio on 127.0.10.6. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCa, makeServerCert, type CertFiles } from '../helpers/certs.js';
import { startKamailio, type KamailioHandle } from '../helpers/kamailio.js';

const ADDR = '127.0.10.6';
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('siplogon register (compiled CLI) against Kamailio', () => {
  let dir: string;
  let ca: CertFiles;
  let kam: KamailioHandle;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sip-cli-'));
    ca = makeCa(dir);
    const srv = makeServerCert(dir, ca, ['registrar.example.test']);
    kam = await startKamailio({ listen: [{ proto: 'tcp', address: ADDR, port: 5060 }, { proto: 'tls', address: ADDR, port: 5061 }], tls: { certFile: srv.certFile, keyFile: srv.keyFile }, users: { alice: 'Tr0ub4dor&3' } });
  });

  after(async () => {
    await kam?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const base = ['register', '--registrar', 'registrar.example.test', '--transport', 'tls', '--user', 'sip:alice@example.test', '--password-env', 'SIPLOGON_PW', '--ca', '', '--resolve', `registrar.example.test:${ADDR}`, '--timeout', '4000'];
  const args = (extra: string[] = []) => base.map((a, i) => (base[i - 1] === '--ca' ? ca.certFile : a)).concat(extra);

  test('signs in over TLS, prints the outcome, un-REGISTERs, exits 0', async () => {
    const r = await run(args(['--json']), { SIPLOGON_PW: 'Tr0ub4dor&3' });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.ok, true);
    assert.equal(out.registrar, 'registrar.example.test:5061');
    assert.equal(out.address, ADDR);
    assert.equal(out.transport, 'tls');
    assert.equal(out.expires, 600);
    assert.equal(typeof out.tookMs, 'number');
    assert.equal(out.unregistered, true, 'the document says the binding was removed');
    assert.ok(!r.stdout.includes('Tr0ub4dor') && !r.stderr.includes('Tr0ub4dor'));
    assert.deepEqual(await kam.contacts(), [], 'un-REGISTERed before exit');
    const text = await run(args(['--transport', 'tcp', '--registrar', 'registrar.example.test:5060']), { SIPLOGON_PW: 'Tr0ub4dor&3' });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^registered sip:alice@example\.test at registrar\.example\.test:5060 \(127\.0\.10\.6\) over TCP, expires 600 s, took \d+ ms$/m);
    assert.match(text.stdout, /^un-REGISTERed: binding removed$/m);
  });

  test('wrong password exits 1 with a one-line error naming the code', async () => {
    const r = await run(args(), { SIPLOGON_PW: 'wrong' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^siplogon register: AUTH_FAILED: .+\n$/);
  });

  test('usage errors exit 2', async () => {
    const r = await run(args(['--timeout', 'soon']), { SIPLOGON_PW: 'x' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /INVALID_OPTION/);
  });
});
