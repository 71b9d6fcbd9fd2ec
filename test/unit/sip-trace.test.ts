// Redaction of the SIP trace (src/sip/trace.ts): nothing that can test a password guess offline,
// no authentication token and no credential element of a body may leave it; what helps the reader
// (scheme, username, realm, uri, nonce, qop…) must stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildAuthorization, computeDigestResponse, parseChallenge } from '../../src/sip/digest.js';
import { parseMessage, serializeMessage, type SipRequest, type SipResponse } from '../../src/sip/message.js';
import { escapeXml } from '../../src/sip/lync.js';
import { VirtualClock } from '../../src/core/clock.js';
import { formatTraceEntry, redactAuthValue, redactBody, redactHeaderValue, redactMessage, REDACTED, SipTraceLog, type SipTraceEntry } from '../../src/sip/trace.js';

const R = REDACTED;

test('digest MD5 Authorization: response and cnonce hidden, the fields that explain the exchange kept', () => {
  const c = parseChallenge('Digest realm="acme.test", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41", qop="auth"');
  const value = buildAuthorization(c, { username: 'alice', password: 'wonderland', method: 'REGISTER', uri: 'sip:acme.test', cnonce: '0a4f113b' });
  const response = /response="([0-9a-f]{32})"/.exec(value)?.[1];
  assert.ok(response, value);
  const out = redactHeaderValue('Authorization', value);
  assert.equal(out, `Digest username="alice", realm="acme.test", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:acme.test", response="${R}", opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001, cnonce="${R}"`);
  assert.ok(!out.includes(response) && !out.includes('0a4f113b'));
});

test('digest SHA-256 Proxy-Authorization (407 answer): same rules, algorithm token kept as sent', () => {
  const c = parseChallenge('Digest realm="proxy.acme.test", nonce="n-7", algorithm=SHA-256, qop="auth"');
  const value = buildAuthorization(c, { username: 'bob', password: 'builder', method: 'SUBSCRIBE', uri: 'sip:bob@acme.test', cnonce: 'cafe01' });
  const response = /response="([0-9a-f]{64})"/.exec(value)?.[1];
  assert.ok(response, value);
  const out = redactHeaderValue('Proxy-Authorization', value);
  assert.match(out, /^Digest username="bob", realm="proxy\.acme\.test", nonce="n-7", uri="sip:bob@acme\.test", response="<redacted>", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="<redacted>"$/);
  assert.ok(!out.includes(response));
});

test('header names in any case; unquoted and unknown digest params hidden; nothing but listed params survive', () => {
  const v = 'Digest username="alice",realm="r",nonce="n",uri="sip:a",response=0123abcd,cnonce=cn1,nc=00000002,qop=auth,x-secret=zz,foo="bar"';
  for (const name of ['authorization', 'AUTHORIZATION', 'Authorization', 'proxy-AUTHORIZATION']) {
    const out = redactHeaderValue(name, v);
    assert.equal(out, `Digest username="alice", realm="r", nonce="n", uri="sip:a", response=${R}, cnonce=${R}, nc=00000002, qop=auth, x-secret=${R}, foo="${R}"`, name);
  }
});

test('quoted commas and escaped quotes do not split a value; a value that looks like a param stays whole', () => {
  const v = 'Digest realm="a, response=leak1", nonce="x\\"y, z", response="abc,def", cnonce="q\\",w", username="u"';
  const out = redactAuthValue(v);
  assert.equal(out, `Digest realm="a, response=leak1", nonce="x\\"y, z", response="${R}", cnonce="${R}", username="u"`);
  assert.ok(!out.includes('def') && !out.includes('q\\",w'));
});

