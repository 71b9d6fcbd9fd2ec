import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SiplogonError } from '../../src/errors.js';
import {
  getHeader,
  getHeaders,
  parseMessage,
  parseNameAddr,
  parseParams,
  parseUri,
  parseVia,
  serializeMessage,
  makeRequest,
  type SipMessage,
} from '../../src/sip/message.js';
import { SipStreamFramer, type Frame } from '../../src/sip/framing.js';

const crlf = (lines: string[]): string => lines.join('\r\n');

const REGISTER = crlf([
  'REGISTER sip:example.test SIP/2.0',
  'v: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKabc;rport',
  'Via: SIP/2.0/TCP proxy.example.test;branch=z9hG4bKdef, SIP/2.0/TCP p2.example.test;branch=z9hG4bK2',
  'f: "Alice, A." <sip:alice@example.test>;tag=1234',
  'TO: <sip:alice@example.test>',
  'i: call-1',
  'CSeq: 7 REGISTER',
  'm: <sip:alice@10.0.0.1:5061;transport=tls>;+sip.instance="<urn:uuid:0001>";expires=600, <sip:alice@10.0.0.2>;q=0.5',
  'WWW-Authenticate: Digest realm="example.test", nonce="a,b", qop="auth,auth-int"',
  'k: gruu-10, adhoclist',
  'k: msrtc-event-categories',
  'Subject: folded',
  ' continuation',
  'l: 5',
  '',
  'héllo'.slice(0, 4), // 'héll' = 5 bytes in UTF-8
]);

test('parses compact forms, repeated and multi-valued headers, case-insensitive names', () => {
  const m = parseMessage(Buffer.from(REGISTER, 'utf8'));
  assert.equal(m.kind, 'request');
  if (m.kind !== 'request') return;
  assert.equal(m.method, 'REGISTER');
  assert.equal(m.uri, 'sip:example.test');
  assert.equal(getHeaders(m, 'via').length, 3);
  assert.equal(getHeader(m, 'V'), 'SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKabc;rport');
  assert.equal(getHeader(m, 'call-id'), 'call-1');
  assert.equal(getHeader(m, 'to'), '<sip:alice@example.test>');
  assert.deepEqual(getHeaders(m, 'Supported'), ['gruu-10', 'adhoclist', 'msrtc-event-categories']);
  // Contact list splits on the comma between bindings, not inside the quoted display name of From.
  assert.equal(getHeaders(m, 'Contact').length, 2);
  assert.equal(getHeaders(m, 'From').length, 1);
  // Challenges are never comma-split.
  assert.deepEqual(getHeaders(m, 'www-authenticate'), ['Digest realm="example.test", nonce="a,b", qop="auth,auth-int"']);
  assert.equal(getHeader(m, 'Subject'), 'folded continuation');
  assert.equal(m.body.toString('utf8'), 'héll');
  assert.equal(m.body.length, 5);
});

test('name-addr, addr-spec, URI and Via parameters', () => {
  const c = parseNameAddr('"Alice" <sip:alice@10.0.0.1:5061;transport=tls>;+sip.instance="<urn:uuid:0001>";expires=600;q=0.7');
  assert.equal(c.displayName, 'Alice');
  assert.equal(c.uri, 'sip:alice@10.0.0.1:5061;transport=tls');
  assert.equal(c.params.get('+sip.instance'), '<urn:uuid:0001>');
  assert.equal(c.params.get('q'), '0.7');
  const a = parseNameAddr('sip:bob@example.test;tag=xyz');
  assert.equal(a.uri, 'sip:bob@example.test');
  assert.equal(a.params.get('tag'), 'xyz');
  const u = parseUri('SIPS:alice:pw@[2001:db8::1]:5061;transport=tls;lr');
  assert.equal(u.scheme, 'sips');
  assert.equal(u.user, 'alice'); // the password part is dropped
  assert.equal(u.host, '2001:db8::1');
  assert.equal(u.port, 5061);
  assert.equal(u.params.get('transport'), 'tls');
  assert.equal(u.params.get('lr'), null);
  assert.deepEqual([...parseParams(';a=1;B="x;y";c')], [['a', '1'], ['b', 'x;y'], ['c', null]]);
  const v = parseVia('SIP/2.0/TLS 127.0.0.1:5555;branch=z9hG4bKx;rport=5555;received=1.2.3.4');
  assert.equal(v.transport, 'TLS');
  assert.equal(v.port, 5555);
  assert.equal(v.params.get('received'), '1.2.3.4');
  for (const bad of ['http://x', 'sip:', 'sip:a@', 'sip:host:99999', 'sip:ho st']) {
    assert.throws(() => parseUri(bad), (e: unknown) => SiplogonError.is(e, 'INVALID_URI'), bad);
  }
});

