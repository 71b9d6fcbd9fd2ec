/**
 * DNS adapter: SRV / A / AAAA over UDP with TCP retry on truncation (RFC 1035 §4.2, RFC 7766),
 * built on dns-packet. Every answer is treated as untrusted input: it must come from the server
 * we asked, carry our random ID and echo our question (RFC 5452 §9.1), and its records are
 * validated and capped before they reach the core.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, isIP, isIPv4, isIPv6, type Socket as TcpSocket } from 'node:net';
import { readFileSync } from 'node:fs';
import { randomId16 } from '../random.js';
import * as dnsPacket from 'dns-packet';
import { DnsError, SiplogonError, UsageError } from '../errors.js';
import { DnsCache, type SharedQuery } from './dns-cache.js';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { DEFAULT_SRV_NAMES, type DnsOutcome, type DnsQueryResult, type SrvRecord, type SrvRole } from '../core/types.js';

export type DnsQueryType = 'SRV' | 'A' | 'AAAA';

export interface DnsClientOptions {
  /** "host:port" or "host" (port 53); IPv6 as "[::1]:53". Default: the system's resolv.conf servers. */
  servers?: string[];
  /** Per-query bound, all retransmissions included. Default 2000 ms. */
  timeoutMs?: number;
  /** Interval between UDP (re)sends, each to the next server in turn. Default timeoutMs / 3. */
  retransmitMs?: number;
  /** Records kept from one answer; the rest are dropped (untrusted input). Default 64. */
  maxRecords?: number;
  /** Time source for latency and timers. Default: the system clock. */
  clock?: Clock;
  /** resolv.conf path used when `servers` is absent (tests). Default /etc/resolv.conf. */
  resolvConfPath?: string;
  /**
   * A resolver cache shared with other clients (many lines in one process): answers within their
   * TTL and questions already in flight are not sent again. Default: none, every query is sent.
   */
  cache?: DnsCache;
}

export interface DnsServerAddress {
  host: string;
  port: number;
  family: 4 | 6;
}

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_MAX_RECORDS = 64;
const MAX_CNAME_HOPS = 8;

/** Parses "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal. Servers must be IP literals. */
export function parseServer(spec: string): DnsServerAddress {
  const s = spec.trim();
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1] ?? '';
    portText = bracket[2];
  } else if (isIPv6(s)) {
    host = s;
  } else {
    const m = /^([^:]+)(?::(\d+))?$/.exec(s);
    if (!m) throw new UsageError('INVALID_OPTION', `DNS server "${spec}" is not host[:port] or [v6]:port`);
    host = m[1] ?? '';
    portText = m[2];
  }
  // A scope id ("fe80::1%eth0") is accepted by dgram; isIP checks the part before it.
  const bare = host.split('%')[0] ?? '';
  const family = isIP(bare);
  if (family !== 4 && family !== 6) {
    throw new UsageError('INVALID_OPTION', `DNS server "${spec}" must be an IP address (no name lookup for the resolver itself)`);
  }
  const port = portText === undefined ? 53 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError('INVALID_OPTION', `DNS server "${spec}" has an invalid port`);
  }
  return { host, port, family };
}

export function formatServer(s: Pick<DnsServerAddress, 'host' | 'port'>): string {
  return isIPv6(s.host.split('%')[0] ?? '') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

/** `nameserver` lines of a resolv.conf text (resolv.conf(5)); glibc's default when there are none. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)/.exec(line);
    if (m?.[1] && isIP(m[1].split('%')[0] ?? '')) out.push(m[1]);
  }
  return out;
}

function systemServers(path: string): string[] {
  try {
    const list = parseResolvConf(readFileSync(path, 'utf8'));
    if (list.length > 0) return list;
  } catch {
    // No readable resolv.conf: fall through to the resolver library's own default.
  }
  return ['127.0.0.1'];
}

/**
 * Host name syntax for names we query and for SRV targets (RFC 1035 §2.3.4 lengths, RFC 1123
 * §2.1 letters/digits/hyphen; underscores allowed because SRV owner names carry them, RFC 2782).
 */
export function isValidDnsName(name: string, opts: { allowUnderscore?: boolean } = {}): boolean {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length === 0 || n.length > 253) return false;
  const label = opts.allowUnderscore ? /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/ : /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
  return n.split('.').every((l) => label.test(l));
}

