/**
 * Child process for the SIGKILL torture test: saves cache records in a tight loop until killed.
 * Usage: node cache-writer.js <file> <tag> [atomic|naive]
 * Prints "go" once the first save has completed, so the parent's kill lands inside the loop.
 * "naive" writes the target in place, in chunks (open O_TRUNC, write, write…): the control that
 * shows the torture test does catch a non-atomic writer.
 */
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { CacheStore } from '../../src/cache/store.js';
import type { CacheRecord } from '../../src/core/types.js';

const [file, tag, mode = 'atomic'] = process.argv.slice(2);
if (!file || !tag) {
  process.stderr.write('usage: cache-writer <file> <tag> [atomic|naive]\n');
  process.exit(2);
}

/** Sizes vary from a few hundred bytes to ~12 KB so kills land at different points of a write. */
function record(seq: number): CacheRecord {
  const relays = seq % 17;
  return {
    version: 1,
    writtenAt: new Date(Date.UTC(2026, 0, 1) + seq * 1000).toISOString(),
    user: `sip:torture${tag}@acme.test`,
    registrar: { fqdn: `pool${seq % 97}.acme.test`, port: 5061, transport: 'tls', addresses: [`192.0.2.${seq % 250}`] },
    mediaRelays: Array.from({ length: relays }, (_, i) => ({
      fqdn: `edge${i}.acme.test`,
      addresses: Array.from({ length: (seq + i) % 17 }, (_, j) => `2001:db8:${i.toString(16)}::${j.toString(16)}`),
      udpPort: 3478,
      tcpPort: 443,
      location: i % 2 ? 'internet' : 'intranet',
    })),
  };
}

async function naiveSave(rec: CacheRecord): Promise<void> {
  const data = Buffer.from(JSON.stringify(rec, null, 2));
  await mkdir(path.dirname(file!), { recursive: true });
  const fh = await open(file!, 'w', 0o600);
  try {
    for (let off = 0; off < data.length; off += 256) await fh.write(data, off, Math.min(256, data.length - off));
  } finally {
    await fh.close();
  }
}

const store = new CacheStore({ path: file });
const save = mode === 'naive' ? naiveSave : (r: CacheRecord) => store.save(r);

let seq = 0;
await save(record(seq++));
process.stdout.write('go\n');
for (;;) {
  // Every fourth round two saves race; the store must serialise them.
  if (seq % 4 === 0) await Promise.all([save(record(seq++)), save(record(seq++))]);
  else await save(record(seq++));
}
