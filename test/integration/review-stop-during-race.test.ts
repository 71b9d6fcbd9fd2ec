// Review finding: session.stop() while the connection race is in progress must end the session.
// A registrar that accepts TCP and never speaks TLS keeps the only race attempt in its handshake
// (bound 60 s); stop() aborts it. The race driver ignored aborted attempts, so its promise never
// settled and stop() never resolved.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SignInSession } from '../../src/engine/session.js';

const sockets = new Set<net.Socket>();
const silent = net.createServer((s) => {
  sockets.add(s);
  s.on('error', () => undefined);
  s.on('close', () => sockets.delete(s));
});
after(
  () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      silent.close(() => r());
    }),
);

test('stop() during the TLS handshake of the race resolves, ready() rejects ABORTED, state ends stopped', async () => {
  await new Promise<void>((r) => silent.listen(0, '127.0.31.10', () => r()));
  const port = (silent.address() as net.AddressInfo).port;
  const s = new SignInSession({
    user: 'sip:alice@review.test',
    password: 'pw',
    targetFqdn: 'reg.review.test',
    targetPort: port,
    targetTransport: 'tls',
    hosts: { 'reg.review.test': ['127.0.31.10'] },
    tlsHandshakeTimeoutMs: 60_000,
    connectTimeoutMs: 60_000,
    cache: false,
    presence: false,
    provisioning: false,
    networkWatchIntervalMs: 0,
    keepAliveIntervalMs: 0,
  });
  const ready = s.ready().then(
    () => 'registered',
    (e: { code?: string }) => e.code,
  );
  // Wait until the handshake is under way.
  await new Promise<void>((resolve) => {
    const onStep = (st: { kind: string }, phase: string): void => {
      if (st.kind === 'tls-handshake' && phase === 'start') {
        s.off('step', onStep);
        resolve();
      }
    };
    s.on('step', onStep);
  });
  const stopped = s.stop().then(() => 'stopped');
  // Loose bound: the handshake bound is 60 s; stopping must not wait for it.
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<string>((r) => {
    timer = setTimeout(() => r('hung'), 5_000);
  });
  const outcome = await Promise.race([stopped, hung]);
  clearTimeout(timer);
  assert.equal(outcome, 'stopped', 'stop() did not resolve while the race was in progress');
  assert.equal(s.state, 'stopped');
  assert.equal(await ready, 'ABORTED');
});
