/**
 * SIP connections over node:net and node:tls. TLS is verified here, not left to Node's defaults,
 * so that a failure can report the certificate that was presented (the diagnosis shows it) and
 * so that the name checked is the FQDN that was dialled (RFC 5922 §7), never the IP connected to.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { SiplogonError, SipParseError, TransportError } from '../errors.js';
import { SipStreamFramer } from './framing.js';
import { parseMessage, serializeMessage, type SipMessage } from './message.js';
import type { Clock } from '../core/clock.js';
import { emitTrace, makeTracer, type SipTraceHook, type SipTracer } from './trace.js';

export interface ConnectTarget {
  address: string;
  port: number;
  transport: 'tls' | 'tcp';
  /** FQDN for SNI and the certificate name check. */
  servername?: string;
}

export interface TlsInfo {
  protocol: string | null;
  cipher: string | null;
  authorized: boolean;
  subject: string | null;
  subjectAltNames: string[];
  issuer: string | null;
  validFrom: string | null;
  validTo: string | null;
  fingerprint256: string | null;
}

export interface ConnectOptions {
  /** TCP connect bound, default 5000 ms. */
  connectTimeoutMs?: number;
  /** TLS handshake bound, default = connectTimeoutMs. */
  tlsHandshakeTimeoutMs?: number;
  /** CA bundle replacing Node's default roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Default true. false skips chain AND name checks (lab use only). */
  rejectUnauthorized?: boolean;
  localAddress?: string;
  signal?: AbortSignal;
  onPhase?: (e: { phase: 'tcp-connected' | 'tls-established'; tls?: TlsInfo }) => void;
  /** Largest accepted message, default 64 KiB. */
  maxMessageBytes?: number;
  /**
   * Sees every SIP message sent or received on the connection, redacted (sip/trace.ts). Off by
   * default; when off no entry is built and no message is re-parsed.
   */
  sipTrace?: SipTraceHook;
  /** Stamps trace entries. @defaultValue systemClock */
  clock?: Clock;
  /** Body bytes a trace entry shows. @defaultValue 4096 */
  traceBodyBytes?: number;
}

export interface ConnectionInfo {
  transport: 'tls' | 'tcp';
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  servername?: string;
  tls?: TlsInfo;
}

export interface SipConnectionEvents {
  message: [SipMessage];
  pong: [];
  ping: [];
  close: [SiplogonError | undefined];
}

/** One stream connection; emits 'message', 'pong', 'ping', 'close' (error when abnormal). Never emits 'error'. */
export class SipConnection extends EventEmitter<SipConnectionEvents> {
  readonly info: ConnectionInfo;
  private readonly socket: net.Socket;
  private readonly framer: SipStreamFramer;
  private closedWith: { err: SiplogonError | undefined } | undefined;
  private readonly tracer: SipTracer | undefined;

  /** @internal use connectSip(). */
  constructor(socket: net.Socket, info: ConnectionInfo, maxMessageBytes?: number, tracer?: SipTracer) {
    super();
    this.socket = socket;
    this.info = info;
    this.tracer = tracer;
    this.framer = new SipStreamFramer(maxMessageBytes === undefined ? {} : { maxMessageBytes });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.finish(new TransportError('CONNECTION_CLOSED', `connection to ${this.peer()} failed: ${err.message}`, { cause: err, details: { ...this.where(), errno: (err as NodeJS.ErrnoException).code } })));
    socket.on('end', () => this.finish(new TransportError('CONNECTION_CLOSED', `${this.peer()} closed the connection`, { details: this.where() })));
    socket.on('close', () => this.finish(new TransportError('CONNECTION_CLOSED', `connection to ${this.peer()} closed`, { details: this.where() })));
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  send(msg: SipMessage | Buffer): void {
    if (this.closedWith) throw this.closedWith.err ?? new TransportError('CONNECTION_CLOSED', `connection to ${this.peer()} is closed`, { details: this.where() });
    const bytes = Buffer.isBuffer(msg) ? msg : serializeMessage(msg);
    if (this.tracer !== undefined) this.traceOut(bytes, Buffer.isBuffer(msg) ? undefined : msg);
    this.socket.write(bytes);
  }

  private traceOut(bytes: Buffer, msg: SipMessage | undefined): void {
    // RFC 5626 §3.5.1 keep-alives are not SIP messages.
    if (msg === undefined && /^[\r\n]*$/.test(bytes.toString('latin1', 0, Math.min(bytes.length, 8)))) return;
    let m = msg;
    if (m === undefined) {
      try {
        m = parseMessage(bytes);
      } catch {
        return; // not a SIP message we could show redacted: show nothing rather than raw bytes
      }
    }
    emitTrace(this.tracer as SipTracer, 'out', m, this.info);
  }

  /** RFC 5626 §3.5.1 keep-alive ping; the answer arrives as a 'pong' event. */
  ping(): void {
    this.send(Buffer.from('\r\n\r\n'));
  }

  close(): void {
    if (this.closedWith) return;
    this.finish(undefined);
  }