test('NTLM / Kerberos / TLS-DSK ([MS-SIPAE]): gssapi-data, response and rspauth hidden; realm, targetname, version, opaque, cnum kept', () => {
  const token = 'TlRMTVNTUAADAAAAGAAYAHgAAAAYABgAkAAAAAwADABIAAAAAgACAFQAAAAiACIAVgAAAAAAAACoAAAABYKIogUBKAoAAAAP';
  const auth = `NTLM qop="auth", realm="SIP Communications Service", targetname="pool1.acme.test", gssapi-data="${token}", version=4`;
  assert.equal(redactHeaderValue('Authorization', auth), `NTLM qop="auth", realm="SIP Communications Service", targetname="pool1.acme.test", gssapi-data="${R}", version=4`);
  const signed = 'NTLM qop="auth", realm="SIP Communications Service", opaque="8A3F2B1C", targetname="pool1.acme.test", crand="13d9a2c5", cnum="4", response="0100000000000000b23d4e8f7a6c5b4a", version=4';
  const out = redactHeaderValue('proxy-authorization', signed);
  assert.equal(out, `NTLM qop="auth", realm="SIP Communications Service", opaque="8A3F2B1C", targetname="pool1.acme.test", crand="13d9a2c5", cnum="4", response="${R}", version=4`);
  const info = 'NTLM rspauth="01000000000000005a1b2c3d4e5f6a7b", srand="3f2e1d0c", snum="1", opaque="8A3F2B1C", qop="auth", targetname="pool1.acme.test", realm="SIP Communications Service"';
  assert.equal(redactHeaderValue('Authentication-Info', info), `NTLM rspauth="${R}", srand="3f2e1d0c", snum="1", opaque="8A3F2B1C", qop="auth", targetname="pool1.acme.test", realm="SIP Communications Service"`);
  // The 401 offering several schemes (one header line each, or one comma list) keeps every scheme.
  const challenge = `NTLM realm="SIP Communications Service", targetname="pool1.acme.test", version=4, Kerberos realm="SIP Communications Service", targetname="sip/pool1.acme.test", version=4, TLS-DSK realm="SIP Communications Service", targetname="pool1.acme.test", version=4, sts-uri="https://pool1.acme.test:443/CertProv/CertProvisioningService.svc"`;
  assert.equal(redactHeaderValue('WWW-Authenticate', challenge), challenge);
  const kerb = 'Kerberos qop="auth", realm="SIP Communications Service", targetname="sip/pool1.acme.test", gssapi-data="YIIFyAYJKoZIhvcSAQICAQBuggW3MIIFs6ADAgEFoQMCAQ6iBwMFACAAAACjggS6YYIEtjCCBLKgAwIBBaEM", version=4';
  assert.ok(!redactHeaderValue('Authorization', kerb).includes('YIIF'));
  const dsk = 'TLS-DSK qop="auth", realm="SIP Communications Service", opaque="ABCD", targetname="pool1.acme.test", crand="1234", cnum="1", response="deadbeefdeadbeef", version=4';
  assert.ok(!redactHeaderValue('Authorization', dsk).includes('deadbeef'));
});

test('unknown or token68 schemes keep only the scheme name (Basic is the password itself)', () => {
  const basic = `Basic ${Buffer.from('alice:wonderland').toString('base64')}`;
  assert.equal(redactHeaderValue('Authorization', basic), `Basic ${R}`);
  assert.equal(redactHeaderValue('Authorization', 'Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCg=='), `Negotiate ${R}`);
  assert.equal(redactHeaderValue('Authorization', 'Bearer realm="x", access_token="eyJhbGciOi.abc.def"'), `Bearer ${R}`);
  assert.equal(redactHeaderValue('WWW-Authenticate', 'Bearer'), 'Bearer');
  // Not following the grammar at all (unterminated quote): the scheme, nothing else.
  assert.equal(redactHeaderValue('Authorization', 'Digest username="alice", response="8ca523f5e9506fed'), `Digest ${R}`);
  assert.equal(redactHeaderValue('Authorization', 'Digest response=8ca523 f5e9, cnonce=1'), `Digest ${R}`);
  assert.equal(redactHeaderValue('Authorization', '"weird" stuff'), R);
  // A bare token or padded blob sent without a scheme may be the credential itself: nothing kept.
  for (const bare of ['dXNlcjpwYXNzd29yZA', 'dXNlcjpwYXNzd29yZA==', 'hunter2hunter2', ' Zm9vOmJhcg= ']) {
    assert.equal(redactHeaderValue('Authorization', bare), R, bare);
    assert.equal(redactHeaderValue('Proxy-Authorization', bare), R, bare);
  }
});

