/**
 * Public options of signIn()/diagnose() with their documented defaults, resolved once here so
 * the rest of the engine works with a complete configuration.
 */
import { systemClock, type Clock, type RandomSource } from '../core/clock.js';
import type { CandidatePolicy } from '../core/candidates.js';
import type { SipTransport, SrvRole } from '../core/types.js';
import { UsageError } from '../errors.js';
import type { DnsCache } from '../discovery/dns-cache.js';
import { parseServer } from '../discovery/dns.js';
import { PRESENCE_STATES, type PresenceState } from '../presence/state.js';
import type { SipTraceHook } from '../sip/trace.js';

export type PasswordSource = string | (() => string | Promise<string>);

export interface SignInOptions {
  /** Address of record, "sip:alice@acme.test" (or "alice@acme.test"). */
  user: string;
  /**
   * Never logged, cached or put into an error. A function is called once per registrar
   * connection, before its first REGISTER (also for a director that only redirects); the value
   * is kept for that registration's refreshes, so a rotated password is used from the next sign-in.
   */
  password: PasswordSource;
  /** Digest user name. @defaultValue the AoR's user part */
  authUser?: string;

  /** Bypass DHCP and DNS SRV: sign in to this registrar FQDN (Test-CsClientAuth -TargetFqdn). */
  targetFqdn?: string;
  /** @defaultValue 5061 for TLS, 5060 for TCP */
  targetPort?: number;
  /** @defaultValue 'tls' */
  targetTransport?: SipTransport;

  /** DNS servers "host:port"; default: the system's. */
  dnsServers?: string[];
  /** Per DNS query bound, retransmissions included. @defaultValue 2000 */
  dnsTimeoutMs?: number;
  /**
   * A resolver cache shared by the sessions of one process (a gateway's lines): answers within
   * their TTL, negative ones within the SOA's negative TTL, and identical questions in flight
   * asked once. The diagnosis never uses it (it must see the network as it is).
   * @defaultValue none: every session asks DNS itself
   */
  dnsCache?: DnsCache;
  /**
   * RFC 8305 §3 "Resolution Delay": once A or AAAA of a name has answered with addresses, wait at
   * most this long for the other family, then go on without it (a resolver that drops AAAA
   * queries must not cost the DNS timeout on every sign-in). @defaultValue 50
   */
  resolutionDelayMs?: number;
  /** Override the four SRV names (without the domain). */
  srvNames?: Partial<Record<SrvRole, string>>;
  /** Static name → addresses map, consulted before DNS (like curl --resolve). */
  hosts?: Record<string, string[]>;

  /**
   * DHCPINFORM discovery. Off unless an interface (or a server) is given: a library should not
   * broadcast on a network by surprise. `false` turns it off explicitly.
   */
  dhcp?:
    | false
    | {
        interface?: string;
        localAddress?: string;
        /** Unicast to this DHCP server instead of broadcasting. */
        server?: string;
        /** @defaultValue 67 */
        serverPort?: number;
        /** @defaultValue 68 (root); 0 for any free port */
        clientPort?: number;
        /** @defaultValue 8000 */
        timeoutMs?: number;
        /** First retransmission interval (RFC 2131 uses 4 s). @defaultValue 4000 */
        initialIntervalMs?: number;
      };

  /** Candidate policy for untrusted answers. @defaultValue refuse targets outside the SIP domain */
  policy?: Partial<CandidatePolicy>;

  /** CA bundle (PEM) to verify registrars with; default: Node's bundled CAs. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Verify TLS certificates and names. @defaultValue true — turning it off is for labs only. */
  verifyTls?: boolean;

  /**
   * Cache file, or false for none. `readOnly` uses it without flushing or rewriting it (the
   * diagnosis must not change what the device uses next). @defaultValue <OS cache dir>/siplogon/<user>.json
   */
  cache?: false | { path?: string; readOnly?: boolean };

