import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  percentile,
  fleetUser,
  parseFleetSizes,
  sippCsv,
  sippRegisterScenario,
  countHeldAors,
  parseUsrlocStats,
  formatFleetTable,
  FLEET_USER_REGEX,
  type FleetResult,
} from '../../bench/lib/fleet.js';
import { parseSippStat, fleetKamailioTuning, fleetZone } from '../../bench/fleet.js';
import { kamailioConfig } from '../../bench/lib/kamailio.js';
import { dnsmasqArgs } from '../../bench/lib/dnsmasq.js';

test('percentile: nearest rank, an observed sample, order-independent', () => {
  const v = Array.from({ length: 1000 }, (_, i) => 1000 - i); // 1000..1
  assert.equal(percentile(v, 50), 500);
  assert.equal(percentile(v, 99), 990);
  assert.equal(percentile(v, 100), 1000);
  assert.equal(percentile([7], 50), 7);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([1, 2], 50), 1);
  assert.equal(percentile([], 50), undefined);
  assert.throws(() => percentile([1], 0), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);
  assert.throws(() => percentile([1], Number.NaN), RangeError);
});

test('percentile (property): a sample, with at least p % of values at or below it', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 100 }), (xs, p) => {
      const r = percentile(xs, p);
      assert.ok(r !== undefined && xs.includes(r));
      assert.ok(xs.filter((x) => x <= r).length >= (p / 100) * xs.length);
      // and it is the smallest such sample
      assert.ok(xs.filter((x) => x < r).length < (p / 100) * xs.length);
    }),
  );
});

test('fleet user names: fixed width, match the Kamailio pattern, bounds checked', () => {
  assert.equal(fleetUser(0, 50), 'fleet00000');
  assert.equal(fleetUser(9999, 10000), 'fleet09999');
  assert.equal(fleetUser(123456, 200000), 'fleet123456');
  assert.match(fleetUser(42, 1000), new RegExp(FLEET_USER_REGEX));
  assert.throws(() => fleetUser(50, 50), RangeError);
  assert.throws(() => fleetUser(-1, 50), RangeError);
  assert.throws(() => fleetUser(1.5, 50), RangeError);
});

test('--fleet-n parsing', () => {
  assert.deepEqual(parseFleetSizes(undefined, [1000, 10000]), [1000, 10000]);
  assert.deepEqual(parseFleetSizes('1000, 10000,1000', []), [1000, 10000]);
  for (const bad of ['0', '-5', '1.5', 'x', '', '1000,', '200000']) assert.throws(() => parseFleetSizes(bad, []), /--fleet-n/);
});

test('SIPp CSV: SEQUENTIAL, one line per user, whole [authentication] keyword in field 2', () => {
  const csv = sippCsv(3, 'acme.test', 'pw-1');
  const lines = csv.trimEnd().split('\n');
  assert.equal(lines[0], 'SEQUENTIAL');
  assert.equal(lines.length, 4);
  assert.equal(lines[1], 'fleet00000;acme.test;[authentication username=fleet00000 password=pw-1];');
  assert.equal(lines[3], 'fleet00002;acme.test;[authentication username=fleet00002 password=pw-1];');
  assert.equal(new Set(lines.slice(1).map((l) => l.split(';')[0])).size, 3);
  // Anything that could split a field, end the keyword or change the XML/SIP is refused.
  for (const bad of ['a;b', 'a]b', 'a b', 'a\nb', '']) assert.throws(() => sippCsv(1, 'acme.test', bad), /password/);
  assert.throws(() => sippCsv(1, 'acme.test]', 'pw'), /domain/);
});

