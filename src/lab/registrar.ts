/**
 * The lab's SIP registrar: TLS (5061) and TCP (5060) on one loopback address, digest
 * authentication, Lync-style answers (301 director mode, in-band provisioning, MRAS) and
 * switchable faults. Built on the project's own codec; loopback only.
 */
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { computeDigestResponse, parseAuthParams } from '../sip/digest.js';
import { SipStreamFramer } from '../sip/framing.js';
import { getHeader, getHeaderLines, serializeMessage, type SipRequest, type SipResponse } from '../sip/message.js';
import { escapeXml, MRAS_CONTENT_TYPE, PROVISIONING_CONTENT_TYPE, PROVISIONING_EVENT } from '../sip/lync.js';
import { UsageError } from '../errors.js';
import type { LabCa } from './certs.js';

export type LabRegistrarFault = 'none' | 'down' | 'silent' | 'wrong-certificate' | 'bad-password' | 'provisioning-refused';

export interface LabRegistrarOptions {
  /** FQDN the certificate names. */
  name: string;
  address: string;
  tlsPort?: number;
  tcpPort?: number;
  domain: string;
  /** user → password. */
  users: Record<string, string>;
  ca: LabCa;
  /** Director mode: answer REGISTER with 301 and these Contacts (home, backup). */
  redirectTo?: string[];
  mrasUri?: string;
  /** Media Relay FQDNs MRAS answers with. */
  relays?: string[];
  algorithm?: 'MD5' | 'SHA-256';
  /** Registration lifetime granted at most. */
  maxExpires?: number;
}

export interface Binding {
  aor: string;
  contact: string;
  expiresAt: number;
}

export interface LabRegistrar {
  name: string;
  address: string;
  tlsPort: number;
  tcpPort: number;
  /** Current bindings. */
  bindings(): Binding[];
  /** Methods seen, in order ("REGISTER", "SUBSCRIBE", …). */
  readonly requests: string[];
  setFault(f: LabRegistrarFault): Promise<void>;
  stop(): Promise<void>;
}

function isLoopback(a: string): boolean {
  return a.startsWith('127.') || a === '::1';
}