  /** @defaultValue 5000 */
  connectTimeoutMs?: number;
  /** @defaultValue 5000 */
  tlsHandshakeTimeoutMs?: number;
  /** Non-INVITE transaction bound (Timer F). @defaultValue 32000 (64 × T1) */
  transactionTimeoutMs?: number;
  /**
   * Bound on the whole sign-off at stop() (un-SUBSCRIBE, un-PUBLISH, un-REGISTER): a registrar
   * that hangs would otherwise hold stop() for up to three transaction timeouts. When it passes
   * the connection is closed and the server's binding simply expires. @defaultValue 5000
   */
  signOffTimeoutMs?: number;
  /** RFC 8305-style stagger between connection attempts. @defaultValue 250 */
  staggerMs?: number;
  /** How long a TCP candidate that connected first waits for a TLS one. @defaultValue 2000 */
  tlsPatienceMs?: number;
  /** How long a failed target sorts last. @defaultValue 30000 */
  penaltyMs?: number;
  /** Requested registration lifetime, seconds. @defaultValue 600 */
  expires?: number;
  /**
   * RFC 5626 CRLF keep-alive interval; 0 disables. Short on purpose: a black-holed registrar is
   * found within interval + timeout (≤ 9 s by default) for 4 bytes every 6 s. A connection that
   * never answered a pong is not declared dead by keep-alive (the registrar may not do RFC 5626);
   * refreshes still catch it. @defaultValue 6000
   */
  keepAliveIntervalMs?: number;
  /** Pong deadline after a ping. @defaultValue 3000 */
  keepAliveTimeoutMs?: number;
  /**
   * While registered on a backup, probe the preferred registrar (the ones ranked above it) with
   * capped back-off and move back when it answers, registering there before leaving the backup.
   * @defaultValue base 1000 ms, cap 4000 ms; false disables
   */
  preferredProbe?: false | { baseMs?: number; capMs?: number };
  /** Re-sign-in back-off. @defaultValue base 1000 ms, cap 60000 ms, jittered */
  backoff?: { baseMs?: number; capMs?: number };
  /** @defaultValue 3 */
  maxRedirects?: number;
  /** SUBSCRIBE vnd-microsoft-provisioning-v2 and ask MRAS after registering. @defaultValue true */
  provisioning?: boolean;
  /**
   * After registering: publish own presence, download the contact list and watch the contacts
   * (issue 8). Never makes sign-in fail: problems become steps and `presenceError` events.
   * @defaultValue on, flavour chosen from the REGISTER 200
   */
  presence?: false | PresenceOptions;
  /** Poll local addresses and restart at once when they change. @defaultValue 2000; 0 disables */
  networkWatchIntervalMs?: number;
  /**
   * Steps a long-lived session keeps in `session.recorder.steps` (newest last); older ones are
   * dropped. Every step still reaches `step` listeners. A signed-in device's trace costs ~7 KB of
   * heap; a gateway with thousands of lines that logs the `step` events can keep 0.
   * The diagnosis keeps every step whatever this says. @defaultValue 500
   */
  stepHistory?: number;

  /**
   * Sees every SIP message sent or received on every connection the engine opens (race entries,
   * registration, provisioning/MRAS, presence), already redacted: digest `response`/`cnonce`,
   * NTLM/Kerberos/TLS-DSK tokens and credential elements of bodies (the MRAS relay password)
   * read "<redacted>"; bodies are capped at 4 KB. Called synchronously; keep it cheap.
   * @defaultValue none — off, and then no entry is built (no cost per message)
   */
  sipTrace?: SipTraceHook;

  /**
   * Device identity (+sip.instance, RFC 5626 §4.1): pass a stable one per line so a restarted
   * process replaces its binding instead of adding one. @defaultValue a random UUID per session
   */
  instanceId?: string;

  clock?: Clock;
  random?: RandomSource;
  signal?: AbortSignal;
}

export interface PresenceOptions {
  /** 'auto' reads the REGISTER 200 (Supported: msrtc-event-categories → Lync). @defaultValue 'auto' */
  flavour?: 'auto' | 'simple' | 'lync';
  /** SIMPLE: the RLS list URI to SUBSCRIBE with `Supported: eventlist` (RFC 4662). */
  listUri?: string;
  /** Contacts to watch one by one when there is no list (or the RLS refuses it). */
  contacts?: string[];
  /** State published after sign-in. @defaultValue 'online' */
  initialState?: PresenceState;
  note?: string;
  /** PUBLISH Expires, seconds. @defaultValue 3600 */
  publishExpires?: number;
  /** SUBSCRIBE Expires, seconds. @defaultValue 600 */
  subscribeExpires?: number;
  /** How long to wait for the contact list when it comes in a NOTIFY. @defaultValue 5000 */
  listTimeoutMs?: number;
}

