import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, mkdir, symlink, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { CacheStore, defaultCachePath, safeCacheName, parseCacheRecord, CACHE_LIMITS } from '../../src/cache/store.js';
import type { CacheRecord } from '../../src/core/types.js';
import { SiplogonError } from '../../src/errors.js';

function sample(n = 0): CacheRecord {
  return {
    version: 1,
    writtenAt: new Date(Date.UTC(2026, 10, 25, 9, 0, n % 60)).toISOString(),
    user: 'sip:alice@acme.test',
    registrar: { fqdn: 'pool01.acme.test', port: 5061, transport: 'tls', addresses: ['192.0.2.10', '2001:db8::10'] },
    inBand: [
      { fqdn: 'home.acme.test', port: 5061, transport: 'tls' },
      { fqdn: 'backup.acme.test', port: 5061, transport: 'tls' },
    ],
    mediaRelays: [
      { fqdn: 'edge.acme.test', addresses: ['198.51.100.7'], udpPort: 3478, tcpPort: 443, location: 'internet' },
      { fqdn: `relay${n}.acme.test`, addresses: [] },
    ],
    mrasUri: 'sip:mras.acme.test;gruu;opaque=srvr:MRAS:abc',
  };
}

let dir = '';
let file = '';
let warnings: string[] = [];
let store: CacheStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'siplogon-cache-'));
  file = path.join(dir, 'sub', 'alice@acme.test.json');
  warnings = [];
  store = new CacheStore({ path: file, onWarning: (m) => warnings.push(m), now: () => Date.UTC(2026, 10, 25, 10, 0, 0) });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const listing = async (): Promise<string[]> => (await readdir(path.dirname(file))).sort();

