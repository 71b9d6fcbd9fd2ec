import { hostNameProblem, normalizeName } from './names.js';
import { candidateKey, DEFAULT_PORTS, type Candidate, type SipTransport } from './types.js';

/**
 * The seed's cycle rule (GG398713): first time → the Registrar from DHCP or DNS; after a
 * successful registration → the Registrar from in-band provisioning (Lync: the 301 Contacts, home
 * then backup). The device keeps a record of registrars it reached; "If the device attempts a
 * connection in this list again and it fails, the device stops that cycle and begins from scratch
 * building a list of Registrars from DNS and DHCP."
 *
 * To avoid a rebuild loop, a cycle that is itself a rebuild never asks for another rebuild: its
 * failures are 'continue' (a reached registrar that is down is simply skipped).
 */

export interface InBandRegistrar {
  fqdn: string;
  port: number;
  transport: SipTransport;
}

export type CycleKind = 'discovery' | 'in-band' | 'rebuild';

export interface CyclePlan {
  kind: CycleKind;
  /** For 'in-band': the candidates to try (source 'in-band'); discovery kinds: empty (plan them). */
  candidates: Candidate[];
  reason: string;
}

export interface CycleDecision {
  action: 'continue' | 'rebuild';
  key: string;
  reason: string;
}

export type CycleEvent =
  | { type: 'cycle'; plan: CyclePlan }
  | { type: 'attempt-failed'; decision: CycleDecision }
  | { type: 'registered'; key: string }
  | { type: 'in-band'; registrars: InBandRegistrar[]; origin: string; ignored: { value: InBandRegistrar; reason: string }[] };

export interface CycleSnapshot {
  reached: string[];
  inBand: InBandRegistrar[];
}

export class RegistrarCycle {
  private readonly reached = new Set<string>();
  private inBand: InBandRegistrar[] = [];
  private kind: CycleKind | null = null;
  /** Decisions and plans as data, for the diagnosis. */
  readonly events: CycleEvent[] = [];

  constructor(init?: Partial<CycleSnapshot>) {
    for (const k of init?.reached ?? []) this.reached.add(k);
    if (init?.inBand) this.learnInBand(init.inBand, 'restored');
  }

  get firstTime(): boolean {
    return this.reached.size === 0;
  }

  get currentCycle(): CycleKind | null {
    return this.kind;
  }

  /** Start a sign-in cycle: in-band registrars once we have registered and know some. */
  beginCycle(): CyclePlan {
    let plan: CyclePlan;
    if (this.firstTime) {
      plan = { kind: 'discovery', candidates: [], reason: 'first sign-in: no registrar reached yet, use DHCP and DNS' };
    } else if (this.inBand.length > 0) {
      plan = {
        kind: 'in-band',
        candidates: this.inBand.map((r, i) => ({
          fqdn: r.fqdn, port: r.port, transport: r.transport, source: 'in-band', step: null,
          origin: i === 0 ? 'in-band home registrar' : `in-band backup registrar #${i}`, addresses: [],
        })),
        reason: 'registered before: use the registrar(s) from in-band provisioning',
      };
    } else {
      plan = { kind: 'discovery', candidates: [], reason: 'registered before but no in-band registrar known: use DHCP and DNS' };
    }
    this.kind = plan.kind;
    this.events.push({ type: 'cycle', plan });
    return plan;
  }

  /** Abandon the current cycle and start from scratch with DNS and DHCP. */
  beginRebuild(): CyclePlan {
    const plan: CyclePlan = { kind: 'rebuild', candidates: [], reason: 'a previously reached registrar failed again: rebuild the list from DNS and DHCP' };
    this.kind = 'rebuild';
    this.events.push({ type: 'cycle', plan });
    return plan;
  }

  onAttemptFailed(c: Pick<Candidate, 'fqdn' | 'port' | 'transport'>): CycleDecision {
    const key = candidateKey(c);
    let decision: CycleDecision;
    if (!this.reached.has(key)) {
      decision = { action: 'continue', key, reason: 'not a registrar reached before: try the next candidate' };
    } else if (this.kind === 'rebuild') {
      decision = { action: 'continue', key, reason: 'reached before and failed again, but this cycle is already a rebuild from DNS and DHCP' };
    } else {
      decision = { action: 'rebuild', key, reason: 'a registrar reached before failed again: stop this cycle, rebuild from DNS and DHCP' };
    }
    this.events.push({ type: 'attempt-failed', decision });
    return decision;
  }

  onRegistered(c: Pick<Candidate, 'fqdn' | 'port' | 'transport'>): void {
    const key = candidateKey(c);
    this.reached.add(key);
    this.kind = null;
    this.events.push({ type: 'registered', key });
  }

  /**
   * Registrars from in-band provisioning / a 301 (home first, then backup). Replaces the previous
   * list; invalid entries are ignored with a reason; duplicates collapse to the first.
   */
  learnInBand(registrars: readonly InBandRegistrar[], origin: string): InBandRegistrar[] {
    const ok: InBandRegistrar[] = [];
    const ignored: { value: InBandRegistrar; reason: string }[] = [];
    const keys = new Set<string>();
    for (const r of registrars) {
      const problem = hostNameProblem(r.fqdn);
      const port = r.port ?? DEFAULT_PORTS[r.transport];
      if (problem) ignored.push({ value: r, reason: problem });
      else if (r.transport !== 'tls' && r.transport !== 'tcp') ignored.push({ value: r, reason: `unknown transport ${String(r.transport)}` });
      else if (!Number.isInteger(port) || port < 1 || port > 65535) ignored.push({ value: r, reason: `invalid port ${String(port)}` });
      else {
        const v = { fqdn: normalizeName(r.fqdn), port, transport: r.transport };
        const k = candidateKey(v);
        if (!keys.has(k)) {
          keys.add(k);
          ok.push(v);
        }
      }
    }
    this.inBand = ok;
    this.events.push({ type: 'in-band', registrars: ok.map((r) => ({ ...r })), origin, ignored });
    return ok.map((r) => ({ ...r }));
  }

  snapshot(): CycleSnapshot {
    return { reached: [...this.reached], inBand: this.inBand.map((r) => ({ ...r })) };
  }
}