function normName(n: string): string {
  return n.toLowerCase().replace(/\.$/, '');
}

/** Decoded packet; dns-packet also sets opcode/rcode, which its typings omit. */
export type Decoded = ReturnType<typeof dnsPacket.decode> & { opcode?: string; rcode?: string };
/** A record as decoded, without trusting its shape. */
type AnyAnswer = { type: string; name: string; ttl?: number; data?: unknown };

/**
 * dns-packet does not bounds-check RDATA: a cut packet can decode into records with garbage
 * fields. Reading past the end (decode.bytes > length) therefore marks the packet malformed.
 */
export function decodeStrict(buf: Buffer): Decoded {
  const msg = dnsPacket.decode(buf) as Decoded;
  if (dnsPacket.decode.bytes > buf.length) {
    throw new Error(`packet ends inside a record (${buf.length} bytes, records need ${dnsPacket.decode.bytes})`);
  }
  return msg;
}

/**
 * Turns a decoded response (already matched to our query) into a result. Pure: exported for the
 * unit tests. Records for other names or types are ignored; CNAMEs inside the answer are followed.
 */
export function interpretResponse(
  msg: Decoded,
  name: string,
  type: DnsQueryType,
  opts: { maxRecords?: number } = {},
): Pick<DnsQueryResult, 'outcome' | 'srv' | 'glue' | 'addresses' | 'ttl' | 'detail'> {
  const maxRecords = opts.maxRecords ?? DEFAULT_MAX_RECORDS;
  switch (msg.rcode) {
    case 'NOERROR':
      break;
    case 'NXDOMAIN':
      return { outcome: 'nxdomain', ...negativeTtl(msg) };
    case 'SERVFAIL':
      return { outcome: 'servfail' };
    case 'REFUSED':
      return { outcome: 'refused' };
    default:
      return { outcome: 'error', detail: `server answered rcode ${String(msg.rcode)}` };
  }

  const answers = (msg.answers ?? []) as unknown as AnyAnswer[];
  // Follow the CNAME chain from the question name (RFC 1034 §3.6.2), loop- and length-bounded.
  let owner = normName(name);
  const ttls: number[] = [];
  const seen = new Set<string>([owner]);
  for (let hop = 0; hop < MAX_CNAME_HOPS; hop++) {
    const c = answers.find((a) => a.type === 'CNAME' && normName(a.name) === owner);
    if (!c || typeof c.data !== 'string') break;
    const next = normName(c.data);
    if (!isValidDnsName(next, { allowUnderscore: true }) || seen.has(next)) {
      return { outcome: 'error', detail: `bad CNAME chain at ${owner}` };
    }
    if (typeof c.ttl === 'number') ttls.push(c.ttl);
    seen.add(next);
    owner = next;
  }

  const mine = answers.filter((a) => a.type === type && normName(a.name) === owner);
  if (mine.length === 0) return { outcome: 'nodata', ...negativeTtl(msg) };
  const notes: string[] = [];
  const kept = mine.slice(0, maxRecords);
  if (mine.length > maxRecords) notes.push(`${mine.length - maxRecords} record(s) beyond the cap of ${maxRecords} dropped`);

  const recordTtls: number[] = [];
  if (type === 'SRV') {
    const srv: SrvRecord[] = [];
    let bad = 0;
    for (const a of kept) {
      const d = (a.data ?? {}) as Partial<dnsPacket.SrvData>;
      const target = typeof d.target === 'string' ? d.target : '';
      const root = target === '.' || target === '';
      // RFC 2782: a target of "." means "service decidedly not available"; port is then moot.
      const okTarget = root || isValidDnsName(target);
      const port = typeof d.port === 'number' ? d.port : -1;
      const okPort = root || (Number.isInteger(port) && port >= 1 && port <= 65535);
      if (!okTarget || !okPort) {
        bad++;
        continue;
      }
      const ttl = typeof a.ttl === 'number' ? a.ttl : undefined;
      if (ttl !== undefined) recordTtls.push(ttl);
      srv.push({
        target: root ? '.' : target.replace(/\.$/, ''),
        port: root ? 0 : port,
        priority: d.priority ?? 0,
        weight: d.weight ?? 0,
        ...(ttl !== undefined ? { ttl } : {}),
      });
    }
    if (bad > 0) notes.push(`${bad} invalid SRV record(s) ignored (bad target or port)`);
    if (srv.length === 0) return { outcome: 'error', detail: notes.join('; ') };
    const glueTtls: number[] = [];
    const glue = glueOf(msg, srv, maxRecords, glueTtls);
    // The answer is only as fresh as the addresses that came with it (they are used as answers).
    const ttl = minTtl([...ttls, ...recordTtls, ...glueTtls]);
    return { outcome: 'answer', srv, ...(glue ? { glue } : {}), ...(ttl !== undefined ? { ttl } : {}), ...(notes.length ? { detail: notes.join('; ') } : {}) };
  }

  const check = type === 'A' ? isIPv4 : isIPv6;
  const addresses: string[] = [];
  let bad = 0;
  for (const a of kept) {
    if (typeof a.data !== 'string' || !check(a.data)) {
      bad++;
      continue;
    }
    if (typeof a.ttl === 'number') recordTtls.push(a.ttl);
    if (!addresses.includes(a.data)) addresses.push(a.data);
  }
  if (bad > 0) notes.push(`${bad} invalid ${type} record(s) ignored`);
  if (addresses.length === 0) return { outcome: 'error', detail: notes.join('; ') };
  const ttl = minTtl([...ttls, ...recordTtls]);
  return { outcome: 'answer', addresses, ...(ttl !== undefined ? { ttl } : {}), ...(notes.length ? { detail: notes.join('; ') } : {}) };
}

