import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, summarize, formatSummary, formatRatio, formatTable, formatSeconds, type Outcome } from '../../bench/lib/stats.js';
import { SCENARIOS, parseScenarioList, zoneFor, HOSTS, DEAD, REG_A, REG_B } from '../../bench/lib/scenarios.js';
import { dnsmasqArgs } from '../../bench/lib/dnsmasq.js';
import { kamailioConfig, dumpHoldsContact } from '../../bench/lib/kamailio.js';
import { baresipFiles, linphoneConfig, parseClientList } from '../../bench/lib/clients.js';

// Shape of `kamcmd ul.dump` from Kamailio 5.6.3 (captured from a bench run, contact shortened).
const DUMP_HELD = `{
	Domains: {
		Domain: {
			Domain: location
			Size: 1024
			AoRs: {
				Info: {
					AoR: alice
					HashID: 1234
					Contacts: {
						Contact: {
							Address: sip:alice@127.0.0.1:5062;transport=tcp
							Expires: 59
							Q: -1
						}
					}
				}
			}
			Stats: {
				Records: 1
				Max-Slots: 1
			}
		}
	}
}`;
const DUMP_EMPTY = `{
	Domains: {
		Domain: {
			Domain: location
			Size: 1024
			AoRs: {
			}
			Stats: {
				Records: 0
				Max-Slots: 0
			}
		}
	}
}`;

test('median: odd, even, empty, and timed-out runs as +Infinity', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([]), undefined);
  assert.equal(median([1, Infinity, Infinity]), Infinity);
  assert.equal(median([Infinity, Infinity]), Infinity); // not NaN
  assert.equal(median([5, 1, Infinity]), 5);
});

test('summarize: timeouts count as slower than any run, errors are left out and counted', () => {
  const o: Outcome[] = [
    { kind: 'ok', ms: 100, registrar: REG_A },
    { kind: 'timeout', boundMs: 150_000 },
    { kind: 'error', message: 'x' },
  ];
  const s = summarize(o);
  assert.equal(s.runs, 3);
  assert.equal(s.errors, 1);
  assert.equal(s.medianMs, Infinity); // median of [100, ∞]
  assert.equal(s.boundMs, 150_000);
  assert.equal(formatSummary(s), '> 150 s (1 err)');
  assert.equal(formatSummary(summarize([{ kind: 'error', message: 'x' }])), 'error (1/1)');
  assert.equal(formatSummary(undefined), '—');
});

test('formatSeconds and ratios, including a peer that hit its bound', () => {
  assert.equal(formatSeconds(83), '0.08 s');
  assert.equal(formatSeconds(64_230), '64.2 s');
  const base = summarize([{ kind: 'ok', ms: 200, registrar: REG_A }]);
  const peer = summarize([{ kind: 'ok', ms: 64_000, registrar: REG_A }]);
  const slowPeer = summarize([{ kind: 'timeout', boundMs: 150_000 }]);
  assert.equal(formatRatio(peer, base), '320×');
  assert.equal(formatRatio(summarize([{ kind: 'ok', ms: 300, registrar: REG_A }]), base), '1.5×');
  assert.equal(formatRatio(slowPeer, base), '> 750×');
  assert.equal(formatRatio(peer, undefined), '—');
  assert.equal(formatRatio(peer, slowPeer), '—');
});

test('formatTable: header, one row per scenario, the cost of the fault judged against the target', () => {
  const t = formatTable([
    {
      title: 'no dead target',
      targetMs: undefined,
      phase: 'start',
      baseline: true,
      byClient: { siplogon: summarize([{ kind: 'ok', ms: 150, registrar: REG_A }]), baresip: summarize([{ kind: 'ok', ms: 20, registrar: REG_A }]) },
    },
    {
      title: '1 dead leading SRV target',
      targetMs: 250,
      phase: 'start',
      byClient: {
        siplogon: summarize([{ kind: 'ok', ms: 400, registrar: REG_A }]),
        baresip: summarize([{ kind: 'ok', ms: 64_200, registrar: REG_A }]),
      },
    },
    {
      title: '2 dead leading SRV targets',
      targetMs: 500,
      phase: 'start',
      byClient: { siplogon: summarize([{ kind: 'ok', ms: 700, registrar: REG_A }]) },
    },
    {
      title: 'registrar killed while registered (backup in SRV)',
      targetMs: 500,
      phase: 'registered',
      byClient: { siplogon: summarize([{ kind: 'timeout', boundMs: 150_000 }]) },
    },
  ]);
  const lines = t.split('\n');
  assert.equal(lines.length, 6);
  assert.match(lines[0]!, /^\| scenario \| siplogon \| siplogon: cost of the fault \| baresip \| linphone \| ratio baresip\/siplogon \| ratio linphone\/siplogon \| target \(cost\) \|$/);
  assert.equal(lines[2], '| no dead target | 0.15 s | — | 0.02 s | — | 0.1× | — | — |');
  // From process start: the healthy run's 0.15 s is taken off before judging.
  assert.equal(lines[3], '| 1 dead leading SRV target | 0.40 s | 0.25 s | 64.2 s | — | 161× | — | ≤ 0.25 s ✓ |');
  assert.equal(lines[4], '| 2 dead leading SRV targets | 0.70 s | 0.55 s | — | — | — | — | ≤ 0.5 s ✗ |');
  assert.equal(lines[5], '| registrar killed while registered (backup in SRV) | > 150 s | over the bound | — | — | — | — | ≤ 0.5 s ✗ |');
});