export async function startLabRegistrar(o: LabRegistrarOptions): Promise<LabRegistrar> {
  if (!isLoopback(o.address)) throw new UsageError('INVALID_OPTION', `the lab registrar listens on loopback only, not ${o.address}`);
  const realm = o.domain;
  const algorithm = o.algorithm ?? 'SHA-256';
  const good = await o.ca.issue([o.name]);
  const wrong = await o.ca.issue([`wrong-name.${o.domain}`]);
  const tlsPort = o.tlsPort ?? 5061;
  const tcpPort = o.tcpPort ?? 5060;
  const nonces = new Set<string>();
  const bindings = new Map<string, Binding>();
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  let fault: LabRegistrarFault = 'none';

  const tlsServer = tls.createServer({ cert: good.cert, key: good.key, minVersion: 'TLSv1.2' }, (s) => serve(s));
  const tcpServer = net.createServer((s) => serve(s));
  tlsServer.on('tlsClientError', () => undefined); // a client refusing our certificate is expected in fault tests

  function serve(socket: net.Socket): void {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const framer = new SipStreamFramer();
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = framer.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (fault === 'silent') continue;
        if (f.type === 'ping') socket.write('\r\n');
        else if (f.type === 'message' && f.message.kind === 'request') {
          const res = handle(f.message);
          if (res) socket.write(serializeMessage(res));
        }
      }
    });
  }

  function reply(req: SipRequest, status: number, reason: string, headers: Array<[string, string]> = [], body = ''): SipResponse {
    const copy = ['Via', 'From', 'Call-ID', 'CSeq'].flatMap((n) => getHeaderLines(req, n).map((value) => ({ name: n, value })));
    let to = getHeader(req, 'To') ?? '';
    if (!/;\s*tag=/i.test(to)) to += `;tag=${randomBytes(4).toString('hex')}`;
    return {
      kind: 'response',
      status,
      reason,
      headers: [...copy, { name: 'To', value: to }, { name: 'Server', value: 'siplogon-lab' }, ...headers.map(([name, value]) => ({ name, value }))],
      body: Buffer.from(body, 'utf8'),
    };
  }

  function challenge(req: SipRequest): SipResponse {
    const nonce = randomBytes(12).toString('hex');
    nonces.add(nonce);
    return reply(req, 401, 'Unauthorized', [['WWW-Authenticate', `Digest realm="${realm}", nonce="${nonce}", qop="auth", algorithm=${algorithm}`]]);
  }

  /** Returns the authenticated user, or undefined. */
  function authenticate(req: SipRequest): string | undefined {
    const h = getHeader(req, 'Authorization');
    if (!h || !/^digest\s/i.test(h)) return undefined;
    const p = parseAuthParams(h.replace(/^digest\s+/i, ''));
    const user = p.get('username') ?? '';
    const nonce = p.get('nonce') ?? '';
    const stored = o.users[user];
    if (stored === undefined || !nonces.has(nonce) || p.get('realm') !== realm) return undefined;
    const password = fault === 'bad-password' ? `${stored}-changed` : stored;
    const qop = p.get('qop');
    const expected = computeDigestResponse({
      algorithm: p.get('algorithm') ?? 'MD5',
      username: user,
      password,
      realm,
      nonce,
      method: req.method,
      uri: p.get('uri') ?? '',
      ...(qop === 'auth' ? { qop: 'auth' as const, nc: p.get('nc') ?? '', cnonce: p.get('cnonce') ?? '' } : {}),
    });
    return expected === p.get('response') ? user : undefined;
  }

  function handle(req: SipRequest): SipResponse | undefined {
    requests.push(req.method);
    switch (req.method) {
      case 'REGISTER': {
        if (o.redirectTo?.length) return reply(req, 301, 'Moved Permanently', o.redirectTo.map((c, i) => ['Contact', `<${c}>;q=${(1 - i * 0.1).toFixed(1)}`]));
        const user = authenticate(req);
        if (!user) return challenge(req);
        const aor = `sip:${user}@${o.domain}`;
        const contact = (getHeader(req, 'Contact') ?? '').replace(/^.*?<([^>]+)>.*$/, '$1');
        const asked = Number(getHeader(req, 'Expires') ?? '600');
        const expires = Math.min(Number.isFinite(asked) ? asked : 600, o.maxExpires ?? 3600);
        if (expires === 0) bindings.delete(aor);
        else bindings.set(aor, { aor, contact, expiresAt: Date.now() + expires * 1000 });
        return reply(req, 200, 'OK', [
          ['Contact', `<${contact}>;expires=${expires}`],
          ['Expires', String(expires)],
          ['Allow-Events', `presence, vnd-microsoft-roaming-contacts, vnd-microsoft-roaming-self, ${PROVISIONING_EVENT}`],
          ['Supported', 'gruu-10, msrtc-event-categories, adhoclist'],
          ['ms-keep-alive', 'UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300'],
        ]);
      }
      case 'SUBSCRIBE': {
        if (!authenticate(req)) return challenge(req);
        const event = (getHeader(req, 'Event') ?? '').split(';')[0]?.trim();
        if (event !== PROVISIONING_EVENT) return reply(req, 489, 'Bad Event');
        if (fault === 'provisioning-refused') return reply(req, 403, 'Forbidden', [['ms-diagnostics', '1000;reason="provisioning disabled for this user in the lab"']]);
        const body =
          `<?xml version="1.0" encoding="utf-8"?>\n<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification">` +
          `<provisionGroup name="ServerConfiguration">${o.mrasUri ? `<mrasUri>${escapeXml(o.mrasUri)}</mrasUri>` : ''}<focusFactoryUri>sip:focus@${escapeXml(o.domain)}</focusFactoryUri></provisionGroup>` +
          `<provisionGroup name="ucPolicy"/></provisionGroupList>`;
        return reply(
          req,
          200,
          'OK',
          [
            ['Event', PROVISIONING_EVENT],
            ['Subscription-State', 'terminated;expires=0'],
            ['Expires', '0'],
            ['ms-piggyback-cseq', '1'],
            ['Content-Type', PROVISIONING_CONTENT_TYPE],
          ],
          body,
        );
      }
      case 'SERVICE': {
        if (!authenticate(req)) return challenge(req);
        if (!o.mrasUri || req.uri !== o.mrasUri) return reply(req, 404, 'Not Found');
        // Fresh relay credentials per request, like MRAS; they exist only in this answer.
        const relays = (o.relays ?? [])
          .map((h, i) => `<mediaRelay><location>${i === 0 ? 'internet' : 'intranet'}</location><hostName>${escapeXml(h)}</hostName><udpPort>3478</udpPort><tcpPort>443</tcpPort></mediaRelay>`)
          .join('');
        const body =
          `<response xmlns="http://schemas.microsoft.com/2006/09/sip/mrasp" requestID="1" version="1.0" serverVersion="2" to="${escapeXml(getHeader(req, 'From') ?? '')}" from="${escapeXml(o.mrasUri)}" reasonPhrase="OK">` +
          `<credentialsResponse credentialsRequestID="1"><credentials><username>${randomBytes(8).toString('hex')}</username><password>${randomBytes(12).toString('base64')}</password><duration>480</duration></credentials>` +
          `<mediaRelayList>${relays}</mediaRelayList></credentialsResponse></response>`;
        return reply(req, 200, 'OK', [['Content-Type', MRAS_CONTENT_TYPE]], body);
      }
      case 'OPTIONS':
        return reply(req, 200, 'OK', [['Allow', 'REGISTER, SUBSCRIBE, SERVICE, OPTIONS']]);
      case 'ACK':
        return undefined;
      default:
        return reply(req, 405, 'Method Not Allowed', [['Allow', 'REGISTER, SUBSCRIBE, SERVICE, OPTIONS']]);
    }
  }

  const listen = (srv: net.Server, port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, o.address, () => {
        srv.off('error', reject);
        resolve();
      });
    });
  const close = (srv: net.Server): Promise<void> => new Promise((resolve) => (srv.listening ? srv.close(() => resolve()) : resolve()));
  const dropAll = (): void => {
    for (const s of sockets) s.destroy();
  };

  await listen(tlsServer, tlsPort);
  await listen(tcpServer, tcpPort);

  return {
    name: o.name,
    address: o.address,
    tlsPort,
    tcpPort,
    requests,
    bindings: () => [...bindings.values()].filter((b) => b.expiresAt > Date.now()),
    async setFault(f) {
      const was = fault;
      fault = f;
      tlsServer.setSecureContext({ cert: f === 'wrong-certificate' ? wrong.cert : good.cert, key: f === 'wrong-certificate' ? wrong.key : good.key, minVersion: 'TLSv1.2' });
      if (f === 'down' && was !== 'down') {
        // close() waits for open connections: drop them first, as a dead host would.
        const closed = Promise.all([close(tlsServer), close(tcpServer)]);
        dropAll();
        await closed;
      } else if (f !== 'down' && was === 'down') {
        await listen(tlsServer, tlsPort);
        await listen(tcpServer, tcpPort);
      }
      if (f === 'silent' || f === 'wrong-certificate') dropAll();
    },
    async stop() {
      const p = Promise.all([close(tlsServer), close(tcpServer)]);
      dropAll();
      await p;
    },
  };
}
