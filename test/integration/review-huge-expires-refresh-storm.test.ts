// Review finding: a registrar that grants a long registration (Expires ≥ 2 147 494 s, ~25 days;
// RFC 3261 §20.19 allows up to 2^32-1) made the refresh timer exceed Node's 2^31-1 ms limit,
// which Node turns into 1 ms: the client re-REGISTERed in a tight loop (a REGISTER storm).
// A minimal registrar on 127.0.31.50 answers every REGISTER 200 with Expires 4294967295.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SipStreamFramer } from '../../src/sip/framing.js';
import { getHeaderLines, serializeMessage, type SipResponse } from '../../src/sip/message.js';
import { connectSip } from '../../src/sip/connection.js';
import { SipClient } from '../../src/sip/transaction.js';
import { Registration } from '../../src/sip/register.js';

let registers = 0;
const sockets = new Set<net.Socket>();
const server = net.createServer((s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
  s.on('error', () => undefined);
  const framer = new SipStreamFramer();
  s.on('data', (chunk: Buffer) => {
    for (const f of framer.push(chunk)) {
      if (f.type !== 'message' || f.message.kind !== 'request') continue;
      const req = f.message;
      if (req.method === 'REGISTER') registers++;
      const copy = (n: string) => getHeaderLines(req, n).map((value) => ({ name: n, value }));
      const res: SipResponse = {
        kind: 'response',
        status: 200,
        reason: 'OK',
        headers: [...copy('Via'), ...copy('From'), ...copy('To').map((h) => ({ ...h, value: `${h.value};tag=r1` })), ...copy('Call-ID'), ...copy('CSeq'), { name: 'Expires', value: '4294967295' }],
        body: Buffer.alloc(0),
      };
      s.write(serializeMessage(res));
    }
  });
});
after(
  () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
);

test('a granted Expires of 2^32-1 s schedules one refresh far ahead, not a REGISTER storm', async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.31.50', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const conn = await connectSip({ address: '127.0.31.50', port, transport: 'tcp' });
  const reg = new Registration(new SipClient(conn, { timerFMs: 2000 }), { aor: 'sip:alice@review.test', password: () => 'pw' });
  const storms: string[] = [];
  const onWarning = (w: Error): void => void storms.push(w.name);
  process.on('warning', onWarning);
  try {
    const out = await reg.register();
    assert.equal(out.kind, 'registered');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(registers, 1, `${registers} REGISTERs within 500 ms of a registration granted for 2^32-1 s`);
  } finally {
    process.off('warning', onWarning);
    reg.close();
    conn.close();
  }
  assert.ok(!storms.includes('TimeoutOverflowWarning'), 'a timer overflowed Node’s 2^31-1 ms limit');
});