/**
 * A/AAAA records in the additional section for names that are targets of this SRV answer only —
 * anything else there is ignored. Addresses are validated like answers to our own A/AAAA queries.
 */
function glueOf(msg: Decoded, srv: readonly SrvRecord[], maxRecords: number, ttls: number[]): Record<string, string[]> | undefined {
  const targets = new Set(srv.filter((r) => r.target !== '.').map((r) => normName(r.target)));
  const out: Record<string, string[]> = {};
  let count = 0;
  for (const a of (msg.additionals ?? []) as unknown as AnyAnswer[]) {
    if ((a.type !== 'A' && a.type !== 'AAAA') || typeof a.data !== 'string' || count >= maxRecords) continue;
    const owner = normName(a.name);
    if (!targets.has(owner) || !(a.type === 'A' ? isIPv4(a.data) : isIPv6(a.data))) continue;
    const list = (out[owner] ??= []);
    if (!list.includes(a.data)) {
      list.push(a.data);
      if (typeof a.ttl === 'number') ttls.push(a.ttl);
      count++;
    }
  }
  return count > 0 ? out : undefined;
}

function minTtl(ttls: number[]): number | undefined {
  return ttls.length ? Math.min(...ttls) : undefined;
}

/** RFC 2308 §5: negative answers are cached for min(SOA TTL, SOA MINIMUM). */
function negativeTtl(msg: Decoded): { ttl?: number } {
  const soa = (msg.authorities ?? []).find((a) => a.type === 'SOA') as dnsPacket.SoaAnswer | undefined;
  if (!soa) return {};
  const vals = [soa.ttl, soa.data?.minimum].filter((v): v is number => typeof v === 'number');
  return vals.length ? { ttl: Math.min(...vals) } : {};
}

/** Does a decoded packet answer exactly our question with our ID? (RFC 5452 §9.1) */
export function matchesQuery(msg: Decoded, id: number, name: string, type: DnsQueryType): boolean {
  if (msg.id !== id || !msg.flag_qr || msg.opcode !== 'QUERY') return false;
  const qs = msg.questions ?? [];
  const q = qs[0];
  return qs.length === 1 && q !== undefined && normName(q.name) === normName(name) && q.type === type && (q.class ?? 'IN') === 'IN';
}

const abortedError = (): DnsError => new DnsError('ABORTED', 'DNS query aborted');

/** DNS client over UDP (TCP on truncation). */
export class DnsClient {
  readonly servers: readonly DnsServerAddress[];
  readonly timeoutMs: number;
  readonly retransmitMs: number;
  private readonly maxRecords: number;
  private readonly clock: Clock;
  private readonly inflight = new Set<() => void>();
  private readonly muxes = new Map<4 | 6, UdpMux>();
  private closed = false;

