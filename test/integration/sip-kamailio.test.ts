/**
 * The SIP layer against real Kamailio 5.6 registrars on 127.0.10.x, with a CA and server
 * certificates made for this run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SiplogonError } from '../../src/errors.js';
import { connectSip } from '../../src/sip/connection.js';
import { getHeader } from '../../src/sip/message.js';
import { registerAt, type RegisterAtOptions } from '../../src/sip/sign-on.js';
import { requestWithAuth } from '../../src/sip/register.js';
import { makeCa, makeServerCert, type CertFiles } from '../helpers/certs.js';
import { startKamailio, type KamailioHandle } from '../helpers/kamailio.js';

const A = '127.0.10.1'; // MD5 registrar, TCP + TLS
const B = '127.0.10.2'; // redirects every REGISTER to A
const C = '127.0.10.3'; // SHA-256 registrar
const D = '127.0.10.4'; // redirects to itself (loop)
const SILENT = '127.0.10.5'; // accepts TCP, never answers
const E = '127.0.10.7'; // presents an expired certificate

const PROV_BODY = '<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification">\n<provisionGroup name="ServerConfiguration"><propertyEntryList><property name="focusFactory">sip:alice@example.test;gruu;opaque=app:conf:focusfactory</property></propertyEntryList></provisionGroup>\n</provisionGroupList>';

const NAMES: Record<string, string> = {
  'registrar.example.test': A,
  'wrong.example.test': A,
  'redirector.example.test': B,
  'sha.example.test': C,
  'loop.example.test': D,
  'silent.example.test': SILENT,
  'expired.example.test': E,
};

describe('SIP layer against a real Kamailio', () => {
  let dir: string;
  let ca: CertFiles;
  let otherCa: CertFiles;
  const kams: KamailioHandle[] = [];
  let kA: KamailioHandle;
  let kB: KamailioHandle;
  let kC: KamailioHandle;
  let silent: net.Server;
  const silentSockets = new Set<net.Socket>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sip-it-'));
    ca = makeCa(dir, 'siplogon test CA');
    otherCa = makeCa(dir, 'some other CA');
    const srv = makeServerCert(dir, ca, ['registrar.example.test', 'redirector.example.test', 'sha.example.test']);
    const users = { alice: 'wonder land', bob: 'builder' };
    const tlsFiles = { certFile: srv.certFile, keyFile: srv.keyFile };
    kA = await startKamailio({ listen: [{ proto: 'tcp', address: A, port: 5060 }, { proto: 'tls', address: A, port: 5061 }], tls: tlsFiles, users,
      allowEvents: 'presence, vnd-microsoft-provisioning-v2',
      provisioning: { body: PROV_BODY },
      service: { body: '<credentialsResponse requestID="1"><mediaRelayList/></credentialsResponse>' },
    });
    kams.push(kA);
    kB = await startKamailio({
      listen: [{ proto: 'tcp', address: B, port: 5060 }, { proto: 'tls', address: B, port: 5061 }],
      tls: tlsFiles,
      users,
      redirect: { contacts: ['<sip:registrar.example.test:5061;transport=tls>;q=0.9', '<sip:backup.example.test:5061;transport=tls>;q=0.5'] },
    });
    kams.push(kB);
    kC = await startKamailio({ listen: [{ proto: 'tls', address: C, port: 5061 }], tls: tlsFiles, users, algorithm: 'SHA-256' });
    kams.push(kC);
    kams.push(await startKamailio({ listen: [{ proto: 'tcp', address: D, port: 5060 }], users, redirect: { contacts: ['<sip:loop.example.test:5060;transport=tcp>'] } }));
    const expired = makeServerCert(dir, ca, ['expired.example.test'], { expired: true });
    kams.push(await startKamailio({ listen: [{ proto: 'tls', address: E, port: 5061 }], tls: { certFile: expired.certFile, keyFile: expired.keyFile }, users }));
    silent = net.createServer((s) => {
      silentSockets.add(s);
      s.on('data', () => {});
      s.on('close', () => silentSockets.delete(s));
    });
    await new Promise<void>((r, j) => silent.once('error', j).listen(5060, SILENT, () => r()));
  });

  after(async () => {
    for (const s of silentSockets) s.destroy();
    await new Promise<void>((r) => (silent ? silent.close(() => r()) : r()));
    await Promise.all(kams.map((k) => k.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const opts = (over: Partial<RegisterAtOptions> = {}, password = 'wonder land', traces?: string[]): RegisterAtOptions => ({
    registration: { aor: 'sip:alice@example.test', password, expires: 300 },
    // The connection's (redacted) trace hook: start line and headers as text, one entry per message.
    connect: { ca: ca.cert, connectTimeoutMs: 3000, ...(traces ? { sipTrace: (e) => traces.push(`${e.direction} ${e.startLine}\r\n${e.headers.map((h) => `${h.name}: ${h.value}\r\n`).join('')}\r\n${e.body}`) } : {}) },
    client: { timerFMs: 5000 },
    resolve: async (h) => NAMES[h] ?? Promise.reject(new Error(`unknown ${h}`)),
    ...over,
  });

  test('register over TCP; un-REGISTER removes the contact', async () => {
    const r = await registerAt({ host: 'registrar.example.test', port: 5060, transport: 'tcp' }, opts());
    try {
      assert.equal(r.outcome.kind, 'registered');
      assert.equal(r.outcome.expires, 300);
      assert.deepEqual(r.outcome.allowEvents, ['presence', 'vnd-microsoft-provisioning-v2']);
      // RFC 5626 §3.5.1: Kamailio answers our double-CRLF ping with a single-CRLF pong.
      const pong = new Promise<string>((res) => {
        const t = setTimeout(() => res('no pong within 3 s'), 3000);
        r.connection.once('pong', () => {
          clearTimeout(t);
          res('pong');
        });
      });
      r.connection.ping();
      assert.equal(await pong, 'pong');
      const contact = r.registration.contactUri;
      assert.match(contact, /;transport=tcp$/);
      assert.ok((await kA.contacts()).includes(contact), 'Kamailio holds our contact');
      await r.registration.unregister();
      assert.ok(!(await kA.contacts()).includes(contact), 'un-REGISTER removed it');
    } finally {
      r.registration.close();
      r.connection.close();
    }
  });

  test('register over TLS with the certificate checked against the dialled FQDN', async () => {
    const phases: string[] = [];
    const r = await registerAt({ host: 'registrar.example.test', port: 5061, transport: 'tls' }, opts({ connect: { ca: ca.cert, onPhase: (e) => phases.push(e.phase) } }));
    try {
      assert.deepEqual(phases, ['tcp-connected', 'tls-established']);
      assert.equal(r.connection.info.transport, 'tls');
      assert.equal(r.connection.info.remoteAddress, A);
      assert.equal(r.connection.info.tls?.authorized, true);
      assert.ok(r.connection.info.tls?.subjectAltNames.includes('DNS:registrar.example.test'));
      assert.match(r.connection.info.tls?.protocol ?? '', /^TLSv1\.[23]$/);
      assert.ok((await kA.contacts()).includes(r.registration.contactUri));
      await r.registration.unregister();
      assert.ok(!(await kA.contacts()).includes(r.registration.contactUri));
    } finally {
      r.registration.close();
      r.connection.close();
    }
  });

  test('same connection: authenticated provisioning SUBSCRIBE and SERVICE (helper options) answered with their bodies', async () => {
    const r = await registerAt({ host: 'registrar.example.test', port: 5061, transport: 'tls' }, opts());
    try {
      const creds = { username: 'alice', password: 'wonder land' };
      const common = (method: string, n: number): Array<[string, string]> => [
        ['From', '<sip:alice@example.test>;tag=t1'],
        ['To', '<sip:alice@example.test>'],
        ['Call-ID', `c-${method}`],
        ['CSeq', `${n + 1} ${method}`],
      ];
      const sub = await requestWithAuth(
        r.client,
        'SUBSCRIBE',
        { uri: 'sip:alice@example.test', headers: (n) => [...common('SUBSCRIBE', n), ['Event', 'vnd-microsoft-provisioning-v2'], ['Accept', 'application/vnd-microsoft-roaming-provisioning-v2+xml'], ['Contact', `<${r.registration.contactUri}>`]] },
        creds,
      );
      assert.equal(sub.status, 200);
      assert.match(getHeader(sub, 'Content-Type') ?? '', /vnd-microsoft-roaming-provisioning-v2\+xml/);
      assert.equal(sub.body.toString('utf8'), PROV_BODY);
      const svc = await requestWithAuth(r.client, 'SERVICE', { uri: 'sip:alice@example.test', headers: (n) => common('SERVICE', n) }, creds);
      assert.equal(svc.status, 200);
      assert.match(svc.body.toString('utf8'), /<mediaRelayList\/>/);
      assert.equal(r.connection.closed, false);
      await r.registration.unregister();
    } finally {
      r.registration.close();
      r.connection.close();
    }
  });

  test('wrong password → AUTH_FAILED (no loop), password not in the error', async () => {
    const traces: string[] = [];
    await assert.rejects(
      registerAt({ host: 'registrar.example.test', port: 5061, transport: 'tls' }, opts({}, 'not-the-password', traces)),
      (e: unknown) => SiplogonError.is(e, 'AUTH_FAILED') && !JSON.stringify((e as SiplogonError).toJSON()).includes('not-the-password'),
    );
    const callId = /\r\nCall-ID: (\S+)\r\n/.exec(traces[0] ?? '')?.[1];
    assert.ok(callId);
    assert.equal(traces.filter((t) => t.startsWith('out REGISTER')).length, 2, 'one unauthenticated and one authenticated REGISTER');
    assert.ok(!traces.some((t) => t.includes('not-the-password')));
    await new Promise((r) => setTimeout(r, 300)); // Kamailio's stderr arrives asynchronously
    assert.equal(kA.logs().split('\n').filter((l) => l.includes('SIPLOGON-TEST REGISTER') && l.includes(`ci=${callId}`)).length, 2, 'Kamailio saw exactly two');
  });

  test('certificate for another name → TLS_NAME_MISMATCH and no REGISTER reaches Kamailio', async () => {
    await new Promise((r) => setTimeout(r, 300)); // let earlier tests' log lines arrive
    const before = (kA.logs().match(/SIPLOGON-TEST REGISTER/g) ?? []).length;
    const contactsBefore = await kA.contacts();
    await assert.rejects(registerAt({ host: 'wrong.example.test', port: 5061, transport: 'tls' }, opts()), (e: unknown) => {
      assert.ok(SiplogonError.is(e, 'TLS_NAME_MISMATCH'), String(e));
      const tls = (e as SiplogonError).details.tls as { subjectAltNames: string[] };
      assert.ok(tls.subjectAltNames.includes('DNS:registrar.example.test'), 'details show the presented certificate');
      assert.equal((e as SiplogonError).details.expected, 'wrong.example.test');
      return true;
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((kA.logs().match(/SIPLOGON-TEST REGISTER/g) ?? []).length, before, 'Kamailio logged no REGISTER');
    assert.deepEqual(await kA.contacts(), contactsBefore);
  });

  test('certificate from an untrusted CA → TLS_UNTRUSTED', async () => {
    await assert.rejects(
      registerAt({ host: 'registrar.example.test', port: 5061, transport: 'tls' }, opts({ connect: { ca: otherCa.cert } })),
      (e: unknown) => SiplogonError.is(e, 'TLS_UNTRUSTED') && typeof ((e as SiplogonError).details.tls as { fingerprint256?: string }).fingerprint256 === 'string',
    );
  });

  test('expired certificate → TLS_CERT_EXPIRED with its validity in the details', async () => {
    await assert.rejects(registerAt({ host: 'expired.example.test', port: 5061, transport: 'tls' }, opts()), (e: unknown) => {
      assert.ok(SiplogonError.is(e, 'TLS_CERT_EXPIRED'), String(e));
      const tls = (e as SiplogonError).details.tls as { validTo: string | null };
      assert.ok(tls.validTo && Date.parse(tls.validTo) < Date.now());
      return true;
    });
  });

  test('registrar that accepts TCP but never answers → TRANSACTION_TIMEOUT within the bound', async () => {
    const bound = 1500;
    const t0 = performance.now();
    await assert.rejects(registerAt({ host: 'silent.example.test', port: 5060, transport: 'tcp' }, opts({ client: { timerFMs: bound } })), (e: unknown) => SiplogonError.is(e, 'TRANSACTION_TIMEOUT'));
    const took = performance.now() - t0;
    assert.ok(took >= bound * 0.9, `not before the bound (${took} ms)`);
    assert.ok(took < bound * 3, `and not after 3× the bound (${took} ms)`);
  });

  test('TCP accepted but no TLS handshake → TLS_HANDSHAKE_TIMEOUT within the bound', async () => {
    const t0 = performance.now();
    await assert.rejects(
      connectSip({ address: SILENT, port: 5060, transport: 'tls', servername: 'silent.example.test' }, { ca: ca.cert, tlsHandshakeTimeoutMs: 800 }),
      (e: unknown) => SiplogonError.is(e, 'TLS_HANDSHAKE_TIMEOUT'),
    );
    assert.ok(performance.now() - t0 < 2400, 'not after 3× the bound');
  });

  test('a peer sending a malformed message: typed error, connection closed, pending request rejected', async () => {
    const bad = net.createServer((s) => s.once('data', () => s.write('SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP x;branch=z9hG4bKx\r\nContent-Length: -5\r\n\r\n')));
    await new Promise<void>((r) => bad.listen(5070, SILENT, () => r()));
    try {
      const conn = await connectSip({ address: SILENT, port: 5070, transport: 'tcp' });
      const closed = new Promise<unknown>((r) => conn.once('close', r));
      const { SipClient } = await import('../../src/sip/transaction.js');
      const client = new SipClient(conn, { timerFMs: 5000 });
      await assert.rejects(client.request('OPTIONS', { uri: 'sip:silent.example.test' }), (e: unknown) => SiplogonError.is(e, 'SIP_BAD_CONTENT_LENGTH'));
      assert.ok(SiplogonError.is(await closed, 'SIP_BAD_CONTENT_LENGTH'));
      assert.equal(conn.closed, true);
    } finally {
      await new Promise<void>((r) => bad.close(() => r()));
    }
  });

  test('nothing listening → CONNECT_REFUSED', async () => {
    await assert.rejects(connectSip({ address: A, port: 5999, transport: 'tcp' }, { connectTimeoutMs: 2000 }), (e: unknown) => SiplogonError.is(e, 'CONNECT_REFUSED'));
  });

  test('301 from one listener to a second → registered on the second, redirect Contacts exposed in order with q', async () => {
    const r = await registerAt({ host: 'redirector.example.test', port: 5061, transport: 'tls' }, opts());
    try {
      assert.equal(r.hops.length, 2);
      assert.equal(r.hops[0]!.redirect?.status, 301);
      assert.deepEqual(r.hops[0]!.redirect?.contacts, [
        { uri: 'sip:registrar.example.test:5061;transport=tls', host: 'registrar.example.test', port: 5061, transport: 'tls', q: 0.9 },
        { uri: 'sip:backup.example.test:5061;transport=tls', host: 'backup.example.test', port: 5061, transport: 'tls', q: 0.5 },
      ]);
      assert.equal(r.hops[1]!.address, A);
      assert.equal(r.connection.info.remoteAddress, A);
      assert.ok((await kA.contacts()).includes(r.registration.contactUri));
      assert.deepEqual(await kB.contacts(), []);
      await r.registration.unregister();
    } finally {
      r.registration.close();
      r.connection.close();
    }
  });

  test('redirect back to the same registrar → REDIRECT_LOOP', async () => {
    await assert.rejects(registerAt({ host: 'loop.example.test', port: 5060, transport: 'tcp' }, opts()), (e: unknown) => SiplogonError.is(e, 'REDIRECT_LOOP'));
  });

  test('more redirects than allowed → REDIRECT_LIMIT', async () => {
    await assert.rejects(registerAt({ host: 'redirector.example.test', port: 5061, transport: 'tls' }, opts({ maxRedirects: 0 })), (e: unknown) => SiplogonError.is(e, 'REDIRECT_LIMIT'));
  });

  test('SHA-256 challenge (modparam auth algorithm) → registered with an SHA-256 response', async () => {
    const traces: string[] = [];
    const r = await registerAt({ host: 'sha.example.test', port: 5061, transport: 'tls' }, opts({}, 'wonder land', traces));
    try {
      assert.equal(r.outcome.kind, 'registered');
      assert.ok(traces.some((t) => t.startsWith('in SIP/2.0 401') && /algorithm=SHA-256/.test(t)), 'Kamailio challenged with SHA-256');
      assert.ok(traces.some((t) => t.startsWith('out REGISTER') && /Authorization: Digest .*algorithm=SHA-256/.test(t)));
      assert.ok(!traces.some((t) => t.includes('wonder land')), 'password never traced');
      assert.ok((await kC.contacts()).includes(r.registration.contactUri));
      await r.registration.unregister();
      assert.deepEqual(await kC.contacts(), []);
    } finally {
      r.registration.close();
      r.connection.close();
    }
  });
});