test('digest Authentication-Info (no scheme, RFC 3261 §20.6): rspauth and cnonce hidden, nextnonce kept', () => {
  const out = redactHeaderValue('Authentication-Info', 'nextnonce="47364c23432d2e131a5fb210812c", qop=auth, rspauth="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", nc=00000001');
  assert.equal(out, `nextnonce="47364c23432d2e131a5fb210812c", qop=auth, rspauth="${R}", cnonce="${R}", nc=00000001`);
  assert.equal(redactHeaderValue('Proxy-Authentication-Info', 'rspauth=abc'), `rspauth=${R}`);
});

test('a password in a SIP URI (RFC 3261 §19.1.1) is hidden in the start line and headers; ports are not passwords', () => {
  const req: SipRequest = { kind: 'request', method: 'REGISTER', uri: 'sip:alice:s3cret@acme.test', headers: [{ name: 'To', value: '<sip:alice:s3cret@acme.test>' }, { name: 'Contact', value: '<sip:alice@10.0.0.1:5061;transport=tls>' }, { name: 'Route', value: '<sip:pool1.acme.test:5061;lr>' }], body: Buffer.alloc(0) };
  const r = redactMessage(req);
  assert.equal(r.startLine, `REGISTER sip:alice:${R}@acme.test SIP/2.0`);
  assert.equal(r.headers[0]?.value, `<sip:alice:${R}@acme.test>`);
  assert.equal(r.headers[1]?.value, '<sip:alice@10.0.0.1:5061;transport=tls>');
  assert.equal(r.headers[2]?.value, '<sip:pool1.acme.test:5061;lr>');
});

const MRAS_ANSWER = (user: string, pw: string): string =>
  `<response xmlns="http://schemas.microsoft.com/2006/09/sip/mrasp" requestID="1" version="1.0" serverVersion="2" reasonPhrase="OK"><credentialsResponse credentialsRequestID="1"><credentials><username>${user}</username><password>${pw}</password><duration>480</duration></credentials><mediaRelayList><mediaRelay><location>intranet</location><hostName>edge1.acme.test</hostName><udpPort>3478</udpPort><tcpPort>443</tcpPort></mediaRelay></mediaRelayList></credentialsResponse></response>`;

test('MRAS answer: the relay <password> is hidden, user name, duration and relays stay', () => {
  const b = redactBody(MRAS_ANSWER('AgAAJBKtwH8B1', 'T8Zb4lXvKq+8hHWg8a0vJw=='));
  assert.ok(!b.text.includes('T8Zb4lXvKq'));
  assert.match(b.text, /<username>AgAAJBKtwH8B1<\/username><password><redacted><\/password><duration>480<\/duration>/);
  assert.match(b.text, /<hostName>edge1\.acme\.test<\/hostName>/);
  assert.equal(b.omittedBytes, 0);
});

test('credential elements: namespace prefixes, attributes, CDATA, unclosed elements, JSON keys and SDP keys', () => {
  const cases: [string, string][] = [
    ['<m:credentials><m:Password type="x">hunter2</m:Password></m:credentials>', 'hunter2'],
    ['<password><![CDATA[hunter2]]></password>', 'hunter2'],
    ['<credentials password="hunter2" user="a"/>', 'hunter2'],
    ["<x secret='hunter2'/>", 'hunter2'],
    ['<credentials><password>hunter2', 'hunter2'],
    ['<PASSWORD>\n  hunter2\n</PASSWORD >', 'hunter2'],
    ['<token>eyJhbGciOiJIUzI1NiJ9.hunter2</token>', 'hunter2'],
    ['{"user":"a","password":"hun\\"ter2"}', 'ter2'],
    ['v=0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:hunter2hunter2hunter2hunter2hunter2xx|2^31\r\na=ice-pwd:hunter2\r\nk=clear:hunter2\r\n', 'hunter2'],
  ];
  for (const [body, secret] of cases) {
    const t = redactBody(body).text;
    assert.ok(!t.includes(secret), `${JSON.stringify(body)} → ${JSON.stringify(t)}`);
    assert.ok(t.includes(R), t);
  }
  assert.equal(redactBody('<credentials><username>relay</username></credentials>').text, '<credentials><username>relay</username></credentials>');
});