test('SIPp scenario: REGISTER, 401 with auth, REGISTER with [field2] and CSeq 2, 200', () => {
  const xml = sippRegisterScenario({ expires: 600 });
  assert.match(xml, /^<\?xml version="1.0"/);
  const order = ['<send', '<recv response="401" auth="true"/>', '<send', '<recv response="200"'];
  let at = 0;
  for (const tag of order) {
    const i = xml.indexOf(tag, at);
    assert.ok(i >= at, `${tag} in order`);
    at = i + tag.length;
  }
  const sends = xml.split('<send').slice(1);
  assert.equal(sends.length, 2);
  assert.match(sends[0]!, /CSeq: 1 REGISTER/);
  assert.doesNotMatch(sends[0]!, /\[field2\]/);
  assert.match(sends[1]!, /CSeq: 2 REGISTER/);
  assert.match(sends[1]!, /^\s+\[field2\]$/m);
  for (const s of sends) {
    assert.match(s, /REGISTER sip:\[field1\] SIP\/2\.0/);
    assert.match(s, /To: <sip:\[field0\]@\[field1\]>/);
    assert.match(s, /Call-ID: \[call_id\]/);
    assert.match(s, /Expires: 600/);
    assert.match(s, /Content-Length: 0/);
  }
  // The password never appears in the scenario, only in the 0600 CSV.
  assert.doesNotMatch(xml, /password/);
  // Well-formed enough: every CDATA closed, scenario closed.
  assert.equal(xml.split('<![CDATA[').length, xml.split(']]>').length);
  assert.match(xml.trimEnd(), /<\/scenario>$/);
  assert.throws(() => sippRegisterScenario({ expires: 0 }));
});

test('usrloc stats and ul.dump counting', () => {
  const st = 'usrloc:location_contacts = 1000\nusrloc:location_expires = 0\nusrloc:location_users = 999\nusrloc:registered_users = 1000\n';
  assert.deepEqual(parseUsrlocStats(st), { contacts: 1000, users: 999 });
  assert.equal(parseUsrlocStats('usrloc:registered_users = 3'), undefined);
  assert.equal(parseUsrlocStats(''), undefined);
  const dump = '{ AoRs: { AoR: fleet00000\n Contacts: { Contact: { Address: sip:a@1.2.3.4 } } AoR: fleet00001\n Contacts: { } AoR: fleet00002\n Contacts: { Contact: { Address: sip:b@1.2.3.4 } } } }';
  assert.equal(countHeldAors(dump), 2);
  assert.equal(countHeldAors('{ AoRs: { } }'), 0);
});

test('SIPp -trace_stat: counts and StartTime→CurrentTime with micro-seconds', () => {
  const head = 'StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);SuccessfulCall(C);FailedCall(C);';
  const row = (cur: string, ok: number, f: number) =>
    `2026-11-25\t10:59:50.669925\t1795604390.669925;x;2026-11-25\t${cur};00:00:00;00:00:00;${ok};${f};`;
  const csv = [head, row('10:59:50.670260\t1795604390.670260', 0, 0), row('10:59:51.687157\t1795604391.687157', 998, 2)].join('\n');
  const s = parseSippStat(csv);
  assert.ok(s);
  assert.equal(s.ok, 998);
  assert.equal(s.failed, 2);
  assert.ok(Math.abs(s.elapsedMs - 1017.232) < 0.01, String(s.elapsedMs));
  assert.equal(parseSippStat(head), undefined);
  assert.equal(parseSippStat(''), undefined);
  assert.equal(parseSippStat(`${head}\nfoo;bar`), undefined);
});

