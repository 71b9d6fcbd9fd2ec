/**
 * REGISTER (RFC 3261 §10.2) with digest authentication, 423 handling, redirects exposed to the
 * caller, jittered refresh and un-REGISTER. Lync/SfB-style headers are on by default
 * ([MS-SIPREGE] §2.2, §3.1.5.1).
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { AuthenticationError, RegistrationError, SiplogonError, UsageError } from '../errors.js';
import { systemClock, type Clock, type RandomSource, type TimerHandle } from '../core/clock.js';
import { DigestResponder } from './digest.js';
import { getHeader, getHeaders, parseNameAddr, parseUri, type SipResponse } from './message.js';
import { newCallId, newTag, type RequestOptions, type SipClient } from './transaction.js';

export interface RedirectContact {
  uri: string;
  host: string;
  port: number;
  transport: 'tls' | 'tcp';
  q?: number;
}

export type RegisterOutcome =
  | { kind: 'registered'; expires: number; response: SipResponse; allowEvents: string[]; supported: string[]; gruu?: string }
  | { kind: 'redirect'; status: number; contacts: RedirectContact[]; response: SipResponse };

export interface RegistrationOptions {
  /** Address of record, e.g. sip:alice@example.test. */
  aor: string;
  /** Password, or a function returning it at use time (so it need not be held). */
  password: string | (() => string);
  /** Digest user name; default the AoR user part. */
  authUser?: string;
  /** Requested Expires in seconds, default 600. */
  expires?: number;
  /** urn:uuid:… for +sip.instance (RFC 5626 §4.1); default a random one. */
  instanceId?: string;
  /** Request-URI; default sip:<AoR domain>. */
  registrarUri?: string;
  /** Lync-style Supported / Event / ms-keep-alive headers, default true. */
  lyncHeaders?: boolean;
  extraHeaders?: Array<[string, string]>;
  /** Re-REGISTER before expiry, default true. */
  autoRefresh?: boolean;
  clock?: Clock;
  random?: RandomSource;
}

export interface RegistrationEvents {
  refreshed: [RegisterOutcome];
  refreshFailed: [SiplogonError];
}

const MAX_INTERVAL_RETRIES = 2;
const MAX_ATTEMPTS = 8;

export class Registration extends EventEmitter<RegistrationEvents> {
  readonly aor: string;
  readonly instanceId: string;
  readonly registrarUri: string;
  private readonly client: SipClient;
  private readonly opts: RegistrationOptions;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly authUser: string;
  private readonly callId = newCallId();
  private readonly fromTag = newTag();
  private cseq = 0;
  private expires: number;
  private refreshTimer: TimerHandle | undefined;
  private closed = false;
  /** Granted expiry of the last successful REGISTER, seconds; 0 when not registered. */
  registeredExpires = 0;

  constructor(client: SipClient, opts: RegistrationOptions) {
    super();
    const aor = parseUri(opts.aor);
    if (!aor.user) throw new UsageError('INVALID_URI', `AoR ${opts.aor} has no user part`);
    if (opts.expires !== undefined && (!Number.isInteger(opts.expires) || opts.expires < 1)) throw new UsageError('INVALID_OPTION', `expires must be a positive integer, got ${opts.expires}`);
    this.client = client;
    this.opts = opts;
    this.aor = `${aor.scheme}:${aor.user}@${aor.host}`;
    this.authUser = opts.authUser ?? aor.user;
    this.instanceId = opts.instanceId ?? `urn:uuid:${randomUUID()}`;
    this.registrarUri = opts.registrarUri ?? `${aor.scheme}:${aor.host}`;
    this.expires = opts.expires ?? 600;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
  }

  /** Our Contact URI: the connection's local address, so the registrar reaches us over it (RFC 5923-style reuse). */
  get contactUri(): string {
    const i = this.client.connection.info;
    const host = i.localAddress.includes(':') ? `[${i.localAddress}]` : i.localAddress;
    const user = parseUri(this.aor).user!;
    return `sip:${user}@${host}:${i.localPort};transport=${i.transport}`;
  }

  /** Sends REGISTER (authenticating as needed) and returns the outcome. */
  async register(): Promise<RegisterOutcome> {
    if (this.closed) throw new RegistrationError('REGISTER_REJECTED', 'registration was closed');
    const res = await this.exchange(this.expires);
    return this.outcomeOf(res);
  }

