// Review 3 finding: behind an authenticating outbound proxy / SBC, REGISTER is challenged twice
// in a row by different hops: 407 (proxy realm), then — with Proxy-Authorization — 401 (registrar
// realm). RFC 3261 §22.3: the UAC answers each challenge and keeps sending the credentials for
// the earlier one. siplogon took the second challenge for "credentials rejected" (AUTH_FAILED,
// a fatal error that stops sign-in for good) and dropped the Proxy-Authorization on the retry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { SiplogonError } from '../../src/errors.js';
import { VirtualClock, seededRandom } from '../../src/core/clock.js';
import { computeDigestResponse, parseAuthParams } from '../../src/sip/digest.js';
import { getHeader, getHeaderLines, parseMessage, type SipRequest, type SipResponse } from '../../src/sip/message.js';
import { SipClient } from '../../src/sip/transaction.js';
import { Registration, requestWithAuth } from '../../src/sip/register.js';
import type { SipConnection } from '../../src/sip/connection.js';

type Reply = [number, string, Array<[string, string]>];

class FakeConnection extends EventEmitter {
  info = { transport: 'tls' as const, localAddress: '127.0.34.31', localPort: 40000, remoteAddress: '127.0.34.32', remotePort: 5061 };
  closed = false;
  sent: SipRequest[] = [];
  constructor(private readonly answer: (req: SipRequest) => Reply) {
    super();
  }
  send(bytes: Buffer): void {
    const m = parseMessage(bytes);
    if (m.kind !== 'request') return;
    this.sent.push(m);
    const [status, reason, extra] = this.answer(m);
    const copy = (n: string) => getHeaderLines(m, n).map((value) => ({ name: n, value }));
    const res: SipResponse = { kind: 'response', status, reason, headers: [...copy('Via'), ...copy('From'), ...copy('To'), ...copy('Call-ID'), ...copy('CSeq'), ...extra.map(([name, value]) => ({ name, value }))], body: Buffer.alloc(0) };
    queueMicrotask(() => this.emit('message', res));
  }
  close(): void {
    this.closed = true;
  }
}

const PASSWORD = 'pw-r3';

/** True when `header` carries valid credentials for `realm`/`nonce` (qop=auth, MD5). */
function valid(req: SipRequest, header: string, realm: string, nonce: string): boolean {
  for (const v of getHeaderLines(req, header)) {
    const p = parseAuthParams(v.replace(/^Digest\s+/i, ''));
    if (p.get('realm') !== realm || p.get('nonce') !== nonce) continue;
    const expect = computeDigestResponse({ algorithm: 'MD5', username: 'alice', password: PASSWORD, realm, nonce, method: req.method, uri: p.get('uri') ?? '', qop: 'auth', nc: p.get('nc') ?? '', cnonce: p.get('cnonce') ?? '' });
    if (p.get('response') === expect) return true;
  }
  return false;
}

/** An SBC (realm "sbc") in front of the registrar (realm "registrar"), each checking its own credentials. */
function twoHops(req: SipRequest): Reply {
  if (!valid(req, 'Proxy-Authorization', 'sbc', 'pn1')) return [407, 'Proxy Authentication Required', [['Proxy-Authenticate', 'Digest realm="sbc", nonce="pn1", qop="auth"']]];
  if (!valid(req, 'Authorization', 'registrar', 'rn1')) return [401, 'Unauthorized', [['WWW-Authenticate', 'Digest realm="registrar", nonce="rn1", qop="auth"']]];
  return [200, 'OK', [['Contact', `${getHeader(req, 'Contact')};expires=600`]]];
}

test('REGISTER challenged by a proxy (407) and then by the registrar (401) is answered to both and registers', async () => {
  const clock = new VirtualClock();
  const conn = new FakeConnection(twoHops);
  const client = new SipClient(conn as unknown as SipConnection, { clock });
  const reg = new Registration(client, { aor: 'sip:alice@review3.test', password: PASSWORD, clock, random: seededRandom(3) });
  let out: Awaited<ReturnType<Registration['register']>> | SiplogonError;
  try {
    out = await reg.register();
  } catch (e) {
    out = e as SiplogonError;
  }
  reg.close();
  assert.equal(SiplogonError.is(out) ? out.code : out.kind, 'registered');
  assert.equal(conn.sent.length, 3, 'no credentials, proxy credentials, both');
  assert.deepEqual(conn.sent.map((r) => getHeader(r, 'CSeq')), ['1 REGISTER', '2 REGISTER', '3 REGISTER']);

  // A real rejection is still one retry per challenge, never a loop.
  const bad = new FakeConnection(twoHops);
  const r2 = new Registration(new SipClient(bad as unknown as SipConnection, { clock }), { aor: 'sip:alice@review3.test', password: 'wrong', clock, random: seededRandom(3) });
  await assert.rejects(r2.register(), (e: unknown) => SiplogonError.is(e, 'AUTH_FAILED'));
  assert.equal(bad.sent.length, 2);
});

test('requestWithAuth (SUBSCRIBE, SERVICE …) answers a 407 then a 401 the same way', async () => {
  const clock = new VirtualClock();
  const conn = new FakeConnection(twoHops);
  const client = new SipClient(conn as unknown as SipConnection, { clock });
  const res = await requestWithAuth(client, 'SERVICE', { uri: 'sip:alice@review3.test', headers: () => [] }, { username: 'alice', password: PASSWORD }).catch((e: unknown) => e as SiplogonError);
  assert.equal(SiplogonError.is(res) ? res.code : res.status, 200);
});