describe('CacheStore round trip and permissions', () => {
  test('missing file → null, no warning, no directory created', async () => {
    assert.equal(await store.load(), null);
    assert.deepEqual(warnings, []);
    await assert.rejects(stat(path.dirname(file)), { code: 'ENOENT' });
  });

  test('save then load returns the same record; versioned JSON on disk', async () => {
    const rec = sample(1);
    await store.save(rec);
    assert.deepEqual(await store.load(), rec);
    const onDisk = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(onDisk.version, 1);
    assert.deepEqual(onDisk, rec);
    // A second store instance (another run of the program) reads it too.
    assert.deepEqual(await new CacheStore({ path: file }).load(), rec);
    assert.deepEqual(warnings, []);
  });

  test('optional fields may be absent', async () => {
    const rec: CacheRecord = {
      version: 1,
      writtenAt: '2026-11-25T09:00:00Z',
      user: 'sips:bob@acme.test',
      registrar: { fqdn: '192.0.2.1', port: 5060, transport: 'tcp', addresses: ['192.0.2.1'] },
      mediaRelays: [],
    };
    await store.save(rec);
    assert.deepEqual(await store.load(), rec);
  });

  test('file mode 0600 and created directory 0700 (even with a permissive umask)', { skip: process.platform === 'win32' ? 'POSIX modes' : false }, async () => {
    const old = process.umask(0o000);
    try {
      await store.save(sample());
    } finally {
      process.umask(old);
    }
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700);
    // Rewrites keep 0600 too (the temp file is renamed over the target, so its mode wins).
    await chmod(file, 0o644);
    await store.save(sample(2));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  test('empty path → INVALID_OPTION', () => {
    assert.throws(() => new CacheStore({ path: '' }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
    assert.throws(() => new CacheStore(undefined as unknown as { path: string }), (e: unknown) => SiplogonError.is(e, 'INVALID_OPTION'));
  });

  test('clear removes the file; clearing twice is fine', async () => {
    await store.save(sample());
    await store.clear();
    await assert.rejects(stat(file), { code: 'ENOENT' });
    await store.clear();
    assert.equal(await store.load(), null);
  });

  test('no temp files remain after saves', async () => {
    for (let i = 0; i < 5; i++) await store.save(sample(i));
    assert.deepEqual(await listing(), ['alice@acme.test.json']);
  });
});

describe('CacheStore never writes secrets', () => {
  test('unknown keys (password, relay credentials) are stripped before writing', async () => {
    const rec = sample() as CacheRecord & Record<string, unknown>;
    const withSecrets = {
      ...rec,
      password: 'hunter2-SECRET',
      credentials: { username: 'u', password: 'relay-SECRET' },
      registrar: { ...rec.registrar, password: 'reg-SECRET' },
      mediaRelays: rec.mediaRelays.map((r) => ({ ...r, username: 'relayuser', password: 'relay-SECRET', credentials: { password: 'x-SECRET' } })),
      inBand: rec.inBand?.map((r) => ({ ...r, authToken: 'tok-SECRET' })),
    } as unknown as CacheRecord;
    await store.save(withSecrets);
    const raw = await readFile(file, 'utf8');
    assert.doesNotMatch(raw, /SECRET|password|credentials|username|authToken|relayuser/);
    assert.deepEqual(await store.load(), sample());
  });

  test('save rejects an invalid record with CACHE_CORRUPT and leaves the old file', async () => {
    await store.save(sample(1));
    const bad = { ...sample(2), registrar: { ...sample(2).registrar, port: 70000 } };
    await assert.rejects(store.save(bad), (e: unknown) => SiplogonError.is(e, 'CACHE_CORRUPT') && /registrar\.port/.test((e as Error).message));
    await assert.rejects(store.save({ ...sample(), mediaRelays: [{ fqdn: 'r.acme.test', addresses: ['not-an-ip'] }] }), (e: unknown) =>
      SiplogonError.is(e, 'CACHE_CORRUPT'),
    );
    await assert.rejects(store.save(null as unknown as CacheRecord), (e: unknown) => SiplogonError.is(e, 'CACHE_CORRUPT'));
    assert.deepEqual(await store.load(), sample(1));
  });
});

describe('CacheStore treats the file as untrusted input', () => {
  const hostile: [string, string | ((r: Record<string, unknown>) => unknown)][] = [
    ['corrupt JSON', '{"version": 1, "writtenAt": '],
    ['empty file', ''],
    ['not UTF-8', '\u00ff\u00fe'],
    ['JSON array', '[1,2,3]'],
    ['JSON null', 'null'],
    ['unknown version', (r) => ({ ...r, version: 2 })],
    ['version as a string', (r) => ({ ...r, version: '1' })],
    ['missing registrar', (r) => ({ ...r, registrar: undefined })],
    ['port out of range', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), port: 0 } })],
    ['port as a string', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), port: '5061' } })],
    ['fractional port', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), port: 5061.5 } })],
    ['unknown transport', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), transport: 'udp' } })],
    ['bad IPv4', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), addresses: ['999.1.1.1'] } })],
    ['IP with junk', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), addresses: ['192.0.2.1; rm -rf /'] } })],
    ['address as number', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), addresses: [3232235777] } })],
    ['hostname with space', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), fqdn: 'pool 01.acme.test' } })],
    ['hostname with escape', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), fqdn: 'pool\u001b[31m.acme.test' } })],
    ['label too long', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), fqdn: `${'a'.repeat(64)}.acme.test` } })],
    ['huge address array', (r) => ({ ...r, registrar: { ...(r['registrar'] as object), addresses: Array(10_000).fill('192.0.2.1') } })],
    ['too many relays', (r) => ({ ...r, mediaRelays: Array(CACHE_LIMITS.mediaRelays + 1).fill({ fqdn: 'e.acme.test', addresses: [] }) })],
    ['relays not an array', (r) => ({ ...r, mediaRelays: { 0: { fqdn: 'e.acme.test', addresses: [] } } })],
    ['relay port negative', (r) => ({ ...r, mediaRelays: [{ fqdn: 'e.acme.test', addresses: [], udpPort: -1 }] })],
    ['in-band with bad host', (r) => ({ ...r, inBand: [{ fqdn: '-bad-.acme.test', port: 5061, transport: 'tls' }] })],
    ['user not a SIP URI', (r) => ({ ...r, user: 'http://acme.test/' })],
    ['writtenAt not a time', (r) => ({ ...r, writtenAt: 'yesterday' })],
    ['extra password key', (r) => ({ ...r, password: 'SECRET-in-file' })],
    ['__proto__ key', '{"__proto__": {"polluted": true}, "version": 1}'],
    ['deep nesting', `${'['.repeat(50_000)}${']'.repeat(50_000)}`],
    ['oversized file', `${' '.repeat(CACHE_LIMITS.fileBytes + 10)}{}`],
  ];

  for (const [name, mutate] of hostile) {
    test(`${name} → warning, set aside, null; the next save works`, async () => {
      await mkdir(path.dirname(file), { recursive: true });
      const content =
        typeof mutate === 'string' ? mutate : JSON.stringify(mutate(JSON.parse(JSON.stringify(sample())) as Record<string, unknown>));
      await writeFile(file, name === 'not UTF-8' ? Buffer.from([0xff, 0xfe, 0x7b]) : content);
      assert.equal(await store.load(), null);
      assert.equal(warnings.length, 1, `one warning, got ${JSON.stringify(warnings)}`);
      assert.match(warnings[0] ?? '', /set aside as alice@acme\.test\.json\.corrupt-20261125T100000000Z/);
      // Warnings name the field and rule, never the file's values.
      assert.doesNotMatch(warnings[0] ?? '', /SECRET/);
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
      const files = await listing();
      assert.deepEqual(files, ['alice@acme.test.json.corrupt-20261125T100000000Z']);
      // The bad content is kept for inspection, byte for byte.
      const aside = await readFile(path.join(path.dirname(file), files[0] ?? ''));
      assert.equal(aside.length, name === 'not UTF-8' ? 3 : Buffer.byteLength(content));
      // Next run: nothing cached, then a save and load work normally.
      assert.equal(await store.load(), null);
      await store.save(sample(3));
      assert.deepEqual(await store.load(), sample(3));
      assert.equal(warnings.length, 1);
    });
  }

  test('unknown version warning says so', async () => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify({ ...sample(), version: 7 }));
    assert.equal(await store.load(), null);
    assert.match(warnings[0] ?? '', /unsupported version 7/);
  });

  test('repeated corruption keeps only the newest set-aside files', async () => {
    let t = Date.UTC(2026, 0, 1);
    const s = new CacheStore({ path: file, onWarning: (m) => warnings.push(m), now: () => (t += 1000), keepCorrupt: 2 });
    await mkdir(path.dirname(file), { recursive: true });
    for (let i = 0; i < 5; i++) {
      await writeFile(file, `garbage ${i}`);
      assert.equal(await s.load(), null);
    }
    const files = await listing();
    assert.equal(files.length, 2);
    assert.equal(await readFile(path.join(path.dirname(file), files[1] ?? ''), 'utf8'), 'garbage 4');
    assert.equal(warnings.length, 5);
  });

  test('same-millisecond set-asides do not overwrite each other', async () => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, 'one');
    await store.load();
    await writeFile(file, 'two');
    await store.load();
    assert.deepEqual(await listing(), [
      'alice@acme.test.json.corrupt-20261125T100000000Z',
      'alice@acme.test.json.corrupt-20261125T100000000Z-1',
    ]);
  });

  test('a symlink or FIFO at the cache path → CACHE_IO, not a hang or a followed link', { skip: process.platform === 'win32' ? 'POSIX' : false }, async () => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(path.join(dir, 'elsewhere.json'), JSON.stringify(sample()));
    await symlink(path.join(dir, 'elsewhere.json'), file);
    await assert.rejects(store.load(), (e: unknown) => SiplogonError.is(e, 'CACHE_IO'));
    await rm(file);
    execFileSync('mkfifo', [file]);
    await assert.rejects(store.load(), (e: unknown) => SiplogonError.is(e, 'CACHE_IO'));
  });

  test('parent path is a regular file → save rejects with CACHE_IO', async () => {
    await writeFile(path.join(dir, 'plain'), 'x');
    const s = new CacheStore({ path: path.join(dir, 'plain', 'c.json') });
    await assert.rejects(s.save(sample()), (e: unknown) => SiplogonError.is(e, 'CACHE_IO'));
    await assert.rejects(s.load(), (e: unknown) => SiplogonError.is(e, 'CACHE_IO'));
  });

  test('a directory where the file should be → save rejects with CACHE_IO, temp removed', async () => {
    await mkdir(file, { recursive: true });
    await assert.rejects(store.save(sample()), (e: unknown) => SiplogonError.is(e, 'CACHE_IO'));
    assert.deepEqual(await listing(), ['alice@acme.test.json']);
    await assert.rejects(store.load(), (e: unknown) => SiplogonError.is(e, 'CACHE_IO'));
  });
});