test('scenarios: the six of issue 7 with their siplogon targets; list parsing', () => {
  assert.deepEqual(
    SCENARIOS.map((s) => [s.id, s.targetMs]),
    [
      ['none', undefined],
      ['dead1', 250],
      ['dead2', 500],
      ['killed', 500],
      ['blackholed', 10_000],
      ['comeback', 5_000],
    ],
  );
  for (const s of SCENARIOS) {
    // every black-holed address at start leads the SRV list, and every SRV host resolves
    const addrs = s.srv.map((t) => HOSTS[t.host]);
    assert.ok(addrs.every((a) => a !== undefined), s.id);
    assert.deepEqual(addrs.slice(0, s.deadAtStart.length), s.deadAtStart, s.id);
    const prios = s.srv.map((t) => t.priority);
    assert.deepEqual(prios, [...prios].sort((a, b) => a - b), s.id);
  }
  assert.deepEqual(parseScenarioList('killed,dead1,killed').map((s) => s.id), ['killed', 'dead1']);
  assert.equal(parseScenarioList(undefined).length, 6);
  assert.throws(() => parseScenarioList('dead1,nope'), /unknown scenario "nope".*valid: none, dead1/);
  assert.deepEqual(parseClientList('siplogon,linphonec'), ['siplogon', 'linphone']);
  assert.throws(() => parseClientList('pjsua'), /unknown client "pjsua"/);
});

test('zone and dnsmasq arguments: same SRV list under _sip._tcp and _sipinternal._tcp, A records for all hosts', () => {
  const dead2 = SCENARIOS.find((s) => s.id === 'dead2')!;
  const args = dnsmasqArgs('127.0.0.72', 53, zoneFor(dead2));
  assert.ok(args.includes('--local=/acme.test/'));
  assert.ok(args.includes('--listen-address=127.0.0.72'));
  for (const owner of ['_sip._tcp.acme.test', '_sipinternal._tcp.acme.test']) {
    assert.deepEqual(
      args.filter((a) => a.startsWith(`--srv-host=${owner},`)),
      [`--srv-host=${owner},dead1.acme.test,5060,10,0`, `--srv-host=${owner},dead2.acme.test,5060,20,0`, `--srv-host=${owner},sip1.acme.test,5060,30,0`],
    );
  }
  assert.ok(args.includes(`--host-record=dead1.acme.test,${DEAD[0]}`));
  assert.ok(args.includes(`--host-record=sip2.acme.test,${REG_B}`));
});

test('kamailio config: TCP listener, digest with qop, ctl socket; quotes cannot break out of the script', () => {
  const cfg = kamailioConfig({
    addr: REG_A,
    domain: 'acme.test',
    users: { alice: 'pw"; exit; $x' },
    dir: '/tmp/x',
    ctlSocket: '/tmp/x/ctl',
    modulePath: '/m/',
  });
  assert.match(cfg, /^listen=tcp:127\.0\.0\.71:5060$/m);
  assert.match(cfg, /www_challenge\("\$td", "1"\)/);
  assert.match(cfg, /modparam\("ctl", "binrpc", "unix:\/tmp\/x\/ctl"\)/);
  assert.match(cfg, /\$var\(pw\) = "pw; exit; x";/);
});

test('ul.dump parser: held only when the AoR has a contact address', () => {
  assert.equal(dumpHoldsContact(DUMP_HELD, 'alice'), true);
  assert.equal(dumpHoldsContact(DUMP_HELD.replace('AoR: alice', 'AoR: alice@acme.test'), 'alice'), true);
  assert.equal(dumpHoldsContact(DUMP_HELD, 'bob'), false);
  assert.equal(dumpHoldsContact(DUMP_HELD, 'ali'), false);
  assert.equal(dumpHoldsContact(DUMP_EMPTY, 'alice'), false);
  assert.equal(dumpHoldsContact('', 'alice'), false);
});

