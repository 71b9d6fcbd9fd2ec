import type { SignInOptions } from '../../src/engine/options.js';

/**
 * Options for a test session that does one thing: no cache file, no presence or provisioning
 * traffic, no network watch and no keep-alive pings (each test turns on what it is about).
 */
export const QUIET: Pick<SignInOptions, 'cache' | 'presence' | 'provisioning' | 'networkWatchIntervalMs' | 'keepAliveIntervalMs'> = {
  cache: false,
  presence: false,
  provisioning: false,
  networkWatchIntervalMs: 0,
  keepAliveIntervalMs: 0,
};
