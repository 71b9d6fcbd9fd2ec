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
import { LabPresenceService, type LabConnection, type LabPresenceFlavour, type LabRoster, type PresenceReply } from './presence-server.js';
import { escapeXml, MRAS_CONTENT_TYPE, PROVISIONING_CONTENT_TYPE, PROVISIONING_EVENT } from '../sip/lync.js';
import { UsageError } from '../errors.js';
import type { LabCa } from './certs.js';

/** `silent` drops its connections and answers nothing; `hung` keeps them open and answers nothing. */
export type LabRegistrarFault = 'none' | 'down' | 'silent' | 'hung' | 'wrong-certificate' | 'bad-password' | 'provisioning-refused';

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
  /**
   * Serve presence (issue 8). The flavour decides what the REGISTER 200 advertises: Lync
   * (`Supported: msrtc-event-categories, adhoclist`) or plain SIMPLE.
   */
  presence?: { flavour: LabPresenceFlavour; roster: LabRoster; listUri: string };
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
  /** The presence server (pools only): publications it accepted, live subscriptions, contact states. */
  presence: LabPresenceService | undefined;
  /** Responses clients sent us, as "200 NOTIFY". */
  readonly responses: string[];
  setFault(f: LabRegistrarFault): Promise<void>;
  stop(): Promise<void>;
}

const ALLOW = 'REGISTER, SUBSCRIBE, PUBLISH, SERVICE, OPTIONS';

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
  const responses: string[] = [];
  const presence = o.presence ? new LabPresenceService({ domain: o.domain, ...o.presence, ...(o.maxExpires !== undefined ? { maxExpires: o.maxExpires } : {}) }) : undefined;
  const sockets = new Set<net.Socket>();
  let fault: LabRegistrarFault = 'none';

  const tlsServer = tls.createServer({ cert: good.cert, key: good.key, minVersion: 'TLSv1.2' }, (s) => serve(s, 'tls'));
  const tcpServer = net.createServer((s) => serve(s, 'tcp'));
  tlsServer.on('tlsClientError', () => undefined); // a client refusing our certificate is expected in fault tests

  function serve(socket: net.Socket, transport: 'tls' | 'tcp'): void {
    sockets.add(socket);
    const port = transport === 'tls' ? tlsPort : tcpPort;
    const conn: LabConnection = {
      // A silent registrar notifies no one either.
      send: (req) => {
        if (fault !== 'silent' && !socket.destroyed) socket.write(serializeMessage(req));
      },
      alive: () => !socket.destroyed,
      viaSentBy: `SIP/2.0/${transport.toUpperCase()} ${o.address}:${port}`,
      contact: `sip:${o.name}:${port};transport=${transport}`,
    };
    socket.on('close', () => {
      sockets.delete(socket);
      presence?.dropConnection(conn);
    });
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
        if (fault === 'silent' || fault === 'hung') continue;
        if (f.type === 'ping') socket.write('\r\n');
        else if (f.type === 'message' && f.message.kind === 'request') {
          const after: (() => void)[] = [];
          const res = handle(f.message, conn, after);
          if (res) socket.write(serializeMessage(res));
          for (const a of after) a();
        } else if (f.type === 'message' && f.message.kind === 'response') {
          responses.push(`${f.message.status} ${(getHeader(f.message, 'CSeq') ?? '').split(/\s+/)[1] ?? ''}`);
          presence?.onResponse(f.message);
        }
      }
    });
  }

  function reply(req: SipRequest, status: number, reason: string, headers: Array<[string, string]> = [], body = '', toTag?: string): SipResponse {
    const copy = ['Via', 'From', 'Call-ID', 'CSeq'].flatMap((n) => getHeaderLines(req, n).map((value) => ({ name: n, value })));
    let to = getHeader(req, 'To') ?? '';
    // A dialog-creating 2xx carries the tag our NOTIFYs will use as From tag (RFC 6665 §4.2.1).
    if (!/;\s*tag=/i.test(to)) to += `;tag=${toTag ?? randomBytes(4).toString('hex')}`;
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

  function fromPresence(req: SipRequest, r: PresenceReply, after: (() => void)[]): SipResponse {
    if (r.after) after.push(r.after);
    return reply(req, r.status, r.reason, r.headers ?? [], r.body ?? '', r.toTag);
  }

  function handle(req: SipRequest, conn: LabConnection, after: (() => void)[]): SipResponse | undefined {
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
        // What the agent reads to pick its flavour (sipe `process_register_response`).
        const simple = presence?.flavour === 'simple';
        return reply(req, 200, 'OK', [
          ['Contact', `<${contact}>;expires=${expires}`],
          ['Expires', String(expires)],
          ['Allow-Events', simple ? `presence, ${PROVISIONING_EVENT}` : `presence, vnd-microsoft-roaming-contacts, vnd-microsoft-roaming-self, ${PROVISIONING_EVENT}`],
          ['Supported', simple ? 'gruu-10, eventlist' : 'gruu-10, msrtc-event-categories, adhoclist'],
          ['ms-keep-alive', 'UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300'],
        ]);
      }
      case 'SUBSCRIBE': {
        const user = authenticate(req);
        if (!user) return challenge(req);
        const pres = presence?.subscribe(req, `sip:${user}@${o.domain}`.toLowerCase(), conn);
        if (pres) return fromPresence(req, pres, after);
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
      case 'PUBLISH': {
        const user = authenticate(req);
        if (!user) return challenge(req);
        if (!presence) return reply(req, 405, 'Method Not Allowed', [['Allow', ALLOW]]);
        return fromPresence(req, presence.publish(req, `sip:${user}@${o.domain}`.toLowerCase()), after);
      }
      case 'SERVICE': {
        const user = authenticate(req);
        if (!user) return challenge(req);
        const pub = presence?.categoryPublish(req, `sip:${user}@${o.domain}`.toLowerCase());
        if (pub) return fromPresence(req, pub, after);
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
        return reply(req, 200, 'OK', [['Allow', ALLOW]]);
      case 'ACK':
        return undefined;
      default:
        return reply(req, 405, 'Method Not Allowed', [['Allow', ALLOW]]);
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
    responses,
    presence,
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
