/**
 * Non-INVITE client transactions over one reliable connection (RFC 3261 §17.1.2). On TCP/TLS
 * there are no retransmissions (Timer E is not used, §17.1.2.2); Timer F (64×T1) bounds the
 * whole transaction. Also answers requests the server sends us (NOTIFY, OPTIONS, BENOTIFY…).
 */
import { randomHex } from '../random.js';
import { SiplogonError, TransactionTimeoutError, TransportError } from '../errors.js';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import type { SipConnection } from './connection.js';
import { getHeader, getHeaderLines, parseCSeq, parseNameAddr, parseVia, serializeMessage, type SipHeader, type SipMessage, type SipRequest, type SipResponse } from './message.js';

export const T1_MS = 500;
export const DEFAULT_TIMER_F_MS = 64 * T1_MS;

/** RFC 3261 §8.1.1.7: branches start with the magic cookie. */
export function newBranch(): string {
  return `z9hG4bK${randomHex(10)}`;
}
export function newTag(): string {
  return randomHex(6);
}
export function newCallId(): string {
  return randomHex(12);
}


export interface IncomingAnswer {
  status: number;
  reason?: string;
  headers?: Array<[string, string]>;
  body?: Buffer | string;
}

export interface SipClientOptions {
  clock?: Clock;
  /** Timer F, default 64×T1 = 32000 ms. */
  timerFMs?: number;
  /** Sees every final response matched to one of our transactions, before the caller does. */
  onResponse?: (response: SipResponse, method: string) => void;
  /**
   * Handles requests from the server. Return an answer, or null to send nothing.
   * Default: 200 to NOTIFY, nothing to BENOTIFY (best-effort NOTIFY, [MS-SIP]), 405 otherwise.
   */
  onRequest?: (req: SipRequest) => IncomingAnswer | null | Promise<IncomingAnswer | null>;
  userAgent?: string;
}

export interface RequestOptions {
  uri: string;
  /** Must include From, To, Call-ID, CSeq unless the client may generate them. */
  headers?: Array<[string, string]>;
  body?: Buffer | string;
  /** Overrides the client's Timer F for this request. */
  timerFMs?: number;
}

interface Pending {
  branch: string;
  method: string;
  resolve: (r: SipResponse) => void;
  reject: (e: SiplogonError) => void;
  timer: TimerHandle;
}

export class SipClient {
  readonly connection: SipConnection;
  private readonly clock: Clock;
  private readonly timerFMs: number;
  private readonly opts: SipClientOptions;
  private readonly pending = new Map<string, Pending>();
  private readonly dialogless = { callId: newCallId(), tag: newTag(), cseq: 0 };

  constructor(connection: SipConnection, opts: SipClientOptions = {}) {
    this.connection = connection;
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.timerFMs = opts.timerFMs ?? DEFAULT_TIMER_F_MS;
    connection.on('message', (m) => this.onMessage(m));
    connection.on('close', (err) => {
      const e =
        err ?? new TransportError('CONNECTION_CLOSED', `connection to ${connection.info.remoteAddress}:${connection.info.remotePort} closed`, { details: { address: connection.info.remoteAddress, port: connection.info.remotePort } });
      for (const p of [...this.pending.values()]) this.settle(p, () => p.reject(e));
    });
  }

  /** `SIP/2.0/TLS host:port` for our Via (RFC 3261 §18.2.1 with rport, RFC 3581). */
  get viaSentBy(): string {
    const i = this.connection.info;
    const host = i.localAddress.includes(':') ? `[${i.localAddress}]` : i.localAddress;
    return `SIP/2.0/${i.transport.toUpperCase()} ${host}:${i.localPort}`;
  }