export interface ResolvedOptions extends Required<Omit<SignInOptions, 'targetFqdn' | 'targetPort' | 'authUser' | 'dnsServers' | 'dnsCache' | 'ca' | 'signal' | 'dhcp' | 'cache' | 'backoff' | 'presence' | 'preferredProbe' | 'sipTrace'>> {
  sipTrace: SipTraceHook | undefined;
  presence: Required<Omit<PresenceOptions, 'listUri' | 'note'>> & { listUri: string | undefined; note: string | undefined } | false;
  preferredProbe: { baseMs: number; capMs: number } | false;
  aor: string;
  userPart: string;
  domain: string;
  authUser: string;
  targetFqdn: string | undefined;
  targetPort: number | undefined;
  dnsServers: string[] | undefined;
  dnsCache: DnsCache | undefined;
  ca: SignInOptions['ca'];
  signal: AbortSignal | undefined;
  dhcp: Exclude<SignInOptions['dhcp'], false | undefined> | false;
  cache: { path: string | undefined; readOnly: boolean } | false;
  backoff: { baseMs: number; capMs: number };
}

const AOR = /^(?:sips?:)?([^@\s:;]+)@([A-Za-z0-9.-]+)$/;

export function parseAor(user: string): { aor: string; userPart: string; domain: string } {
  const m = AOR.exec(user.trim());
  if (!m || !m[1] || !m[2]) throw new UsageError('INVALID_URI', `not a SIP address of record: "${user}" (expected sip:user@domain)`);
  const domain = m[2].toLowerCase().replace(/\.$/, '');
  return { aor: `sip:${m[1]}@${domain}`, userPart: m[1], domain };
}

function positive(name: string, v: number | undefined, dflt: number, allowZero = false): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw new UsageError('INVALID_OPTION', `${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${v}`);
  return v;
}

function wholeNumber(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 0) throw new UsageError('INVALID_OPTION', `${name} must be a whole number ≥ 0, got ${v}`);
  return v;
}

function port(name: string, v: number | undefined): number | undefined {
  if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 65535)) throw new UsageError('INVALID_OPTION', `${name} must be a port number 1–65535, got ${String(v)}`);
  return v;
}

