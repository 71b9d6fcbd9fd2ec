import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { CacheStore, parseCacheRecord } from '../../src/cache/store.js';
import type { CacheRecord } from '../../src/core/types.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'siplogon-prop-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const host = fc.domain().filter((d) => !/^[0-9.]+$/.test(d.split('.').pop() ?? ''));
const ip = fc.oneof(fc.ipV4(), fc.ipV6());
const port = fc.integer({ min: 1, max: 65535 });
const transport = fc.constantFrom('tls' as const, 'tcp' as const);
const record: fc.Arbitrary<CacheRecord> = fc.record(
  {
    version: fc.constant(1 as const),
    writtenAt: fc.date({ min: new Date(0), max: new Date(Date.UTC(9999, 0)), noInvalidDate: true }).map((d) => d.toISOString()),
    user: host.map((h) => `sip:user@${h}`),
    registrar: fc.record({ fqdn: fc.oneof(host, fc.ipV4()), port, transport, addresses: fc.array(ip, { maxLength: 16 }) }, { noNullPrototype: true }),
    inBand: fc.array(fc.record({ fqdn: host, port, transport }, { noNullPrototype: true }), { maxLength: 8 }),
    mediaRelays: fc.array(
      fc.record(
        { fqdn: host, addresses: fc.array(ip, { maxLength: 16 }), udpPort: port, tcpPort: port, location: fc.constantFrom('intranet', 'internet') },
        { requiredKeys: ['fqdn', 'addresses'], noNullPrototype: true },
      ),
      { maxLength: 16 },
    ),
    mrasUri: host.map((h) => `sip:mras@${h};gruu`),
  },
  { requiredKeys: ['version', 'writtenAt', 'user', 'registrar', 'mediaRelays'], noNullPrototype: true },
);

test('property: any valid record round-trips through save/load', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(record, async (rec) => {
      const store = new CacheStore({ path: path.join(dir, `r${n++}.json`) });
      await store.save(rec);
      assert.deepEqual(await store.load(), rec);
    }),
    { numRuns: 150 },
  );
});

test('property: arbitrary file content never throws from load; it is a valid record or null + one warning', async () => {
  let n = 0;
  await mkdir(dir, { recursive: true });
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.json(), fc.string(), record.map((r) => JSON.stringify(r)), fc.tuple(record, fc.anything()).map(([r, v]) => JSON.stringify({ ...r, x: v }))), async (content) => {
      const file = path.join(dir, `f${n++}.json`);
      await writeFile(file, content);
      const warnings: string[] = [];
      const got = await new CacheStore({ path: file, onWarning: (m) => warnings.push(m) }).load();
      if (got === null) assert.equal(warnings.length, 1);
      else {
        assert.deepEqual(got, parseCacheRecord(JSON.parse(content)));
        assert.equal(warnings.length, 0);
      }
    }),
    { numRuns: 300 },
  );
});
