import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { SiplogonError } from '../../src/errors.js';
import { VirtualClock, seededRandom } from '../../src/core/clock.js';
import { buildAuthorization, computeDigestResponse, parseAuthParams, parseChallenge, pickChallenge } from '../../src/sip/digest.js';
import { getHeader, getHeaderLines, parseMessage, type SipMessage, type SipRequest, type SipResponse } from '../../src/sip/message.js';
import { SipClient } from '../../src/sip/transaction.js';
import { Registration } from '../../src/sip/register.js';
import type { SipConnection } from '../../src/sip/connection.js';

// RFC 7616 §3.9.1
const RFC7616 = {
  username: 'Mufasa',
  password: 'Circle of Life',
  realm: 'http-auth@example.org',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  method: 'GET',
  uri: '/dir/index.html',
  qop: 'auth' as const,
  nc: '00000001',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
};

test('digest: RFC 7616 §3.9.1 vectors (MD5 and SHA-256) and RFC 2617 §3.5', () => {
  assert.equal(computeDigestResponse({ ...RFC7616, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
  assert.equal(computeDigestResponse({ ...RFC7616, algorithm: 'SHA-256' }), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  assert.equal(
    computeDigestResponse({ username: 'Mufasa', password: 'Circle Of Life', realm: 'testrealm@host.com', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', method: 'GET', uri: '/dir/index.html', qop: 'auth', nc: '00000001', cnonce: '0a4f113b', algorithm: 'MD5' }),
    '6629fae49393a05397450978507c4ef1',
  );
});

test('digest: challenge parsing, strongest pick, Authorization never contains the password', () => {
  const md5 = parseChallenge('Digest realm="example.test", nonce="n1", qop="auth,auth-int", opaque="o\\"q"');
  assert.equal(md5.algorithm, 'MD5');
  assert.deepEqual(md5.qop, ['auth', 'auth-int']);
  assert.equal(md5.opaque, 'o"q');
  const sha = parseChallenge('Digest realm="example.test", nonce="n2", algorithm=SHA-256, qop="auth", stale=TRUE');
  assert.equal(sha.stale, true);
  const ntlm = parseChallenge('NTLM realm="SIP Communications Service", targetname="fe.example.test", version=4');
  assert.equal(pickChallenge([md5, ntlm, sha]), sha);
  assert.equal(pickChallenge([ntlm, parseChallenge('Kerberos realm="x"'), parseChallenge('Digest realm="r", nonce="n", algorithm=SHA-1024')]), undefined);
  assert.deepEqual([...parseAuthParams('a=1, b="x,y", c')], [['a', '1'], ['b', 'x,y'], ['c', '']]);
  const value = buildAuthorization(sha, { username: 'alice', password: 'Sup3r$ecret', method: 'REGISTER', uri: 'sip:example.test', cnonce: 'abc' });
  assert.doesNotMatch(value, /Sup3r/);
  assert.match(value, /algorithm=SHA-256/);
  assert.match(value, /qop=auth, nc=00000001, cnonce="abc"/);
  assert.throws(() => parseChallenge('Digest realm="unterminated'), (e: unknown) => SiplogonError.is(e, 'SIP_BAD_HEADER'));
});

/** In-memory stand-in for a SipConnection: a scripted registrar answers what the client sends. */
class FakeConnection extends EventEmitter {
  info = { transport: 'tls' as const, localAddress: '127.0.0.1', localPort: 40000, remoteAddress: '127.0.10.1', remotePort: 5061 };
  closed = false;
  sent: SipRequest[] = [];
  constructor(private readonly answer: (req: SipRequest, n: number) => Array<[number, string, Array<[string, string]>]> | null) {
    super();
  }
  send(bytes: Buffer): void {
    const m = parseMessage(bytes);
    if (m.kind !== 'request') return;
    this.sent.push(m);
    const replies = this.answer(m, this.sent.length) ?? [];
    queueMicrotask(() => {
      for (const [status, reason, headers] of replies) this.emit('message', reply(m, status, reason, headers));
    });
  }
  close(): void {
    this.closed = true;
  }
}

function reply(req: SipRequest, status: number, reason: string, extra: Array<[string, string]>): SipResponse {
  const copy = (n: string) => getHeaderLines(req, n).map((value) => ({ name: n, value }));
  return { kind: 'response', status, reason, headers: [...copy('Via'), ...copy('From'), ...copy('To'), ...copy('Call-ID'), ...copy('CSeq'), ...extra.map(([name, value]) => ({ name, value }))], body: Buffer.alloc(0) };
}

const asConn = (f: FakeConnection): SipConnection => f as unknown as SipConnection;

test('transaction: Timer F with VirtualClock → TRANSACTION_TIMEOUT at the bound, not before', async () => {
  const clock = new VirtualClock();
  const conn = new FakeConnection(() => [[100, 'Trying', []]]); // provisional only
  const client = new SipClient(asConn(conn), { clock, timerFMs: 32000 });
  const p = client.request('OPTIONS', { uri: 'sip:example.test' });
  let settled: unknown;
  p.then((r) => (settled = r), (e) => (settled = e));
  await new Promise((r) => setImmediate(r));
  clock.advance(31999);
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, undefined, '100 Trying must not end a non-INVITE transaction');
  clock.advance(1);
  await assert.rejects(p, (e: unknown) => SiplogonError.is(e, 'TRANSACTION_TIMEOUT') && (e as SiplogonError).details.timerFMs === 32000);
  assert.equal(client.inFlight, 0);
  // Via carries rport and a magic-cookie branch; defaults generated.
  const via = getHeader(conn.sent[0]!, 'Via')!;
  assert.match(via, /^SIP\/2\.0\/TLS 127\.0\.0\.1:40000;branch=z9hG4bK[0-9a-f]+;rport$/);
  assert.ok(getHeader(conn.sent[0]!, 'Call-ID'));
});

test('transaction: connection close rejects pending requests with CONNECTION_CLOSED', async () => {
  const conn = new FakeConnection(() => null);
  const client = new SipClient(asConn(conn), { clock: new VirtualClock() });
  const p = client.request('OPTIONS', { uri: 'sip:example.test' });
  conn.emit('close', undefined);
  await assert.rejects(p, (e: unknown) => SiplogonError.is(e, 'CONNECTION_CLOSED'));
});

test('incoming requests: NOTIFY → 200, OPTIONS → 405, BENOTIFY unanswered', async () => {
  const conn = new FakeConnection(() => null);
  const out: SipMessage[] = [];
  conn.send = (bytes: Buffer) => void out.push(parseMessage(bytes));
  new SipClient(asConn(conn), { clock: new VirtualClock() });
  for (const method of ['NOTIFY', 'OPTIONS', 'BENOTIFY']) {
    const req = parseMessage(Buffer.from(`${method} sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS s;branch=z9hG4bK${method}\r\nFrom: <sip:s>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`));
    conn.emit('message', req);
  }
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(out.map((m) => (m.kind === 'response' ? `${m.status} ${getHeader(m, 'CSeq')}` : '?')), ['200 1 NOTIFY', '405 1 OPTIONS']);
  assert.match(getHeader(out[0]!, 'To')!, /;tag=/);
});

const CH_MD5 = ['WWW-Authenticate', 'Digest realm="example.test", nonce="n1", qop="auth"'] as [string, string];
const CH_SHA = ['WWW-Authenticate', 'Digest realm="example.test", nonce="n2", algorithm=SHA-256, qop="auth"'] as [string, string];

function registration(answer: ConstructorParameters<typeof FakeConnection>[0], extra: Partial<ConstructorParameters<typeof Registration>[1]> = {}) {
  const clock = new VirtualClock();
  const conn = new FakeConnection(answer);
  const client = new SipClient(asConn(conn), { clock });
  const reg = new Registration(client, { aor: 'sip:alice@example.test', password: 'pw', clock, random: seededRandom(1), ...extra });
  return { clock, conn, reg };
}

test('register: picks SHA-256 over MD5, answers once, exposes Allow-Events / gruu, Lync headers', async () => {
  const { conn, reg } = registration((req) => {
    if (!getHeader(req, 'Authorization')) return [[401, 'Unauthorized', [CH_MD5, CH_SHA]]];
    const contact = `${getHeader(req, 'Contact')};expires=300;gruu="sip:alice@example.test;opaque=user:epid:x;gruu"`;
    return [[200, 'OK', [['Contact', contact], ['Allow-Events', 'presence, vnd-microsoft-provisioning-v2']]]];
  });
  const out = await reg.register();
  assert.equal(out.kind, 'registered');
  if (out.kind !== 'registered') return;
  assert.equal(out.expires, 300);
  assert.deepEqual(out.allowEvents, ['presence', 'vnd-microsoft-provisioning-v2']);
  assert.equal(out.gruu, 'sip:alice@example.test;opaque=user:epid:x;gruu');
  assert.match(getHeader(conn.sent[1]!, 'Authorization')!, /algorithm=SHA-256/);
  assert.equal(getHeader(conn.sent[0]!, 'Supported'), 'gruu-10');
  assert.equal(getHeader(conn.sent[0]!, 'ms-keep-alive'), 'UAC;hop-hop=yes');
  assert.match(getHeader(conn.sent[0]!, 'Contact')!, /\+sip\.instance="<urn:uuid:/);
  // one Call-ID, increasing CSeq (RFC 3261 §10.2)
  assert.equal(getHeader(conn.sent[0]!, 'Call-ID'), getHeader(conn.sent[1]!, 'Call-ID'));
  assert.deepEqual(conn.sent.map((r) => getHeader(r, 'CSeq')), ['1 REGISTER', '2 REGISTER']);
  reg.close();
});

test('register: rejected fresh credentials → AUTH_FAILED after exactly one retry; stale=true retried once', async () => {
  const a = registration(() => [[401, 'Unauthorized', [CH_MD5]]]);
  await assert.rejects(a.reg.register(), (e: unknown) => SiplogonError.is(e, 'AUTH_FAILED') && !String((e as Error).message).includes('pw"'));
  assert.equal(a.conn.sent.length, 2);
  const staleCh: [string, string] = ['WWW-Authenticate', 'Digest realm="example.test", nonce="n9", qop="auth", stale=true'];
  const b = registration((req, n) => (!getHeader(req, 'Authorization') ? [[401, 'Unauthorized', [CH_MD5]]] : n === 2 ? [[401, 'Unauthorized', [staleCh]]] : [[401, 'Unauthorized', [staleCh]]]));
  await assert.rejects(b.reg.register(), (e: unknown) => SiplogonError.is(e, 'AUTH_FAILED'));
  assert.equal(b.conn.sent.length, 3, 'initial, credentials, one stale retry');
  assert.match(getHeader(b.conn.sent[2]!, 'Authorization')!, /nonce="n9"/);
  const c = registration((req, n) => (!getHeader(req, 'Authorization') ? [[401, 'Unauthorized', [CH_MD5]]] : n === 2 ? [[401, 'Unauthorized', [staleCh]]] : [[200, 'OK', []]]));
  assert.equal((await c.reg.register()).kind, 'registered');
  c.reg.close();
});

test('register: only NTLM/Kerberos/TLS-DSK → AUTH_UNSUPPORTED naming them', async () => {
  const { reg } = registration(() => [
    [
      401,
      'Unauthorized',
      [
        ['WWW-Authenticate', 'NTLM realm="SIP Communications Service", targetname="fe.example.test", version=4'],
        ['WWW-Authenticate', 'Kerberos realm="SIP Communications Service", targetname="sip/fe.example.test", version=4'],
        ['WWW-Authenticate', 'TLS-DSK realm="SIP Communications Service", targetname="fe.example.test", version=4, sts-uri="https://fe.example.test/CertProv/CertProvisioningService.svc"'],
      ],
    ],
  ]);
  await assert.rejects(reg.register(), (e: unknown) => SiplogonError.is(e, 'AUTH_UNSUPPORTED') && /NTLM, Kerberos, TLS-DSK/.test((e as Error).message));
});

test('register: 423 honours Min-Expires; 403 → REGISTER_REJECTED with ms-diagnostics', async () => {
  const { conn, reg } = registration((req) => (getHeader(req, 'Expires') === '600' ? [[423, 'Interval Too Brief', [['Min-Expires', '1200']]]] : [[200, 'OK', [['Expires', '1200']]]]));
  const out = await reg.register();
  assert.equal(out.kind === 'registered' && out.expires, 1200);
  assert.equal(getHeader(conn.sent[1]!, 'Expires'), '1200');
  reg.close();
  const r = registration(() => [[403, 'Forbidden', [['ms-diagnostics', '4005;reason="Not enabled for SIP";source="fe.example.test"']]]]);
  await assert.rejects(r.reg.register(), (e: unknown) => SiplogonError.is(e, 'REGISTER_REJECTED') && (e as SiplogonError).details.status === 403 && /Not enabled/.test(String((e as SiplogonError).details.msDiagnostics)));
});

test('register: 301 exposes every Contact in order with q', async () => {
  const { reg } = registration(() => [
    [301, 'Moved Permanently', [['Contact', '<sip:pool1.example.test:5061;transport=tls>;q=0.9, <sip:pool2.example.test;transport=tcp>;q=0.5'], ['Contact', '<sips:pool3.example.test>']]],
  ]);
  const out = await reg.register();
  assert.deepEqual(out.kind === 'redirect' && out.contacts, [
    { uri: 'sip:pool1.example.test:5061;transport=tls', host: 'pool1.example.test', port: 5061, transport: 'tls', q: 0.9 },
    { uri: 'sip:pool2.example.test;transport=tcp', host: 'pool2.example.test', port: 5060, transport: 'tcp', q: 0.5 },
    { uri: 'sips:pool3.example.test', host: 'pool3.example.test', port: 5061, transport: 'tls' },
  ]);
});

test('register: refresh fires before expiry (jittered), un-REGISTER sends Expires: 0 and stops refreshing', async () => {
  const { clock, conn, reg } = registration((req) => [[200, 'OK', [['Expires', getHeader(req, 'Expires')!]]]], { expires: 100 });
  const refreshed: number[] = [];
  reg.on('refreshed', () => refreshed.push(clock.now()));
  await reg.register();
  clock.advance(79_000);
  await new Promise((r) => setImmediate(r));
  assert.equal(refreshed.length, 0, 'not before 80 % of expiry');
  clock.advance(11_000);
  await new Promise((r) => setImmediate(r));
  assert.equal(refreshed.length, 1, 'by 90 % of expiry');
  await reg.unregister();
  assert.equal(getHeader(conn.sent.at(-1)!, 'Expires'), '0');
  assert.equal(clock.pending, 0, 'no refresh timer left');
});

test('registerAt: a resolver that hangs → DNS_TIMEOUT at its bound; one that fails → DNS_FAILED', async () => {
  const { registerAt } = await import('../../src/sip/sign-on.js');
  const registration = { aor: 'sip:alice@example.test', password: 'pw' };
  await assert.rejects(
    registerAt({ host: 'registrar.example.test', port: 5061, transport: 'tls' }, { registration, resolve: () => new Promise<string>(() => {}), resolveTimeoutMs: 50 }),
    (e: unknown) => SiplogonError.is(e, 'DNS_TIMEOUT') && (e as SiplogonError).details.timeoutMs === 50,
  );
  await assert.rejects(
    registerAt({ host: 'registrar.example.test', port: 5061, transport: 'tls' }, { registration, resolve: async () => { throw new Error('NXDOMAIN'); } }),
    (e: unknown) => SiplogonError.is(e, 'DNS_FAILED'),
  );
});
