/** Where the cache lives by default, and how an AoR becomes a safe file name. */
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';

export interface CachePathEnv {
  platform?: NodeJS.Platform;
  env?: Record<string, string | undefined>;
  homedir?: string;
}

/** Per-user OS cache directory (not the siplogon sub-directory). */
export function osCacheDir(opts: CachePathEnv = {}): string {
  const platform = opts.platform ?? process.platform;
  const env = opts.env ?? process.env;
  const home = opts.homedir ?? homedir();
  if (platform === 'win32') {
    const local = env['LOCALAPPDATA'];
    return local && path.win32.isAbsolute(local) ? local : path.win32.join(home, 'AppData', 'Local');
  }
  if (platform === 'darwin') return path.posix.join(home, 'Library', 'Caches');
  // XDG Base Directory spec: a relative $XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = env['XDG_CACHE_HOME'];
  return xdg && path.posix.isAbsolute(xdg) ? xdg : path.posix.join(home, '.cache');
}

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;

/**
 * File-name-safe form of an AoR: "sip:alice@acme.test" → "alice@acme.test". The host part is
 * case-insensitive (RFC 3261 §19.1.4) and is lower-cased; anything else that had to change (an
 * upper-case user part, characters outside [a-z0-9._@+-], excess length) adds a short hash of the
 * original so two AoRs never share a file, even on case-insensitive file systems.
 */
export function safeCacheName(aor: string): string {
  if (typeof aor !== 'string' || aor.trim() === '') throw new UsageError('INVALID_URI', 'cache name: the AoR is empty');
  let s = aor.trim().replace(/^<(.*)>$/, '$1').replace(/^sips?:/i, '');
  s = s.replace(/[;?].*$/, ''); // URI parameters and headers are not part of the identity
  if (s === '') throw new UsageError('INVALID_URI', 'cache name: the AoR has no user or host');
  const at = s.lastIndexOf('@');
  const canonical = at < 0 ? s.toLowerCase() : s.slice(0, at + 1) + s.slice(at + 1).toLowerCase();
  let name = canonical.toLowerCase().replace(/[^a-z0-9._@+-]/g, '_').replace(/^\./, '_');
  if (name.length > 100) name = name.slice(0, 100);
  if (WINDOWS_RESERVED.test(name.split('.')[0] ?? '')) name = `_${name}`;
  if (name !== canonical) name += `-${createHash('sha256').update(canonical).digest('hex').slice(0, 10)}`;
  return name;
}

/** `<OS cache dir>/siplogon/<safe name of the AoR>.json`. */
export function defaultCachePath(aor: string, opts: CachePathEnv = {}): string {
  const join = (opts.platform ?? process.platform) === 'win32' ? path.win32.join : path.posix.join;
  return join(osCacheDir(opts), 'siplogon', `${safeCacheName(aor)}.json`);
}