test('peer configs: baresip binds an address (not lo) over TCP; linphonec registers over TCP', () => {
  const ctx = { user: 'alice', domain: 'acme.test', password: 'pw', dnsAddr: '127.0.0.72', dnsPort: 53, peerExpires: 60 };
  const b = baresipFiles(ctx);
  assert.match(b.config, /^net_interface\s+127\.0\.0\.1$/m);
  assert.match(b.config, /^dns_server\s+127\.0\.0\.72:53$/m);
  assert.equal(b.accounts, '<sip:alice@acme.test;transport=tcp>;auth_pass=pw;regint=60\n');
  const l = linphoneConfig(ctx);
  assert.match(l, /^reg_proxy=<sip:acme\.test;transport=tcp>$/m);
  assert.match(l, /^reg_expires=60$/m);
  assert.doesNotMatch(l, /auto_net_state_mon=0/);
});

test('cold: round trips over the RTT-0 baseline, and its table', async () => {
  const { roundTrips, formatColdTable } = await import('../../bench/lib/stats.js');
  const ok = (ms: number) => summarize([{ kind: 'ok', ms, registrar: REG_A }]);
  assert.equal(roundTrips(ok(600), ok(100), 100), 5);
  assert.equal(roundTrips(ok(600), undefined, 100), undefined);
  assert.equal(roundTrips(summarize([{ kind: 'timeout', boundMs: 1000 }]), ok(100), 100), undefined);
  const t = formatColdTable([0, 20, 100], [{ client: 'baresip', byRtt: { 0: ok(20), 20: ok(120), 100: ok(520) } }], 4).split('\n');
  assert.equal(t[0], '| client | RTT 0 ms | RTT 20 ms | RTT 100 ms | round trips @20 ms | round trips @100 ms | target |');
  assert.equal(t[1], '|---|---|---|---|---|---|---|');
  assert.equal(t[2], '| baresip | 0.02 s | 0.12 s | 0.52 s | 5.0 | 5.0 | ≤ 5 (4 + 1) |');
});

test('relay spec parsing rejects malformed specs with a clear message', async () => {
  const { parseRelaySpec } = await import('../../bench/lib/relay.js');
  assert.deepEqual(parseRelaySpec('udp:127.0.0.62:53=127.0.0.72:53'), {
    proto: 'udp',
    listen: { host: '127.0.0.62', port: 53 },
    target: { host: '127.0.0.72', port: 53 },
  });
  assert.throws(() => parseRelaySpec('sctp:1.2.3.4:5=1.2.3.4:6'), /bad relay spec/);
  assert.throws(() => parseRelaySpec('tcp:127.0.0.1:0=127.0.0.1:5060'), /bad port 0/);
});

test('relay holds each direction for RTT/2 and keeps byte order (real loopback sockets)', { timeout: 5_000 }, async () => {
  const { startRelay } = await import('../../bench/lib/relay.js');
  const net = await import('node:net');
  const dgram = await import('node:dgram');
  const oneWay = 40;
  // TCP: an echo server behind the relay; a round trip must take at least 2 × oneWay.
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const echoPort = (echo.address() as { port: number }).port;
  const tcp = await startRelay({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: echoPort } }, oneWay);
  const udpEcho = dgram.createSocket('udp4');
  udpEcho.on('message', (m, from) => udpEcho.send(m, from.port, from.address));
  await new Promise<void>((r) => udpEcho.bind(0, '127.0.0.1', () => r()));
  const udp = await startRelay(
    { proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: udpEcho.address().port } },
    oneWay,
  );
  const client = dgram.createSocket('udp4');
  try {
    const sock = net.connect({ host: '127.0.0.1', port: tcp.port });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const t0 = performance.now();
    let got = '';
    const done = new Promise<void>((r) =>
      sock.on('data', (d) => {
        got += d.toString();
        if (got.length >= 6) r();
      }),
    );
    sock.write('abc');
    sock.write('def');
    await done;
    assert.equal(got, 'abcdef');
    assert.ok(performance.now() - t0 >= 2 * oneWay - 2, 'TCP round trip was not delayed');
    sock.destroy();

    const t1 = performance.now();
    const reply = new Promise<string>((r) => client.once('message', (m) => r(m.toString())));
    client.send('ping', udp.port, '127.0.0.1');
    assert.equal(await reply, 'ping');
    assert.ok(performance.now() - t1 >= 2 * oneWay - 2, 'UDP round trip was not delayed');
  } finally {
    client.close();
    tcp.close();
    udp.close();
    udpEcho.close();
    echo.close();
  }
});

test('stale namespace sweep only matches our own names with a dead owner', async () => {
  const { staleOwner } = await import('../../bench/lib/netns.js');
  const alive = (pid: number) => pid === 42;
  assert.equal(staleOwner('slb-41-a1b2c3', alive), true);
  assert.equal(staleOwner('slb-42-a1b2c3', alive), false);
  assert.equal(staleOwner('sl-srv', alive), false);
  assert.equal(staleOwner('slb-41-a1b2c3-x', alive), false);
  assert.equal(staleOwner('other-41-a1b2c3', alive), false);
});
