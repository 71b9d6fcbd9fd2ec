import dgram from 'node:dgram';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { DhcpInformResult } from '../core/types.js';
import { systemClock, type Clock, type RandomSource, type TimerHandle } from '../core/clock.js';
import { DhcpError, SiplogonError } from '../errors.js';
import {
  DhcpMessageType,
  MS_UC_CLIENT,
  OPT,
  decodeMessage,
  decodeOption120,
  decodeOption43,
  encodeInform,
  ipv4ToBytes,
  macToBytes,
} from './dhcp-codec.js';

export interface DhcpInformOptions {
  /** Local IPv4 address to send from (ciaddr); picks the interface. */
  localAddress?: string;
  /** Interface name; its IPv4 address becomes localAddress. */
  interface?: string;
  /** Where the INFORM goes. Default 255.255.255.255 (broadcast). */
  server?: string;
  serverPort?: number; // default 67
  clientPort?: number; // default 68 (needs root)
  vendorClass?: string; // default 'MS-UC-Client'
  /** Overall bound for the whole exchange including retransmissions. Default 8000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** First retransmission interval (RFC 2131 §4.1 uses 4000 ms), doubled each time up to 64 s. */
  initialIntervalMs?: number;
  /** Client hardware address ("aa:bb:…"); default: the interface's MAC, else a random local one. */
  mac?: string;
  /** Option 61 client identifier (raw bytes); not sent when absent. */
  clientId?: Buffer;
  clock?: Clock;
  random?: RandomSource;
}

const DEFAULT_TIMEOUT_MS = 8000;
const DEFAULT_INITIAL_INTERVAL_MS = 4000;
const MAX_INTERVAL_MS = 64_000;
/** How long an answer without option 120 waits for another server's answer with it. */
const OTHER_ANSWERS_GRACE_MS = 1000;

/**
 * Send times (ms after the first send) for the retransmissions that fit in `timeoutMs`:
 * RFC 2131 §4.1 — 4 s, then 8 s, … up to 64 s, each randomised by ±1 s (here ±initial/4 so a
 * shortened schedule keeps the same shape).
 */
export function retransmitSchedule(initialMs: number, timeoutMs: number, random: RandomSource = Math.random): number[] {
  const out: number[] = [];
  const jitter = initialMs / 4;
  let interval = initialMs;
  let at = 0;
  for (;;) {
    const wait = Math.max(1, interval + (random() * 2 - 1) * jitter);
    at += wait;
    if (at >= timeoutMs) break;
    out.push(Math.round(at));
    interval = Math.min(interval * 2, MAX_INTERVAL_MS);
  }
  return out;
}

interface LocalIdentity {
  address: string;
  mac?: string;
  ifname?: string;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.');
}

/** ciaddr and chaddr: from the named interface, the given address, or the first non-internal IPv4 interface. */
function resolveLocal(o: DhcpInformOptions): LocalIdentity {
  const ifs = os.networkInterfaces();
  const usableMac = (m: string | undefined): string | undefined => (m && m !== '00:00:00:00:00:00' ? m : undefined);
  if (o.interface !== undefined) {
    const list = ifs[o.interface];
    if (!list) throw new DhcpError('INVALID_OPTION', `no interface named ${JSON.stringify(o.interface)}`);
    const v4 = list.find((a) => a.family === 'IPv4' && (o.localAddress === undefined || a.address === o.localAddress));
    if (!v4) throw new DhcpError('INVALID_OPTION', `interface ${o.interface} has no IPv4 address`);
    return { address: v4.address, mac: usableMac(v4.mac), ifname: o.interface };
  }
  if (o.localAddress !== undefined) {
    ipv4ToBytes(o.localAddress);
    for (const [name, list] of Object.entries(ifs)) {
      const hit = list?.find((a) => a.family === 'IPv4' && a.address === o.localAddress);
      if (hit) return { address: hit.address, mac: usableMac(hit.mac), ifname: name };
    }
    return { address: o.localAddress };
  }
  if (o.server !== undefined && isLoopback(o.server)) return { address: '127.0.0.1' };
  for (const [name, list] of Object.entries(ifs)) {
    const hit = list?.find((a) => a.family === 'IPv4' && !a.internal);
    if (hit) return { address: hit.address, mac: usableMac(hit.mac), ifname: name };
  }
  throw new DhcpError('INVALID_OPTION', 'no IPv4 interface to send a DHCPINFORM from');
}

