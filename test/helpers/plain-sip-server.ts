/**
 * A bare SIP-over-TCP server for engine tests that need a registrar to misbehave in one precise
 * way (redirect a refresh, drop the connection at a SUBSCRIBE): no authentication, each request
 * handed to the test with a `reply` that echoes the transaction headers (RFC 3261 §8.2.6).
 */
import net from 'node:net';
import { SipStreamFramer } from '../../src/sip/framing.js';
import { getHeader, getHeaderLines, serializeMessage, type SipHeader, type SipRequest } from '../../src/sip/message.js';

export type Reply = (status: number, reason: string, extra?: SipHeader[]) => void;

export interface PlainSipServer {
  close(): Promise<void>;
}

export async function startPlainSipServer(address: string, port: number, onRequest: (req: SipRequest, reply: Reply, sock: net.Socket) => void): Promise<PlainSipServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    const framer = new SipStreamFramer();
    sock.on('data', (chunk) => {
      for (const f of framer.push(chunk)) {
        if (f.type !== 'message' || f.message.kind !== 'request') continue;
        const req = f.message as SipRequest;
        const reply: Reply = (status, reason, extra = []) => {
          const headers: SipHeader[] = [
            ...getHeaderLines(req, 'Via').map((value) => ({ name: 'Via', value })),
            { name: 'From', value: getHeader(req, 'From') ?? '' },
            { name: 'To', value: `${getHeader(req, 'To') ?? ''};tag=srv` },
            { name: 'Call-ID', value: getHeader(req, 'Call-ID') ?? '' },
            { name: 'CSeq', value: getHeader(req, 'CSeq') ?? '' },
            ...extra,
          ];
          if (!sock.destroyed) sock.write(serializeMessage({ kind: 'response', status, reason, headers, body: Buffer.alloc(0) }));
        };
        onRequest(req, reply, sock);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, resolve);
  });
  return {
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
