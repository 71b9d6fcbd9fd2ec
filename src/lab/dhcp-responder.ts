/**
 * Lab DHCPINFORM responder: answers like a DHCP server configured for Lync phones (option 120,
 * and option 43 only for vendor class MS-UC-Client). Loopback only — it answers the request's
 * source address/port instead of ciaddr:68 (RFC 2131 §4.3.5), so tests need no root and no
 * broadcast.
 */
import dgram from 'node:dgram';
import { UsageError } from '../errors.js';
import type { MsUcClientOptions } from '../core/types.js';
import {
  DhcpMessageType,
  MS_UC_CLIENT,
  OPT,
  decodeMessage,
  encodeMessage,
  encodeOption120,
  encodeOption43,
  ipv4ToBytes,
  type SipServersValue,
} from '../discovery/dhcp-codec.js';

/**
 * 'silent': drop every request (a network without a DHCP server). The others exist to drive the
 * client's error paths: 'nak' answers DHCPNAK, 'wrong-xid' answers with another transaction id,
 * 'bad-option-120' answers with a compression loop in option 120.
 */
export type DhcpResponderFault = 'none' | 'silent' | 'nak' | 'wrong-xid' | 'bad-option-120';

export interface DhcpResponderOptions {
  address?: string; // default 127.0.0.1
  port?: number; // default 0 (ephemeral)
  sipServers: SipServersValue;
  msUcClient?: MsUcClientOptions;
  /** Compress option 120 names as dnsmasq does. Default true. */
  compress?: boolean;
}

export interface DhcpResponder {
  address: string;
  port: number;
  /** DHCPINFORM messages received so far (including ones dropped by a fault). */
  readonly informsReceived: number;
  setFault(fault: DhcpResponderFault): void;
  stop(): Promise<void>;
}

export async function startDhcpResponder(options: DhcpResponderOptions): Promise<DhcpResponder> {
  const address = options.address ?? '127.0.0.1';
  ipv4ToBytes(address);
  if (!address.startsWith('127.')) throw new UsageError('INVALID_OPTION', `the lab DHCP responder listens on loopback only, not ${address}`);
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('INVALID_OPTION', `bad port ${port}`);
  // Encode once up front so bad configuration fails at start, not per request.
  const opt120 = encodeOption120(options.sipServers, options.compress ?? true);
  const opt43 = options.msUcClient ? encodeOption43(options.msUcClient, { reverse: true, end: true }) : undefined;

  let fault: DhcpResponderFault = 'none';
  let informs = 0;
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, address, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.on('error', () => {
    /* a send failure to one client must not take the lab down */
  });
  const bound = sock.address();

  sock.on('message', (msg, rinfo) => {
    let req;
    try {
      req = decodeMessage(msg);
    } catch {
      return; // garbage is ignored, like a real server
    }
    if (req.op !== 1 || req.messageType !== DhcpMessageType.INFORM) return;
    informs++;
    if (fault === 'silent') return;
    const vendorClass = req.options.get(OPT.VENDOR_CLASS)?.toString('latin1');
    const opts: [number, Buffer][] = [[OPT.MESSAGE_TYPE, Buffer.from([fault === 'nak' ? DhcpMessageType.NAK : DhcpMessageType.ACK])]];
    opts.push([OPT.SERVER_ID, ipv4ToBytes(bound.address)]);
    if (fault === 'nak') {
      opts.push([OPT.MESSAGE, Buffer.from('lab: fault nak', 'latin1')]);
    } else {
      // RFC 2131 §4.3.5: no lease time, no yiaddr in the ACK to an INFORM.
      opts.push([OPT.SIP_SERVERS, fault === 'bad-option-120' ? Buffer.from([0, 3, 0x61, 0x62, 0x63, 0xc0, 0x00]) : opt120]);
      if (opt43 && vendorClass === MS_UC_CLIENT) opts.push([OPT.VENDOR_SPECIFIC, opt43]);
      if (vendorClass !== undefined) opts.push([OPT.VENDOR_CLASS, Buffer.from(vendorClass, 'latin1')]);
    }
    const reply = encodeMessage({
      op: 2,
      xid: fault === 'wrong-xid' ? (req.xid ^ 0x5a5a5a5a) >>> 0 : req.xid,
      flags: req.flags,
      ciaddr: req.ciaddr,
      siaddr: '0.0.0.0',
      chaddr: req.chaddr,
      options: opts,
    });
    sock.send(reply, rinfo.port, rinfo.address);
  });

  let stopped: Promise<void> | undefined;
  return {
    address: bound.address,
    port: bound.port,
    get informsReceived() {
      return informs;
    },
    setFault(f) {
      fault = f;
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => sock.close(() => resolve()));
      return stopped;
    },
  };
}