  /**
   * Re-REGISTERs an existing registration. A 3xx here is no new registration: the binding is not
   * refreshed and lapses (a Lync pool redirects a refresh when the user's home pool moved), so it
   * is an error carrying the Contacts, for the caller to sign in again there.
   */
  async refresh(): Promise<Extract<RegisterOutcome, { kind: 'registered' }>> {
    const o = await this.register();
    if (o.kind === 'registered') return o;
    this.registeredExpires = 0;
    throw new RegistrationError('REGISTER_REJECTED', `registration refresh redirected: ${o.status} ${o.response.reason} to ${o.contacts.map((c) => c.uri).join(', ')}`, {
      details: { status: o.status, reason: o.response.reason, redirect: o.contacts.map((c) => c.uri), contacts: o.contacts },
    });
  }

  /** Removes our binding (Expires: 0) and stops refreshing. */
  async unregister(): Promise<SipResponse> {
    this.stopRefresh();
    this.closed = true;
    const res = await this.exchange(0);
    this.registeredExpires = 0;
    if (res.status < 200 || res.status >= 300) throw this.rejected(res, 'un-REGISTER');
    return res;
  }

  /** Stops refreshing without un-REGISTERing. */
  close(): void {
    this.closed = true;
    this.stopRefresh();
  }

  private stopRefresh(): void {
    this.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  private scheduleRefresh(expires: number): void {
    this.stopRefresh();
    if (this.opts.autoRefresh === false || this.closed || expires <= 0) return;
    // Refresh at 80–90 % of the granted time (jitter spreads a fleet's refreshes, RFC 5626 §4.4.1
    // spirit), and never later than 10 s before expiry when the interval allows it.
    let delay = expires * 1000 * (0.8 + 0.1 * this.random());
    if (expires > 20) delay = Math.min(delay, (expires - 10) * 1000);
    this.refreshTimer = this.clock.setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh().then(
        (o) => this.emit('refreshed', o),
        (err: unknown) => this.emit('refreshFailed', err instanceof SiplogonError ? err : new RegistrationError('REGISTER_REJECTED', String(err))),
      );
    }, delay);
  }

  private headers(expires: number): Array<[string, string]> {
    const h: Array<[string, string]> = [
      ['From', `<${this.aor}>;tag=${this.fromTag}`],
      ['To', `<${this.aor}>`],
      ['Call-ID', this.callId],
      ['CSeq', `${++this.cseq} REGISTER`],
      ['Contact', `<${this.contactUri}>;+sip.instance="<${this.instanceId}>"`],
      ['Expires', String(expires)],
    ];
    if (this.opts.lyncHeaders !== false) {
      h.push(['Supported', 'gruu-10, adhoclist, msrtc-event-categories'], ['Event', 'registration'], ['ms-keep-alive', 'UAC;hop-hop=yes']);
    }
    h.push(...(this.opts.extraHeaders ?? []));
    return h;
  }

  private password(): string {
    const p = this.opts.password;
    return typeof p === 'function' ? p() : p;
  }

  /**
   * One logical REGISTER: answers 401/407 once per challenger (a proxy's 407 and the registrar's
   * 401 both, RFC 3261 §22.3), retries once on stale=true (RFC 7616 §3.3), follows 423
   * Min-Expires (RFC 3261 §10.2.8). Any other final response is returned to the caller.
   */
  private async exchange(initialExpires: number): Promise<SipResponse> {
    let expires = initialExpires;
    const digest = new DigestResponder(this.authUser, () => this.password());
    let intervalRetries = 0;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const headers = this.headers(expires);
      headers.push(...digest.credentials('REGISTER', this.registrarUri));
      const res = await this.client.request('REGISTER', { uri: this.registrarUri, headers });
      if (res.status === 401 || res.status === 407) {
        digest.answer(res, 'REGISTER', this.registrarUri);
        continue;
      }
      if (res.status === 423 && expires > 0) {
        const min = Number(getHeader(res, 'Min-Expires'));
        if (!Number.isInteger(min) || min <= expires || intervalRetries >= MAX_INTERVAL_RETRIES) throw this.rejected(res, 'REGISTER');
        intervalRetries++;
        expires = min;
        this.expires = min;
        continue;
      }
      return res;
    }
    throw new RegistrationError('REGISTER_REJECTED', `REGISTER gave up after ${MAX_ATTEMPTS} attempts`, { details: { attempts: MAX_ATTEMPTS } });
  }

  private outcomeOf(res: SipResponse): RegisterOutcome {
    if (res.status >= 200 && res.status < 300) {
      const mine = this.findOwnContact(res);
      const exp = Number(mine?.params.get('expires') ?? getHeader(res, 'Expires') ?? this.expires);
      const expires = Number.isFinite(exp) && exp >= 0 ? exp : this.expires;
      const gruu = mine?.params.get('pub-gruu') ?? mine?.params.get('gruu') ?? undefined;
      this.registeredExpires = expires;
      this.scheduleRefresh(expires);
      const out: RegisterOutcome = {
        kind: 'registered',
        expires,
        response: res,
        allowEvents: getHeaders(res, 'Allow-Events'),
        supported: getHeaders(res, 'Supported'),
      };
      if (gruu) out.gruu = gruu;
      return out;
    }
    if (res.status >= 300 && res.status < 400) {
      const contacts = parseRedirectContacts(res, this.client.connection.info.transport);
      if (contacts.length === 0) {
        throw new RegistrationError('REDIRECT_INVALID', `registrar answered ${res.status} ${res.reason} without a usable Contact`, { details: { status: res.status, reason: res.reason } });
      }
      return { kind: 'redirect', status: res.status, contacts, response: res };
    }
    throw this.rejected(res, 'REGISTER');
  }

  private findOwnContact(res: SipResponse): ReturnType<typeof parseNameAddr> | undefined {
    const ours = this.contactUri.toLowerCase();
    for (const v of getHeaders(res, 'Contact')) {
      try {
        const na = parseNameAddr(v);
        const inst = na.params.get('+sip.instance');
        if (na.uri.toLowerCase() === ours || (inst && inst.replace(/^<|>$/g, '') === this.instanceId)) return na;
      } catch {
        /* other bindings may be foreign syntax; ignore */
      }
    }
    return undefined;
  }

  private rejected(res: SipResponse, what: string): RegistrationError {
    const diag = getHeader(res, 'ms-diagnostics') ?? getHeader(res, 'ms-diagnostics-public');
    const warning = getHeaders(res, 'Warning');
    const extra = diag ? `; ms-diagnostics: ${diag}` : warning.length ? `; Warning: ${warning.join(', ')}` : '';
    const details: Record<string, unknown> = { status: res.status, reason: res.reason };
    if (diag) details.msDiagnostics = diag;
    if (warning.length) details.warning = warning;
    const ra = getHeader(res, 'Retry-After');
    if (ra) details.retryAfter = ra;
    return new RegistrationError('REGISTER_REJECTED', `${what} rejected: ${res.status} ${res.reason}${extra}`, { details });
  }
}