describe('CacheStore concurrency and temp files', () => {
  test('concurrent saves in one process end with one valid file holding the last save', async () => {
    const other = new CacheStore({ path: file }); // a second instance on the same path shares the queue
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) jobs.push((i % 2 ? other : store).save(sample(i)));
    const loads = [store.load(), other.load()];
    await Promise.all(jobs);
    for (const r of await Promise.all(loads)) assert.ok(r === null || parseCacheRecord(r));
    assert.deepEqual(await store.load(), sample(39));
    assert.deepEqual(await listing(), ['alice@acme.test.json']);
    assert.deepEqual(warnings, []);
  });

  test('stale temp files from dead writers are removed on load and save; live ones are kept', async () => {
    await mkdir(path.dirname(file), { recursive: true });
    const d = path.dirname(file);
    // pid 2^22+1 is above Linux's pid_max ceiling, so it is certainly not running.
    await writeFile(path.join(d, 'alice@acme.test.json.tmp-4194305-abcdef'), '{"half":');
    await writeFile(path.join(d, `alice@acme.test.json.tmp-${process.pid}-0123ab`), '{"half":'); // ours, not in flight
    await writeFile(path.join(d, `alice@acme.test.json.tmp-${process.ppid}-beef`), '{"half":'); // live writer
    await writeFile(path.join(d, 'other.json.tmp-4194305-abcdef'), 'x'); // another cache's temp: not ours to judge
    assert.equal(await store.load(), null);
    assert.deepEqual(await listing(), [`alice@acme.test.json.tmp-${process.ppid}-beef`, 'other.json.tmp-4194305-abcdef']);
    // A live writer's temp file is removed once older than staleTempMs.
    const s = new CacheStore({ path: file, staleTempMs: 0 });
    await new Promise((r) => setTimeout(r, 5));
    await s.save(sample());
    assert.deepEqual(await listing(), ['alice@acme.test.json', 'other.json.tmp-4194305-abcdef']);
  });
});

