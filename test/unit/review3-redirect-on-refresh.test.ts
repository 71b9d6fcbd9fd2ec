// Review 3 finding: a registrar that answers a REGISTER *refresh* with 301/302 (a Lync front end
// does so when the user's home pool moved) left the registration to lapse silently: the redirect
// was emitted as 'refreshed', no refresh timer was armed and nobody was told, so the session stayed
// "registered" while the binding expired on the server. The same held for refreshNow() after a
// network change. A redirected refresh is a lost registration: sign in again (and follow it there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { SiplogonError } from '../../src/errors.js';
import { VirtualClock, seededRandom } from '../../src/core/clock.js';
import { getHeader, getHeaderLines, parseMessage, type SipRequest, type SipResponse } from '../../src/sip/message.js';
import { SipClient } from '../../src/sip/transaction.js';
import { Registration } from '../../src/sip/register.js';
import type { SipConnection } from '../../src/sip/connection.js';

class FakeConnection extends EventEmitter {
  info = { transport: 'tls' as const, localAddress: '127.0.34.41', localPort: 40001, remoteAddress: '127.0.34.42', remotePort: 5061 };
  closed = false;
  sent: SipRequest[] = [];
  constructor(private readonly answer: (req: SipRequest, n: number) => [number, string, Array<[string, string]>]) {
    super();
  }
  send(bytes: Buffer): void {
    const m = parseMessage(bytes);
    if (m.kind !== 'request') return;
    this.sent.push(m);
    const [status, reason, extra] = this.answer(m, this.sent.length);
    const copy = (n: string) => getHeaderLines(m, n).map((value) => ({ name: n, value }));
    const res: SipResponse = { kind: 'response', status, reason, headers: [...copy('Via'), ...copy('From'), ...copy('To'), ...copy('Call-ID'), ...copy('CSeq'), ...extra.map(([name, value]) => ({ name, value }))], body: Buffer.alloc(0) };
    queueMicrotask(() => this.emit('message', res));
  }
  close(): void {
    this.closed = true;
  }
}

test('a 301 to a REGISTER refresh is reported as refreshFailed, not left to lapse', async () => {
  const clock = new VirtualClock();
  const conn = new FakeConnection((req, n) =>
    n === 1 ? [200, 'OK', [['Contact', `${getHeader(req, 'Contact')};expires=100`]]] : [301, 'Moved Permanently', [['Contact', '<sip:pool2.review3.test:5061;transport=tls>']]],
  );
  const reg = new Registration(new SipClient(conn as unknown as SipConnection, { clock }), { aor: 'sip:alice@review3.test', password: 'pw', expires: 100, clock, random: seededRandom(7) });
  const failed: SiplogonError[] = [];
  const refreshed: string[] = [];
  reg.on('refreshFailed', (e) => failed.push(e));
  reg.on('refreshed', (o) => refreshed.push(o.kind));
  assert.equal((await reg.register()).kind, 'registered');
  clock.advance(95_000);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.equal(conn.sent.length, 2, 'the refresh was sent');
  assert.deepEqual(refreshed, [], 'a redirect is not a successful refresh');
  assert.equal(failed.length, 1, 'the redirected refresh is reported');
  assert.equal(failed[0]?.details['status'], 301);
  assert.deepEqual(failed[0]?.details['redirect'], ['sip:pool2.review3.test:5061;transport=tls']);
  reg.close();
});