/**
 * Contacts of a 3xx, in the order given, with q. Lync front ends name home and backup pool this
 * way; without a transport parameter TLS is assumed (as Lync clients do) unless the current
 * connection is TCP and the URI is sip:.
 */
export function parseRedirectContacts(res: SipResponse, current: 'tls' | 'tcp' = 'tls'): RedirectContact[] {
  const out: RedirectContact[] = [];
  for (const v of getHeaders(res, 'Contact')) {
    try {
      const na = parseNameAddr(v);
      const u = parseUri(na.uri);
      const tp = (u.params.get('transport') ?? '').toLowerCase();
      const transport: 'tls' | 'tcp' = u.scheme === 'sips' || tp === 'tls' ? 'tls' : tp === 'tcp' ? 'tcp' : current;
      const c: RedirectContact = { uri: na.uri, host: u.host, port: u.port ?? (transport === 'tls' ? 5061 : 5060), transport };
      const q = na.params.get('q');
      if (q !== undefined && q !== null && q !== '' && Number.isFinite(Number(q))) c.q = Number(q);
      out.push(c);
    } catch {
      /* skip a malformed Contact; the caller sees only usable ones */
    }
  }
  return out;
}

/**
 * Sends a request outside the registration (SUBSCRIBE for provisioning, SERVICE, …) over the
 * client's connection, answering 401/407 like REGISTER does. The caller supplies From/To/Call-ID/
 * CSeq or lets the client generate them; a fresh CSeq is needed after a challenge, so headers
 * are rebuilt per attempt by `headers(attempt)`.
 */
export async function requestWithAuth(
  client: SipClient,
  method: string,
  o: Omit<RequestOptions, 'headers'> & { headers?: (attempt: number) => Array<[string, string]> },
  creds: { username: string; password: string | (() => string) },
): Promise<SipResponse> {
  const digest = new DigestResponder(creds.username, typeof creds.password === 'function' ? creds.password : () => creds.password as string);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const headers = o.headers ? o.headers(attempt) : [];
    headers.push(...digest.credentials(method, o.uri));
    const res = await client.request(method, { ...o, headers });
    if (res.status !== 401 && res.status !== 407) return res;
    digest.answer(res, method, o.uri);
  }
  throw new AuthenticationError('AUTH_FAILED', `${method} gave up after ${MAX_ATTEMPTS} challenges`);
}
