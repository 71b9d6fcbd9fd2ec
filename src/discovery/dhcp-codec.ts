/**
 * DHCP (RFC 2131 / RFC 2132) codec for the one exchange a Lync-style device makes: DHCPINFORM out,
 * DHCPACK back, with option 120 (RFC 3361 SIP servers) and option 43 (vendor class MS-UC-Client).
 * Every byte of a reply is untrusted: all reads are bounds-checked and failures are DhcpError.
 */
import { DhcpError } from '../errors.js';
import type { MsUcClientOptions } from '../core/types.js';

export const DHCP_MAGIC_COOKIE = 0x63825363;
/** op (1) … file (128): the fixed BOOTP header, RFC 2131 §2 figure 1. */
export const BOOTP_HEADER_LEN = 236;
export const DHCP_MIN_LEN = BOOTP_HEADER_LEN + 4;

export const DhcpMessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

export const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS_SERVERS: 6,
  DOMAIN_NAME: 15,
  VENDOR_SPECIFIC: 43,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_REQUEST: 55,
  MESSAGE: 56,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  SIP_SERVERS: 120,
  END: 255,
} as const;

/** What the device asks for (RFC 2132 §9.8); 120 and 43 are the point of the exchange. */
export const DEFAULT_PARAM_REQUEST = [1, 3, 6, 15, 120, 43] as const;
export const MS_UC_CLIENT = 'MS-UC-Client';

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address, hlen bytes (max 16). */
  chaddr: Buffer;
  /** Only meaningful when not overloaded with options. */
  sname: Buffer;
  file: Buffer;
  /**
   * Options by code, every instance concatenated in the RFC 3396 §5 order (options field,
   * then file, then sname). Pad, end and 52 itself are not kept.
   */
  options: Map<number, Buffer>;
  /** Codes in order of first appearance. */
  optionOrder: number[];
  /** Value of option 53, when present and one byte long. */
  messageType?: number;
}

function malformed(message: string, details: Record<string, unknown> = {}): DhcpError {
  return new DhcpError('DHCP_MALFORMED', message, { details });
}
function optMalformed(code: number, message: string, details: Record<string, unknown> = {}): DhcpError {
  return new DhcpError('DHCP_OPTION_MALFORMED', `option ${code}: ${message}`, { details: { option: code, ...details } });
}

export function ipv4ToBytes(ip: string): Buffer {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) {
    throw new DhcpError('INVALID_OPTION', `not an IPv4 address: ${JSON.stringify(ip)}`);
  }
  return Buffer.from(parts.map(Number));
}