  /** Sends a request and resolves with its final response (provisional ones are skipped). */
  request(method: string, o: RequestOptions): Promise<SipResponse> {
    const branch = newBranch();
    const headers: SipHeader[] = [{ name: 'Via', value: `${this.viaSentBy};branch=${branch};rport` }];
    const given = (o.headers ?? []).map(([name, value]) => ({ name, value }));
    const has = (n: string): boolean => getHeaderLines({ headers: given }, n).length > 0;
    if (!has('Max-Forwards')) headers.push({ name: 'Max-Forwards', value: '70' });
    if (!has('From')) headers.push({ name: 'From', value: `<${o.uri}>;tag=${this.dialogless.tag}` });
    if (!has('To')) headers.push({ name: 'To', value: `<${o.uri}>` });
    if (!has('Call-ID')) headers.push({ name: 'Call-ID', value: this.dialogless.callId });
    if (!has('CSeq')) headers.push({ name: 'CSeq', value: `${++this.dialogless.cseq} ${method}` });
    headers.push(...given);
    if (this.opts.userAgent && !has('User-Agent')) headers.push({ name: 'User-Agent', value: this.opts.userAgent });
    const body = o.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body, 'utf8');
    const req: SipRequest = { kind: 'request', method, uri: o.uri, headers, body };
    let bytes: Buffer;
    try {
      bytes = serializeMessage(req);
    } catch (err) {
      return Promise.reject(err);
    }
    const bound = o.timerFMs ?? this.timerFMs;
    return new Promise<SipResponse>((resolve, reject) => {
      const p: Pending = {
        branch,
        method: method.toUpperCase(),
        resolve,
        reject,
        timer: this.clock.setTimeout(() => {
          this.settle(p, () =>
            reject(new TransactionTimeoutError('TRANSACTION_TIMEOUT', `no final response to ${method} from ${this.connection.info.remoteAddress}:${this.connection.info.remotePort} within ${bound} ms (Timer F)`, { details: { method, timerFMs: bound, address: this.connection.info.remoteAddress, port: this.connection.info.remotePort } })),
          );
        }, bound),
      };
      this.pending.set(branch, p);
      try {
        this.connection.send(bytes);
      } catch (err) {
        this.settle(p, () => reject(err instanceof SiplogonError ? err : new TransportError('CONNECTION_CLOSED', String(err))));
      }
    });
  }

  /** Number of transactions still waiting for a final response. */
  get inFlight(): number {
    return this.pending.size;
  }

  private settle(p: Pending, fn: () => void): void {
    if (!this.pending.has(p.branch)) return;
    this.pending.delete(p.branch);
    this.clock.clearTimeout(p.timer);
    fn();
  }

  private onMessage(m: SipMessage): void {
    if (m.kind === 'response') {
      // §17.1.3: match on the top Via branch and the CSeq method.
      let branch: string | undefined;
      try {
        const via = getHeader(m, 'Via');
        branch = via ? (parseVia(via).params.get('branch') ?? undefined) : undefined;
      } catch {
        return;
      }
      const p = branch ? this.pending.get(branch) : undefined;
      if (!p || parseCSeq(getHeader(m, 'CSeq'))?.method !== p.method) return;
      if (m.status < 200) return;
      try {
        this.opts.onResponse?.(m, p.method);
      } catch {
        /* an observer must never break signalling */
      }
      this.settle(p, () => p.resolve(m));
      return;
    }
    void this.answer(m);
  }

  private async answer(req: SipRequest): Promise<void> {
    const method = req.method.toUpperCase();
    if (method === 'ACK') return;
    let ans: IncomingAnswer | null;
    try {
      ans = this.opts.onRequest ? await this.opts.onRequest(req) : defaultAnswer(method);
    } catch {
      ans = { status: 500, reason: 'Server Internal Error' };
    }
    if (!ans || this.connection.closed) return;
    const headers: SipHeader[] = [];
    for (const v of getHeaderLines(req, 'Via')) headers.push({ name: 'Via', value: v });
    const copy = (n: string): void => {
      for (const v of getHeaderLines(req, n)) headers.push({ name: n, value: v });
    };
    copy('From');
    const to = getHeaderLines(req, 'To')[0];
    if (to !== undefined) {
      let hasTag = false;
      try {
        hasTag = parseNameAddr(to).params.has('tag');
      } catch {
        /* keep as is */
      }
      // §8.2.6.2: a UAS adds a To tag when the request had none.
      headers.push({ name: 'To', value: hasTag || ans.status === 100 ? to : `${to};tag=${newTag()}` });
    }
    copy('Call-ID');
    copy('CSeq');
    for (const [name, value] of ans.headers ?? []) headers.push({ name, value });
    const body = ans.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(ans.body) ? ans.body : Buffer.from(ans.body, 'utf8');
    const res: SipResponse = { kind: 'response', status: ans.status, reason: ans.reason ?? defaultReason(ans.status), headers, body };
    try {
      const bytes = serializeMessage(res);
      this.connection.send(bytes);
    } catch {
      /* connection went away: nothing to answer on */
    }
  }
}

/** What a SipClient answers without an `onRequest` handler. */
export function defaultAnswer(method: string): IncomingAnswer | null {
  if (method === 'BENOTIFY') return null; // best-effort NOTIFY: never answered
  if (method === 'NOTIFY') return { status: 200 };
  return { status: 405, headers: [['Allow', 'NOTIFY, BENOTIFY']] };
}

function defaultReason(status: number): string {
  return ({ 200: 'OK', 202: 'Accepted', 405: 'Method Not Allowed', 481: 'Call/Transaction Does Not Exist', 500: 'Server Internal Error' } as Record<number, string>)[status] ?? 'Response';
}