test('serialize → parse round trip computes Content-Length in bytes', () => {
  const req = makeRequest('MESSAGE', 'sip:bob@example.test', [['Call-ID', 'x'], ['CSeq', '1 MESSAGE'], ['Content-Length', '999']], 'grüße ✓');
  const bytes = serializeMessage(req);
  assert.equal("grüße ✓".length, 7);
  assert.match(bytes.toString("utf8"), /Content-Length: 11\r\n\r\n/);
  const back = parseMessage(bytes) as SipMessage;
  assert.equal(back.body.toString('utf8'), 'grüße ✓');
  assert.throws(() => serializeMessage(makeRequest('OPTIONS', 'sip:x', [['X-Evil', 'a\r\nVia: injected']])), (e: unknown) => SiplogonError.is(e, 'SIP_BAD_HEADER'));
});

test('malformed messages give typed errors', () => {
  const cases: Array<[string, string]> = [
    ['garbage', 'SIP_PARSE'],
    [crlf(['FOO', '', '']), 'SIP_PARSE'],
    [crlf(['OPTIONS sip:x SIP/2.0', 'Content-Length: -1', '', '']), 'SIP_BAD_CONTENT_LENGTH'],
    [crlf(['OPTIONS sip:x SIP/2.0', 'Content-Length: 4', '', 'ab']), 'SIP_BAD_CONTENT_LENGTH'],
    ['OPTIONS sip:x SIP/2.0\r\nVia: a\nX: b\r\n\r\n', 'SIP_BAD_HEADER'],
    ['OPTIONS sip:x SIP/2.0\r\nVia: a\rX: b\r\n\r\n', 'SIP_BAD_HEADER'],
    [crlf(['OPTIONS sip:x SIP/2.0', 'no colon here', '', '']), 'SIP_BAD_HEADER'],
  ];
  for (const [text, code] of cases) {
    assert.throws(() => parseMessage(Buffer.from(text)), (e: unknown) => SiplogonError.is(e, code as never), JSON.stringify(text));
  }
});

function msg(i: number, body = ''): string {
  return crlf([`SIP/2.0 200 OK`, `Via: SIP/2.0/TCP h;branch=z9hG4bK${i}`, `CSeq: ${i} REGISTER`, `Content-Length: ${Buffer.byteLength(body)}`, '', body]);
}

function messagesOf(frames: Frame[]): string[] {
  return frames.filter((f) => f.type === 'message').map((f) => (f.type === 'message' ? `${getHeader(f.message, 'CSeq')}|${f.message.body.toString('utf8')}` : ''));
}

test('framer: several messages in one chunk, partial reads, keep-alives', () => {
  const f = new SipStreamFramer();
  const stream = Buffer.from(msg(1, 'ä€') + '\r\n\r\n' + msg(2) + '\r\n' + msg(3, 'x'));
  const frames = f.push(stream);
  assert.deepEqual(
    frames.map((x) => x.type),
    ['message', 'ping', 'message', 'pong', 'message'],
  );
  assert.deepEqual(messagesOf(frames), ['1 REGISTER|ä€', '2 REGISTER|', '3 REGISTER|x']);
  // byte-wise delivery
  const g = new SipStreamFramer();
  const all: Frame[] = [];
  const one = Buffer.from(msg(4, 'ünïcode'));
  for (let i = 0; i < one.length; i++) all.push(...g.push(one.subarray(i, i + 1)));
  assert.deepEqual(messagesOf(all), ['4 REGISTER|ünïcode']);
  assert.equal(g.buffered, 0);
  // lone CRLF pong at the end of a chunk
  assert.deepEqual(new SipStreamFramer().push(Buffer.from('\r\n')), [{ type: 'pong' }]);
});

test('framer: oversize, missing/negative Content-Length, bare CR/LF → typed error, stream poisoned', () => {
  const cases: Array<[Buffer, string]> = [
    [Buffer.from(crlf(['SIP/2.0 200 OK', 'CSeq: 1 X', '', ''])), 'SIP_BAD_CONTENT_LENGTH'],
    [Buffer.from(crlf(['SIP/2.0 200 OK', 'Content-Length: -3', '', ''])), 'SIP_BAD_CONTENT_LENGTH'],
    [Buffer.from(crlf(['SIP/2.0 200 OK', `Content-Length: ${70 * 1024}`, '', ''])), 'SIP_MESSAGE_TOO_LARGE'],
    [Buffer.from('SIP/2.0 200 OK\r\nX: ' + 'a'.repeat(70 * 1024)), 'SIP_MESSAGE_TOO_LARGE'],
    [Buffer.from('SIP/2.0 200 OK\r\nX: a\nY: b'), 'SIP_BAD_HEADER'],
    [Buffer.from('\n'), 'SIP_BAD_HEADER'],
  ];
  for (const [bytes, code] of cases) {
    const f = new SipStreamFramer();
    assert.throws(() => f.push(bytes), (e: unknown) => SiplogonError.is(e, code as never), code);
    assert.throws(() => f.push(Buffer.from(msg(1))), (e: unknown) => SiplogonError.is(e, code as never), 'stays failed');
  }
});