describe('defaultCachePath', () => {
  test('per-OS cache directories', () => {
    assert.equal(
      defaultCachePath('sip:alice@acme.test', { platform: 'linux', env: {}, homedir: '/home/a' }),
      '/home/a/.cache/siplogon/alice@acme.test.json',
    );
    assert.equal(
      defaultCachePath('sip:alice@acme.test', { platform: 'linux', env: { XDG_CACHE_HOME: '/xdg' }, homedir: '/home/a' }),
      '/xdg/siplogon/alice@acme.test.json',
    );
    // XDG spec: a relative value is invalid and ignored.
    assert.equal(
      defaultCachePath('sip:alice@acme.test', { platform: 'linux', env: { XDG_CACHE_HOME: 'rel' }, homedir: '/home/a' }),
      '/home/a/.cache/siplogon/alice@acme.test.json',
    );
    assert.equal(
      defaultCachePath('sip:alice@acme.test', { platform: 'darwin', env: {}, homedir: '/Users/a' }),
      '/Users/a/Library/Caches/siplogon/alice@acme.test.json',
    );
    assert.equal(
      defaultCachePath('sip:alice@acme.test', { platform: 'win32', env: { LOCALAPPDATA: 'C:\\Users\\a\\AppData\\Local' }, homedir: 'C:\\Users\\a' }),
      'C:\\Users\\a\\AppData\\Local\\siplogon\\alice@acme.test.json',
    );
    assert.equal(
      defaultCachePath('sip:alice@acme.test', { platform: 'win32', env: {}, homedir: 'C:\\Users\\a' }),
      'C:\\Users\\a\\AppData\\Local\\siplogon\\alice@acme.test.json',
    );
  });

  test('safe names: no separators or traversal, distinct AoRs stay distinct', () => {
    assert.equal(safeCacheName('sip:alice@acme.test'), 'alice@acme.test');
    assert.equal(safeCacheName('<sips:alice@ACME.Test;transport=tls>'), 'alice@acme.test');
    const names = ['sip:../../etc/passwd@x', 'sip:a/b@acme.test', 'sip:a\\b@acme.test', 'sip:Alice@acme.test', 'sip:con', 'sip:.hidden@x', `sip:${'u'.repeat(300)}@acme.test`];
    const out = names.map(safeCacheName);
    for (const n of out) {
      assert.match(n, /^[a-z0-9_@+-][a-z0-9._@+-]*$/);
      assert.ok(n.length <= 111, n);
    }
    assert.notEqual(safeCacheName('sip:Alice@acme.test'), safeCacheName('sip:alice@acme.test'));
    assert.notEqual(safeCacheName('sip:a/b@acme.test'), safeCacheName('sip:a_b@acme.test'));
    assert.ok(out[4]?.startsWith('_con'));
    assert.throws(() => safeCacheName(''), (e: unknown) => SiplogonError.is(e, 'INVALID_URI'));
    assert.throws(() => safeCacheName('sip:'), (e: unknown) => SiplogonError.is(e, 'INVALID_URI'));
  });
});