  private onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      const e = err instanceof SiplogonError ? err : new SipParseError('SIP_PARSE', String(err));
      e.details.remote = this.peer();
      this.finish(e);
      return;
    }
    for (const f of frames) {
      if (this.closedWith) return;
      if (f.type === 'message') {
        if (this.tracer !== undefined) emitTrace(this.tracer, 'in', f.message, this.info);
        this.emit('message', f.message);
      }
      else if (f.type === 'pong') this.emit('pong');
      else {
        // Answer a peer's ping with a pong (RFC 5626 §3.5.1).
        if (!this.socket.destroyed) this.socket.write('\r\n');
        this.emit('ping');
      }
    }
  }

  private finish(err: SiplogonError | undefined): void {
    if (this.closedWith) return;
    this.closedWith = { err };
    this.socket.destroy();
    this.emit('close', err);
  }

  private peer(): string {
    return `${this.info.servername ?? this.info.remoteAddress}:${this.info.remotePort}`;
  }

  private where(): Record<string, unknown> {
    return { address: this.info.remoteAddress, port: this.info.remotePort, transport: this.info.transport, servername: this.info.servername };
  }
}

export function tlsInfoOf(socket: tls.TLSSocket): TlsInfo {
  const cert = socket.getPeerCertificate();
  const has = cert && Object.keys(cert).length > 0;
  const fmt = (n: unknown): string | null => {
    if (!n || typeof n !== 'object') return null;
    return Object.entries(n as Record<string, string | string[]>)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
      .join(', ');
  };
  return {
    protocol: socket.getProtocol() ?? null,
    cipher: socket.getCipher()?.name ?? null,
    authorized: socket.authorized,
    subject: has ? fmt(cert.subject) : null,
    subjectAltNames: has && cert.subjectaltname ? cert.subjectaltname.split(/,\s*/) : [],
    issuer: has ? fmt(cert.issuer) : null,
    validFrom: has ? cert.valid_from : null,
    validTo: has ? cert.valid_to : null,
    fingerprint256: has ? cert.fingerprint256 : null,
  };
}

const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'CERT_REVOKED',
]);

function mapConnectError(err: NodeJS.ErrnoException, target: ConnectTarget): TransportError {
  const where = `${target.servername ? `${target.servername} (${target.address})` : target.address}:${target.port}/${target.transport}`;
  const details = { address: target.address, port: target.port, transport: target.transport, servername: target.servername, errno: err.code };
  switch (err.code) {
    case 'ECONNREFUSED':
      return new TransportError('CONNECT_REFUSED', `connection refused by ${where}`, { cause: err, details });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return new TransportError('CONNECT_UNREACHABLE', `${where} is unreachable (${err.code})`, { cause: err, details });
    case 'ETIMEDOUT':
      return new TransportError('CONNECT_TIMEOUT', `connect to ${where} timed out`, { cause: err, details });
    default:
      return new TransportError('CONNECT_FAILED', `connect to ${where} failed: ${err.message}`, { cause: err, details });
  }
}

/**
 * Opens a TCP or TLS connection. TLS: chain checked against `ca` (or Node's roots), then
 * SAN dNSName checked against `servername` (RFC 5922 §7.1: the CN is only used without any SAN).
 * Nothing is sent before both checks pass.
 */
