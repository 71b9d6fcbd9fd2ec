/** Public API of siplogon. */
export * from './errors.js';
export * from './core/types.js';
export { systemClock, VirtualClock, seededRandom } from './core/clock.js';
export type { Clock, RandomSource, TimerHandle } from './core/clock.js';
export { CacheStore, defaultCachePath, osCacheDir, safeCacheName, parseCacheRecord, CacheValidationError, CACHE_LIMITS, CACHE_VERSION } from './cache/store.js';
export type { CacheStoreOptions, CachePathEnv } from './cache/store.js';
export { watchNetwork, snapshotAddresses, diffAddresses } from './engine/network-watch.js';
export type { NetworkWatcher, WatchNetworkOptions, LocalAddress, AddressDiff, InterfaceTable, InterfaceReader } from './engine/network-watch.js';