function bytesToIpv4(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** "aa:bb:cc:dd:ee:ff" (or with '-') → 6 bytes. */
export function macToBytes(mac: string): Buffer {
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw new DhcpError('INVALID_OPTION', `not a MAC address: ${JSON.stringify(mac)}`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

// ---------------------------------------------------------------------------------------------
// Encoding

export interface EncodeMessageInput {
  op: 1 | 2;
  xid: number;
  secs?: number;
  flags?: number;
  ciaddr?: string;
  yiaddr?: string;
  siaddr?: string;
  giaddr?: string;
  chaddr?: Buffer;
  /** Options in wire order; values longer than 255 bytes are split per RFC 3396. */
  options: [code: number, value: Buffer][];
}

/** Builds a BOOTREQUEST/BOOTREPLY with options, terminated by end (RFC 2131 §3). */
export function encodeMessage(m: EncodeMessageInput): Buffer {
  const chaddr = m.chaddr ?? Buffer.alloc(0);
  if (chaddr.length > 16) throw new DhcpError('INVALID_OPTION', 'chaddr longer than 16 bytes');
  const head = Buffer.alloc(DHCP_MIN_LEN);
  head[0] = m.op;
  head[1] = 1; // htype Ethernet (RFC 1700)
  head[2] = chaddr.length === 0 ? 6 : chaddr.length;
  head[3] = 0;
  head.writeUInt32BE(m.xid >>> 0, 4);
  head.writeUInt16BE((m.secs ?? 0) & 0xffff, 8);
  head.writeUInt16BE((m.flags ?? 0) & 0xffff, 10);
  ipv4ToBytes(m.ciaddr ?? '0.0.0.0').copy(head, 12);
  ipv4ToBytes(m.yiaddr ?? '0.0.0.0').copy(head, 16);
  ipv4ToBytes(m.siaddr ?? '0.0.0.0').copy(head, 20);
  ipv4ToBytes(m.giaddr ?? '0.0.0.0').copy(head, 24);
  chaddr.copy(head, 28);
  head.writeUInt32BE(DHCP_MAGIC_COOKIE, BOOTP_HEADER_LEN);
  const parts: Buffer[] = [head];
  for (const [code, value] of m.options) {
    if (!Number.isInteger(code) || code <= 0 || code >= 255) throw new DhcpError('INVALID_OPTION', `bad option code ${code}`);
    // RFC 3396 §6: a value over 255 bytes goes out as consecutive instances of the same code.
    let off = 0;
    do {
      const chunk = value.subarray(off, off + 255);
      parts.push(Buffer.from([code, chunk.length]), chunk);
      off += 255;
    } while (off < value.length);
  }
  parts.push(Buffer.from([OPT.END]));
  const out = Buffer.concat(parts);
  // RFC 2131 §2: BOOTP relays expect at least 300 bytes; pad after end.
  return out.length >= 300 ? out : Buffer.concat([out, Buffer.alloc(300 - out.length)]);
}

export interface InformInput {
  xid: number;
  ciaddr: string;
  chaddr: Buffer;
  secs?: number;
  vendorClass?: string;
  clientId?: Buffer;
  paramRequest?: readonly number[];
}

/** DHCPINFORM, RFC 2131 §4.4.3: ciaddr is ours, no requested address or lease time. */
export function encodeInform(i: InformInput): Buffer {
  const params = i.paramRequest ?? DEFAULT_PARAM_REQUEST;
  const options: [number, Buffer][] = [
    [OPT.MESSAGE_TYPE, Buffer.from([DhcpMessageType.INFORM])],
    [OPT.PARAM_REQUEST, Buffer.from(params)],
  ];
  const vc = i.vendorClass ?? MS_UC_CLIENT;
  if (vc.length > 0) options.push([OPT.VENDOR_CLASS, Buffer.from(vc, 'latin1')]);
  if (i.clientId && i.clientId.length > 0) options.push([OPT.CLIENT_ID, i.clientId]);
  return encodeMessage({ op: 1, xid: i.xid, secs: i.secs ?? 0, flags: 0, ciaddr: i.ciaddr, chaddr: i.chaddr, options });
}

/** Option 120 value. Names are compressed (RFC 1035 §4.1.4) with offsets from after the encoding byte, as dnsmasq does. */
export function encodeOption120(
  v: { encoding: 'fqdn'; names: string[] } | { encoding: 'ipv4'; addresses: string[] },
  compress = true,
): Buffer {
  if (v.encoding === 'ipv4') {
    if (v.addresses.length === 0) throw new DhcpError('INVALID_OPTION', 'option 120 needs at least one address');
    return Buffer.concat([Buffer.from([1]), ...v.addresses.map(ipv4ToBytes)]);
  }
  if (v.names.length === 0) throw new DhcpError('INVALID_OPTION', 'option 120 needs at least one name');
  const body: number[] = [];
  const seen = new Map<string, number>();
  for (const raw of v.names) {
    const labels = raw.replace(/\.$/, '').split('.');
    validateName(labels, 120, true);
    for (let k = 0; k < labels.length; k++) {
      const suffix = labels.slice(k).join('.').toLowerCase();
      const at = seen.get(suffix);
      if (compress && at !== undefined) {
        body.push(0xc0 | (at >> 8), at & 0xff);
        break;
      }
      if (body.length < 0x3fff) seen.set(suffix, body.length);
      const l = Buffer.from(labels[k] ?? '', 'ascii');
      body.push(l.length, ...l);
      if (k === labels.length - 1) body.push(0);
    }
  }
  return Buffer.from([0, ...body]);
}

/** Option 43 value: sub-option TLVs (RFC 2132 §8.4) in the given order, optionally ending with 0xff. */
export function encodeOption43(v: MsUcClientOptions, opts: { reverse?: boolean; end?: boolean } = {}): Buffer {
  const subs: [number, Buffer][] = [];
  const add = (code: number, s: string | undefined): void => {
    if (s !== undefined) subs.push([code, Buffer.from(s, 'utf8')]);
  };
  add(1, v.ucIdentifier);
  add(2, v.urlScheme);
  add(3, v.webServerFqdn);
  add(4, v.webServerPort);
  add(5, v.certProvPath);
  for (const [k, hex] of Object.entries(v.other ?? {})) subs.push([Number(k), Buffer.from(hex, 'hex')]);
  if (opts.reverse) subs.reverse();
  const parts: Buffer[] = [];
  for (const [code, val] of subs) {
    if (code <= 0 || code >= 255 || val.length > 255) throw new DhcpError('INVALID_OPTION', `option 43 sub-option ${code} does not fit`);
    parts.push(Buffer.from([code, val.length]), val);
  }
  if (opts.end) parts.push(Buffer.from([0xff]));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface Area {
  name: 'options' | 'file' | 'sname';
  start: number;
  end: number;
}

/** Parses one option area; returns the overload value if option 52 appeared in it. */
function parseArea(buf: Buffer, area: Area, chunks: Map<number, Buffer[]>, order: number[]): number | undefined {
  let overload: number | undefined;
  let i = area.start;
  while (i < area.end) {
    const code = buf[i] as number;
    if (code === OPT.PAD) {
      i++;
      continue;
    }
    if (code === OPT.END) break;
    if (i + 1 >= area.end) throw optMalformed(code, `length byte missing in ${area.name}`, { area: area.name, offset: i });
    const len = buf[i + 1] as number;
    const vStart = i + 2;
    const vEnd = vStart + len;
    if (vEnd > area.end) throw optMalformed(code, `truncated: needs ${len} bytes, ${area.end - vStart} left in ${area.name}`, { area: area.name, offset: i });
    const value = buf.subarray(vStart, vEnd);
    if (code === OPT.OVERLOAD) {
      // RFC 2132 §9.3: only in the options field, one byte 1..3.
      if (area.name !== 'options') throw optMalformed(code, `overload option inside ${area.name}`);
      if (len !== 1 || value[0] === undefined || value[0] < 1 || value[0] > 3) throw optMalformed(code, 'overload value must be one byte 1..3');
      if (overload !== undefined) throw optMalformed(code, 'overload option repeated');
      overload = value[0];
    } else {
      let list = chunks.get(code);
      if (!list) {
        list = [];
        chunks.set(code, list);
        order.push(code);
      }
      list.push(value);
    }
    i = vEnd;
  }
  return overload;
}

/** Decodes a whole BOOTP/DHCP message. Throws DhcpError (DHCP_MALFORMED / DHCP_OPTION_MALFORMED). */
export function decodeMessage(buf: Uint8Array): DhcpMessage {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < DHCP_MIN_LEN) throw malformed(`packet too short: ${b.length} bytes, a DHCP message has at least ${DHCP_MIN_LEN}`, { length: b.length });
  if (b.readUInt32BE(BOOTP_HEADER_LEN) !== DHCP_MAGIC_COOKIE) throw malformed('magic cookie missing (not a DHCP message)');
  const op = b[0] as number;
  if (op !== 1 && op !== 2) throw malformed(`bad op ${op}`);
  const hlen = b[2] as number;
  if (hlen > 16) throw malformed(`hlen ${hlen} exceeds chaddr (16)`);
  const chunks = new Map<number, Buffer[]>();
  const order: number[] = [];
  const overload = parseArea(b, { name: 'options', start: DHCP_MIN_LEN, end: b.length }, chunks, order);
  // RFC 2131 §4.1: with overload, 'file' is read before 'sname'.
  if (overload === 1 || overload === 3) parseArea(b, { name: 'file', start: 108, end: 236 }, chunks, order);
  if (overload === 2 || overload === 3) parseArea(b, { name: 'sname', start: 44, end: 108 }, chunks, order);
  const options = new Map<number, Buffer>();
  for (const code of order) options.set(code, Buffer.concat(chunks.get(code) ?? []));
  const mt = options.get(OPT.MESSAGE_TYPE);
  if (mt !== undefined && mt.length !== 1) throw optMalformed(OPT.MESSAGE_TYPE, `length ${mt.length}, expected 1`);
  const msg: DhcpMessage = {
    op,
    htype: b[1] as number,
    hlen,
    hops: b[3] as number,
    xid: b.readUInt32BE(4),
    secs: b.readUInt16BE(8),
    flags: b.readUInt16BE(10),
    ciaddr: bytesToIpv4(b, 12),
    yiaddr: bytesToIpv4(b, 16),
    siaddr: bytesToIpv4(b, 20),
    giaddr: bytesToIpv4(b, 24),
    chaddr: Buffer.from(b.subarray(28, 28 + hlen)),
    sname: Buffer.from(b.subarray(44, 108)),
    file: Buffer.from(b.subarray(108, 236)),
    options,
    optionOrder: order,
  };
  if (mt !== undefined) msg.messageType = mt[0] as number;
  return msg;
}

const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

/** RFC 1035 §2.3.1/§2.3.4 plus RFC 1123 §2.1 (LDH, leading digit allowed): labels ≤ 63, name ≤ 255 on the wire. */
function validateName(labels: string[], code: number, forEncode = false): void {
  const fail = (m: string): DhcpError => (forEncode ? new DhcpError('INVALID_OPTION', `option ${code}: ${m}`) : optMalformed(code, m));
  if (labels.length === 0 || (labels.length === 1 && labels[0] === '')) throw fail('empty name');
  let wire = 1;
  for (const l of labels) {
    if (l.length === 0 || l.length > 63) throw fail(`label length ${l.length} out of 1..63`);
    if (!LABEL_RE.test(l)) throw fail(`label ${JSON.stringify(l)} is not letters, digits and inner hyphens`);
    wire += l.length + 1;
  }
  if (wire > 255) throw fail(`name is ${wire} bytes on the wire, over 255`);
}

/**
 * One RFC 1035 name starting at `pos` in `data`. Pointers must point strictly before the
 * position where the pointer itself sits: that rules out forward pointers and loops (RFC 1035
 * §4.1.4 only allows references to a *prior* occurrence) and bounds the work by data.length.
 */
function readName(data: Buffer, pos: number, code: number): { name: string; next: number } {
  const labels: string[] = [];
  let i = pos;
  let next = -1;
  let wire = 1;
  let limit = i; // a pointer found at position p must target < p, and < every earlier pointer's target
  for (;;) {
    if (i >= data.length) throw optMalformed(code, 'name runs past the end of the option', { offset: i });
    const len = data[i] as number;
    if (len === 0) {
      if (next < 0) next = i + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (i + 1 >= data.length) throw optMalformed(code, 'compression pointer truncated', { offset: i });
      const target = ((len & 0x3f) << 8) | (data[i + 1] as number);
      if (next < 0) next = i + 2;
      const bound = Math.min(limit, i);
      if (target >= bound) throw optMalformed(code, `compression pointer at ${i} to ${target} is not backwards (loop or forward reference)`, { offset: i, target });
      limit = target;
      i = target;
      continue;
    }
    if (kind !== 0) throw optMalformed(code, `label type 0x${kind.toString(16)} not allowed`, { offset: i });
    if (i + 1 + len > data.length) throw optMalformed(code, 'label runs past the end of the option', { offset: i });
    wire += len + 1;
    if (wire > 255) throw optMalformed(code, 'name longer than 255 bytes');
    labels.push(data.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  validateName(labels, code);
  return { name: labels.join('.'), next };
}

export type SipServersValue = { encoding: 'fqdn'; names: string[] } | { encoding: 'ipv4'; addresses: string[] };

/** RFC 3361 §3: encoding byte, then either compressed DNS names (0) or IPv4 addresses (1). */
export function decodeOption120(value: Buffer): SipServersValue {
  const code = OPT.SIP_SERVERS;
  if (value.length < 2) throw optMalformed(code, `too short (${value.length} bytes)`);
  const enc = value[0];
  const data = value.subarray(1);
  if (enc === 1) {
    if (data.length % 4 !== 0) throw optMalformed(code, `IPv4 list of ${data.length} bytes is not a multiple of 4`);
    const addresses: string[] = [];
    for (let i = 0; i < data.length; i += 4) addresses.push(bytesToIpv4(data, i));
    return { encoding: 'ipv4', addresses };
  }
  if (enc !== 0) throw optMalformed(code, `unknown encoding byte ${enc}`);
  const names: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    const r = readName(data, pos, code);
    names.push(r.name);
    pos = r.next;
  }
  return { encoding: 'fqdn', names };
}

function isPrintable(b: Buffer): boolean {
  for (const c of b) if (c < 0x20 || c > 0x7e) return false;
  return b.length > 0;
}

/**
 * Option 43 for MS-UC-Client (sub-options 1..5 in any order, pad 0, optional end 0xff — dnsmasq
 * writes them reversed and ends with 0xff). Known sub-options must be printable ASCII; the port
 * also accepts a 2-byte integer, which is what dnsmasq sends for a bare number. Unknown
 * sub-options are kept as hex.
 */
export function decodeOption43(value: Buffer): MsUcClientOptions {
  const code = OPT.VENDOR_SPECIFIC;
  const out: MsUcClientOptions = {};
  const keys: Record<number, keyof Omit<MsUcClientOptions, 'other'>> = {
    1: 'ucIdentifier',
    2: 'urlScheme',
    3: 'webServerFqdn',
    4: 'webServerPort',
    5: 'certProvPath',
  };
  let i = 0;
  while (i < value.length) {
    const sub = value[i] as number;
    if (sub === 0) {
      i++;
      continue;
    }
    if (sub === 0xff) break;
    if (i + 1 >= value.length) throw optMalformed(code, `sub-option ${sub} has no length byte`, { sub });
    const len = value[i + 1] as number;
    if (i + 2 + len > value.length) throw optMalformed(code, `sub-option ${sub} truncated`, { sub });
    const v = value.subarray(i + 2, i + 2 + len);
    i += 2 + len;
    const key = keys[sub];
    if (key === undefined) {
      out.other ??= {};
      out.other[sub] = v.toString('hex');
      continue;
    }
    if (key === 'webServerPort' && v.length === 2 && !isPrintable(v)) {
      out.webServerPort = String(v.readUInt16BE(0));
    } else if (isPrintable(v)) {
      out[key] = v.toString('latin1');
    } else {
      throw optMalformed(code, `sub-option ${sub} is not printable text`, { sub });
    }
    if (key === 'webServerPort' && !/^[0-9]{1,5}$/.test(out.webServerPort ?? '')) throw optMalformed(code, 'sub-option 4 (port) is not a number', { sub });
    if (key === 'webServerFqdn') validateName((out.webServerFqdn ?? '').replace(/\.$/, '').split('.'), code);
  }
  return out;
}
