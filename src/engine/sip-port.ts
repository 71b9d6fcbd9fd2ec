/**
 * The engine's one door to the SIP layer: a registration "leg" on one connection, with every
 * exchange recorded as steps (register, challenge, authenticate), an authenticated generic
 * request for SUBSCRIBE/SERVICE, RFC 5626 keep-alive, and loss detection.
 */
import type { Clock } from '../core/clock.js';
import { KeepAlive } from '../core/timers.js';
import type { Candidate } from '../core/types.js';
import { AuthenticationError, SiplogonError, TransportError } from '../errors.js';
import type { SipConnection } from '../sip/connection.js';
import { parseChallenge } from '../sip/digest.js';
import { getHeader, getHeaders, type SipResponse } from '../sip/message.js';
import { Registration, requestWithAuth, type RegisterOutcome } from '../sip/register.js';
import { defaultAnswer, newTag, SipClient, type IncomingAnswer } from '../sip/transaction.js';
import type { SipRequest } from '../sip/message.js';
import type { ResolvedOptions } from './options.js';
import type { StepRecorder } from './steps.js';

export interface LegResponse {
  status: number;
  reason: string;
  body: string;
  header(name: string): string | undefined;
  response: SipResponse;
}

/**
 * Dialog fields for requests inside (or creating) a SUBSCRIBE/PUBLISH dialog of its own
 * (RFC 3261 §12.2.1.1): the caller owns Call-ID, tags, CSeq and the route set.
 */
export interface LegDialog {
  callId: string;
  fromTag: string;
  toTag?: string;
  /** Called once per attempt: a challenged request is re-sent with a higher CSeq (§8.1.3.5). */
  nextCSeq: () => number;
  /** Route header values, in the order to send them (the reversed Record-Route of a UAC dialog). */
  routes?: string[];
}

/** Answers requests the registrar sends on this connection; undefined falls back to the default. */
export type LegRequestHandler = (req: SipRequest) => IncomingAnswer | null | undefined | Promise<IncomingAnswer | null | undefined>;

export interface Leg {
  /** "fqdn:port/transport". */
  readonly target: string;
  readonly connection: SipConnection;
  readonly client: SipClient;
  readonly registration: Registration;
  readonly outcome: RegisterOutcome;
  /** A request in its own transaction, answering one digest challenge with the user's credentials. */
  request(method: string, o: { uri: string; to?: string; headers?: Array<[string, string]>; body?: string; contentType?: string; dialog?: LegDialog; timerFMs?: number }): Promise<LegResponse>;
  /** Routes requests from the server (NOTIFY, BENOTIFY…) to `handler`; undefined restores the default. */
  setRequestHandler(handler: LegRequestHandler | undefined): void;
  /** Starts CRLF keep-alives; `onDead` when a pong is late. Returns a stop function. */
  keepAlive(o: { intervalMs: number; timeoutMs: number; clock: Clock }, onDead: (e: SiplogonError) => void): () => void;
  /** Called once when the connection closes or a refresh fails (at once if that already happened). */
  onLost(cb: (e: SiplogonError) => void): void;
  /** Re-REGISTER now (after a network change). */
  refreshNow(): void;
  unregister(): Promise<void>;
  close(): void;
}

/**
 * The password, from the caller's source. A source that throws or gives no string (a vault that
 * is down) is CREDENTIALS_UNAVAILABLE: the registrar is not at fault, and the diagnosis must say so.
 */
async function password(o: ResolvedOptions): Promise<string> {
  let pw: unknown;
  try {
    pw = typeof o.password === 'function' ? await o.password() : o.password;
  } catch (err) {
    // The source's own message may quote what it was given; keep only its kind.
    throw new AuthenticationError('CREDENTIALS_UNAVAILABLE', `the password source failed (${err instanceof Error ? err.name : typeof err})`, { stack: false });
  }
  if (typeof pw !== 'string' || pw === '') throw new AuthenticationError('CREDENTIALS_UNAVAILABLE', 'the password source gave no password', { stack: false });
  return pw;
}

function challengeFacts(res: SipResponse): Record<string, unknown> {
  const h = res.status === 407 ? 'Proxy-Authenticate' : 'WWW-Authenticate';
  const offered = getHeaders(res, h).map((v) => {
    try {
      const c = parseChallenge(v);
      return c.scheme.toLowerCase() === 'digest' ? { scheme: 'Digest', algorithm: c.algorithm, realm: c.realm, qop: c.qop } : { scheme: c.scheme, realm: c.realm };
    } catch {
      return { scheme: v.split(/\s/)[0] ?? '?' };
    }
  });
  return { status: res.status, offered };
}

/**
 * Registers on an established connection. Steps: "register" for the first REGISTER; when it is
 * challenged, "challenge" (what the registrar offered) and "authenticate" (the answer to our
 * credentials).
 */
