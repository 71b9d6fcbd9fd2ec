/**
 * The lab's in-process authoritative DNS server (UDP + TCP on one loopback port), for the demo lab
 * and fast tests. It only ever answers the source of a query, and only on loopback.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, isIPv4, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { UsageError } from '../errors.js';
import type { SrvRecord } from '../core/types.js';

export interface LabZone {
  /** SRV records by owner name ("_sipinternaltls._tcp.acme.test"). */
  srv: Record<string, SrvRecord[]>;
  a: Record<string, string[]>;
  aaaa?: Record<string, string[]>;
  /** Aliases: owner name → canonical name (answered for A/AAAA/SRV, chased inside the zone). */
  cname?: Record<string, string>;
  /** Names that exist (NOERROR/no data for every type) without records of their own. */
  empty?: string[];
  /** Domains this server is authoritative for; anything else is REFUSED. */
  domains: string[];
  /** TTL on every record. Default 60. */
  ttl?: number;
}

export type LabDnsFault = 'none' | 'down' | 'servfail' | 'refused';

export interface LabDnsQueryLog {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
  /** performance.now() at arrival. */
  at: number;
}

export interface LabDnsServer {
  address: string;
  port: number;
  /** "host:port" as DnsClient takes it. */
  server: string;
  /** Every question received, in arrival order (also while 'down'). */
  readonly log: readonly LabDnsQueryLog[];
  setFault(f: LabDnsFault): void;
  setZone(z: LabZone): void;
  stop(): Promise<void>;
}

export interface LabDnsOptions {
  address?: string;
  port?: number;
  zone: LabZone;
  /** Largest UDP answer; larger ones go out truncated with TC=1 (RFC 1035 §4.2.1). Default 512. */
  udpPayloadLimit?: number;
}

function norm(n: string): string {
  return n.toLowerCase().replace(/\.$/, '');
}

function isLoopback(addr: string): boolean {
  const a = addr.replace(/^::ffff:/i, '');
  return (isIPv4(a) && a.startsWith('127.')) || (isIPv6(a) && a === '::1');
}

function lowerKeys<T>(r: Record<string, T> | undefined): Map<string, T> {
  const m = new Map<string, T>();
  for (const [k, v] of Object.entries(r ?? {})) m.set(norm(k), v);
  return m;
}

interface CompiledZone {
  srv: Map<string, SrvRecord[]>;
  a: Map<string, string[]>;
  aaaa: Map<string, string[]>;
  cname: Map<string, string>;
  empty: Set<string>;
  domains: string[];
  ttl: number;
}

function compile(z: LabZone): CompiledZone {
  if (!Array.isArray(z?.domains) || z.domains.length === 0) {
    throw new UsageError('INVALID_OPTION', 'lab DNS zone needs at least one authoritative domain');
  }
  return {
    srv: lowerKeys(z.srv),
    a: lowerKeys(z.a),
    aaaa: lowerKeys(z.aaaa),
    cname: new Map([...lowerKeys(z.cname)].map(([k, v]) => [k, norm(v)])),
    empty: new Set((z.empty ?? []).map(norm)),
    domains: z.domains.map(norm),
    ttl: z.ttl ?? 60,
  };
}

function inDomains(zone: CompiledZone, name: string): boolean {
  return zone.domains.some((d) => name === d || name.endsWith(`.${d}`));
}

function exists(zone: CompiledZone, name: string): boolean {
  if (zone.srv.has(name) || zone.a.has(name) || zone.aaaa.has(name) || zone.cname.has(name) || zone.empty.has(name)) return true;
  if (zone.domains.includes(name)) return true;
  // An empty non-terminal exists too (RFC 8020): some name below it has records.
  const suffix = `.${name}`;
  for (const m of [zone.srv, zone.a, zone.aaaa, zone.cname]) for (const k of m.keys()) if (k.endsWith(suffix)) return true;
  return false;
}

