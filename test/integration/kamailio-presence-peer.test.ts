// Proves test/helpers/kamailio-presence.ts: a real Kamailio 5.6 presence peer on 127.0.60.1,
// spoken to with a few raw SIP/HTTP messages over node:net (the project's SIP layer is separate).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { startKamailioPresence, PRESENCE_USERS, type KamailioPresencePeer } from '../helpers/kamailio-presence.js';
import { parseContactList, buildPidf, ResourceListState } from '../../src/presence/index.js';

let peer: KamailioPresencePeer | undefined;

before(async () => {
  peer = await startKamailioPresence({ address: '127.0.60.1' });
});
after(async () => {
  await peer?.stop();
});

interface Message {
  /** Status code for a response, undefined for a request. */
  status?: number;
  method?: string;
  headers: Map<string, string[]>;
  body: string;
}
type Reply = Message & { status: number };

/**
 * One connection; splits whole messages framed by Content-Length (RFC 3261 §18.3). Requests the
 * server sends (NOTIFY) are answered 200 at once, as RFC 6665 §4.1.3 asks of a subscriber, and kept.
 */
class RawConn {
  private buf = Buffer.alloc(0);
  private readonly replies: Reply[] = [];
  readonly requests: Message[] = [];
  private waiters: (() => void)[] = [];
  private constructor(private readonly s: net.Socket) {
    s.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.split();
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static open(host: string, port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port, localAddress: '127.0.0.1' });
      s.once('connect', () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }
  private split(): void {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      const len = Number(/\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(head)?.[1] ?? '0');
      if (this.buf.length < end + 4 + len) return;
      const body = this.buf.subarray(end + 4, end + 4 + len).toString('utf8');
      this.buf = this.buf.subarray(end + 4 + len);
      const [first, ...lines] = head.split('\r\n');
      const headers = new Map<string, string[]>();
      const raw: [string, string][] = [];
      for (const l of lines) {
        const i = l.indexOf(':');
        const k = l.slice(0, i).trim().toLowerCase();
        raw.push([l.slice(0, i).trim(), l.slice(i + 1).trim()]);
        headers.set(k, [...(headers.get(k) ?? []), l.slice(i + 1).trim()]);
      }
      const m = /^(?:SIP|HTTP)\/\d\.\d (\d{3}) /.exec(first ?? '');
      if (m) {
        this.replies.push({ status: Number(m[1]), headers, body });
        continue;
      }
      const method = (first ?? '').split(' ')[0] ?? '';
      this.requests.push({ method, headers, body });
      const echo = raw.filter(([k]) => /^(via|v|from|f|to|t|call-id|i|cseq)$/i.test(k)).map(([k, v]) => `${k}: ${v}`);
      this.s.write(`SIP/2.0 200 OK\r\n${echo.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`);
    }
  }
  /** NOTIFYs reach us only on this connection: Contact/Via name its local port (RFC 5923 style reuse). */
  get localPort(): number {
    return this.s.localPort ?? 0;
  }
  send(text: string): void {
    this.s.write(text.replaceAll('127.0.0.1:5099', `127.0.0.1:${this.localPort}`));
  }
  private async wait(deadline: number, what: string): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no ${what} within the bound`);
    await new Promise<void>((r) => {
      const t = setTimeout(r, left);
      this.waiters.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }
  /** Next response; bounded wait. */
  async response(timeoutMs = 5000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.replies.shift();
      if (r) return r;
      await this.wait(deadline, 'response');
    }
  }
  /** Next request from the server not yet taken; bounded wait. */
  async request(timeoutMs = 5000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.requests.shift();
      if (r) return r;
      await this.wait(deadline, 'request');
    }
  }
  close(): void {
    this.s.destroy();
  }
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

function request(p: KamailioPresencePeer, o: { to?: string; method: string; ruri: string; user: string; cseq: number; callId: string; extra?: string[]; auth?: string; body?: string; contentType?: string }): string {
  const body = o.body ?? '';
  const lines = [
    `${o.method} ${o.ruri} SIP/2.0`,
    `Via: SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK${randomBytes(6).toString('hex')}`,
    'Max-Forwards: 70',
    `From: <sip:${o.user}@${p.domain}>;tag=${o.callId.slice(0, 8)}`,
    `To: <${o.to ?? `sip:${o.user}@${p.domain}`}>`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq} ${o.method}`,
    `Contact: <sip:${o.user}@127.0.0.1:5099;transport=tcp>`,
    ...(o.extra ?? []),
    ...(o.auth ? [`Authorization: ${o.auth}`] : []),
    ...(o.contentType ? [`Content-Type: ${o.contentType}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

/** RFC 2617 §3.2.2 digest without qop (the peer challenges with "0": no qop). */
function digest(challenge: string, user: string, password: string, method: string, uri: string): string {
  const realm = /realm="([^"]*)"/.exec(challenge)?.[1] ?? '';
  const nonce = /nonce="([^"]*)"/.exec(challenge)?.[1] ?? '';
  const response = md5(`${md5(`${user}:${realm}:${password}`)}:${nonce}:${md5(`${method}:${uri}`)}`);
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5`;
}

test('kamailio presence peer: REGISTER is challenged 401 without auth, accepted with digest and carries the Lync headers', async () => {
  const p = peer!;
  const c = await RawConn.open(p.address, p.port);
  try {
    const ruri = `sip:${p.domain}`;
    const callId = `reg-${randomBytes(6).toString('hex')}`;
    const extra = ['Expires: 300'];
    c.send(request(p, { method: 'REGISTER', ruri, user: 'alice', cseq: 1, callId, extra }));
    const r1 = await c.response();
    assert.equal(r1.status, 401, p.logs().slice(-2000));
    const challenge = r1.headers.get('www-authenticate')?.[0] ?? '';
    assert.match(challenge, /^Digest /);
    assert.match(challenge, new RegExp(`realm="${p.domain}"`));
    assert.doesNotMatch(challenge, /qop=/);
    // A wrong password is challenged again, not accepted.
    c.send(request(p, { method: 'REGISTER', ruri, user: 'alice', cseq: 2, callId, extra, auth: digest(challenge, 'alice', 'not-the-password', 'REGISTER', ruri) }));
    assert.equal((await c.response()).status, 401);
    c.send(request(p, { method: 'REGISTER', ruri, user: 'alice', cseq: 3, callId, extra, auth: digest(challenge, 'alice', PRESENCE_USERS.alice, 'REGISTER', ruri) }));
    const r3 = await c.response();
    assert.equal(r3.status, 200, p.logs().slice(-2000));
    assert.match(r3.headers.get('contact')?.join(',') ?? '', new RegExp(`sip:alice@127\\.0\\.0\\.1:${c.localPort}`));
    assert.match(r3.headers.get('allow-events')?.join(',') ?? '', /vnd-microsoft-roaming-contacts/);
    assert.match(r3.headers.get('supported')?.join(',') ?? '', /msrtc-event-categories, adhoclist/);
  } finally {
    c.close();
  }
});

test('kamailio presence peer: roaming-contacts SUBSCRIBE answers 200 with the fixed contactList, readable by parseContactList', async () => {
  const p = peer!;
  const c = await RawConn.open(p.address, p.port);
  try {
    const ruri = `sip:bob@${p.domain}`;
    const callId = `rc-${randomBytes(6).toString('hex')}`;
    const extra = ['Event: vnd-microsoft-roaming-contacts', 'Accept: application/vnd-microsoft-roaming-contacts+xml', 'Supported: ms-piggyback-first-notify', 'Expires: 3600'];
    c.send(request(p, { method: 'SUBSCRIBE', ruri, user: 'bob', cseq: 1, callId, extra }));
    const r1 = await c.response();
    assert.equal(r1.status, 401);
    const auth = digest(r1.headers.get('www-authenticate')?.[0] ?? '', 'bob', PRESENCE_USERS.bob, 'SUBSCRIBE', ruri);
    c.send(request(p, { method: 'SUBSCRIBE', ruri, user: 'bob', cseq: 2, callId, extra, auth }));
    const r2 = await c.response();
    assert.equal(r2.status, 200, p.logs().slice(-2000));
    assert.equal(r2.headers.get('ms-piggyback-cseq')?.[0], '1');
    assert.match(r2.headers.get('content-type')?.[0] ?? '', /^application\/vnd-microsoft-roaming-contacts\+xml/);
    assert.deepEqual(parseContactList(r2.body), {
      deltaNum: 7,
      groups: [{ id: 1, name: '~' }, { id: 2, name: 'Team' }],
      contacts: [
        { uri: `sip:bob@${p.domain}`, name: 'Bob Builder', groups: [1, 2], subscribed: true },
        { uri: `sip:carol@${p.domain}`, name: '', groups: [1], subscribed: true },
      ],
    });
  } finally {
    c.close();
  }
});

test("kamailio presence peer: unauthenticated XCAP GET returns alice's resource list; an unknown document is 404", async () => {
  const p = peer!;
  const c = await RawConn.open(p.address, p.port);
  try {
    const get = (docPath: string): string => `GET ${docPath} HTTP/1.1\r\nHost: ${p.domain}\r\nConnection: keep-alive\r\n\r\n`;
    c.send(get(`${p.xcapRoot}/resource-lists/users/sip:alice@${p.domain}/index`));
    const r = await c.response();
    assert.equal(r.status, 200, p.logs().slice(-2000));
    assert.match(r.headers.get('content-type')?.[0] ?? '', /^application\/resource-lists\+xml/);
    assert.equal(r.headers.get('etag')?.[0], '"rl-1"');
    assert.match(r.body, /<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">/);
    assert.deepEqual([...r.body.matchAll(/<entry uri="([^"]+)"/g)].map((m) => m[1]), [`sip:bob@${p.domain}`, `sip:carol@${p.domain}`]);
  } finally {
    c.close();
  }
  const c2 = await RawConn.open(p.address, p.port);
  try {
    c2.send(`GET ${p.xcapRoot}/resource-lists/users/sip:nobody@${p.domain}/index HTTP/1.1\r\nHost: ${p.domain}\r\n\r\n`);
    assert.equal((await c2.response()).status, 404);
  } finally {
    c2.close();
  }
});

/** Sends a request, answers the 401 with digest, returns the final response. */
async function authed(c: RawConn, p: KamailioPresencePeer, user: keyof typeof PRESENCE_USERS, o: Omit<Parameters<typeof request>[1], 'user' | 'cseq' | 'auth'>): Promise<Reply> {
  c.send(request(p, { ...o, user, cseq: 1 }));
  const r1 = await c.response();
  if (r1.status !== 401) return r1;
  const auth = digest(r1.headers.get('www-authenticate')?.[0] ?? '', user, PRESENCE_USERS[user], o.method, o.ruri);
  c.send(request(p, { ...o, user, cseq: 2, auth }));
  return c.response();
}

test('kamailio presence peer: RLS list subscription yields multipart/related RLMI NOTIFYs that ResourceListState merges (bob open, carol unknown)', async () => {
  const p = peer!;
  const bob = await RawConn.open(p.address, p.port);
  const alice = await RawConn.open(p.address, p.port);
  try {
    const bobUri = `sip:bob@${p.domain}`;
    const pub = await authed(bob, p, 'bob', {
      method: 'PUBLISH',
      ruri: bobUri,
      callId: `pub-${randomBytes(6).toString('hex')}`,
      extra: ['Event: presence', 'Expires: 600'],
      contentType: 'application/pidf+xml',
      body: buildPidf({ entity: bobUri, state: 'online', note: 'available', tupleId: 't-bob' }),
    });
    assert.equal(pub.status, 200, p.logs().slice(-3000));
    assert.ok(pub.headers.get('sip-etag')?.[0], 'PUBLISH 200 carries SIP-ETag (RFC 3903 §4.1)');
    const list = p.listUris.buddies;
    const sub = await authed(alice, p, 'alice', {
      method: 'SUBSCRIBE',
      ruri: list,
      to: list,
      callId: `rls-${randomBytes(6).toString('hex')}`,
      extra: ['Event: presence', 'Supported: eventlist', 'Accept: application/pidf+xml, application/rlmi+xml, multipart/related', 'Expires: 60'],
    });
    assert.equal(sub.status, 200, p.logs().slice(-3000));
    assert.match(sub.headers.get('require')?.join(',') ?? '', /eventlist/);
    const state = new ResourceListState(list);
    // v1 = full list without instances, then partial notifications ~waitn_time later (recipe §5).
    const deadline = Date.now() + 10_000;
    while (state.stateOf(bobUri) !== 'online') {
      const n = await alice.request(Math.max(1, deadline - Date.now()));
      assert.equal(n.method, 'NOTIFY');
      const ct = n.headers.get('content-type')?.[0] ?? '';
      if (n.body === '') continue;
      assert.match(ct, /^multipart\/related/);
      const out = state.applyNotify(n.body, ct);
      assert.equal(out.applied, true, JSON.stringify(out));
    }
    assert.deepEqual(state.list().map((r) => r.uri).sort(), [bobUri, `sip:carol@${p.domain}`]);
    assert.equal(state.needsResubscribe, false);
    const bobDoc = state.get(bobUri)?.instances.find((i) => i.document)?.document;
    assert.equal(bobDoc?.kind === 'pidf' && bobDoc.pidf.tuples[0]?.note, 'available');
    // carol never published: closed or no state, never online.
    assert.notEqual(state.stateOf(`sip:carol@${p.domain}`), 'online');
    // No un-SUBSCRIBE: the subscription (Expires 60) dies with the peer in after().
  } finally {
    bob.close();
    alice.close();
  }
});