  constructor(readonly options: DnsClientOptions = {}) {
    const list = options.servers ?? systemServers(options.resolvConfPath ?? '/etc/resolv.conf');
    if (list.length === 0) throw new UsageError('INVALID_OPTION', 'DnsClient needs at least one server');
    this.servers = list.map(parseServer);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) {
      throw new UsageError('INVALID_OPTION', `DNS timeoutMs must be a positive number, got ${String(options.timeoutMs)}`);
    }
    this.retransmitMs = options.retransmitMs ?? this.timeoutMs / 3;
    if (!Number.isFinite(this.retransmitMs) || this.retransmitMs <= 0) {
      throw new UsageError('INVALID_OPTION', `DNS retransmitMs must be a positive number, got ${String(options.retransmitMs)}`);
    }
    this.maxRecords = options.maxRecords ?? DEFAULT_MAX_RECORDS;
    if (!Number.isInteger(this.maxRecords) || this.maxRecords < 1) {
      throw new UsageError('INVALID_OPTION', `DNS maxRecords must be a positive integer`);
    }
    this.clock = options.clock ?? systemClock;
  }

  /**
   * One question, bounded by timeoutMs. Resolves with the outcome (network trouble and bad answers
   * included); rejects only for bad input (INVALID_OPTION) or an abort (ABORTED).
   */
  query(name: string, type: DnsQueryType, signal?: AbortSignal): Promise<DnsQueryResult> {
    if (type !== 'SRV' && type !== 'A' && type !== 'AAAA') {
      return Promise.reject(new UsageError('INVALID_OPTION', `unsupported DNS query type ${String(type)}`));
    }
    if (typeof name !== 'string' || !isValidDnsName(name, { allowUnderscore: true })) {
      return Promise.reject(new UsageError('INVALID_OPTION', `"${String(name)}" is not a valid DNS name`));
    }
    if (this.closed) return Promise.reject(new DnsError('ABORTED', 'DnsClient is closed'));
    if (signal?.aborted) return Promise.reject(abortedError());
    const qname = name.replace(/\.$/, '');
    const cache = this.options.cache;
    if (!cache) return this.run(qname, type, signal, this.inflight);
    // Clients with other servers or other bounds do not share queries (a 500 ms asker must not
    // wait on a 5 s query); cached answers are the same whoever asked, but the key stays one.
    this.cacheKeyPrefix ??= `${this.servers.map(formatServer).join(',')}|${this.timeoutMs}|${this.retransmitMs}|${this.maxRecords}`;
    const key = DnsCache.key(this.cacheKeyPrefix, qname, type);
    const hit = cache.get(key);
    if (hit) return Promise.resolve({ ...hit, latencyMs: 0, cached: true });
    let shared = cache.pending(key);
    if (!shared) {
      // Owned by no single asker: one giving up must not fail the others; it is cancelled only
      // when every asker has given up, and otherwise ends by itself within timeoutMs.
      const hooks = new Set<() => void>();
      shared = cache.track(key, this.run(qname, type, undefined, hooks), () => {
        for (const abort of [...hooks]) abort();
      });
    }
    return this.await(shared, signal);
  }

  private cacheKeyPrefix: string | undefined;

  private run(qname: string, type: DnsQueryType, signal: AbortSignal | undefined, inflight: Set<() => void>): Promise<DnsQueryResult> {
    return new Promise<DnsQueryResult>((resolve, reject) => {
      new QueryRun(this, qname, type, this.servers, this.clock, this.maxRecords, signal, inflight, resolve, reject).start();
    });
  }

  /** Waits for a shared query, giving up (ABORTED) on this caller's signal or this client's close. */
  private await(shared: SharedQuery, signal: AbortSignal | undefined): Promise<DnsQueryResult> {
    shared.waiters++;
    return new Promise<DnsQueryResult>((resolve, reject) => {
      let waiting = true;
      const done = (): void => {
        waiting = false;
        signal?.removeEventListener('abort', abort);
        this.inflight.delete(abort);
        shared.waiters--;
      };
      const abort = (): void => {
        if (!waiting) return;
        done();
        // Nobody left to answer: stop the retransmissions.
        if (shared.waiters === 0) shared.cancel();
        reject(abortedError());
      };
      signal?.addEventListener('abort', abort, { once: true });
      this.inflight.add(abort);
      shared.promise.then(
        (r) => {
          if (!waiting) return;
          done();
          // Each asker gets its own object; the arrays inside are shared and frozen.
          resolve({ ...r });
        },
        (e: unknown) => {
          if (!waiting) return;
          done();
          reject(e);
        },
      );
    });
  }

  /** @internal The shared UDP socket of one address family (see UdpMux). */
  mux(family: 4 | 6): UdpMux {
    let m = this.muxes.get(family);
    if (!m) {
      m = new UdpMux(family);
      this.muxes.set(family, m);
    }
    return m;
  }

  /** Aborts every query in flight (they reject with ABORTED) and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const abort of [...this.inflight]) abort();
  }
}

/**
 * One UDP socket per address family, shared by the queries a client has in flight and closed as
 * soon as none is left. A discovery asks ~10 questions at once; a socket each cost more CPU than
 * the rest of a fleet sign-in (bench/fleet). Against blind spoofing (RFC 5452) the socket gets a
 * fresh random port per burst and every query a random ID unique on that socket; an answer must
 * come from a server that query asked and echo its question. A forged datagram must hit the port
 * and one of the N IDs in flight — the same N / (ports × 65536) odds as N sockets with one query
 * each — but N queries on one port are N targets behind one guessed port, which is why RFC 5452
 * prefers several ports; a client's burst is ~10 queries, and a shared DnsCache (which would
 * spread one forgery to many lines) keeps only what the client's checks accepted.
 */