export function resolveOptions(o: SignInOptions): ResolvedOptions {
  const { aor, userPart, domain } = parseAor(o.user);
  if (typeof o.password !== 'string' && typeof o.password !== 'function') throw new UsageError('INVALID_OPTION', 'password is required');
  const targetTransport = o.targetTransport ?? 'tls';
  const dhcp = o.dhcp === undefined || o.dhcp === false || (!o.dhcp.interface && !o.dhcp.server && !o.dhcp.localAddress) ? false : o.dhcp;
  const secret = o.password;
  return {
    user: o.user,
    // Held in a closure: console.log / util.inspect / JSON.stringify of the options (or of a
    // session holding them) never show it.
    password: typeof secret === 'function' ? secret : () => secret,
    aor,
    userPart,
    domain,
    authUser: o.authUser ?? userPart,
    targetFqdn: o.targetFqdn?.toLowerCase().replace(/\.$/, ''),
    targetPort: port('targetPort', o.targetPort),
    targetTransport,
    // Checked here, so a bad address is a usage error at signIn(), not a failure inside the loop.
    dnsServers: o.dnsServers?.map((spec) => (parseServer(spec), spec)),
    dnsTimeoutMs: positive('dnsTimeoutMs', o.dnsTimeoutMs, 2000),
    dnsCache: o.dnsCache,
    resolutionDelayMs: positive('resolutionDelayMs', o.resolutionDelayMs, 50, true),
    srvNames: o.srvNames ?? {},
    hosts: o.hosts ?? {},
    dhcp,
    policy: o.policy ?? {},
    ca: caBundle(o.ca),
    verifyTls: o.verifyTls ?? true,
    cache: o.cache === false ? false : { path: o.cache?.path, readOnly: o.cache?.readOnly ?? false },
    connectTimeoutMs: positive('connectTimeoutMs', o.connectTimeoutMs, 5000),
    tlsHandshakeTimeoutMs: positive('tlsHandshakeTimeoutMs', o.tlsHandshakeTimeoutMs, 5000),
    transactionTimeoutMs: positive('transactionTimeoutMs', o.transactionTimeoutMs, 32000),
    signOffTimeoutMs: positive('signOffTimeoutMs', o.signOffTimeoutMs, 5000),
    staggerMs: positive('staggerMs', o.staggerMs, 250, true),
    tlsPatienceMs: positive('tlsPatienceMs', o.tlsPatienceMs, 2000, true),
    penaltyMs: positive('penaltyMs', o.penaltyMs, 30000, true),
    expires: positive('expires', o.expires, 600),
    keepAliveIntervalMs: positive('keepAliveIntervalMs', o.keepAliveIntervalMs, 6000, true),
    keepAliveTimeoutMs: positive('keepAliveTimeoutMs', o.keepAliveTimeoutMs, 3000),
    preferredProbe:
      o.preferredProbe === false
        ? false
        : { baseMs: positive('preferredProbe.baseMs', o.preferredProbe?.baseMs, 1000), capMs: Math.max(positive('preferredProbe.capMs', o.preferredProbe?.capMs, 4000), positive('preferredProbe.baseMs', o.preferredProbe?.baseMs, 1000)) },
    backoff: { baseMs: positive('backoff.baseMs', o.backoff?.baseMs, 1000), capMs: positive('backoff.capMs', o.backoff?.capMs, 60000) },
    maxRedirects: positive('maxRedirects', o.maxRedirects, 3, true),
    provisioning: o.provisioning ?? true,
    presence: resolvePresence(o.presence),
    networkWatchIntervalMs: positive('networkWatchIntervalMs', o.networkWatchIntervalMs, 2000, true),
    stepHistory: wholeNumber('stepHistory', o.stepHistory, 500),
    instanceId: o.instanceId ?? `urn:uuid:${crypto.randomUUID()}`,
    sipTrace: traceHook(o.sipTrace),
    clock: o.clock ?? systemClock,
    random: o.random ?? Math.random,
    signal: o.signal,
  };
}

function caBundle(ca: SignInOptions['ca']): SignInOptions['ca'] {
  // Node checks the type only when the TLS handshake starts, from a socket callback.
  const ok = (v: unknown): boolean => typeof v === 'string' || Buffer.isBuffer(v);
  if (ca !== undefined && !(ok(ca) || (Array.isArray(ca) && ca.every(ok)))) throw new UsageError('INVALID_OPTION', 'ca must be PEM text, a Buffer, or an array of them');
  return ca;
}

function traceHook(h: SignInOptions['sipTrace']): SipTraceHook | undefined {
  if (h !== undefined && typeof h !== 'function') throw new UsageError('INVALID_OPTION', 'sipTrace must be a function');
  return h;
}

function resolvePresence(p: SignInOptions['presence']): ResolvedOptions['presence'] {
  if (p === false) return false;
  const o = p ?? {};
  if (o.flavour !== undefined && !['auto', 'simple', 'lync'].includes(o.flavour)) throw new UsageError('INVALID_OPTION', `presence.flavour must be auto, simple or lync, got ${String(o.flavour)}`);
  if (o.initialState !== undefined && (!PRESENCE_STATES.includes(o.initialState) || o.initialState === 'unknown')) throw new UsageError('INVALID_OPTION', `presence.initialState must be one of online, busy, away, dnd, offline`);
  const sipUri = (what: string, u: string): string => {
    const t = u.trim();
    if (!/^sips?:[^@\s<>]+@[A-Za-z0-9.-]+$/.test(t)) throw new UsageError('INVALID_URI', `${what} is not a SIP URI: "${u}"`);
    return t;
  };
  return {
    flavour: o.flavour ?? 'auto',
    listUri: o.listUri === undefined ? undefined : sipUri('presence.listUri', o.listUri),
    contacts: (o.contacts ?? []).map((c) => sipUri('presence.contacts entry', c)),
    initialState: o.initialState ?? 'online',
    note: o.note,
    publishExpires: Math.round(positive('presence.publishExpires', o.publishExpires, 3600)),
    subscribeExpires: Math.round(positive('presence.subscribeExpires', o.subscribeExpires, 600)),
    listTimeoutMs: positive('presence.listTimeoutMs', o.listTimeoutMs, 5000),
  };
}