export async function openRegistration(connection: SipConnection, candidate: Candidate, o: ResolvedOptions, rec: StepRecorder): Promise<Leg> {
  const target = `${candidate.fqdn}:${candidate.port}/${candidate.transport}`;
  let step = rec.begin('register', `REGISTER ${o.aor} at ${target}`, target, { aor: o.aor, timeoutMs: o.transactionTimeoutMs });
  let pw: string;
  try {
    pw = await password(o);
  } catch (err) {
    step.fail(err);
    connection.close();
    throw err;
  }
  let phase: 'register' | 'authenticate' = 'register';
  let requestHandler: LegRequestHandler | undefined;
  const client = new SipClient(connection, {
    clock: o.clock,
    timerFMs: o.transactionTimeoutMs,
    userAgent: 'siplogon',
    onRequest: async (req) => {
      const ans = requestHandler ? await requestHandler(req) : undefined;
      return ans === undefined ? defaultAnswer(req.method.toUpperCase()) : ans;
    },
    onResponse: (res, method) => {
      // The first challenge ends the "register" step and opens "challenge" + "authenticate".
      if ((res.status === 401 || res.status === 407) && phase === 'register' && method === 'REGISTER') {
        step.pass({ status: `${res.status} ${res.reason}` });
        rec.begin('challenge', 'Authentication challenge', target, challengeFacts(res)).pass();
        phase = 'authenticate';
        step = rec.begin('authenticate', `Authenticate as ${o.authUser}`, target, { aor: o.aor, timeoutMs: o.transactionTimeoutMs });
      }
    },
  });
  const registration = new Registration(client, {
    aor: o.aor,
    // A function, not the string: the leg's options must not show the password when inspected.
    password: () => pw,
    authUser: o.authUser,
    expires: o.expires,
    instanceId: o.instanceId,
    clock: o.clock,
    random: o.random,
  });
  let outcome: RegisterOutcome;
  // Stopping mid-registration must not wait out Timer F: closing the connection fails the transaction now.
  const onAbort = (): void => connection.close();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (o.signal?.aborted) connection.close();
    outcome = await registration.register();
  } catch (e) {
    const details = SiplogonError.is(e) ? e.details : {};
    step.fail(e, { ...details, aor: o.aor, timeoutMs: o.transactionTimeoutMs, ...(SiplogonError.is(e) && e.code === 'AUTH_UNSUPPORTED' ? { schemes: details['schemes'] } : {}) });
    registration.close();
    connection.close();
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  if (outcome.kind === 'registered') step.pass({ status: `${outcome.response.status} ${outcome.response.reason}`, expires: outcome.expires, allowEvents: outcome.allowEvents, supported: outcome.supported, ...(outcome.gruu ? { gruu: outcome.gruu } : {}) });
  else step.pass({ status: `${outcome.status} ${outcome.response.reason}`, redirect: outcome.contacts.map((c) => c.uri) });

  const lostCbs: ((e: SiplogonError) => void)[] = [];
  let lost: SiplogonError | undefined;
  const lose = (e: SiplogonError): void => {
    if (lost) return;
    lost = e;
    for (const cb of lostCbs) cb(e);
  };
  connection.on('close', (err) => lose(err ?? new TransportError('CONNECTION_CLOSED', `${target} closed the connection`)));
  registration.on('refreshFailed', (e) => lose(e));

  const fromTag = newTag();
  const leg: Leg = {
    target,
    connection,
    client,
    registration,
    outcome,
    async request(method, r) {
      const headers = (): Array<[string, string]> => {
        const d = r.dialog;
        const h: Array<[string, string]> = [
          ['From', `<${o.aor}>;tag=${d ? d.fromTag : fromTag}`],
          ['To', `<${r.to ?? r.uri}>${d?.toTag ? `;tag=${d.toTag}` : ''}`],
          ...(d ? ([['Call-ID', d.callId], ['CSeq', `${d.nextCSeq()} ${method}`], ...(d.routes ?? []).map((v): [string, string] => ['Route', v])] as Array<[string, string]>) : []),
          ['Contact', `<${registration.contactUri}>`],
          ...(r.headers ?? []),
        ];
        if (r.contentType) h.push(['Content-Type', r.contentType]);
        return h;
      };
      const res = await requestWithAuth(client, method, { uri: r.uri, headers, ...(r.body !== undefined ? { body: r.body } : {}), ...(r.timerFMs !== undefined ? { timerFMs: r.timerFMs } : {}) }, { username: o.authUser, password: pw });
      return { status: res.status, reason: res.reason, body: res.body.toString('utf8'), header: (n) => getHeader(res, n), response: res };
    },
    setRequestHandler(handler) {
      requestHandler = handler;
    },
    keepAlive(k, onDead) {
      if (k.intervalMs <= 0) return () => undefined;
      const ka = new KeepAlive({
        clock: k.clock,
        keepAliveIntervalMs: k.intervalMs,
        keepAliveTimeoutMs: k.timeoutMs,
        sendPing: () => {
          try {
            connection.ping();
          } catch {
            /* a closed connection reports itself through 'close' */
          }
        },
        // A registrar that never answered a pong may simply not do RFC 5626: not proof of death.
        onDead: () => {
          if (pongSeen) onDead(new TransportError('KEEPALIVE_TIMEOUT', `${target} did not answer a keep-alive within ${k.timeoutMs} ms`, { details: { timeoutMs: k.timeoutMs } }));
        },
      });
      let pongSeen = false;
      const onPong = (): void => {
        pongSeen = true;
        ka.pong();
      };
      connection.on('pong', onPong);
      ka.start();
      // One ping at once tells whether this registrar answers RFC 5626 pongs at all, so a black
      // hole that comes before the first interval is still recognised.
      try {
        connection.ping();
      } catch {
        /* a closed connection reports itself through 'close' */
      }
      return () => {
        ka.stop();
        connection.off('pong', onPong);
      };
    },
    onLost(cb) {
      // The connection may die between the REGISTER 200 and the caller's watch (provisioning,
      // MRAS, cache write): a loss that came before the listener is reported to it at once.
      if (lost) {
        const e = lost;
        queueMicrotask(() => cb(e));
        return;
      }
      lostCbs.push(cb);
    },
    refreshNow() {
      registration.refresh().catch((e: unknown) => lose(SiplogonError.is(e) ? e : new TransportError('CONNECTION_CLOSED', String(e))));
    },
    async unregister() {
      await registration.unregister();
    },
    close() {
      registration.close();
      connection.close();
    },
  };
  return leg;
}