test('fleet Kamailio: pattern user, raised tcp_max_connections/open files, hash size; bad regex refused', () => {
  const t = fleetKamailioTuning(10_000);
  assert.ok((t.tcpMaxConnections ?? 0) > 10_000);
  assert.ok((t.openFilesLimit ?? 0) > 10_000);
  const cfg = kamailioConfig({
    addr: '127.0.0.71',
    domain: 'acme.test',
    users: {},
    userPattern: { userRegex: FLEET_USER_REGEX, password: 'p"w$' },
    tuning: t,
    dir: '/tmp/x',
    ctlSocket: '/tmp/x/ctl',
    modulePath: '/m/',
  });
  assert.match(cfg, /^ {2}if \(\$tU =~ "\^fleet\[0-9\]\+\$"\) \{ \$var\(pw\) = "pw"; \}$/m);
  assert.match(cfg, /^ {2}else \{ sl_send_reply\("403", "Forbidden"\); exit; \}$/m);
  assert.match(cfg, new RegExp(`^tcp_max_connections=${t.tcpMaxConnections}$`, 'm'));
  assert.match(cfg, new RegExp(`^open_files_limit=${t.openFilesLimit}$`, 'm'));
  assert.match(cfg, /^tcp_children=4$/m);
  assert.match(cfg, /modparam\("usrloc", "hash_size", 14\)/);
  assert.throws(() => kamailioConfig({ addr: 'a', domain: 'd', users: {}, userPattern: { userRegex: 'fleet.*', password: 'x' }, dir: '/x', ctlSocket: '/x/c', modulePath: '/m/' }), /anchored/);
  assert.throws(() => kamailioConfig({ addr: 'a', domain: 'd', users: {}, userPattern: { userRegex: '^a"; exit; $', password: 'x' }, dir: '/x', ctlSocket: '/x/c', modulePath: '/m/' }), /anchored/);
  // Without users or pattern everyone is refused; the single-user config keeps its shape.
  assert.match(kamailioConfig({ addr: 'a', domain: 'd', users: {}, dir: '/x', ctlSocket: '/x/c', modulePath: '/m/' }), /^ {2}\{ sl_send_reply\("403", "Forbidden"\); exit; \}$/m);
  const one = kamailioConfig({ addr: 'a', domain: 'd', users: { alice: 'pw' }, dir: '/x', ctlSocket: '/x/c', modulePath: '/m/' });
  assert.match(one, /^ {2}if \(\$tU == "alice"\) \{ \$var\(pw\) = "pw"; \}\n {2}else \{ sl_send_reply/m);
  assert.doesNotMatch(one, /tcp_max_connections|open_files_limit|hash_size/);
});

test('fleet DNS: SRV for TCP only, A record for the target, queries not logged', () => {
  const z = fleetZone();
  const args = dnsmasqArgs('127.0.0.72', 53, z, { logQueries: false });
  assert.ok(args.includes('--srv-host=_sip._tcp.acme.test,sip1.acme.test,5060,10,0'));
  assert.ok(args.includes('--host-record=sip1.acme.test,127.0.0.71'));
  assert.ok(!args.includes('--log-queries'));
  assert.ok(dnsmasqArgs('127.0.0.72', 53, z).includes('--log-queries'));
});

test('fleet table: rate ratio against SIPp at the same N, errors shown', () => {
  const base = { concurrency: 200, failed: 0, p50Ms: undefined, p99Ms: undefined } as const;
  const rows: FleetResult[] = [
    { ...base, client: 'siplogon', n: 1000, ok: 1000, wallMs: 2000, perSecond: 500, p50Ms: 310, p99Ms: 1679, held: 1000, heapPerDevice: 25_000, rssPerDevice: 85_000 },
    { ...base, client: 'sipp', n: 1000, ok: 1000, wallMs: 200, perSecond: 5000, held: 1000 },
    { ...base, client: 'siplogon', n: 10, ok: 0, wallMs: 0, perSecond: 0, held: 0, error: 'boom | x' },
  ];
  const t = formatFleetTable(rows).split('\n');
  assert.equal(t.length, 5);
  assert.match(t[2]!, /^\| 1000 \| siplogon \| 1000\/1000 \| 1000 \| 500 \| 310 ms \| 1\.68 s \| 24\.4 KB \| 83\.0 KB \| 0\.10× \|/);
  assert.match(t[3]!, /^\| 1000 \| sipp \| 1000\/1000 \| 1000 \| 5000 \| — \| — \| — \| — \| — \|/);
  assert.match(t[4]!, /ERROR boom \/ x/);
  for (const l of t) assert.equal(l.split('|').length, t[0]!.split('|').length);
});
