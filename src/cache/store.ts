import type { CacheRecord } from '../core/types.js';

export interface CacheStoreOptions {
  /** File path. Default: <OS cache dir>/siplogon/<user>.json (see defaultCachePath). */
  path: string;
  /** Called when a corrupt or unknown-version file is set aside. */
  onWarning?: (message: string) => void;
}

/** Versioned JSON cache with atomic writes. CONTRACT — implemented by the cache work item. */
export class CacheStore {
  constructor(readonly options: CacheStoreOptions) {}
  async load(): Promise<CacheRecord | null> { throw new Error('not implemented'); }
  async save(record: CacheRecord): Promise<void> { void record; throw new Error('not implemented'); }
  async clear(): Promise<void> { throw new Error('not implemented'); }
}
