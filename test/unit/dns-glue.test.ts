import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { decodeStrict, interpretResponse } from '../../src/discovery/dns.js';

function answer(additionals: dnsPacket.Answer[]): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: 7,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: 'SRV', name: '_sipinternaltls._tcp.acme.test' }],
    answers: [
      { type: 'SRV', name: '_sipinternaltls._tcp.acme.test', ttl: 60, data: { target: 'pool1.acme.test', port: 5061, priority: 0, weight: 0 } },
      { type: 'SRV', name: '_sipinternaltls._tcp.acme.test', ttl: 60, data: { target: 'pool2.acme.test', port: 5061, priority: 10, weight: 0 } },
    ],
    additionals,
  });
}

test('SRV glue: A/AAAA for the SRV targets are taken from the additional section', () => {
  const r = interpretResponse(
    decodeStrict(
      answer([
        { type: 'A', name: 'pool1.acme.test', ttl: 60, data: '10.0.0.1' },
        { type: 'AAAA', name: 'POOL1.acme.test', ttl: 60, data: 'fd00::1' },
        { type: 'A', name: 'pool1.acme.test', ttl: 60, data: '10.0.0.1' },
      ]),
    ),
    '_sipinternaltls._tcp.acme.test',
    'SRV',
  );
  assert.equal(r.outcome, 'answer');
  assert.deepEqual(r.glue, { 'pool1.acme.test': ['10.0.0.1', 'fd00::1'] });
});

test('SRV glue: records for names that are not targets are ignored (no cache poisoning by the back door)', () => {
  const r = interpretResponse(
    decodeStrict(answer([{ type: 'A', name: 'www.bank.example', ttl: 60, data: '10.6.6.6' }, { type: 'A', name: 'pool2.acme.test', ttl: 60, data: '10.0.0.2' }])),
    '_sipinternaltls._tcp.acme.test',
    'SRV',
  );
  assert.deepEqual(r.glue, { 'pool2.acme.test': ['10.0.0.2'] });
});

test('SRV without additional records has no glue', () => {
  const r = interpretResponse(decodeStrict(answer([])), '_sipinternaltls._tcp.acme.test', 'SRV');
  assert.equal(r.glue, undefined);
});

test('SRV glue: the answer\'s TTL is the smallest of the SRV records and the glue it uses (a cache must not outlive the addresses)', () => {
  const r = interpretResponse(
    decodeStrict(answer([{ type: 'A', name: 'pool1.acme.test', ttl: 7, data: '10.0.0.1' }, { type: 'A', name: 'www.bank.example', ttl: 1, data: '10.6.6.6' }])),
    '_sipinternaltls._tcp.acme.test',
    'SRV',
  );
  assert.deepEqual(r.glue, { 'pool1.acme.test': ['10.0.0.1'] });
  assert.equal(r.ttl, 7, 'the glue A record\'s 7 s, not the SRV records\' 60 s (the ignored record does not count)');
});