test('property: any split of a byte stream yields the same messages', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.string({ maxLength: 40 }), fc.constantFrom('', '\r\n\r\n', '\r\n')), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 30 }),
      (parts, cuts) => {
        const stream = Buffer.from(parts.map(([body, ka], i) => msg(i, body) + ka).join(''));
        const expected = messagesOf(new SipStreamFramer().push(stream));
        assert.equal(expected.length, parts.length);
        const f = new SipStreamFramer();
        const got: Frame[] = [];
        let pos = 0;
        let k = 0;
        while (pos < stream.length) {
          const n = cuts[k++ % cuts.length]!;
          got.push(...f.push(stream.subarray(pos, pos + n)));
          pos += n;
        }
        assert.deepEqual(messagesOf(got), expected);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: fed whole or in any pieces (down to single bytes), any byte stream gives the same messages or the same error code', () => {
  // The framer resumes its search and its bare-CR/LF check where the last chunk ended; this pins
  // that to the one-shot reading, including CRLFCRLF and CR LF straddling a cut.
  const unit = fc.constantFrom('\r', '\n', '\r\n', '\r\n\r\n', 'a', ' ', ':', 'Content-Length: 3', 'l: 0', 'SIP/2.0 200 OK', 'REGISTER sip:x SIP/2.0', '\0');
  const outcome = (chunks: Buffer[]): string => {
    const f = new SipStreamFramer();
    const got: Frame[] = [];
    try {
      for (const c of chunks) got.push(...f.push(c));
    } catch (e) {
      return `error ${(e as { code?: string }).code}`;
    }
    return JSON.stringify(got.map((fr) => (fr.type === 'message' ? [fr.message.kind, fr.message.body.toString('latin1')] : fr.type)).filter((x) => typeof x !== 'string'));
  };
  fc.assert(
    fc.property(fc.array(unit, { maxLength: 30 }).map((a) => Buffer.from(a.join(''), 'latin1')), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }), (stream, cuts) => {
      const pieces: Buffer[] = [];
      for (let pos = 0, k = 0; pos < stream.length; k++) {
        const n = cuts[k % cuts.length]!;
        pieces.push(stream.subarray(pos, pos + n));
        pos += n;
      }
      const bytes = [...stream].map((b) => Buffer.from([b]));
      const whole = outcome([stream]);
      assert.equal(outcome(pieces), whole);
      assert.equal(outcome(bytes), whole);
    }),
    { numRuns: 1000 },
  );
});

test('property: random bytes never throw anything but a SiplogonError', () => {
  const alphabet = fc.constantFrom(...'SIP/2.0 OK\r\n:;Content-Length -1 0 9 l: v REGISTER sip:x \0é'.split(''));
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 50 }), fc.string({ unit: alphabet, maxLength: 80 }).map((s) => Buffer.from(s))), { maxLength: 8 }), (chunks) => {
      const f = new SipStreamFramer();
      for (const c of chunks) {
        try {
          f.push(Buffer.from(c));
        } catch (e) {
          assert.ok(SiplogonError.is(e), `non-typed error: ${String(e)}`);
          return;
        }
        try {
          parseMessage(Buffer.from(c));
        } catch (e) {
          assert.ok(SiplogonError.is(e), `non-typed error: ${String(e)}`);
        }
      }
    }),
    { numRuns: 500 },
  );
});

test('splitList and parseParams agree with a char-by-char reference on arbitrary input (quotes, escapes, <>, commas)', async () => {
  const fc = (await import('fast-check')).default;
  const { splitList: split, parseParams: params } = await import('../../src/sip/message.js');
  // The straightforward definition (RFC 3261 §7.3.1), kept here as the oracle.
  const reference = (value: string): string[] => {
    const out: string[] = [];
    let cur = '';
    let quoted = false;
    let angle = false;
    for (let i = 0; i < value.length; i++) {
      const ch = value[i]!;
      if (quoted) {
        cur += ch;
        if (ch === '\\' && i + 1 < value.length) cur += value[++i];
        else if (ch === '"') quoted = false;
        continue;
      }
      if (ch === '"') quoted = true;
      else if (ch === '<') angle = true;
      else if (ch === '>') angle = false;
      else if (ch === ',' && !angle) {
        if (cur.trim()) out.push(cur.trim());
        cur = '';
        continue;
      }
      cur += ch;
    }
    if (cur.trim()) out.push(cur.trim());
    return out;
  };
  const alphabet = fc.constantFrom('a', 'b', ' ', ',', ';', '=', '"', '\\', '<', '>', 'x');
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 40 }).map((a) => a.join('')), (v) => {
      assert.deepEqual(split(v), reference(v));
      params(v); // never throws
    }),
    { numRuns: 3000 },
  );
  assert.deepEqual(split('<sip:a@b;x=1,2>;q=1, "Doe, J\\"r" <sip:c@d> ,,'), ['<sip:a@b;x=1,2>;q=1', '"Doe, J\\"r" <sip:c@d>']);
  assert.deepEqual([...params(';a=1;b;c="x;\\"y"').entries()], [['a', '1'], ['b', null], ['c', 'x;"y']]);
});