test('body cap: 4 KB shown with the rest counted; a secret straddling the cap is redacted first, never cut half-visible', () => {
  const filler = 'x'.repeat(4080); // the secret starts 10 bytes before the cap
  const body = `${filler}<password>ABCDEFGHIJKLMNOP</password>${'y'.repeat(6000)}`;
  const b = redactBody(body);
  assert.equal(Buffer.byteLength(b.text), 4096);
  assert.ok(!b.text.includes('ABCDEF'), b.text.slice(-20));
  assert.equal(b.omittedBytes, Buffer.byteLength(redactBody(body, 1e9).text) - 4096);
  // Cut inside a multi-byte character: never a replacement character, and the byte count adds up.
  const u = redactBody('é'.repeat(3000), 4095);
  assert.ok(!u.text.includes('\uFFFD'));
  assert.equal(Buffer.byteLength(u.text) + u.omittedBytes, 6000);
  assert.match(redactBody(Buffer.from([0x00, 0xff, 0x10, 0x80])).text, /4 bytes of binary body not shown/);
  assert.deepEqual(redactBody(Buffer.alloc(0)), { text: '', omittedBytes: 0 });
});

test('a parsed wire message (compact forms, lower-case names) is redacted header by header', () => {
  const pw = 'wonderland';
  const c = parseChallenge('Digest realm="acme.test", nonce="abc", qop="auth", algorithm=MD5');
  const auth = buildAuthorization(c, { username: 'alice', password: pw, method: 'SERVICE', uri: 'sip:mras@acme.test', cnonce: 'c0ffee' });
  const response = /response="([0-9a-f]+)"/.exec(auth)![1]!;
  const body = MRAS_ANSWER('relay-user', 'RELAY-PW-42');
  const wire = Buffer.from(
    `SIP/2.0 200 OK\r\nv: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK1\r\ni: call-1\r\nf: <sip:alice@acme.test>;tag=1\r\nt: <sip:mras@acme.test>;tag=2\r\ncseq: 2 SERVICE\r\nauthorization: ${auth}\r\nc: application/msrtc-media-relay-auth+xml\r\nl: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  const msg = parseMessage(wire) as SipResponse;
  const r = redactMessage(msg);
  assert.equal(r.startLine, 'SIP/2.0 200 OK');
  assert.deepEqual(r.headers.map((h) => h.name), ['Via', 'Call-ID', 'From', 'To', 'cseq', 'authorization', 'Content-Type', 'Content-Length']);
  const all = JSON.stringify(r);
  for (const s of [pw, response, 'c0ffee', 'RELAY-PW-42']) assert.ok(!all.includes(s), `${s} leaked`);
  assert.ok(all.includes('relay-user') && all.includes('call-1'));
  assert.equal(r.bodyBytes, Buffer.byteLength(body));
});

test('property: no password, digest response, cnonce or relay password survives redaction, whatever their bytes', () => {
  const alg = fc.constantFrom('MD5', 'SHA-256', 'MD5-sess', 'SHA-256-sess');
  const secretText = fc.string({ minLength: 8, maxLength: 40, unit: 'grapheme' });
  const hdr = fc.constantFrom('Authorization', 'authorization', 'PROXY-AUTHORIZATION', 'Proxy-Authorization');
  fc.assert(
    fc.property(secretText, secretText, fc.stringMatching(/^[A-Za-z0-9+/]{8,32}$/), alg, hdr, fc.boolean(), (password, relayPw, cnonce, algorithm, name, shuffle) => {
      const c = parseChallenge(`Digest realm="acme.test", nonce="nonce-1", qop="auth", algorithm=${algorithm}`);
      let auth = buildAuthorization(c, { username: 'alice', password, method: 'REGISTER', uri: 'sip:acme.test', cnonce });
      const response = computeDigestResponse({ algorithm, username: 'alice', password, realm: 'acme.test', nonce: 'nonce-1', method: 'REGISTER', uri: 'sip:acme.test', qop: 'auth', nc: '00000001', cnonce });
      assert.ok(auth.includes(response));
      if (shuffle) auth = `Digest ${auth.slice(7).split(', ').reverse().join(',')}`;
      const body = MRAS_ANSWER('relay-user', escapeXml(relayPw));
      const msg: SipRequest = { kind: 'request', method: 'REGISTER', uri: 'sip:acme.test', headers: [{ name: name, value: auth }, { name: 'Content-Type', value: 'application/msrtc-media-relay-auth+xml' }], body: Buffer.from(body) };
      // Round trip through the codec as the connection does for outgoing bytes.
      const out = JSON.stringify(redactMessage(parseMessage(serializeMessage(msg))));
      // A secret may by chance be a substring of the fixed text; then its absence proves nothing.
      const skeleton = JSON.stringify(redactMessage({ ...msg, headers: [{ name, value: 'Digest username="alice"' }], body: Buffer.from(MRAS_ANSWER('relay-user', 'X')) }));
      for (const s of [password, escapeXml(relayPw), response, cnonce]) {
        if (skeleton.includes(s) || skeleton.includes(JSON.stringify(s).slice(1, -1))) continue;
        assert.ok(!out.includes(s) && !out.includes(JSON.stringify(s).slice(1, -1)), `${JSON.stringify(s)} survived: ${out}`);
      }
    }),
    { numRuns: 400 },
  );
});

test('property: arbitrary header values never throw and unknown parameters of known schemes never survive', () => {
  const val = fc.stringMatching(/^[A-Za-z0-9]{12,24}$/);
  fc.assert(
    fc.property(fc.constantFrom('Digest', 'NTLM', 'Kerberos', 'TLS-DSK'), fc.stringMatching(/^x-[a-z]{1,8}$/), val, fc.boolean(), fc.string({ maxLength: 80 }), (scheme, pname, secret, quoted, junk) => {
      const v = `${scheme} realm="r", ${pname}=${quoted ? `"${secret}"` : secret}, qop="auth"`;
      assert.ok(!redactHeaderValue('Authorization', v).includes(secret));
      // token68 credentials, with a scheme or (a broken client) without one.
      const blob = Buffer.from(`alice:${secret}${junk}`).toString('base64');
      for (const cred of [`Basic ${blob}`, blob, blob.replace(/=+$/, ''), `${scheme} ${blob}`]) {
        const out = redactHeaderValue('Proxy-Authorization', cred);
        assert.ok(!out.includes(blob.replace(/=+$/, '').slice(0, 12)), `${cred} → ${out}`);
      }
      assert.equal(typeof redactHeaderValue('Authorization', junk), 'string');
      assert.equal(typeof redactBody(junk).text, 'string');
    }),
    { numRuns: 1000 },
  );
});

test('SipTraceLog: times rebased to its start, capped, the rest counted; formatted with arrow, connection and body note', () => {
  const clock = new VirtualClock(1000);
  const log = new SipTraceLog(clock, 3);
  const entry = (i: number): SipTraceEntry => ({
    direction: i % 2 ? 'in' : 'out',
    atMs: 1000 + i * 2.25,
    connection: { transport: 'tls', localAddress: '127.0.0.1', localPort: 40000, remoteAddress: '127.0.31.11', remotePort: 5061, servername: 'pool1.acme.test' },
    startLine: i % 2 ? 'SIP/2.0 401 Unauthorized' : 'REGISTER sip:acme.test SIP/2.0',
    headers: [{ name: 'CSeq', value: `${i} REGISTER` }],
    body: i === 0 ? 'abc' : '',
    bodyBytes: i === 0 ? 10_000 : 0,
    bodyOmittedBytes: i === 0 ? 9997 : 0,
  });
  for (let i = 0; i < 5; i++) log.hook(entry(i));
  assert.equal(log.entries.length, 3);
  assert.equal(log.omitted, 2);
  assert.deepEqual(log.entries.map((e) => e.atMs), [0, 2.3, 4.5]);
  const text = formatTraceEntry(log.entries[0]!);
  assert.equal(text.split('\n')[0], '→ 0.0 ms  to tls 127.0.31.11:5061 pool1.acme.test');
  assert.match(text, /\n {4}REGISTER sip:acme\.test SIP\/2\.0\n {4}CSeq: 0 REGISTER\n\n {4}abc\n {4}… 9997 bytes more$/);
  assert.match(formatTraceEntry(log.entries[1]!), /^← 2\.3 ms {2}from tls/);
});