function soaFor(zone: CompiledZone, name: string): dnsPacket.Answer[] {
  const d = zone.domains.filter((x) => name === x || name.endsWith(`.${x}`)).sort((a, b) => b.length - a.length)[0];
  if (!d) return [];
  return [{
    name: d, type: 'SOA', ttl: zone.ttl,
    data: { mname: `ns.${d}`, rname: `hostmaster.${d}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: zone.ttl },
  }];
}

/** Builds the answer to one query packet. Exported for unit tests. */
export function answerQuery(zone: CompiledZone | LabZone, query: dnsPacket.Packet, fault: LabDnsFault = 'none'): dnsPacket.Packet {
  const z = 'empty' in zone && zone.empty instanceof Set ? (zone as CompiledZone) : compile(zone as LabZone);
  const q = query.questions?.[0];
  const base = { type: 'response' as const, id: query.id ?? 0, questions: query.questions ?? [] };
  const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const flags = (rcode: number, aa: boolean): number => (aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | rd | rcode;
  if (!q || (query.questions?.length ?? 0) !== 1) return { ...base, flags: flags(1, false) }; // FORMERR
  if (fault === 'servfail') return { ...base, flags: flags(2, false) };
  if (fault === 'refused') return { ...base, flags: flags(5, false) };
  const qname = norm(q.name);
  if (!inDomains(z, qname)) return { ...base, flags: flags(5, false) }; // REFUSED: not ours, no recursion

  const answers: dnsPacket.Answer[] = [];
  let owner = qname;
  for (let hop = 0; hop < 8; hop++) {
    const target = z.cname.get(owner);
    if (target === undefined || q.type === 'CNAME') break;
    answers.push({ name: owner, type: 'CNAME', ttl: z.ttl, data: target });
    owner = target;
    if (!inDomains(z, owner)) break;
  }
  if (q.type === 'SRV') {
    for (const r of z.srv.get(owner) ?? []) {
      answers.push({ name: owner, type: 'SRV', ttl: r.ttl ?? z.ttl, data: { target: r.target, port: r.port, priority: r.priority, weight: r.weight } });
    }
  } else if (q.type === 'A' || q.type === 'AAAA') {
    for (const ip of (q.type === 'A' ? z.a : z.aaaa).get(owner) ?? []) answers.push({ name: owner, type: q.type, ttl: z.ttl, data: ip });
  }
  if (answers.length > 0) return { ...base, flags: flags(0, true), answers };
  // RFC 2308 §2.1/§2.2: NXDOMAIN or NODATA, both with the SOA for negative caching.
  const rcode = exists(z, owner) ? 0 : 3;
  return { ...base, flags: flags(rcode, true), authorities: soaFor(z, owner) };
}

/** Starts the server; UDP and TCP share one port (picked at random when port is 0). */
export async function startDnsServer(opts: LabDnsOptions): Promise<LabDnsServer> {
  const address = opts.address ?? '127.0.0.1';
  if (!isIP(address) || !isLoopback(address)) {
    throw new UsageError('INVALID_OPTION', `lab DNS server must listen on loopback, not "${address}"`);
  }
  let zone = compile(opts.zone);
  let fault: LabDnsFault = 'none';
  const limit = opts.udpPayloadLimit ?? 512;
  const log: LabDnsQueryLog[] = [];
  const conns = new Set<TcpSocket>();

  const respond = (buf: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined => {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(buf);
    } catch {
      return undefined; // not a DNS message: drop, as a real server would
    }
    if (q.type !== 'query') return undefined;
    const question = q.questions?.[0];
    log.push({ name: question?.name ?? '', type: question?.type ?? '', transport, at: performance.now() });
    if (fault === 'down') return undefined;
    const ans = answerQuery(zone, q, fault);
    const out = dnsPacket.encode(ans);
    if (transport === 'udp' && out.length > limit) {
      // Truncate to the header + question with TC set; the client retries over TCP.
      return dnsPacket.encode({ ...ans, flags: (ans.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [], additionals: [] });
    }
    return out;
  };

  const family = isIPv6(address) ? 'udp6' : 'udp4';
  const bindBoth = async (port: number): Promise<{ udp: UdpSocket; tcp: Server }> => {
    const udp = createSocket(family);
    await new Promise<void>((res, rej) => {
      udp.once('error', rej);
      udp.bind(port, address, () => {
        udp.off('error', rej);
        res();
      });
    });
    const tcp = createServer((c) => {
      conns.add(c);
      c.on('close', () => conns.delete(c));
      c.on('error', () => c.destroy());
      c.setTimeout(10_000, () => c.destroy());
      let acc = Buffer.alloc(0);
      c.on('data', (chunk: Buffer) => {
        acc = Buffer.concat([acc, chunk]);
        if (acc.length > 65_537) return c.destroy();
        while (acc.length >= 2) {
          const len = acc.readUInt16BE(0);
          if (acc.length < len + 2) return;
          const msg = acc.subarray(2, len + 2);
          acc = acc.subarray(len + 2);
          const out = respond(msg, 'tcp');
          if (out) {
            const framed = Buffer.alloc(out.length + 2);
            framed.writeUInt16BE(out.length, 0);
            out.copy(framed, 2);
            c.write(framed);
          }
        }
      });
    });
    try {
      await new Promise<void>((res, rej) => {
        tcp.once('error', rej);
        tcp.listen(udp.address().port, address, () => {
          tcp.off('error', rej);
          res();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    return { udp, tcp };
  };

  let pair: { udp: UdpSocket; tcp: Server } | undefined;
  let lastErr: unknown;
  // With port 0 the random UDP port may be taken on TCP: try a few.
  for (let i = 0; i < (opts.port ? 1 : 10) && !pair; i++) {
    try {
      pair = await bindBoth(opts.port ?? 0);
    } catch (err) {
      lastErr = err;
    }
  }
  if (!pair) throw new UsageError('INVALID_OPTION', `lab DNS server cannot listen on ${address}:${opts.port ?? 0}: ${(lastErr as Error)?.message}`);
  const { udp, tcp } = pair;
  udp.on('error', () => undefined);
  udp.on('message', (msg, rinfo) => {
    if (!isLoopback(rinfo.address)) return; // never talk to anything off this machine
    const out = respond(msg, 'udp');
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  const port = udp.address().port;

  return {
    address,
    port,
    server: isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`,
    log,
    setFault(f) {
      fault = f;
    },
    setZone(z) {
      zone = compile(z);
    },
    async stop() {
      for (const c of conns) c.destroy();
      await Promise.all([
        new Promise<void>((res) => udp.close(() => res())),
        new Promise<void>((res) => tcp.close(() => res())),
      ]);
    },
  };
}
