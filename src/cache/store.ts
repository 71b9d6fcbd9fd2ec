/**
 * The device's resiliency cache: last registered Registrar and Media Relay FQDNs plus the addresses
 * they resolved to, rewritten after each successful registration and used when discovery fails.
 *
 * Crash safety: a save writes a uniquely named temp file in the target's directory, fsyncs it,
 * renames it over the target (rename(2) is atomic within one file system, POSIX.1-2017 rename())
 * and fsyncs the directory so the rename itself survives a power cut. A reader therefore sees the
 * old file or the new one, never a torn one, whenever the writer dies.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { CacheRecord } from '../core/types.js';
import { CacheError, UsageError } from '../errors.js';
import { CACHE_LIMITS, CacheValidationError, parseCacheRecord, pickCacheFields } from './validate.js';

export { defaultCachePath, osCacheDir, safeCacheName } from './paths.js';
export type { CachePathEnv } from './paths.js';
export { CACHE_LIMITS, CACHE_VERSION, CacheValidationError, isHostname, parseCacheRecord } from './validate.js';

export interface CacheStoreOptions {
  /** File path. Default: <OS cache dir>/siplogon/<user>.json (see defaultCachePath). */
  path: string;
  /** Called when a corrupt or unknown-version file is set aside. */
  onWarning?: (message: string) => void;
  /** Wall clock in ms for set-aside file names. Default: Date.now. */
  now?: () => number;
  /** Set-aside (`.corrupt-*`) files kept per cache file; older ones are deleted. Default: 3. */
  keepCorrupt?: number;
  /**
   * A temp file whose writer process still exists is removed only when older than this (ms), which
   * covers a recycled pid or a writer on another host sharing the directory. Default: 10 minutes.
   */
  staleTempMs?: number;
}

/** Saves, loads and clears on one path are queued here so a process never races itself. */
const queues = new Map<string, Promise<void>>();
/** Temp files this process is writing right now; cleanup must not touch them. */
const inFlight = new Set<string>();

function serialised<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(key) ?? Promise.resolve();
  const run = prev.then(fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return run;
}

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? ((e as NodeJS.ErrnoException).code ?? undefined) : undefined;
}

function ioError(what: string, file: string, cause: unknown): CacheError {
  return new CacheError('CACHE_IO', `cache ${what} failed for ${file}: ${errno(cause) ?? String(cause)}`, {
    cause,
    details: { path: file, errno: errno(cause) },
  });
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** fsync on a directory makes a rename durable on Linux/macOS; Windows cannot open directories. */
async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Some file systems (and some network mounts) refuse fsync on a directory; the rename stands.
    if (!['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EBADF', 'EPERM'].includes(errno(e) ?? '')) throw e;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM'; // exists, owned by someone else
  }
}

/** Versioned JSON cache with atomic writes. */
export class CacheStore {
  private readonly file: string;
  private readonly dir: string;
  private readonly base: string;
  private readonly tempRe: RegExp;
  private readonly corruptRe: RegExp;

  constructor(readonly options: CacheStoreOptions) {
    if (typeof options?.path !== 'string' || options.path === '') {
      throw new UsageError('INVALID_OPTION', 'CacheStore: path must be a non-empty string', { details: { option: 'path' } });
    }
    this.file = path.resolve(options.path);
    this.dir = path.dirname(this.file);
    this.base = path.basename(this.file);
    this.tempRe = new RegExp(`^${escapeRe(this.base)}\\.tmp-(\\d+)-[0-9a-f]+$`);
    this.corruptRe = new RegExp(`^${escapeRe(this.base)}\\.corrupt-\\d{8}T\\d{9}Z(?:-\\d+)?$`);
  }

  /** The absolute path of the cache file. */
  get path(): string {
    return this.file;
  }

  /**
   * The cached record, or null when there is none. A corrupt, oversized, wrong-shape or
   * unknown-version file is renamed to `<name>.corrupt-<time>`, reported through onWarning, and
   * null is returned so the caller rebuilds. Throws CacheError CACHE_IO when the file cannot be
   * read at all (permissions, not a regular file).
   */
  async load(): Promise<CacheRecord | null> {
    return serialised(this.file, async () => {
      await this.cleanTemps();
      // A concurrent writer in another process may replace the file between our read and our
      // set-aside; retry so a fresh valid file is never set aside for an old file's fault.
      for (let attempt = 0; ; attempt++) {
        const r = await this.readOnce();
        if (r.kind === 'missing') return null;
        if (r.kind === 'ok') return r.record;
        const moved = await this.setAside(r.reason, r.ident);
        if (moved || attempt >= 2) return null;
      }
    });
  }

  /**
   * Replaces the cache atomically with `record`. Only the fields CacheRecord declares are written
   * (anything else on the object — a password, relay credentials — is dropped), and the result must
   * pass the same validation load() applies: CacheError CACHE_CORRUPT otherwise. I/O failures
   * reject with CacheError CACHE_IO and leave the previous file intact.
   */
  async save(record: CacheRecord): Promise<void> {
    let clean: CacheRecord;
    try {
      clean = parseCacheRecord(pickCacheFields(record));
    } catch (e) {
      if (e instanceof CacheValidationError) {
        throw new CacheError('CACHE_CORRUPT', `refusing to save an invalid cache record: ${e.message}`, {
          details: { field: e.field, rule: e.rule },
        });
      }
      throw new CacheError('CACHE_CORRUPT', 'refusing to save an invalid cache record', { cause: e });
    }
    const data = `${JSON.stringify(clean, null, 2)}\n`;
    if (Buffer.byteLength(data) > CACHE_LIMITS.fileBytes) {
      throw new CacheError('CACHE_CORRUPT', `refusing to save a cache record larger than ${CACHE_LIMITS.fileBytes} bytes`);
    }
    return serialised(this.file, () => this.writeAtomic(data));
  }

