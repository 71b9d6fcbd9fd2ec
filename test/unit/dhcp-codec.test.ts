import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DHCP_MIN_LEN,
  OPT,
  decodeMessage,
  decodeOption120,
  decodeOption43,
  encodeInform,
  encodeMessage,
  encodeOption120,
  encodeOption43,
} from '../../src/discovery/dhcp-codec.js';
import { retransmitSchedule } from '../../src/discovery/dhcp-client.js';
import { seededRandom } from '../../src/core/clock.js';
import { SiplogonError, type ErrorCode } from '../../src/errors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const lbl = (s: string): Buffer => Buffer.concat([Buffer.from([s.length]), ascii(s)]);

function throwsCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(SiplogonError.is(e), `expected a SiplogonError, got ${String(e)}`);
    assert.equal(e.code, code, (e as Error).message);
    return true;
  });
}

/** A BOOTREPLY whose options area is exactly `raw` (after the magic cookie). */
function replyWithRawOptions(raw: Buffer, xid = 0x01020304): Buffer {
  const base = encodeMessage({ op: 2, xid, options: [] });
  return Buffer.concat([base.subarray(0, DHCP_MIN_LEN), raw]);
}

test('DHCPINFORM encodes the RFC 2131 §4.4.3 fields and decodes back', () => {
  const mac = hex('02:11:22:33:44:55');
  const pkt = encodeInform({ xid: 0xdeadbeef, ciaddr: '192.0.2.50', chaddr: mac, secs: 3, clientId: hex('01 02 11 22 33 44 55') });
  assert.ok(pkt.length >= 300);
  assert.equal(pkt[0], 1); // op BOOTREQUEST
  assert.equal(pkt[1], 1); // htype Ethernet
  assert.equal(pkt[2], 6); // hlen
  assert.deepEqual(pkt.subarray(236, 240), hex('63825363'));
  const m = decodeMessage(pkt);
  assert.equal(m.op, 1);
  assert.equal(m.xid, 0xdeadbeef);
  assert.equal(m.secs, 3);
  assert.equal(m.flags, 0);
  assert.equal(m.ciaddr, '192.0.2.50');
  assert.equal(m.yiaddr, '0.0.0.0');
  assert.deepEqual(m.chaddr, mac);
  assert.equal(m.messageType, 8);
  assert.deepEqual([...(m.options.get(OPT.PARAM_REQUEST) ?? [])], [1, 3, 6, 15, 120, 43]);
  assert.equal(m.options.get(OPT.VENDOR_CLASS)?.toString(), 'MS-UC-Client');
  assert.deepEqual(m.options.get(OPT.CLIENT_ID), hex('01 02 11 22 33 44 55'));
  assert.deepEqual(m.optionOrder, [53, 55, 60, 61]);
  assert.equal(m.options.has(50), false, 'an INFORM carries no requested address');
  assert.equal(m.options.has(51), false, 'an INFORM carries no lease time');
});

test('decodes the option 120 bytes dnsmasq 2.90 sends for two names (pointer offset from after the encoding byte)', () => {
  const wire = Buffer.concat([hex('00'), lbl('pool1'), lbl('acme'), lbl('test'), hex('00'), lbl('pool2'), hex('c0 06')]);
  assert.deepEqual(decodeOption120(wire), { encoding: 'fqdn', names: ['pool1.acme.test', 'pool2.acme.test'] });
  // Our encoder compresses the same way, byte for byte.
  assert.deepEqual(encodeOption120({ encoding: 'fqdn', names: ['pool1.acme.test', 'pool2.acme.test'] }), wire);
});

test('decodes DHCPUtil.exe option 120 output and the IPv4 encoding', () => {
  assert.deepEqual(decodeOption120(hex('0006736572766572046671646E07636F6D70616E7903636F6D00')), {
    encoding: 'fqdn',
    names: ['server.fqdn.company.com'],
  });
  assert.deepEqual(decodeOption120(hex('01 c0000201 c0000202')), { encoding: 'ipv4', addresses: ['192.0.2.1', '192.0.2.2'] });
  assert.deepEqual(encodeOption120({ encoding: 'ipv4', addresses: ['192.0.2.1', '192.0.2.2'] }), hex('01 c0000201 c0000202'));
});