export function connectSip(target: ConnectTarget, opts: ConnectOptions = {}): Promise<SipConnection> {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  const handshakeTimeoutMs = opts.tlsHandshakeTimeoutMs ?? connectTimeoutMs;
  const details = { address: target.address, port: target.port, transport: target.transport, servername: target.servername };
  const where = `${target.servername ? `${target.servername} (${target.address})` : target.address}:${target.port}/${target.transport}`;
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    return Promise.reject(new TransportError('INVALID_OPTION', `bad port ${target.port}`, { details }));
  }
  const tracer = opts.sipTrace ? makeTracer(opts.sipTrace, { ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.traceBodyBytes !== undefined ? { maxBodyBytes: opts.traceBodyBytes } : {}) }) : undefined;
  return new Promise<SipConnection>((resolve, reject) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let raw: net.Socket | undefined;
    let secure: tls.TLSSocket | undefined;
    const fail = (e: SiplogonError): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      secure?.destroy();
      raw?.destroy();
      reject(e);
    };
    const succeed = (c: SipConnection): void => {
      if (done) {
        c.close();
        return;
      }
      done = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(c);
    };
    const onAbort = (): void => fail(new TransportError('ABORTED', `connect to ${where} aborted`, { details }));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    timer = setTimeout(() => fail(new TransportError('CONNECT_TIMEOUT', `TCP connect to ${where} timed out after ${connectTimeoutMs} ms`, { details: { ...details, timeoutMs: connectTimeoutMs } })), connectTimeoutMs);
    raw = net.connect({ host: target.address, port: target.port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    raw.setNoDelay(true);
    raw.on('error', (err) => fail(mapConnectError(err, target)));
    raw.once('connect', () => {
      if (done || !raw) return;
      clearTimeout(timer);
      raw.removeAllListeners('error');
      try {
        opts.onPhase?.({ phase: 'tcp-connected' });
      } catch {
        /* observer errors must not break the connect */
      }
      if (target.transport === 'tcp') {
        const info: ConnectionInfo = {
          transport: 'tcp',
          localAddress: raw.localAddress ?? '',
          localPort: raw.localPort ?? 0,
          remoteAddress: raw.remoteAddress ?? target.address,
          remotePort: raw.remotePort ?? target.port,
        };
        if (target.servername) info.servername = target.servername;
        return succeed(new SipConnection(raw, info, opts.maxMessageBytes, tracer));
      }
      // Errors of the raw socket surface through the TLS socket; keep them from going unhandled.
      raw.on('error', () => {});
      startTls(raw);
    });

    const startTls = (sock: net.Socket): void => {
      const name = target.servername ?? target.address;
      timer = setTimeout(() => fail(new TransportError('TLS_HANDSHAKE_TIMEOUT', `TLS handshake with ${where} timed out after ${handshakeTimeoutMs} ms`, { details: { ...details, timeoutMs: handshakeTimeoutMs } })), handshakeTimeoutMs);
      const tlsOpts: tls.ConnectionOptions = {
        socket: sock,
        // Checked below ourselves so the presented certificate can be reported on failure.
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        // SNI must be a hostname, never an IP literal (RFC 6066 §3).
        ...(net.isIP(name) ? {} : { servername: name }),
      };
      try {
        secure = tls.connect(tlsOpts);
      } catch (err) {
        // Bad TLS options (a CA of the wrong type) throw here, inside a socket callback: they
        // must reject this connect, not crash the process.
        return fail(new TransportError('TLS_HANDSHAKE_FAILED', `TLS setup for ${where} failed: ${(err as Error).message}`, { cause: err, details }));
      }
      const s = secure;
      s.on('error', (err: NodeJS.ErrnoException) => {
        fail(new TransportError('TLS_HANDSHAKE_FAILED', `TLS handshake with ${where} failed: ${err.message}`, { cause: err, details: { ...details, errno: err.code } }));
      });
      s.once('secureConnect', () => {
        if (done) return;
        const info = tlsInfoOf(s);
        if (opts.rejectUnauthorized !== false) {
          const authErr = s.authorizationError as unknown as string | Error | null;
          const code = authErr === null || authErr === undefined ? null : typeof authErr === 'string' ? authErr : ((authErr as NodeJS.ErrnoException).code ?? authErr.message);
          // Node has already run checkServerIdentity against the SNI name when the chain is good.
          if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
            return fail(new TransportError('TLS_NAME_MISMATCH', `certificate of ${where} does not name ${name} (it names ${info.subjectAltNames.join(', ') || info.subject || 'nothing'})`, { details: { ...details, expected: name, tls: info } }));
          }
          if (code) {
            const tlsCode = code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID' ? 'TLS_CERT_EXPIRED' : UNTRUSTED.has(code) ? 'TLS_UNTRUSTED' : 'TLS_HANDSHAKE_FAILED';
            const what = tlsCode === 'TLS_CERT_EXPIRED' ? 'is outside its validity period' : tlsCode === 'TLS_UNTRUSTED' ? 'is not trusted' : 'was refused';
            return fail(new TransportError(tlsCode, `certificate of ${where} ${what} (${code})`, { details: { ...details, verifyError: code, tls: info } }));
          }
          const cert = s.getPeerCertificate();
          // Node falls back to the CN whenever no dNSName SAN exists; RFC 5922 §7.1 / RFC 6125
          // §6.4.4 allow the CN only when the certificate has no subjectAltName at all.
          const sanWithoutDns = !net.isIP(name) && !!cert.subjectaltname && !/(^|,\s*)DNS:/.test(cert.subjectaltname);
          const nameErr = sanWithoutDns ? new Error('no dNSName in subjectAltName') : tls.checkServerIdentity(name, cert);
          if (nameErr) {
            return fail(new TransportError('TLS_NAME_MISMATCH', `certificate of ${where} does not name ${name} (it names ${info.subjectAltNames.join(', ') || info.subject || 'nothing'})`, { details: { ...details, expected: name, tls: info } }));
          }
        }
        s.removeAllListeners('error');
        try {
          opts.onPhase?.({ phase: 'tls-established', tls: info });
        } catch {
          /* observer errors must not break the connect */
        }
        const ci: ConnectionInfo = {
          transport: 'tls',
          localAddress: s.localAddress ?? sock.localAddress ?? '',
          localPort: s.localPort ?? sock.localPort ?? 0,
          remoteAddress: s.remoteAddress ?? target.address,
          remotePort: s.remotePort ?? target.port,
          tls: info,
        };
        if (target.servername) ci.servername = target.servername;
        succeed(new SipConnection(s, ci, opts.maxMessageBytes, tracer));
      });
    };
  });
}