  /** Removes the cache file (and stale temp files). Missing is not an error. */
  async clear(): Promise<void> {
    return serialised(this.file, async () => {
      try {
        await unlink(this.file);
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw ioError('clear', this.file, e);
      }
      await this.cleanTemps();
    });
  }

  private async writeAtomic(data: string): Promise<void> {
    try {
      // 0700: the cache says which servers this user signs in to; nobody else needs to read it.
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw ioError('mkdir', this.dir, e);
    }
    await this.cleanTemps();
    const tmp = path.join(this.dir, `${this.base}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    inFlight.add(tmp);
    let fh: FileHandle | undefined;
    try {
      fh = await open(tmp, 'wx', 0o600);
      await fh.chmod(0o600); // in case a permissive umask-free platform widened it
      await fh.writeFile(data, 'utf8');
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, this.file);
      await fsyncDir(this.dir);
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw ioError('save', this.file, e);
    } finally {
      inFlight.delete(tmp);
    }
  }

  private async readOnce(): Promise<
    | { kind: 'missing' }
    | { kind: 'ok'; record: CacheRecord }
    | { kind: 'bad'; reason: string; ident: string }
  > {
    let st;
    try {
      st = await lstat(this.file);
    } catch (e) {
      if (errno(e) === 'ENOENT') return { kind: 'missing' };
      throw ioError('read', this.file, e);
    }
    // A FIFO would block the read forever and a symlink could point anywhere: refuse both.
    if (!st.isFile()) {
      throw new CacheError('CACHE_IO', `cache ${this.file} is not a regular file`, { details: { path: this.file } });
    }
    const ident = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    if (st.size > CACHE_LIMITS.fileBytes) return { kind: 'bad', reason: `larger than ${CACHE_LIMITS.fileBytes} bytes`, ident };
    let buf: Buffer;
    let fh: FileHandle | undefined;
    try {
      const flags = process.platform === 'win32' ? fsc.O_RDONLY : fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
      fh = await open(this.file, flags);
      buf = Buffer.alloc(CACHE_LIMITS.fileBytes + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      buf = buf.subarray(0, bytesRead);
    } catch (e) {
      if (errno(e) === 'ENOENT') return { kind: 'missing' }; // replaced/cleared between lstat and open
      throw ioError('read', this.file, e);
    } finally {
      await fh?.close().catch(() => undefined);
    }
    if (buf.length > CACHE_LIMITS.fileBytes) return { kind: 'bad', reason: `larger than ${CACHE_LIMITS.fileBytes} bytes`, ident };
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
    } catch {
      return { kind: 'bad', reason: 'not UTF-8 text', ident };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { kind: 'bad', reason: buf.length === 0 ? 'empty file' : 'not valid JSON (truncated or damaged)', ident };
    }
    try {
      return { kind: 'ok', record: parseCacheRecord(json) };
    } catch (e) {
      if (e instanceof CacheValidationError) return { kind: 'bad', reason: `invalid content: ${e.message}`, ident };
      throw e;
    }
  }

  /** Renames the bad file out of the way. False when the file changed under us (caller retries). */
  private async setAside(reason: string, ident: string): Promise<boolean> {
    try {
      const st = await lstat(this.file);
      if (`${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}` !== ident) return false;
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
    }
    const stamp = new Date((this.options.now ?? Date.now)()).toISOString().replace(/[-:.]/g, '');
    let aside = `${this.file}.corrupt-${stamp}`;
    for (let i = 1; await exists(aside); i++) aside = `${this.file}.corrupt-${stamp}-${i}`;
    let note: string;
    try {
      await rename(this.file, aside);
      note = `set aside as ${path.basename(aside)}`;
    } catch (e) {
      note = `could not set it aside (${errno(e) ?? 'error'})`;
    }
    this.warn(`siplogon cache ${this.file}: ${reason}; ${note}; ignoring it and rebuilding from discovery`);
    await this.pruneCorrupt();
    return true;
  }

  private warn(message: string): void {
    try {
      this.options.onWarning?.(message);
    } catch {
      // A throwing warning sink must not turn a recoverable cache problem into a failed sign-in.
    }
  }

  private async listDir(): Promise<string[]> {
    try {
      return await readdir(this.dir);
    } catch {
      return [];
    }
  }

  /** Keeps the newest `keepCorrupt` set-aside files so repeated corruption cannot fill the disk. */
  private async pruneCorrupt(): Promise<void> {
    const keep = Math.max(0, this.options.keepCorrupt ?? 3);
    const old = (await this.listDir()).filter((n) => this.corruptRe.test(n)).sort();
    for (const n of old.slice(0, Math.max(0, old.length - keep))) await unlink(path.join(this.dir, n)).catch(() => undefined);
  }

  /**
   * Removes temp files left by writers that died mid-save. A temp file is stale when its writer pid
   * is gone, when it is ours but not in flight, or when it is older than staleTempMs.
   */
  private async cleanTemps(): Promise<void> {
    const staleMs = this.options.staleTempMs ?? 10 * 60_000;
    for (const n of await this.listDir()) {
      const m = this.tempRe.exec(n);
      if (!m) continue;
      const full = path.join(this.dir, n);
      if (inFlight.has(full)) continue;
      const pid = Number(m[1]);
      let stale = pid === process.pid || !pidAlive(pid);
      if (!stale) {
        try {
          stale = Date.now() - (await stat(full)).mtimeMs > staleMs;
        } catch {
          continue;
        }
      }
      if (stale) await unlink(full).catch(() => undefined);
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