class UdpMux {
  private socket: UdpSocket | undefined;
  /** Queries by ID. Two share an ID only across families (the ID is fixed once sent); each checks its question. */
  private readonly runs = new Map<number, QueryRun[]>();

  constructor(private readonly family: 4 | 6) {}

  /** Registers a query; returns its ID, re-drawn while taken here when `mayChange`. */
  join(id: number, run: QueryRun, mayChange: boolean): number {
    let chosen = id;
    while (mayChange && this.runs.has(chosen)) chosen = randomId16();
    const list = this.runs.get(chosen);
    if (list) list.push(run);
    else this.runs.set(chosen, [run]);
    return chosen;
  }

  leave(id: number, run: QueryRun): void {
    const list = this.runs.get(id)?.filter((r) => r !== run);
    if (list?.length) this.runs.set(id, list);
    else this.runs.delete(id);
    // Closed after the current turn of the event loop: discovery asks its A/AAAA questions right
    // after the last SRV answer, and they reuse the socket instead of opening another.
    if (this.runs.size === 0 && !this.closing) {
      this.closing = setImmediate(() => {
        this.closing = undefined;
        if (this.runs.size === 0) this.close();
      });
    }
  }

  private closing: NodeJS.Immediate | undefined;

  send(packet: Buffer, port: number, host: string, cb: (err: Error | null) => void): void {
    this.open().send(packet, port, host, cb);
  }

  private all(): QueryRun[] {
    return [...this.runs.values()].flat();
  }

  private open(): UdpSocket {
    if (this.socket) return this.socket;
    const s = createSocket(this.family === 4 ? 'udp4' : 'udp6');
    s.on('message', (msg, rinfo) => this.dispatch(msg, rinfo.address, rinfo.port));
    s.on('error', (err) => {
      for (const r of this.all()) r.onSocketError(`socket error: ${err.message}`);
      // The next send opens a new socket; one family failing is not fatal if another can answer.
      if (this.socket === s) this.close();
    });
    this.socket = s;
    return s;
  }

  private dispatch(msg: Buffer, host: string, port: number): void {
    const owners = msg.length >= 2 ? this.runs.get(msg.readUInt16BE(0)) : undefined;
    // Unknown ID: a stray, a spoof or garbage. Each query decides whether one of its servers sent it.
    for (const r of owners ? [...owners] : this.all()) r.onUdp(msg, host, port);
  }

  private close(): void {
    const s = this.socket;
    this.socket = undefined;
    try {
      s?.close();
    } catch {
      // already closed
    }
  }
}

