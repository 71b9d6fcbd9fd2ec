// Review 3 finding: a registrar certificate whose subjectAltName holds no dNSName (only an IP
// address, or only a SIP URI) was accepted for an FQDN because its CN named it: Node's
// checkServerIdentity falls back to the CN whenever there is no DNS SAN. RFC 5922 §7.1 (SIP
// domain certificates) and RFC 6125 §6.4.4: the CN is consulted only when the certificate has no
// subjectAltName at all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { connectSip } from '../../src/sip/connection.js';
import { SiplogonError } from '../../src/errors.js';
import { makeCa, type CertFiles } from '../helpers/certs.js';

const ADDR = '127.0.34.21';
const NAME = 'pool.review3.test';
let dir: string;
let ca: CertFiles;
const servers: tls.Server[] = [];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A leaf signed by `ca` with subject CN `cn` and exactly the given subjectAltName (or none). */
function leaf(tag: string, cn: string, san: string | undefined): { key: string; cert: string } {
  const base = join(dir, tag);
  writeFileSync(`${base}.ext`, `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n${san ? `subjectAltName=${san}\n` : ''}`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`]);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', `${base}.crt`, '-days', '2', '-extfile', `${base}.ext`]);
  return { key: readFileSync(`${base}.key`, 'utf8'), cert: readFileSync(`${base}.crt`, 'utf8') };
}

async function serve(port: number, pem: { key: string; cert: string }): Promise<void> {
  const srv = tls.createServer({ key: pem.key, cert: pem.cert }, (s) => s.on('error', () => undefined));
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(port, ADDR, r));
}

async function outcome(port: number, servername: string): Promise<string> {
  try {
    const c = await connectSip({ address: ADDR, port, transport: 'tls', servername }, { ca: ca.cert, connectTimeoutMs: 3000 });
    c.close();
    return 'connected';
  } catch (e) {
    return SiplogonError.is(e) ? e.code : `crash: ${String(e)}`;
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'r3-tls-'));
  ca = makeCa(dir, 'review3 CA');
  await serve(5161, leaf('ip-only', NAME, `IP:${ADDR}`));
  await serve(5162, leaf('uri-only', NAME, 'URI:sip:review3.test'));
  await serve(5163, leaf('cn-only', NAME, undefined));
  await serve(5164, leaf('wild', 'x', 'DNS:*.review3.test'));
});
after(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  rmSync(dir, { recursive: true, force: true });
});

test('SANs without a dNSName: the CN is not a fallback (IP-only and URI-only SANs are refused for an FQDN)', async () => {
  assert.equal(await outcome(5161, NAME), 'TLS_NAME_MISMATCH', 'IP-only SAN, CN = the FQDN');
  assert.equal(await outcome(5162, NAME), 'TLS_NAME_MISMATCH', 'URI-only SAN, CN = the FQDN');
});

test('sound: no subjectAltName at all → the CN is used; wildcards cover one label only', async () => {
  assert.equal(await outcome(5163, NAME), 'connected');
  assert.equal(await outcome(5164, NAME), 'connected');
  assert.equal(await outcome(5164, 'POOL.Review3.test.'), 'connected', 'case and a trailing dot do not matter');
  assert.equal(await outcome(5164, 'a.pool.review3.test'), 'TLS_NAME_MISMATCH');
  assert.equal(await outcome(5164, 'review3.test'), 'TLS_NAME_MISMATCH');
});
