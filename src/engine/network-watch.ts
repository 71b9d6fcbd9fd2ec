/**
 * Network-change watcher. A Lync-style device restarts sign-in as soon as its local addresses
 * change (new Wi-Fi, VPN up, cable moved): the old connection's source address may be gone and the
 * right registrar (internal vs edge) may differ. Node has no portable change notification, so we
 * poll os.networkInterfaces() and diff; the reader and the clock are injectable for tests.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import os from 'node:os';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { UsageError } from '../errors.js';

/** One non-internal local address. */
export interface LocalAddress {
  iface: string;
  address: string;
  family: 4 | 6;
}

/** Shape of os.networkInterfaces() (only the fields we use). */
export type InterfaceTable = Record<string, readonly { address: string; internal: boolean; family?: unknown }[] | undefined>;
export type InterfaceReader = () => InterfaceTable;

export interface AddressDiff {
  added: LocalAddress[];
  removed: LocalAddress[];
  changed: boolean;
}

function key(a: LocalAddress): string {
  return `${a.iface}\u0000${a.address}`;
}

/**
 * Non-internal addresses from an interface table, sorted and de-duplicated. Malformed entries
 * (missing address, not an IP) are ignored rather than trusted. The interface name is part of an
 * address's identity: the same address moving to another interface changes the path too.
 * IPv6 scope ids are dropped from the address text (fe80::1%eth0 → fe80::1; the iface says it).
 */
export function snapshotAddresses(table: InterfaceTable, filter?: (a: LocalAddress) => boolean): LocalAddress[] {
  const seen = new Map<string, LocalAddress>();
  if (typeof table !== 'object' || table === null) return [];
  for (const [iface, infos] of Object.entries(table)) {
    if (!Array.isArray(infos)) continue;
    for (const info of infos as unknown[]) {
      if (typeof info !== 'object' || info === null) continue;
      const { address, internal } = info as { address?: unknown; internal?: unknown };
      if (internal !== false || typeof address !== 'string') continue;
      const bare = address.replace(/%.*$/, '').toLowerCase();
      const fam = isIP(bare);
      if (fam !== 4 && fam !== 6) continue;
      const a: LocalAddress = { iface, address: bare, family: fam };
      if (filter && !filter(a)) continue;
      seen.set(key(a), a);
    }
  }
  return [...seen.values()].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
}

/** Set difference of two snapshots (order-insensitive). */
export function diffAddresses(before: readonly LocalAddress[], after: readonly LocalAddress[]): AddressDiff {
  const b = new Map(before.map((a) => [key(a), a]));
  const a = new Map(after.map((x) => [key(x), x]));
  const added = [...a].filter(([k]) => !b.has(k)).map(([, v]) => v);
  const removed = [...b].filter(([k]) => !a.has(k)).map(([, v]) => v);
  return { added, removed, changed: added.length > 0 || removed.length > 0 };
}

export interface WatchNetworkOptions {
  /** Poll period in ms. Default: 2000. Must be a finite number >= 10. */
  intervalMs?: number;
  /** Default: systemClock. */
  clock?: Clock;
  /** Default: os.networkInterfaces. */
  read?: InterfaceReader;
  /** Keep only addresses for which this returns true (e.g. ignore a VPN or IPv6 link-local). */
  filter?: (a: LocalAddress) => boolean;
}

export interface NetworkWatcher {
  on(event: 'change', listener: (before: LocalAddress[], after: LocalAddress[], diff: AddressDiff) => void): this;
  /** A reader failure; polling continues with the last good snapshot. Only emitted if listened to. */
  on(event: 'error', listener: (err: Error) => void): this;
  off(event: 'change' | 'error', listener: (...args: any[]) => void): this; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The addresses as of the last poll. */
  readonly current: LocalAddress[];
  /** Stops polling; idempotent. No event fires after stop(). */
  stop(): void;
}

class Watcher extends EventEmitter implements NetworkWatcher {
  private timer: TimerHandle | undefined;
  private stopped = false;
  current: LocalAddress[];

  constructor(
    private readonly intervalMs: number,
    private readonly clock: Clock,
    private readonly read: InterfaceReader,
    private readonly filter: ((a: LocalAddress) => boolean) | undefined,
  ) {
    super();
    this.current = this.sample() ?? [];
    this.schedule();
  }

  private sample(): LocalAddress[] | undefined {
    try {
      return snapshotAddresses(this.read(), this.filter);
    } catch (e) {
      // os.networkInterfaces() throws in some sandboxes; a watcher must not take the process down.
      if (this.listenerCount('error') > 0) this.emit('error', e instanceof Error ? e : new Error(String(e)));
      return undefined;
    }
  }

  private schedule(): void {
    // Re-armed one-shot timers (Clock has no interval): a slow listener cannot queue up ticks.
    this.timer = this.clock.setTimeout(() => this.tick(), this.intervalMs);
  }

  private tick(): void {
    if (this.stopped) return;
    try {
      const next = this.sample();
      if (next) {
        const diff = diffAddresses(this.current, next);
        if (diff.changed) {
          const before = this.current;
          this.current = next;
          this.emit('change', before, next, diff);
        }
      }
    } finally {
      // A throwing listener is the caller's bug and propagates, but must not end the polling.
      if (!this.stopped) this.schedule();
    }
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Polls local addresses and emits 'change' (before, after) when the non-internal set changes. */
export function watchNetwork(opts: WatchNetworkOptions = {}): NetworkWatcher {
  const intervalMs = opts.intervalMs ?? 2000;
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs < 10) {
    throw new UsageError('INVALID_OPTION', 'watchNetwork: intervalMs must be a finite number >= 10', { details: { option: 'intervalMs' } });
  }
  if (opts.read !== undefined && typeof opts.read !== 'function') {
    throw new UsageError('INVALID_OPTION', 'watchNetwork: read must be a function', { details: { option: 'read' } });
  }
  return new Watcher(intervalMs, opts.clock ?? systemClock, opts.read ?? (os.networkInterfaces as InterfaceReader), opts.filter);
}
