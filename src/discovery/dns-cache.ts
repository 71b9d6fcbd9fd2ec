/**
 * A resolver cache that many DnsClients (a gateway's lines, a fleet in one process) can share:
 * answers are kept for their TTL, negative answers for the SOA's negative TTL (RFC 2308 §5; no
 * SOA, no caching), and identical questions in flight are asked once. Nothing else is cached:
 * a timeout, SERVFAIL, REFUSED or a malformed answer is a fact about this moment, and the next
 * sign-in must see the network as it is. No I/O here; DnsClient consults it.
 */
import { systemClock, type Clock } from '../core/clock.js';
import type { DnsQueryResult } from '../core/types.js';
import { normalizeName } from '../core/names.js';
import { UsageError } from '../errors.js';


export interface DnsCacheOptions {
  /** Entries kept; the least recently used goes first. @defaultValue 10000 */
  maxEntries?: number;
  /** Upper bound on a positive answer's lifetime, seconds (an absurd TTL is untrusted input). @defaultValue 3600 */
  maxTtlS?: number;
  /** Upper bound on a negative answer's lifetime, seconds (RFC 2308 §5 suggests 1–3 h; a device wants less). @defaultValue 300 */
  maxNegativeTtlS?: number;
  clock?: Clock;
}

export interface DnsCacheStats {
  hits: number;
  misses: number;
  /** Questions answered by a query another client already had in flight. */
  shared: number;
  entries: number;
}

type Cacheable = Omit<DnsQueryResult, 'latencyMs' | 'cached'>;

interface Entry {
  result: Cacheable;
  expiresAt: number;
}

/** @internal A query in flight that several askers wait on; cancelled when the last one gives up. */
export interface SharedQuery {
  readonly promise: Promise<DnsQueryResult>;
  waiters: number;
  cancel(): void;
}

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) throw new UsageError('INVALID_OPTION', `DnsCache ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  }
  return v;
}

export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, SharedQuery>();
  private readonly maxEntries: number;
  private readonly maxTtlMs: number;
  private readonly maxNegativeTtlMs: number;
  private readonly clock: Clock;
  private counts = { hits: 0, misses: 0, shared: 0 };

  constructor(options: DnsCacheOptions = {}) {
    this.maxEntries = positiveInt('maxEntries', options.maxEntries, 10_000);
    this.maxTtlMs = positiveInt('maxTtlS', options.maxTtlS, 3600) * 1000;
    this.maxNegativeTtlMs = positiveInt('maxNegativeTtlS', options.maxNegativeTtlS, 300) * 1000;
    this.clock = options.clock ?? systemClock;
  }

  /** The key DnsClient uses: the servers asked matter (two lines may use different resolvers). */
  static key(servers: string, name: string, type: string): string {
    return `${servers}\n${type}\n${normalizeName(name)}`;
  }

  /** A live entry, or undefined (an expired one is dropped). */
  get(key: string): Cacheable | undefined {
    const e = this.entries.get(key);
    if (e && e.expiresAt > this.clock.now()) {
      // Map order is insertion order: re-inserting keeps the most recently used last.
      this.entries.delete(key);
      this.entries.set(key, e);
      this.counts.hits++;
      return e.result;
    }
    if (e) this.entries.delete(key);
    this.counts.misses++;
    return undefined;
  }

  /** How long this outcome may be kept, ms (0: not at all). */
  lifetimeMs(r: Pick<DnsQueryResult, 'outcome' | 'ttl' | 'srv'>): number {
    if (r.ttl === undefined || !Number.isFinite(r.ttl) || r.ttl <= 0) return 0;
    if (r.outcome === 'answer') return Math.min(r.ttl * 1000, this.maxTtlMs);
    // r.ttl on a negative outcome only exists when the server sent its SOA (RFC 2308 §5).
    if (r.outcome === 'nxdomain' || r.outcome === 'nodata') return Math.min(r.ttl * 1000, this.maxNegativeTtlMs);
    return 0;
  }

  put(key: string, r: DnsQueryResult): void {
    const ms = this.lifetimeMs(r);
    if (ms <= 0) return;
    const { latencyMs: _l, cached: _c, ...result } = r;
    this.entries.delete(key);
    // Shared between callers: frozen, so one caller cannot change what another reads.
    this.entries.set(key, { result: deepFreeze(result), expiresAt: this.clock.now() + ms });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** @internal A query for this key already in flight, if any. */
  pending(key: string): SharedQuery | undefined {
    const q = this.inflight.get(key);
    if (q) this.counts.shared++;
    return q;
  }

  /**
   * @internal Registers a query in flight. Its result reaches every waiter frozen (they share it),
   * is stored if cacheable, and the registration goes when it settles.
   */
  track(key: string, run: Promise<DnsQueryResult>, cancel: () => void): SharedQuery {
    const promise = run.then((r) => deepFreeze(r));
    const q: SharedQuery = { promise, waiters: 0, cancel };
    this.inflight.set(key, q);
    promise
      .then(
        (r) => this.put(key, r),
        () => undefined,
      )
      .finally(() => {
        if (this.inflight.get(key) === q) this.inflight.delete(key);
      });
    return q;
  }

  stats(): DnsCacheStats {
    return { ...this.counts, entries: this.entries.size };
  }

  clear(): void {
    this.entries.clear();
  }
}