/** State of one query: UDP sends rotate over the servers until an answer or the deadline. */
class QueryRun {
  /** Random, and unique among the queries sharing a socket (assigned by the first UdpMux used). */
  private id = randomId16();
  private packet: Buffer | undefined;
  private readonly started: number;
  private readonly joined = new Set<UdpMux>();
  private readonly asked = new Set<string>();
  private tcp: TcpSocket | undefined;
  private sendIndex = 0;
  private timers: TimerHandle[] = [];
  private done = false;
  /** A SERVFAIL/REFUSED kept while other servers may still answer better. */
  private fallback: DnsQueryResult | undefined;
  private malformed: { server: string; detail: string } | undefined;
  /** Servers that answered SERVFAIL/REFUSED: not asked again. */
  private readonly failed = new Set<string>();
  private tcpServer = '';
  private readonly abortHook = (): void => this.fail(abortedError());

  constructor(
    private readonly client: DnsClient,
    private readonly name: string,
    private readonly type: DnsQueryType,
    private readonly servers: readonly DnsServerAddress[],
    private readonly clock: Clock,
    private readonly maxRecords: number,
    private readonly signal: AbortSignal | undefined,
    private readonly inflight: Set<() => void>,
    private readonly resolve: (r: DnsQueryResult) => void,
    private readonly reject: (e: unknown) => void,
  ) {
    this.started = clock.now();
  }