function randomLocalMac(): Buffer {
  const b = randomBytes(6);
  // IEEE 802: set the locally-administered bit, clear the multicast bit.
  b[0] = ((b[0] as number) | 0x02) & 0xfe;
  return b;
}

function checkPort(name: string, v: number | undefined, dflt: number, allowZero: boolean): number {
  const p = v ?? dflt;
  if (!Number.isInteger(p) || p < (allowZero ? 0 : 1) || p > 65535) throw new DhcpError('INVALID_OPTION', `${name} must be an integer port, got ${String(v)}`);
  return p;
}

/** DHCPINFORM asking for options 120 and 43. */
export async function informDhcp(options: DhcpInformOptions): Promise<DhcpInformResult> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new DhcpError('INVALID_OPTION', `timeoutMs must be > 0, got ${timeoutMs}`);
  const initialMs = options.initialIntervalMs ?? DEFAULT_INITIAL_INTERVAL_MS;
  if (!Number.isFinite(initialMs) || initialMs <= 0) throw new DhcpError('INVALID_OPTION', `initialIntervalMs must be > 0, got ${initialMs}`);
  const server = options.server ?? '255.255.255.255';
  ipv4ToBytes(server);
  const serverPort = checkPort('serverPort', options.serverPort, 67, false);
  const clientPort = checkPort('clientPort', options.clientPort, 68, true);
  const vendorClass = options.vendorClass ?? MS_UC_CLIENT;
  if (Buffer.byteLength(vendorClass, 'latin1') > 255) throw new DhcpError('INVALID_OPTION', 'vendorClass longer than 255 bytes');
  if (options.signal?.aborted) throw new DhcpError('ABORTED', 'DHCPINFORM aborted before it started');

  const local = resolveLocal(options);
  const chaddr = options.mac !== undefined ? macToBytes(options.mac) : local.mac ? macToBytes(local.mac) : randomLocalMac();
  const xid = Math.floor(random() * 0x1_0000_0000) >>> 0;
  const via = local.ifname ? `${local.ifname} ${local.address}` : local.address;
  const started = clock.now();
  const schedule = retransmitSchedule(initialMs, timeoutMs, random);

  return new Promise<DhcpInformResult>((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    const timers: TimerHandle[] = [];
    let done = false;
    const elapsed = (): number => Math.round(clock.now() - started);
    const finish = (r: DhcpInformResult | Error): void => {
      if (done) return;
      done = true;
      for (const t of timers) clock.clearTimeout(t);
      options.signal?.removeEventListener('abort', onAbort);
      try {
        sock.close();
      } catch {
        /* already closed */
      }
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const fail = (detail: string): void => finish({ outcome: 'error', latencyMs: elapsed(), via, detail });
    // Lync Phone Edition: "the first DHCP response with an FQDN is used and other responses are
    // ignored, unless there are no DHCP responses with FQDNs". A server with no usable option 120
    // (a plain DHCP server next to a Registrar's responder) is kept aside while the other answers
    // to the same INFORM may still come: a short grace (a relayed responder is a WAN round trip
    // away), never past the overall bound; discovery waits for DHCP, so this is kept small.
    let fallback: DhcpInformResult | undefined;
    const answerWithout120 = (r: DhcpInformResult): void => {
      if (fallback) return;
      fallback = r;
      timers.push(clock.setTimeout(() => finish(r), Math.max(0, Math.min(initialMs, OTHER_ANSWERS_GRACE_MS, timeoutMs - elapsed()))));
    };
    const onAbort = (): void => finish(new DhcpError('ABORTED', 'DHCPINFORM aborted', { details: { elapsedMs: elapsed() } }));
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const send = (): void => {
      if (done) return;
      // RFC 2131 §2: secs is the time since the client began the exchange; the xid stays the same.
      const pkt = encodeInform({
        xid,
        ciaddr: local.address,
        chaddr,
        secs: Math.min(0xffff, Math.floor(elapsed() / 1000)),
        vendorClass,
        ...(options.clientId ? { clientId: options.clientId } : {}),
      });
      sock.send(pkt, serverPort, server, (err) => {
        if (err) fail(socketDetail('send to', `${server}:${serverPort}`, err));
      });
    };

    sock.on('error', (err) => fail(socketDetail('socket on', `0.0.0.0:${clientPort}`, err)));
    sock.on('message', (msg, rinfo) => {
      if (done) return;
      let m;
      try {
        m = decodeMessage(msg);
      } catch {
        return; // not a DHCP message we can read: someone else's traffic or garbage; keep waiting
      }
      // RFC 2131 §4.4.1: match replies to our request by xid (and our chaddr).
      if (m.op !== 2 || m.xid !== xid) return;
      if (m.hlen === chaddr.length && !m.chaddr.equals(chaddr)) return;
      const from = `${rinfo.address}:${rinfo.port}`;
      const optionsSeen = [...m.optionOrder];
      if (m.messageType === DhcpMessageType.NAK) {
        const text = m.options.get(OPT.MESSAGE);
        answerWithout120({ outcome: 'error', latencyMs: elapsed(), via, server: from, optionsSeen, detail: `DHCPNAK from ${from}${text ? `: ${text.toString('latin1').replace(/[^\x20-\x7e]/g, '?')}` : ''}` });
        return;
      }
      if (m.messageType !== DhcpMessageType.ACK) return;
      const result: DhcpInformResult = { outcome: 'answer', latencyMs: elapsed(), via, server: from, optionsSeen };
      const notes: string[] = [];
      const o120 = m.options.get(OPT.SIP_SERVERS);
      if (o120 !== undefined) {
        try {
          result.sipServers = decodeOption120(o120);
        } catch (e) {
          // Option 120 is the point of the exchange; a broken one is an error the diagnosis must show.
          answerWithout120({ ...result, outcome: 'error', detail: `malformed option 120 from ${from}: ${errText(e)}` });
          return;
        }
      } else {
        notes.push('no option 120 in the DHCPACK');
      }
      const o43 = m.options.get(OPT.VENDOR_SPECIFIC);
      if (o43 !== undefined) {
        try {
          result.msUcClient = decodeOption43(o43);
        } catch (e) {
          notes.push(`option 43 ignored: ${errText(e)}`);
        }
      }
      if (notes.length) result.detail = notes.join('; ');
      if (result.sipServers) finish(result);
      else answerWithout120(result);
    });

    sock.bind({ port: clientPort, address: '0.0.0.0', exclusive: true }, () => {
      if (done) return;
      try {
        sock.setBroadcast(true);
      } catch (e) {
        fail(`cannot enable SO_BROADCAST: ${errText(e)}`);
        return;
      }
      send();
      for (const at of schedule) timers.push(clock.setTimeout(send, at));
      timers.push(
        clock.setTimeout(
          () => finish(fallback ?? { outcome: 'timeout', latencyMs: elapsed(), via, detail: `no DHCPACK from ${server}:${serverPort} within ${timeoutMs} ms (${schedule.length + 1} DHCPINFORM sent)` }),
          timeoutMs,
        ),
      );
    });
  });
}

function errText(e: unknown): string {
  if (SiplogonError.is(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

function socketDetail(what: string, where: string, err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  const hint =
    code === 'EACCES'
      ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE; use clientPort 0 against a lab responder)'
      : code === 'ENETUNREACH'
        ? ' (no route for the destination: a broadcast needs an up interface with a default route)'
        : code === 'EADDRINUSE'
          ? ' (another DHCP client holds the port)'
          : '';
  return `DHCP_SOCKET: ${what} ${where} failed: ${code ?? err.message}${hint}`;
}