test('round-trips many names through compression', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
      (nameLabels) => {
        const names = nameLabels.map((l) => l.join('.'));
        const enc = encodeOption120({ encoding: 'fqdn', names });
        assert.deepEqual(decodeOption120(enc), { encoding: 'fqdn', names });
        assert.deepEqual(decodeOption120(encodeOption120({ encoding: 'fqdn', names }, false)), { encoding: 'fqdn', names });
      },
    ),
  );
});

test('option 120 rejects loops, forward pointers, overruns and bad names', () => {
  const bad: [string, Buffer][] = [
    ['self pointer', hex('00 c0 00')],
    ['two-step loop', Buffer.concat([hex('00'), lbl('a'), hex('c0 05'), lbl('b'), hex('c0 00')])],
    ['forward pointer', Buffer.concat([hex('00'), hex('c0 02'), lbl('a'), hex('00')])],
    ['pointer past the end', Buffer.concat([hex('00'), lbl('a'), hex('00'), hex('c0 30')])],
    ['pointer truncated', Buffer.concat([hex('00'), lbl('a'), hex('c0')])],
    ['name without root label', Buffer.concat([hex('00'), lbl('pool'), lbl('acme')])],
    ['label runs past end', hex('00 09 61 62')],
    ['label type 01', hex('00 40 61 00')],
    ['label over 63', Buffer.concat([hex('00'), lbl('a'.repeat(64)), hex('00')])],
    ['name over 255', Buffer.concat([hex('00'), ...Array.from({ length: 5 }, () => lbl('a'.repeat(60))), hex('00')])],
    ['bad characters', Buffer.concat([hex('00'), lbl('ev il'), lbl('test'), hex('00')])],
    ['NUL in label', Buffer.concat([hex('00'), lbl('a\u0000b'), hex('00')])],
    ['hyphen at label start', Buffer.concat([hex('00'), lbl('-a'), hex('00')])],
    ['empty name', hex('00 00')],
    ['IPv4 list not a multiple of 4', hex('01 c0 00 02 01 c0')],
    ['unknown encoding', hex('02 7f 00 00 01')],
    ['only the encoding byte', hex('00')],
  ];
  for (const [what, v] of bad) {
    assert.throws(() => decodeOption120(v), (e: unknown) => SiplogonError.is(e, 'DHCP_OPTION_MALFORMED'), what);
  }
});

test('option 43 as dnsmasq writes it: sub-options reversed, ending with 0xff', () => {
  const wire = Buffer.concat([hex('04 03'), ascii('443'), hex('03 10'), ascii('web.example.test'), hex('01 0c'), ascii('MS-UC-Client'), hex('ff')]);
  assert.deepEqual(decodeOption43(wire), { webServerPort: '443', webServerFqdn: 'web.example.test', ucIdentifier: 'MS-UC-Client' });
  const mine = encodeOption43({ ucIdentifier: 'MS-UC-Client', webServerFqdn: 'web.example.test', webServerPort: '443' }, { reverse: true, end: true });
  assert.deepEqual(mine, wire);
});

test('option 43: any order, pads, no end, unknown kept raw, port as a 2-byte integer', () => {
  const v = Buffer.concat([hex('00'), hex('02 05'), ascii('https'), hex('00 00'), hex('05 14'), ascii('/CertProv/CertProvisioningService.svc'.slice(0, 20)), hex('09 02 ab cd'), hex('04 02 01 bb')]);
  assert.deepEqual(decodeOption43(v), {
    urlScheme: 'https',
    certProvPath: '/CertProv/CertProvis',
    other: { 9: 'abcd' },
    webServerPort: '443',
  });
  assert.deepEqual(decodeOption43(Buffer.alloc(0)), {});
});

test('option 43 rejects truncation and non-text values', () => {
  for (const [what, v] of [
    ['no length', hex('01')],
    ['truncated value', hex('03 10 61 62')],
    ['control characters', Buffer.concat([hex('03 03'), hex('61 0a 62')])],
    ['port not a number', Buffer.concat([hex('04 03'), ascii('abc')])],
    ['bad web server name', Buffer.concat([hex('03 05'), ascii('a..b.')])],
  ] as const) {
    assert.throws(() => decodeOption43(v), (e: unknown) => SiplogonError.is(e, 'DHCP_OPTION_MALFORMED'), what);
  }
});

