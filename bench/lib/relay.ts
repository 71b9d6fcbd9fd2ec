/**
 * Delay relay for bench/cold: tc netem is not available here, so the bench puts its own relay in
 * front of the DNS server (UDP) and the registrar (TCP), holding every datagram / byte chunk for
 * RTT/2 in each direction. Order is kept (equal-delay timers fire in order). Limitation: the TCP
 * handshake with the relay is done by the kernel and is not delayed, so a path through the relay
 * costs one RTT less per new connection than a real one.
 *
 * Run inside the namespace: node dist/bench/lib/relay.js DELAY_MS udp:LADDR:LPORT=TADDR:TPORT tcp:...
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, connect, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface RelaySpec {
  proto: 'udp' | 'tcp';
  listen: { host: string; port: number };
  target: { host: string; port: number };
}

export function parseRelaySpec(s: string): RelaySpec {
  const m = /^(udp|tcp):([\d.]+):(\d+)=([\d.]+):(\d+)$/.exec(s);
  if (!m) throw new Error(`bad relay spec "${s}" (want udp|tcp:LADDR:LPORT=TADDR:TPORT)`);
  const port = (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`bad port ${v} in "${s}"`);
    return n;
  };
  return { proto: m[1] as 'udp' | 'tcp', listen: { host: m[2]!, port: port(m[3]!) }, target: { host: m[4]!, port: port(m[5]!) } };
}

export interface Relay {
  /** Bound port (useful when listening on port 0). */
  port: number;
  close(): void;
}

export async function startRelay(spec: RelaySpec, oneWayMs: number): Promise<Relay> {
  const later = (fn: () => void): void => {
    if (oneWayMs <= 0) fn();
    else setTimeout(fn, oneWayMs);
  };
  if (spec.proto === 'udp') {
    const front = createSocket('udp4');
    const upstream = new Map<string, UdpSocket>();
    front.on('message', (msg, from) => {
      const key = `${from.address}:${from.port}`;
      let up = upstream.get(key);
      if (!up) {
        const s = createSocket('udp4');
        s.on('message', (reply) => later(() => front.send(reply, from.port, from.address)));
        s.on('error', () => undefined);
        upstream.set(key, s);
        up = s;
      }
      const u = up;
      later(() => u.send(msg, spec.target.port, spec.target.host));
    });
    await new Promise<void>((res, rej) => {
      front.once('error', rej);
      front.bind(spec.listen.port, spec.listen.host, () => res());
    });
    return {
      port: front.address().port,
      close() {
        front.close();
        for (const s of upstream.values()) s.close();
      },
    };
  }
  const server: Server = createServer({ noDelay: true }, (client) => {
    const up = connect({ host: spec.target.host, port: spec.target.port, noDelay: true });
    client.on('data', (d) => later(() => up.write(d)));
    up.on('data', (d) => later(() => client.write(d)));
    client.on('end', () => later(() => up.end()));
    up.on('end', () => later(() => client.end()));
    const kill = (): void => later(() => {
      client.destroy();
      up.destroy();
    });
    client.on('error', kill);
    up.on('error', kill);
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(spec.listen.port, spec.listen.host, () => res());
  });
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : spec.listen.port, close: () => server.close() };
}

async function main(argv: string[]): Promise<void> {
  const [delay, ...specs] = argv;
  const rtt = Number(delay);
  if (!Number.isFinite(rtt) || rtt < 0 || specs.length === 0) throw new Error('usage: relay.js RTT_MS SPEC...');
  for (const s of specs) await startRelay(parseRelaySpec(s), rtt / 2);
  process.stdout.write('relay ready\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`relay: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
