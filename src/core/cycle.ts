import { candidateKey, type Candidate } from './types.js';

/**
 * The seed's cycle rule. The device records every registrar it reached successfully; once it has
 * registered, it uses the in-band registrars (home, backup from a 301) for later connections.
 * When a connection to a registrar in that record fails again, the cycle is abandoned and the list
 * is rebuilt from DNS and DHCP.
 */
export class SignInCycle {
  private readonly reachedKeys = new Set<string>();
  private inBandList: Candidate[] = [];
  private rebuildDue = false;

  get reached(): ReadonlySet<string> {
    return this.reachedKeys;
  }

  /** Home and backup registrars for the next sign-in (empty: use discovery). */
  get inBand(): readonly Candidate[] {
    return this.inBandList;
  }

  /** True after a recorded registrar failed: the next list must come from DNS and DHCP. */
  get mustRebuild(): boolean {
    return this.rebuildDue;
  }

  adoptInBand(list: readonly Candidate[]): void {
    this.inBandList = list.map((c) => ({ ...c, source: 'in-band' as const, addresses: [] }));
  }

  onRegistered(c: Candidate, inBand: readonly Candidate[]): void {
    this.reachedKeys.add(candidateKey(c));
    if (inBand.length > 0) this.adoptInBand(inBand);
    this.rebuildDue = false;
  }

  /** 'rebuild' when the failed registrar is one we had reached: abandon this cycle. */
  onAttemptFailed(c: Pick<Candidate, 'fqdn' | 'port' | 'transport'>): 'continue' | 'rebuild' {
    if (this.reachedKeys.has(candidateKey(c))) {
      this.rebuildDue = true;
      return 'rebuild';
    }
    return 'continue';
  }

  /** The list was rebuilt from DNS and DHCP. */
  rebuilt(): void {
    this.rebuildDue = false;
  }
}