  private encoded(): Buffer {
    // RD set: we normally talk to a recursive resolver. No EDNS: keeps answers ≤ 512 bytes over
    // UDP (RFC 1035 §4.2.1), larger ones come back with TC and we go to TCP.
    this.packet ??= dnsPacket.encode({
      type: 'query',
      id: this.id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: this.type, name: this.name, class: 'IN' }],
    });
    return this.packet;
  }

  start(): void {
    this.signal?.addEventListener('abort', this.abortHook, { once: true });
    this.inflight.add(this.abortHook);
    this.timers.push(this.clock.setTimeout(() => this.onDeadline(), this.client.timeoutMs));
    this.sendNext();
  }

  private elapsed(): number {
    return Math.max(0, this.clock.now() - this.started);
  }

  private muxFor(family: 4 | 6): UdpMux {
    const mux = this.client.mux(family);
    if (!this.joined.has(mux)) {
      // The ID is fixed once the packet exists; a second family's socket must accept it as is.
      this.id = mux.join(this.id, this, this.packet === undefined);
      this.joined.add(mux);
    }
    return mux;
  }

  /** @internal A socket error on a shared socket: remembered like a garbage answer. */
  onSocketError(detail: string): void {
    if (!this.done) this.malformed = { server: '', detail };
  }

  private sendNext(): void {
    if (this.done) return;
    let server: DnsServerAddress | undefined;
    for (let i = 0; i < this.servers.length && !server; i++) {
      const s = this.servers[this.sendIndex % this.servers.length];
      this.sendIndex++;
      if (s && !this.failed.has(formatServer(s))) server = s;
    }
    if (!server) return;
    this.asked.add(formatServer(server));
    try {
      const mux = this.muxFor(server.family);
      mux.send(this.encoded(), server.port, server.host, (err) => {
        if (err && !this.done) this.malformed = { server: formatServer(server), detail: `send failed: ${err.message}` };
      });
    } catch (err) {
      this.malformed = { server: formatServer(server), detail: `send failed: ${(err as Error).message}` };
    }
    // No resend that could not be answered before the deadline anyway.
    if (this.elapsed() + this.client.retransmitMs < this.client.timeoutMs - 1) {
      this.timers.push(this.clock.setTimeout(() => this.sendNext(), this.client.retransmitMs));
    }
  }

  /** @internal */
  onUdp(buf: Buffer, host: string, port: number): void {
    if (this.done) return;
    const server = formatServer({ host, port });
    // Only the servers we asked may answer (RFC 5452 §9.1); everything else is a stray or a spoof.
    if (!this.asked.has(server)) return;
    let msg: Decoded;
    try {
      msg = decodeStrict(buf);
    } catch (err) {
      // Undecodable: if it carries our ID it is our answer, broken; otherwise ignore it but
      // remember it, so a server that only ever sends garbage is reported as such.
      const detail = `malformed answer: ${(err as Error).message}`;
      if (buf.length >= 2 && buf.readUInt16BE(0) === this.id) return this.finish({ outcome: 'error', detail }, server);
      this.malformed = { server, detail: `no valid answer; ignored ${detail}` };
      return;
    }
    if (!matchesQuery(msg, this.id, this.name, this.type)) return;
    if (msg.flag_tc) return this.retryTcp(host, port);
    this.accept(msg, server);
  }

  private accept(msg: Decoded, server: string): void {
    const r = interpretResponse(msg, this.name, this.type, { maxRecords: this.maxRecords });
    if ((r.outcome === 'servfail' || r.outcome === 'refused') && !this.tcp) {
      // Another server may know better (resolv.conf(5) semantics); keep this outcome in case none does.
      this.failed.add(server);
      if (this.failed.size >= this.servers.length) return this.finish(r, server);
      this.fallback = this.result(r, server);
      for (const t of this.timers.splice(1)) this.clock.clearTimeout(t);
      this.sendNext();
      return;
    }
    this.finish(r, server);
  }

  /** RFC 7766 §5: a truncated UDP answer is retried over TCP to the same server. */
  private retryTcp(host: string, port: number): void {
    if (this.tcp) return;
    for (const t of this.timers.splice(1)) this.clock.clearTimeout(t); // stop UDP retransmissions
    const server = formatServer({ host, port });
    this.tcpServer = server;
    const sock = tcpConnect({ host, port });
    this.tcp = sock;
    let acc = Buffer.alloc(0);
    sock.on('connect', () => sock.write(dnsPacket.streamEncode({
      type: 'query',
      id: this.id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: this.type, name: this.name, class: 'IN' }],
    })));
    sock.on('data', (chunk: Buffer) => {
      acc = Buffer.concat([acc, chunk]);
      while (acc.length >= 2 && !this.done) {
        const len = acc.readUInt16BE(0);
        if (acc.length < len + 2) return;
        const frame = acc.subarray(2, len + 2);
        acc = acc.subarray(len + 2);
        let msg: Decoded;
        try {
          msg = decodeStrict(frame);
        } catch (err) {
          return this.finish({ outcome: 'error', detail: `malformed TCP answer: ${(err as Error).message}` }, server);
        }
        if (!matchesQuery(msg, this.id, this.name, this.type)) {
          return this.finish({ outcome: 'error', detail: 'TCP answer does not match the question' }, server);
        }
        if (msg.flag_tc) return this.finish({ outcome: 'error', detail: 'TCP answer is truncated' }, server);
        this.accept(msg, server);
      }
    });
    sock.on('error', (err) => this.finish({ outcome: 'error', detail: `UDP answer truncated and TCP failed: ${err.message}` }, server));
    sock.on('close', () => {
      if (!this.done) this.finish({ outcome: 'error', detail: 'UDP answer truncated and TCP connection closed without an answer' }, server);
    });
  }

  private onDeadline(): void {
    if (this.done) return;
    if (this.fallback) return this.settle(this.fallback);
    if (this.tcp) return this.finish({ outcome: 'timeout', detail: 'UDP answer truncated; no TCP answer in time' }, this.tcpServer);
    // `server` stays one "host:port" (the first asked); the detail names every server tried.
    const first = [...this.asked][0] ?? '';
    if (this.malformed) return this.finish({ outcome: 'error', detail: this.malformed.detail }, this.malformed.server || first);
    this.finish({ outcome: 'timeout', detail: `no answer from ${[...this.asked].join(', ')} within ${this.client.timeoutMs} ms` }, first);
  }

  private result(r: Pick<DnsQueryResult, 'outcome' | 'srv' | 'glue' | 'addresses' | 'ttl' | 'detail'>, server: string): DnsQueryResult {
    return { name: this.name, type: this.type, server, latencyMs: this.elapsed(), ...r };
  }

  private finish(r: Pick<DnsQueryResult, 'outcome' | 'srv' | 'glue' | 'addresses' | 'ttl' | 'detail'>, server: string): void {
    if (this.done) return;
    if (r.outcome === 'error' && this.fallback) return this.settle(this.fallback);
    this.settle(this.result(r, server));
  }

  private cleanup(): void {
    this.done = true;
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers = [];
    for (const m of this.joined) m.leave(this.id, this);
    this.joined.clear();
    this.tcp?.destroy();
    this.signal?.removeEventListener('abort', this.abortHook);
    this.inflight.delete(this.abortHook);
  }

  private settle(r: DnsQueryResult): void {
    if (this.done) return;
    this.cleanup();
    this.resolve(r);
  }

  private fail(err: SiplogonError): void {
    if (this.done) return;
    this.cleanup();
    this.reject(err);
  }
}

