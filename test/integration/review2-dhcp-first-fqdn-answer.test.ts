// Review 2: on a segment with an ordinary DHCP server and a Registrar's DHCP responder, both ACK
// the INFORM. Lync phones use "the first DHCP response with an FQDN … other responses are ignored,
// unless there are no DHCP responses with FQDNs" (Lync Phone Edition DHCP troubleshooting). The
// client took whichever ACK came first, so a quicker plain server hid option 120.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { informDhcp } from '../../src/discovery/dhcp-client.js';
import { decodeMessage, DhcpMessageType, encodeMessage, encodeOption120, OPT } from '../../src/discovery/dhcp-codec.js';

const sockets: dgram.Socket[] = [];
after(() => {
  for (const s of sockets) s.close();
});

function bind(address: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    s.once('error', reject);
    s.bind(0, address, () => resolve(s));
  });
}

/** A send that may come after the test closed its sockets (the client no longer listens). */
function send(s: dgram.Socket, b: Buffer, port: number, address: string): void {
  try {
    s.send(b, port, address, () => undefined);
  } catch {
    /* closed */
  }
}

function ack(inform: Buffer, options: [number, Buffer][]): Buffer {
  const m = decodeMessage(inform);
  return encodeMessage({ op: 2, xid: m.xid, ciaddr: m.ciaddr, chaddr: m.chaddr, options: [[OPT.MESSAGE_TYPE, Buffer.from([DhcpMessageType.ACK])], [OPT.SERVER_ID, Buffer.from([127, 33, 43, 67])], ...options] });
}

test('a plain ACK (no option 120) that arrives first does not hide the Registrar responder\'s ACK with option 120', async () => {
  const plain = await bind('127.33.43.67');
  const lync = await bind('127.33.43.68');
  // The INFORM reaches the plain server; both "servers" answer it (a broadcast reaches both).
  plain.on('message', (msg, rinfo) => {
    send(plain, ack(msg, [[OPT.DNS_SERVERS, Buffer.from([127, 33, 43, 53])]]), rinfo.port, rinfo.address);
    setTimeout(() => send(lync, ack(msg, [[OPT.SIP_SERVERS, encodeOption120({ encoding: 'fqdn', names: ['pool1.acme.test'] })]]), rinfo.port, rinfo.address), 40);
  });
  const res = await informDhcp({ server: '127.33.43.67', serverPort: plain.address().port, clientPort: 0, initialIntervalMs: 500, timeoutMs: 3000 });
  assert.equal(res.outcome, 'answer', res.detail);
  assert.deepEqual(res.sipServers, { encoding: 'fqdn', names: ['pool1.acme.test'] }, `took the first ACK from ${res.server}: ${res.detail}`);
  assert.equal(res.server, `127.33.43.68:${lync.address().port}`);
});

test('only plain ACKs: the answer without option 120 still comes back, well before the overall timeout', async () => {
  const plain = await bind('127.33.43.69');
  plain.on('message', (msg, rinfo) => send(plain, ack(msg, [[OPT.DNS_SERVERS, Buffer.from([127, 33, 43, 53])]]), rinfo.port, rinfo.address));
  const res = await informDhcp({ server: '127.33.43.69', serverPort: plain.address().port, clientPort: 0, initialIntervalMs: 300, timeoutMs: 20_000 });
  assert.equal(res.outcome, 'answer', res.detail);
  assert.equal(res.sipServers, undefined);
  assert.match(res.detail ?? '', /no option 120/);
  assert.ok(res.latencyMs < 10_000, `a plain answer waited ${res.latencyMs} ms (the whole timeout) for a better one`);
});
