/**
 * Runs informDhcp once with the JSON options in argv[2] and prints the result as one JSON line.
 * Integration tests start it with `ip netns exec <client-ns>` so the broadcast stays in the namespace.
 * With argv[3] === 'raw' it instead sends one INFORM from ciaddr argv[2].ciaddr and prints the first
 * reply's bytes as hex, so tests can check what the server really put on the wire.
 */
import dgram from 'node:dgram';
import { informDhcp, type DhcpInformOptions } from '../../src/discovery/dhcp-client.js';
import { encodeInform } from '../../src/discovery/dhcp-codec.js';
import { SiplogonError } from '../../src/errors.js';

async function raw(opts: { ciaddr: string; vendorClass?: string }): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((ok) => s.bind(68, '0.0.0.0', ok));
  s.setBroadcast(true);
  const t = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ thrown: { message: 'no reply within 3000 ms' } })}\n`);
    s.close();
  }, 3000);
  s.on('message', (m, r) => {
    clearTimeout(t);
    process.stdout.write(`${JSON.stringify({ replyHex: m.toString('hex'), from: `${r.address}:${r.port}` })}\n`);
    s.close();
  });
  const pkt = encodeInform({ xid: 0x5eed5eed, ciaddr: opts.ciaddr, chaddr: Buffer.from('020000000050', 'hex'), ...(opts.vendorClass ? { vendorClass: opts.vendorClass } : {}) });
  s.send(pkt, 67, '255.255.255.255');
}

try {
  const opts = JSON.parse(process.argv[2] ?? '{}') as DhcpInformOptions & { ciaddr: string };
  if (process.argv[3] === 'raw') {
    await raw(opts);
  } else {
    const result = await informDhcp(opts);
    process.stdout.write(`${JSON.stringify({ result })}\n`);
  }
} catch (e) {
  const thrown = SiplogonError.is(e) ? e.toJSON() : { name: 'Error', message: e instanceof Error ? e.message : String(e) };
  process.stdout.write(`${JSON.stringify({ thrown })}\n`);
  process.exitCode = 1;
}