/**
 * The typed error for a query that gave no usable records, for callers that must throw:
 * timeout → DNS_TIMEOUT, a malformed answer or socket trouble → DNS_MALFORMED, any other
 * negative outcome → DNS_FAILED. Undefined for an answer.
 */
export function dnsResultError(r: DnsQueryResult): DnsError | undefined {
  if (r.outcome === 'answer') return undefined;
  const code = r.outcome === 'timeout' ? 'DNS_TIMEOUT' : r.outcome === 'error' ? 'DNS_MALFORMED' : 'DNS_FAILED';
  const what = `${r.type} ${r.name} via ${r.server}: ${r.outcome}${r.detail ? ` (${r.detail})` : ''}`;
  return new DnsError(code, `DNS query ${what}`, {
    stack: false,
    details: { name: r.name, type: r.type, server: r.server, outcome: r.outcome, latencyMs: r.latencyMs, ...(r.detail ? { detail: r.detail } : {}) },
  });
}

/** Strips IPv6 brackets; returns the literal if `name` is an IP address, else undefined. */
function ipLiteral(name: string): string | undefined {
  const n = /^\[(.+)\]$/.exec(name)?.[1] ?? name;
  return isIP(n) ? n : undefined;
}

export interface ResolveHostsOptions {
  /** Address families to ask for, in preference order. Default [4, 6]. */
  families?: readonly (4 | 6)[];
  signal?: AbortSignal;
}

/**
 * A and AAAA for every name, all queries concurrently. IP literals pass through without a query.
 * Addresses per name: the families in the given order, DNS order within a family.
 */
export async function resolveHosts(
  client: DnsClient,
  names: readonly string[],
  opts: ResolveHostsOptions = {},
): Promise<{ addresses: Map<string, string[]>; queries: DnsQueryResult[] }> {
  const families = opts.families ?? [4, 6];
  const addresses = new Map<string, string[]>();
  const jobs: { name: string; p: Promise<DnsQueryResult> }[] = [];
  for (const name of new Set(names)) {
    const lit = ipLiteral(name);
    if (lit !== undefined) {
      addresses.set(name, [lit]);
      continue;
    }
    for (const f of families) jobs.push({ name, p: client.query(name, f === 4 ? 'A' : 'AAAA', opts.signal) });
  }
  const results = await Promise.all(jobs.map((j) => j.p));
  jobs.forEach((j, i) => {
    const r = results[i];
    const list = addresses.get(j.name) ?? [];
    for (const a of r?.addresses ?? []) if (!list.includes(a)) list.push(a);
    addresses.set(j.name, list);
  });
  return { addresses, queries: results };
}

/** The four SRV questions of a Lync-style device for one domain, asked concurrently. */
export async function querySrvSet(
  client: DnsClient,
  domain: string,
  names: Readonly<Record<SrvRole, string>> = DEFAULT_SRV_NAMES,
  signal?: AbortSignal,
): Promise<Record<SrvRole, DnsQueryResult>> {
  const d = domain.replace(/\.$/, '');
  if (!isValidDnsName(d)) throw new UsageError('INVALID_OPTION', `"${domain}" is not a valid SIP domain`);
  const roles = Object.keys(DEFAULT_SRV_NAMES) as SrvRole[];
  const results = await Promise.all(roles.map((role) => client.query(`${names[role]}.${d}`, 'SRV', signal)));
  const out = {} as Record<SrvRole, DnsQueryResult>;
  roles.forEach((role, i) => {
    out[role] = results[i] as DnsQueryResult;
  });
  return out;
}

export type { DnsOutcome };