test('RFC 3396: repeated option codes are concatenated, also when split across areas', () => {
  const o120 = encodeOption120({ encoding: 'fqdn', names: ['pool1.acme.test', 'pool2.acme.test'] });
  const a = o120.subarray(0, 7);
  const b = o120.subarray(7);
  const raw = Buffer.concat([hex('35 01 05'), Buffer.from([120, a.length]), a, hex('00 00'), Buffer.from([120, b.length]), b, hex('ff')]);
  const m = decodeMessage(replyWithRawOptions(raw));
  assert.deepEqual(m.options.get(120), o120);
  assert.deepEqual(decodeOption120(m.options.get(120) ?? Buffer.alloc(0)), { encoding: 'fqdn', names: ['pool1.acme.test', 'pool2.acme.test'] });
  // Encoder side: a 300-byte value goes out as two instances and comes back whole.
  const big = Buffer.alloc(300, 0x41);
  const pkt = encodeMessage({ op: 2, xid: 1, options: [[OPT.MESSAGE_TYPE, hex('05')], [200, big]] });
  assert.deepEqual(decodeMessage(pkt).options.get(200), big);
});

test('option overload (52): options continue in file, then sname', () => {
  const pkt = replyWithRawOptions(Buffer.concat([hex('35 01 05'), hex('34 01 03'), Buffer.from([120, 4]), hex('00'), lbl('ab'), hex('ff')]));
  // file (offset 108): rest of option 120 via RFC 3396 concatenation, then option 43 part 1.
  Buffer.concat([Buffer.from([120, 6]), lbl('acme'), hex('00'), hex('2b 02 02 03 ff')]).copy(pkt, 108);
  Buffer.concat([hex('2b 03 61 62 63'), hex('ff')]).copy(pkt, 44);
  const m = decodeMessage(pkt);
  assert.equal(m.messageType, 5);
  assert.deepEqual(decodeOption120(m.options.get(120) ?? Buffer.alloc(0)), { encoding: 'fqdn', names: ['ab.acme'] });
  assert.deepEqual(m.options.get(43), hex('02 03 61 62 63'));
  assert.deepEqual(decodeOption43(m.options.get(43) ?? Buffer.alloc(0)), { urlScheme: 'abc' });
  assert.equal(m.options.has(52), false);
  // Without overload, the same file/sname bytes are not options.
  const noOverload = replyWithRawOptions(Buffer.concat([hex('35 01 05'), hex('ff')]));
  pkt.subarray(44, 236).copy(noOverload, 44);
  assert.equal(decodeMessage(noOverload).options.has(43), false);
});

test('packet-level and option-level malformations give typed errors', () => {
  throwsCode(() => decodeMessage(Buffer.alloc(10)), 'DHCP_MALFORMED');
  const good = encodeInform({ xid: 1, ciaddr: '192.0.2.50', chaddr: hex('020000000001') });
  const noCookie = Buffer.from(good);
  noCookie[236] = 0;
  throwsCode(() => decodeMessage(noCookie), 'DHCP_MALFORMED');
  const badOp = Buffer.from(good);
  badOp[0] = 7;
  throwsCode(() => decodeMessage(badOp), 'DHCP_MALFORMED');
  const badHlen = Buffer.from(good);
  badHlen[2] = 17;
  throwsCode(() => decodeMessage(badHlen), 'DHCP_MALFORMED');
  throwsCode(() => decodeMessage(replyWithRawOptions(hex('35 01'))), 'DHCP_OPTION_MALFORMED'); // value missing
  throwsCode(() => decodeMessage(replyWithRawOptions(hex('78'))), 'DHCP_OPTION_MALFORMED'); // length missing
  throwsCode(() => decodeMessage(replyWithRawOptions(hex('78 ff 00 01 02'))), 'DHCP_OPTION_MALFORMED'); // over-long
  throwsCode(() => decodeMessage(replyWithRawOptions(hex('35 02 05 05 ff'))), 'DHCP_OPTION_MALFORMED');
  throwsCode(() => decodeMessage(replyWithRawOptions(hex('34 01 04 ff'))), 'DHCP_OPTION_MALFORMED');
  // Options after end are ignored; a missing end is tolerated.
  assert.equal(decodeMessage(replyWithRawOptions(hex('35 01 05 ff 78 ff'))).options.has(120), false);
  assert.equal(decodeMessage(replyWithRawOptions(hex('35 01 05'))).messageType, 5);
});

