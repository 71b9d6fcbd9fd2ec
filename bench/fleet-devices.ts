/**
 * The siplogon side of bench/fleet: N devices in ONE node process (run inside the bench namespace),
 * each a SignInSession with its own discovery (DNS SRV + A) and its own TCP connection, at most
 * `concurrency` sign-ins in flight. Prints one `FLEET_RESULT {json}` line when every device has
 * signed in (or failed), then stays registered until stdin closes or SIGTERM, so the bench can
 * count Kamailio's contacts while the devices are still up.
 *
 *   node --expose-gc fleet-devices.js N CONCURRENCY DOMAIN DNS_HOST:PORT DEVICE_BOUND_MS   (FLEET_PW in env)
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { writeHeapSnapshot } from 'node:v8';
import { DnsCache } from '../src/discovery/dns-cache.js';
import { SignInSession } from '../src/engine/session.js';
import { fleetUser, percentile } from './lib/fleet.js';

interface DeviceOutcome {
  ok: boolean;
  ms: number;
  code?: string;
}

function int(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

const gc = (globalThis as { gc?: () => void }).gc;
function settledMemory(): NodeJS.MemoryUsage {
  // Two passes: the first may only queue finalizers / weak callbacks the second reclaims.
  gc?.();
  gc?.();
  return process.memoryUsage();
}

/**
 * SLB_FLEET_ALLOC_PROFILE=FILE: V8's sampling heap profiler over the sign-in phase, counting
 * objects the GC already collected too (what the GC works on), written as a .heapprofile.
 */
async function startAllocationSampling(): Promise<{ stop: () => Promise<void> } | undefined> {
  const file = process.env.SLB_FLEET_ALLOC_PROFILE;
  if (!file) return undefined;
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return {
    stop: async () => {
      const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const [nArg, cArg, domain, dns, boundArg] = argv;
  const n = int('N', nArg);
  const concurrency = int('CONCURRENCY', cArg);
  const boundMs = int('DEVICE_BOUND_MS', boundArg);
  if (!domain || !dns) throw new Error('usage: fleet-devices.js N CONCURRENCY DOMAIN DNS_HOST:PORT DEVICE_BOUND_MS');
  const password = process.env.FLEET_PW;
  if (!password) throw new Error('FLEET_PW is not set');
  delete process.env.FLEET_PW;

  // SLB_FLEET_SHARED_DNS=1: the devices are the lines of one gateway and share its resolver cache.
  const dnsCache = process.env.SLB_FLEET_SHARED_DNS === '1' ? new DnsCache() : undefined;
  // SLB_FLEET_TARGET=FQDN=ADDR: no discovery, the registrar given as SIPp is given it (comparison only).
  const [targetFqdn, targetAddr] = (process.env.SLB_FLEET_TARGET ?? '').split('=');
  const direct = targetFqdn && targetAddr ? { targetFqdn, targetTransport: 'tcp' as const, targetPort: 5060, hosts: { [targetFqdn]: [targetAddr] } } : {};
  const before = settledMemory();
  const allocations = await startAllocationSampling();
  const sessions: SignInSession[] = [];
  const outcomes: DeviceOutcome[] = [];
  let next = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let lastOk = t0;

  const one = async (i: number): Promise<void> => {
    const start = performance.now();
    const s = new SignInSession({
      user: `sip:${fleetUser(i, n)}@${domain}`,
      password,
      dnsServers: [dns],
      // A fleet device: no cache file, no presence/provisioning traffic, no per-device pollers,
      // and its steps go to listeners (a gateway logs them) instead of a per-line history.
      // SLB_FLEET_STEP_HISTORY overrides, to measure what the default history of 500 costs.
      stepHistory: Number(process.env.SLB_FLEET_STEP_HISTORY ?? 0),
      ...(dnsCache ? { dnsCache } : {}),
      ...direct,
      cache: false,
      presence: false,
      provisioning: false,
      networkWatchIntervalMs: 0,
      keepAliveIntervalMs: 0,
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        s.ready(),
        new Promise((_r, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error(`not signed in within ${boundMs} ms`), { code: 'BENCH_DEVICE_BOUND' })), boundMs);
        }),
      ]);
      const end = performance.now();
      lastOk = Math.max(lastOk, end);
      outcomes.push({ ok: true, ms: end - start });
      sessions.push(s);
    } catch (err) {
      outcomes.push({ ok: false, ms: performance.now() - start, code: (err as { code?: string }).code ?? 'UNKNOWN' });
      await s.stop().catch(() => undefined);
    } finally {
      clearTimeout(timer);
    }
  };
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) await one(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));

  const cpu = process.cpuUsage(cpu0);
  await allocations?.stop();
  const after = settledMemory();
  // SLB_FLEET_HEAP_SNAPSHOT=FILE: what the signed-in devices hold, for digging (DevTools format).
  if (process.env.SLB_FLEET_HEAP_SNAPSHOT) writeHeapSnapshot(process.env.SLB_FLEET_HEAP_SNAPSHOT);
  const ok = outcomes.filter((o) => o.ok);
  const failedCodes: Record<string, number> = {};
  for (const o of outcomes) if (!o.ok) failedCodes[o.code ?? 'UNKNOWN'] = (failedCodes[o.code ?? 'UNKNOWN'] ?? 0) + 1;
  const lat = ok.map((o) => o.ms);
  const wallMs = lastOk - t0;
  process.stdout.write(
    `FLEET_RESULT ${JSON.stringify({
      n,
      concurrency,
      ok: ok.length,
      failed: outcomes.length - ok.length,
      failedCodes,
      wallMs,
      perSecond: wallMs > 0 ? (ok.length * 1000) / wallMs : 0,
      p50Ms: percentile(lat, 50),
      p99Ms: percentile(lat, 99),
      maxMs: lat.length ? Math.max(...lat) : undefined,
      gcForced: gc !== undefined,
      ...(dnsCache ? { dnsCache: dnsCache.stats() } : {}),
      // CPU of this process over the sign-in phase: near wallMs means the devices, not the servers, set the pace.
      cpuMs: (cpu.user + cpu.system) / 1000,
      cpuUserMs: cpu.user / 1000,
      before: { rss: before.rss, heapUsed: before.heapUsed, external: before.external, arrayBuffers: before.arrayBuffers },
      after: { rss: after.rss, heapUsed: after.heapUsed, external: after.external, arrayBuffers: after.arrayBuffers },
      heapPerDevice: ok.length ? (after.heapUsed - before.heapUsed) / ok.length : undefined,
      rssPerDevice: ok.length ? (after.rss - before.rss) / ok.length : undefined,
      externalPerDevice: ok.length ? (after.external - before.external) / ok.length : undefined,
    })}\n`,
  );

  // Stay registered until the bench has counted the contacts; then leave without un-REGISTERing
  // (N un-REGISTERs would only slow the teardown; Kamailio is discarded with the namespace).
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve).on('close', resolve).resume();
    process.once('SIGTERM', resolve);
  });
  process.exit(0);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`fleet-devices: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