test('encoder refuses bad input with typed errors', () => {
  throwsCode(() => encodeOption120({ encoding: 'fqdn', names: [] }), 'INVALID_OPTION');
  throwsCode(() => encodeOption120({ encoding: 'fqdn', names: ['bad name.test'] }), 'INVALID_OPTION');
  throwsCode(() => encodeOption120({ encoding: 'ipv4', addresses: ['300.1.1.1'] }), 'INVALID_OPTION');
  throwsCode(() => encodeInform({ xid: 1, ciaddr: 'x', chaddr: Buffer.alloc(6) }), 'INVALID_OPTION');
});

const decoders = [decodeMessage, decodeOption120, decodeOption43] as const;

test('fuzz: random bytes only ever yield a value or a SiplogonError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), (bytes) => {
      for (const d of decoders) {
        try {
          d(Buffer.from(bytes));
        } catch (e) {
          if (!SiplogonError.is(e)) throw e;
        }
      }
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: mutated real replies only ever yield a value or a SiplogonError', () => {
  const o120 = encodeOption120({ encoding: 'fqdn', names: ['pool1.acme.test', 'pool2.acme.test', 'x.pool2.acme.test'] });
  const o43 = encodeOption43({ ucIdentifier: 'MS-UC-Client', webServerFqdn: 'web.acme.test', webServerPort: '443' }, { reverse: true, end: true });
  const real = encodeMessage({ op: 2, xid: 7, options: [[53, hex('05')], [120, o120], [43, o43], [52, hex('03')]] });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (muts) => {
      const b = Buffer.from(real);
      for (const [at, v] of muts) b[at] = v;
      try {
        const m = decodeMessage(b);
        for (const [code, d] of [[120, decodeOption120], [43, decodeOption43]] as const) {
          const v = m.options.get(code);
          if (v) {
            try {
              d(v);
            } catch (e) {
              if (!SiplogonError.is(e, 'DHCP_OPTION_MALFORMED')) throw e;
            }
          }
        }
      } catch (e) {
        if (!SiplogonError.is(e)) throw e;
        assert.ok(['DHCP_MALFORMED', 'DHCP_OPTION_MALFORMED'].includes(e.code), e.code);
      }
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: option 120 built from pointer-heavy bytes terminates with a value or DHCP_OPTION_MALFORMED', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constantFrom(0xc0, 0x00, 0x01, 0x02, 0x03, 0x61), fc.integer({ min: 0, max: 255 })), { maxLength: 64 }), (body) => {
      try {
        decodeOption120(Buffer.from([0, ...body]));
      } catch (e) {
        if (!SiplogonError.is(e, 'DHCP_OPTION_MALFORMED')) throw e;
      }
    }),
    { numRuns: 5000 },
  );
});

test('retransmission schedule follows RFC 2131 §4.1: doubling, ±1/4 jitter, all inside the bound', () => {
  const s = retransmitSchedule(4000, 60_000, seededRandom(1));
  assert.equal(s.length, 3); // ~4 s, ~12 s, ~28 s; the next (~60 s) would fall outside
  const gaps = s.map((t, i) => t - (s[i - 1] ?? 0));
  const nominal = [4000, 8000, 16000];
  gaps.forEach((g, i) => assert.ok(Math.abs(g - (nominal[i] ?? 0)) <= 1000, `gap ${i} = ${g}`));
  assert.deepEqual(retransmitSchedule(4000, 3000, seededRandom(2)), []);
  for (const t of retransmitSchedule(100, 5000, seededRandom(3))) assert.ok(t < 5000);
  // Caps at 64 s between sends.
  const long = retransmitSchedule(4000, 1_000_000, () => 0.5);
  assert.ok(long.every((t, i) => t - (long[i - 1] ?? 0) <= 64_000));
});
