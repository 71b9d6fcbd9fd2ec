/**
 * The sign-in engine: discovery → ordered candidates → staggered connection race → REGISTER
 * (digest, redirects) → in-band provisioning → cache, then stays registered (refresh, RFC 5626
 * keep-alive) and signs in again with capped, jittered back-off when the registrar is lost.
 * Every action is a step on the recorder; the diagnosis runs this same code with `once: true`.
 */
import { EventEmitter } from 'node:events';
import { Backoff } from '../core/backoff.js';
import type { TimerHandle } from '../core/clock.js';
import { cacheCandidates, recordFromRegistration } from '../core/cache-policy.js';
import { RegistrarCycle } from '../core/cycle.js';
import { PenaltyList } from '../core/penalty.js';
import { DEFAULT_CANDIDATE_POLICY } from '../core/candidates.js';
import { isWithinDomain } from '../core/names.js';
import type { RedirectContact } from '../sip/register.js';
import { PreferredRegistrarProbe } from '../core/timers.js';
import { candidateKey, DEFAULT_PORTS, type CacheRecord, type Candidate } from '../core/types.js';
import { CacheStore } from '../cache/store.js';
import { defaultCachePath } from '../cache/paths.js';
import { DnsClient } from '../discovery/dns.js';
import { PresenceError, SignInError, SiplogonError, UsageError } from '../errors.js';
import { describeCandidate, resolveCandidates, resolveProgressively, runDiscovery, type DiscoveryOutcome } from './discovery.js';
import { resolveOptions, type ResolvedOptions, type SignInOptions } from './options.js';
import { raceConnect, type LateCandidate } from './race.js';
import { openRegistration, type Leg } from './sip-port.js';
import { StepRecorder, type StepRecord } from './steps.js';
import { watchNetwork } from './network-watch.js';
import { postRegistration, type PostRegistration } from './provisioning.js';
import { PresenceAgent, type ContactPresence, type ContactsEvent, type OwnPresence, type PresenceErrorContext } from '../presence/agent.js';
import { PRESENCE_STATES, type PresenceState } from '../presence/state.js';

export type SessionState = 'starting' | 'discovering' | 'connecting' | 'registered' | 'reconnecting' | 'stopping' | 'stopped';

export interface RegistrarInfo {
  fqdn: string;
  port: number;
  transport: 'tls' | 'tcp';
  address: string;
  source: Candidate['source'];
}

export interface Registered {
  registrar: RegistrarInfo;
  expires: number;
  /** Milliseconds from the start of this sign-in attempt to the 200 OK. */
  tookMs: number;
  /** How the list was built: fresh discovery, the in-band registrars, or the cache. */
  via: 'discovery' | 'target' | 'in-band' | 'cache' | 'preferred';
  /** Home and backup registrars named by a 301 on the way, if any. */
  inBand: { fqdn: string; port: number; transport: 'tls' | 'tcp' }[];
  provisioning: PostRegistration;
}

export interface SessionEvents {
  state: [state: SessionState];
  step: [step: Readonly<StepRecord>, phase: 'start' | 'end'];
  registered: [info: Registered];
  lost: [reason: SiplogonError];
  retrying: [info: { inMs: number; attempt: number; error: SiplogonError }];
  warning: [message: string];
  stopped: [];
  /** Own presence as published (issue 8). */
  presence: [own: OwnPresence];
  /** The contact list with its groups, whenever it arrives or changes. */
  contacts: [list: ContactsEvent];
  contactPresence: [contact: ContactPresence];
  /** A presence problem (malformed body, refused request); the session goes on. */
  presenceError: [error: SiplogonError, context: PresenceErrorContext];
}

export interface RunOptions {
  /** Sign in once and stop (the diagnosis): no staying registered, no retry. */
  once?: boolean;
  /** Attach this recorder instead of a fresh one (the diagnosis keeps its own). */
  recorder?: StepRecorder;
}

export class SignInSession extends EventEmitter<SessionEvents> {
  readonly options: ResolvedOptions;
  readonly recorder: StepRecorder;
  private stateValue: SessionState = 'starting';
  private leg: Leg | undefined;
  private current: Registered | undefined;
  private cycle = new RegistrarCycle();
  private readonly penalties: PenaltyList;
  private readonly backoff: Backoff;
  private readonly store: CacheStore | undefined;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private readonly done: Promise<void>;
  private readonly first: Promise<Registered>;
  private settleFirst!: { resolve: (r: Registered) => void; reject: (e: unknown) => void };
  private stopNetworkWatch: (() => void) | undefined;
  /** Candidates ranked above the registrar we are on (we failed over past them). */
  private preferred: Candidate[] = [];
  private lastTried: Candidate[] = [];
  private switchTo: { leg: Leg; candidate: Candidate; address: string } | undefined;
  private probe: PreferredRegistrarProbe | undefined;
  /** The cache as last read or written: read once per session, not on every retry. */
  private cacheRecord: CacheRecord | null | undefined;
  // Presence (issue 8): one agent per registration leg; a failover starts a new one on the new leg.
  private presenceAgent: PresenceAgent | undefined;
  private presenceStarting: Promise<void> | undefined;
  private wantedPresence: { state: PresenceState; note?: string } | undefined;

  constructor(options: SignInOptions, private readonly run: RunOptions = {}) {
    super();
    // Everything the session starts listens to the session's own abort; the caller's signal
    // (if any) stops the session, which aborts it.
    const resolved = resolveOptions(options);
    const callerSignal = resolved.signal;
    this.options = { ...resolved, signal: this.abort.signal };
    const o = this.options;
    // A one-shot run (the diagnosis) keeps every step; a long-lived session a recent window.
    this.recorder = run.recorder ?? new StepRecorder(o.clock, run.once ? {} : { keep: o.stepHistory });
    this.recorder.subscribe((s, p) => this.emit('step', s, p));
    this.penalties = new PenaltyList({ clock: o.clock, penaltyMs: o.penaltyMs });
    this.backoff = new Backoff({ baseMs: o.backoff.baseMs, capMs: Math.max(o.backoff.capMs, o.backoff.baseMs), random: o.random });
    this.store = o.cache === false ? undefined : new CacheStore({ path: o.cache.path ?? defaultCachePath(o.aor), onWarning: (m) => this.emit('warning', m) });
    this.first = new Promise<Registered>((resolve, reject) => {
      this.settleFirst = { resolve, reject };
    });
    this.first.catch(() => undefined); // observed through ready()
    this.done = this.loop();
    // An already-aborted signal never fires 'abort': honour it now (the loop has not started yet).
    if (callerSignal?.aborted) void this.stop();
    else callerSignal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  get state(): SessionState {
    return this.stateValue;
  }

  /** The current registration, if registered. */
  get registration(): Registered | undefined {
    return this.stateValue === 'registered' ? this.current : undefined;
  }

  /** Resolves with the first registration; rejects if `once` and sign-in failed, or on stop before it. */
  ready(): Promise<Registered> {
    return this.first;
  }

  /** Un-REGISTERs (when registered) and ends the session. */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopping' || this.stateValue === 'stopped') return this.done;
    this.setState('stopping');
    this.abort.abort();
    this.wake?.();
    await this.done;
  }

  /**
   * Listeners are the caller's code: one that throws must not be taken for a failed sign-in (the
   * loop would re-register forever, leaking each registered leg, and ready() would never settle).
   * The exception is reported as a `warning` (or a process warning when nobody listens for those).
   */
  override emit<K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]): boolean {
    try {
      return (super.emit as (e: K, ...a: SessionEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      const message = `a '${String(event)}' listener threw: ${err instanceof Error ? err.message : String(err)}`;
      if (event !== 'warning' && this.listenerCount('warning') > 0) this.emit('warning', message);
      else process.emitWarning(message, 'SiplogonListenerWarning');
      return true;
    }
  }

  private setState(s: SessionState): void {
    if (this.stateValue === s) return;
    this.stateValue = s;
    this.emit('state', s);
  }

  private get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  private async loop(): Promise<void> {
    const o = this.options;
    // The diagnosis asks DNS itself even when a shared cache is given: it reports the network as it is.
    const dnsCache = this.run.once ? undefined : o.dnsCache;
    // signIn() returns before anything is emitted: the caller attaches listeners first, and sees
    // the 'discovering' state and the first step's start too.
    await Promise.resolve();
    let dns: DnsClient;
    try {
      dns = new DnsClient({ ...(o.dnsServers ? { servers: o.dnsServers } : {}), timeoutMs: o.dnsTimeoutMs, ...(dnsCache ? { cache: dnsCache } : {}) });
    } catch (err) {
      // Nothing to sign off; never an unhandled rejection from the constructor's loop().
      this.settleFirst.reject(asSignInError(err));
      this.setState('stopped');
      this.emit('stopped');
      return;
    }
    if (!this.run.once && o.networkWatchIntervalMs > 0) {
      const w = watchNetwork({ intervalMs: o.networkWatchIntervalMs });
      w.on('change', () => this.onNetworkChange());
      this.stopNetworkWatch = () => w.stop();
    }
    let attempt = 0;
    try {
      while (!this.stopping) {
        try {
          const reg = await this.signInOnce(dns);
          // stop() came while the sign-in was finishing (provisioning, cache): it found nothing to
          // wake, so honour it here; signOff() below un-REGISTERs the leg finish() kept.
          if (this.stopping) break;
          attempt = 0;
          this.backoff.reset();
          this.current = reg;
          this.setState('registered');
          this.emit('registered', reg);
          this.settleFirst.resolve(reg);
          if (this.run.once) {
            // The diagnosis records "presence published" / "contact list downloaded" before signing off.
            await this.startPresence();
            break;
          }
          void this.startPresence(this.abort.signal);
          let reason = await this.stayRegistered();
          while (!this.stopping && this.switchTo) {
            await this.switchToPreferred(dns);
            reason = await this.stayRegistered();
          }
          if (this.stopping) break;
          this.learnFromRedirectedRefresh(reason);
          this.presenceAgent?.dispose();
          this.presenceAgent = undefined;
          // A registrar that went away sorts last for a while (a penalty, not a ban).
          if (this.current) this.penalties.penalise(this.current.registrar, reason.code);
          // The lost leg's refresh timer and socket must not outlive it.
          this.leg?.close();
          this.leg = undefined;
          this.emit('lost', reason);
          // The first sign-in after a loss goes at once: a killed registrar's backup is usually up.
          this.setState('reconnecting');
        } catch (err) {
          const error = asSignInError(err);
          if (this.stopping) break;
          if (this.run.once || isFatal(error)) {
            this.settleFirst.reject(error);
            break;
          }
          attempt += 1;
          const inMs = this.backoff.next();
          this.setState('reconnecting');
          this.emit('retrying', { inMs, attempt, error });
          await this.sleep(inMs);
        }
      }
    } finally {
      this.stopNetworkWatch?.();
      await this.signOff();
      dns.close();
      this.settleFirst.reject(new SignInError('ABORTED', 'the session stopped before it signed in'));
      this.setState('stopped');
      this.emit('stopped');
    }
  }

  /** One sign-in cycle per the seed: in-band registrars first once known, else discovery; cache as last resort. */
  private async signInOnce(dns: DnsClient): Promise<Registered> {
    const o = this.options;
    const rec = this.recorder;
    const started = o.clock.now();
    this.setState('discovering');

    if (this.cacheRecord === undefined) this.cacheRecord = await this.loadCache();
    const cached = this.cacheRecord;
    if (cached && !o.targetFqdn && this.cycle.firstTime) {
      // The cached registrar was reached before: the record and the in-band list survive restarts.
      this.cycle = new RegistrarCycle({ reached: [candidateKey(cached.registrar)], inBand: cached.inBand ?? [] });
    }

    const attemptList = async (candidates: Candidate[], via: Registered['via'], later: readonly LateCandidate[] = []): Promise<Registered | { rebuild: true } | { error: SiplogonError }> => {
      this.setState('connecting');
      // Only a remembered list (in-band, cache) is abandoned when a reached registrar fails again;
      // a freshly discovered list is tried to its end.
      const r = await this.tryCandidates(candidates, dns, via === 'in-band', later);
      if ('leg' in r) return this.finish(r.leg, r.candidate, r.address, via, started, dns);
      if ('error' in r && isFatal(r.error)) throw r.error;
      return r;
    };

    // Seed: once registered, the device uses the in-band registrars; if one it had reached fails
    // again (or none answers), the cycle ends and the list is rebuilt from DNS and DHCP.
    const plan = o.targetFqdn ? undefined : this.cycle.beginCycle();
    if (plan?.kind === 'in-band') {
      const hosts = [...new Set(plan.candidates.map((c) => c.fqdn))];
      // The home pool races as soon as it resolves; a backup whose name is slow joins later.
      const inBand = await resolveProgressively(plan.candidates, hosts, o, rec, dns);
      if (inBand.candidates.length > 0 || inBand.later.length > 0) {
        const r = await attemptList(inBand.candidates, 'in-band', inBand.later);
        if ('registrar' in r) return r;
      }
      this.cycle.beginRebuild();
    }

    const discovery = await runDiscovery(o, rec, dns);
    const result = discovery.candidates.length > 0 || discovery.later?.length ? await attemptList(discovery.candidates, o.targetFqdn ? 'target' : 'discovery', discovery.later) : { error: new SignInError('NO_CANDIDATES', `no registrar found for ${o.domain}`) };
    if ('registrar' in result) return result;

    // Seed resiliency: DHCP and SRV failed (or nothing they named resolved) → the cached registrar.
    if (discovery.cacheDecision?.useCache && cached && !o.targetFqdn) {
      const fqdn = cached.registrar.fqdn;
      const step = rec.begin('cache-use', `Use cached registrar ${fqdn}`, fqdn, { writtenAt: cached.writtenAt, why: discovery.cacheDecision.detail });
      // The seed prefers the cached FQDN resolved afresh, then its cached IPs. DNS has just failed
      // (that is why the cache is used), so the cached IPs do not wait out another DNS timeout:
      // they join the race one stagger after it starts unless the fresh answer came first.
      const cachedIps = cacheCandidates(cached, null);
      const fresh: LateCandidate = {
        transport: cached.registrar.transport,
        ready: resolveCandidates([cacheCandidate(cached)], [fqdn], o, rec, dns).then((f) => {
          const addrs = f.resolved.get(fqdn);
          return addrs?.length ? cacheCandidates(cached, addrs)[0] : undefined;
        }),
      };
      step.pass({ cachedAddresses: cachedIps.map(describeCandidate), resolvingAfresh: fqdn });
      const r = await attemptList([], 'cache', [fresh, ...cachedIps.map((c): LateCandidate => ({ transport: c.transport, ready: Promise.resolve(c) }))]);
      if ('registrar' in r) return r;
      if ('error' in r) throw r.error;
    }
    if ('error' in result) throw result.error;
    throw new SignInError('ALL_CANDIDATES_FAILED', 'every registrar failed');
  }

  /**
   * Races connections over the candidates, registers on the winner, follows redirects. A failed
   * registrar is penalised and the race goes on with the rest; a recorded one abandons the cycle.
   */
  private async tryCandidates(
    candidates: Candidate[],
    dns: DnsClient,
    abandonOnRecorded: boolean,
    later: readonly LateCandidate[] = [],
  ): Promise<{ leg: Leg; candidate: Candidate; address: string } | { rebuild: true } | { error: SiplogonError }> {
    const o = this.options;
    this.lastTried = candidates;
    let remaining = this.penalties.orderCandidates(candidates);
    const failures: { candidate: Candidate; error: SiplogonError }[] = [];
    let hops = 0;
    const visited = new Set<string>();
    // Names still resolving join the first race only; a later round (after a redirect or a failed
    // REGISTER) works on what is known by then.
    let joining = later;
    while ((remaining.length > 0 || joining.length > 0) && !this.stopping) {
      const won = await raceConnect(remaining, o, this.recorder, this.abort.signal, (c) => this.cycle.onAttemptFailed(c).action === 'rebuild' && abandonOnRecorded, joining);
      joining = [];
      if ('failures' in won) {
        for (const f of won.failures) {
          this.penalties.penalise(f.candidate, f.error.code);
          failures.push(f);
        }
        if (won.abandoned) return { rebuild: true };
        break;
      }
      const { candidate, address, connection } = won;
      visited.add(candidateKey(candidate));
      try {
        const leg = await openRegistration(connection, candidate, o, this.recorder);
        if (leg.outcome.kind === 'registered') return { leg, candidate, address };
        // 301/302: Lync names the home and backup registrars; they become the in-band list.
        const redirect = leg.outcome;
        leg.close();
        hops += 1;
        // A redirect is as untrusted as a DNS or DHCP answer: the same domain policy applies.
        const named = redirect.contacts.map((c) => redirectCandidate(c));
        const next = named.filter((c) => this.allowedRegistrar(c));
        const refused: Record<string, unknown>[] = named.filter((c) => !this.allowedRegistrar(c)).map((c) => ({ ...describeCandidate(c), reason: `outside ${o.domain}` }));
        const step = this.recorder.begin('redirect', `${redirect.status} redirect from ${candidate.fqdn}`, candidate.fqdn, { status: redirect.status, contacts: next.map(describeCandidate), refused, hops: [...visited] });
        if (next.length === 0) {
          const why = refused.length ? `the redirect named only registrars outside ${o.domain}: ${refused.map((r) => String(r['fqdn'])).join(', ')}` : 'the redirect named no usable registrar';
          step.fail(new SignInError('REDIRECT_INVALID', why));
          return { error: new SignInError('REDIRECT_INVALID', `${candidate.fqdn}: ${why}`) };
        }
        if (next.every((c) => visited.has(candidateKey(c)))) {
          step.fail(new SignInError('REDIRECT_LOOP', `redirect loop: ${[...visited].join(' → ')}`));
          return { error: new SignInError('REDIRECT_LOOP', `the registrars redirect in a loop (${[...visited].join(' → ')})`) };
        }
        if (hops > o.maxRedirects) {
          step.fail(new SignInError('REDIRECT_LIMIT', `more than ${o.maxRedirects} redirects`));
          return { error: new SignInError('REDIRECT_LIMIT', `more than ${o.maxRedirects} redirects`) };
        }
        step.pass();
        this.cycle.learnInBand(next, `${redirect.status} from ${candidate.fqdn}`);
        const hosts = [...new Set(next.map((c) => c.fqdn))];
        remaining = (await resolveCandidates(next, hosts, o, this.recorder, dns)).candidates;
      } catch (err) {
        const error = asSignInError(err);
        failures.push({ candidate, error });
        // No password: no other registrar would fare better, and none is at fault (not penalised).
        if (isFatal(error) || error.code === 'CREDENTIALS_UNAVAILABLE') return { error };
        this.penalties.penalise(candidate, error.code);
        if (this.cycle.onAttemptFailed(candidate).action === 'rebuild' && abandonOnRecorded) return { rebuild: true };
        remaining = remaining.filter((c) => c !== candidate);
      }
    }
    if (failures.length === 1 && failures[0]) return { error: failures[0].error };
    return {
      error: new SignInError('ALL_CANDIDATES_FAILED', `all ${failures.length} registrar candidates failed: ${failures.map((f) => `${f.candidate.fqdn}:${f.candidate.port}/${f.candidate.transport} ${f.error.code}`).join('; ')}`, {
        details: { failures: failures.map((f) => ({ ...describeCandidate(f.candidate), code: f.error.code, message: f.error.message })) },
      }),
    };
  }

  private async finish(leg: Leg, candidate: Candidate, address: string, via: Registered['via'], started: number, dns: DnsClient): Promise<Registered> {
    const o = this.options;
    this.leg = leg;
    const rank = this.lastTried.findIndex((c) => candidateKey(c) === candidateKey(candidate));
    this.preferred = rank > 0 ? this.lastTried.slice(0, rank).filter((c) => c.addresses.length > 0) : [];
    this.cycle.onRegistered(candidate);
    this.penalties.clear(candidate);
    const writable = this.store && o.cache !== false && !o.cache.readOnly ? this.store : undefined;
    if (this.store && !writable) this.recorder.begin('cache-write', 'Cache update', this.store.options.path).skip('read-only (diagnosis)');
    // Seed: after a successful registration the stale cache is flushed.
    if (writable) {
      const s = this.recorder.begin('cache-write', 'Flush the stale cache', writable.options.path);
      try {
        await writable.clear();
        this.cacheRecord = null;
        s.pass();
      } catch (e) {
        s.fail(e);
      }
    }
    const outcome = leg.outcome;
    const expires = outcome.kind === 'registered' ? outcome.expires : 0;
    const provisioning = o.provisioning ? await postRegistration(leg, o, this.recorder, dns) : { relays: [] };
    const registrar: RegistrarInfo = { fqdn: candidate.fqdn, port: candidate.port, transport: candidate.transport, address, source: candidate.source };
    const reg: Registered = {
      registrar,
      expires,
      tookMs: Math.round(o.clock.now() - started),
      via,
      inBand: this.cycle.snapshot().inBand,
      provisioning,
    };
    if (writable) {
      const record: CacheRecord = recordFromRegistration({
        user: o.aor,
        connectedAddress: address,
        registrar: { fqdn: candidate.fqdn, port: candidate.port, transport: candidate.transport, addresses: candidate.addresses },
        inBand: reg.inBand,
        mediaRelays: provisioning.relays.map((r) => ({ fqdn: r.hostName, addresses: r.addresses, ...(r.udpPort ? { udpPort: r.udpPort } : {}), ...(r.tcpPort ? { tcpPort: r.tcpPort } : {}), ...(r.location ? { location: r.location } : {}) })),
        ...(provisioning.mrasUri ? { mrasUri: provisioning.mrasUri } : {}),
        at: new Date(),
      });
      const s = this.recorder.begin('cache-write', 'Cache the registrar and Media Relays', writable.options.path);
      try {
        await writable.save(record);
        this.cacheRecord = record;
        s.pass({ registrar: record.registrar, mediaRelays: record.mediaRelays.map((m) => m.fqdn) });
      } catch (e) {
        s.fail(e);
        this.emit('warning', `could not write the cache: ${(e as Error).message}`);
      }
    }
    return reg;
  }

  /** Resolves with the reason the registration was lost; returns early on stop. */
  private async stayRegistered(): Promise<SiplogonError> {
    const leg = this.leg;
    if (!leg) return new SignInError('CONNECTION_CLOSED', 'no registration');
    // A stop() that came before this.wake was set would otherwise wait for a loss that never comes.
    if (this.stopping) return new SignInError('ABORTED', 'stopping');
    const o = this.options;
    return new Promise<SiplogonError>((resolve) => {
      let done = false;
      const finish = (e: SiplogonError): void => {
        if (done) return;
        done = true;
        stopKeepAlive();
        this.probe?.stop();
        this.probe = undefined;
        this.wake = undefined;
        resolve(e);
      };
      const stopKeepAlive = leg.keepAlive({ intervalMs: o.keepAliveIntervalMs, timeoutMs: o.keepAliveTimeoutMs, clock: o.clock }, finish);
      leg.onLost(finish);
      this.wake = () => finish(new SignInError('ABORTED', 'stopping'));
      if (o.preferredProbe && this.preferred.length > 0) {
        const probe: PreferredRegistrarProbe = new PreferredRegistrarProbe({
          clock: o.clock,
          random: o.random,
          backoff: { baseMs: o.preferredProbe.baseMs, capMs: o.preferredProbe.capMs },
          probe: () => void this.probePreferred(probe, () => finish(new SignInError('ABORTED', 'moving back to the preferred registrar'))),
        });
        this.probe = probe;
        probe.start();
      }
    });
  }

  /** One probe: connect to the preferred registrar(s) and register there; the old leg stays up meanwhile. */
  private async probePreferred(probe: PreferredRegistrarProbe, moveBack: () => void): Promise<void> {
    const o = this.options;
    const quiet = new StepRecorder(o.clock); // failed probes are not news; a successful one is recorded below
    try {
      const won = await raceConnect(this.preferred, o, quiet, this.abort.signal);
      if ('failures' in won || this.stopping || this.probe !== probe) {
        if (!('failures' in won)) won.connection.close();
        probe.result(false);
        return;
      }
      const leg = await openRegistration(won.connection, won.candidate, o, this.recorder);
      if (leg.outcome.kind !== 'registered' || this.stopping || this.probe !== probe) {
        // Registered after all (the session stopped or moved on meanwhile): do not leave the binding.
        if (leg.outcome.kind === 'registered') void leg.unregister().catch(() => undefined).finally(() => leg.close());
        else leg.close();
        probe.result(false);
        return;
      }
      this.switchTo = { leg, candidate: won.candidate, address: won.address };
      probe.result(true);
      moveBack();
    } catch {
      probe.result(false);
    }
  }

  /** Registered on the preferred registrar already: adopt it, then leave the backup. */
  private async switchToPreferred(dns: DnsClient): Promise<void> {
    const sw = this.switchTo;
    this.switchTo = undefined;
    if (!sw) return;
    const old = this.leg;
    const started = this.options.clock.now();
    // Presence follows the registration: end it cleanly on the backup, start it on the preferred one.
    await this.presenceAgent?.stop().catch(() => undefined);
    this.presenceAgent = undefined;
    this.lastTried = [...this.preferred];
    const reg = await this.finish(sw.leg, sw.candidate, sw.address, 'preferred', started, dns);
    this.current = reg;
    // stop() during the move: no "registered" after it; signOff() un-REGISTERs the new leg.
    if (!this.stopping) {
      this.emit('registered', reg);
      void this.startPresence(this.abort.signal);
    }
    if (old) {
      const step = this.recorder.begin('unregister', `Un-REGISTER from ${old.target} (back on the preferred registrar)`, old.target);
      try {
        await old.unregister();
        step.pass();
      } catch (e) {
        step.fail(e);
      } finally {
        old.close();
      }
    }
  }

  /** A redirect is as untrusted as a DNS or DHCP answer: the same domain policy applies. */
  private allowedRegistrar(c: Candidate): boolean {
    const o = this.options;
    const policy = { ...DEFAULT_CANDIDATE_POLICY, ...o.policy };
    return policy.allowOutsideDomain || [o.domain, ...policy.allowedDomains].some((d) => isWithinDomain(c.fqdn, d));
  }

  /**
   * A refresh answered with a 3xx (a Lync pool moving the user's home pool): its Contacts become
   * the in-band registrars, so the next sign-in goes there instead of back through discovery.
   */
  private learnFromRedirectedRefresh(reason: SiplogonError): void {
    // The Registration already parsed the Contacts (host, port, transport) into the error.
    const contacts = reason.details['contacts'] as readonly RedirectContact[] | undefined;
    if (!Array.isArray(contacts)) return;
    const named = contacts.map((c) => redirectCandidate(c));
    const next = named.filter((c) => this.allowedRegistrar(c));
    if (next.length > 0) this.cycle.learnInBand(next, `${String(reason.details['status'] ?? '3xx')} to a refresh from ${this.current?.registrar.fqdn ?? 'the registrar'}`);
  }

  private onNetworkChange(): void {
    // In back-off: go now (that is the immediate retry). Registered: a refresh proves (or
    // disproves) the path at once. Connecting: the attempt under way may fail because of the
    // change, so its failure is retried at once.
    const waking = this.stateValue === 'reconnecting' && this.wake !== undefined;
    this.backoff.networkChanged(waking);
    this.probe?.networkChanged();
    if (waking) this.wake?.();
    else if (this.stateValue === 'registered') this.leg?.refreshNow();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.options.clock.setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        this.options.clock.clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async loadCache(): Promise<CacheRecord | null> {
    if (!this.store) return null;
    const step = this.recorder.begin('cache-load', 'Read the local cache', this.store.options.path);
    try {
      const r = await this.store.load();
      if (r && r.user !== this.options.aor) {
        step.skip(`cache belongs to ${r.user}`);
        return null;
      }
      if (r) step.pass({ registrar: r.registrar, writtenAt: r.writtenAt, inBand: r.inBand ?? [] });
      else step.skip('no cache yet (first-time bootstrap)');
      return r;
    } catch (e) {
      step.fail(e);
      return null;
    }
  }

  /** Own presence for this and later registrations (SIMPLE: PUBLISH modify; Lync: category publish). */
  async setPresence(state: PresenceState, note?: string): Promise<void> {
    if (this.options.presence === false) throw new PresenceError('PRESENCE_FAILED', 'presence is turned off for this session');
    // Checked before it is remembered: a bad state must not be published at the next registration.
    if (!PRESENCE_STATES.includes(state) || state === 'unknown') throw new UsageError('INVALID_OPTION', `presence state must be one of online, busy, away, dnd, offline, got ${String(state)}`);
    if (note !== undefined && typeof note !== 'string') throw new UsageError('INVALID_OPTION', 'presence note must be a string');
    if (this.stopping) throw new PresenceError('PRESENCE_FAILED', 'the session is stopped');
    this.wantedPresence = { state, ...(note !== undefined ? { note } : {}) };
    await this.presenceStarting;
    const agent = this.presenceAgent;
    if (!agent) throw new PresenceError('PRESENCE_FAILED', 'not signed in: the state is published at the next registration');
    await agent.setPresence(state, note);
  }

  /** Starts presence on the current leg; never throws (failures are steps and presenceError events). */
  private startPresence(signal?: AbortSignal): Promise<void> {
    const cfg = this.options.presence;
    const leg = this.leg;
    if (cfg === false || !leg) return Promise.resolve();
    const wanted = this.wantedPresence;
    const agent = new PresenceAgent({
      leg,
      aor: this.options.aor,
      config: wanted ? { ...cfg, initialState: wanted.state, note: wanted.note } : cfg,
      clock: this.options.clock,
      recorder: this.recorder,
      transactionTimeoutMs: this.options.transactionTimeoutMs,
      instanceId: this.options.instanceId,
    });
    this.presenceAgent = agent;
    agent.on('presence', (p) => this.emit('presence', p));
    agent.on('contacts', (l) => this.emit('contacts', l));
    agent.on('contactPresence', (c) => this.emit('contactPresence', c));
    agent.on('presenceError', (e, ctx) => this.emit('presenceError', e, ctx));
    const p = agent.start(signal).catch((e: unknown) => {
      this.emit('presenceError', SiplogonError.is(e) ? e : new PresenceError('PRESENCE_FAILED', String(e)), 'presence');
    });
    this.presenceStarting = p;
    return p;
  }

  private async signOff(): Promise<void> {
    // A registration the preferred-registrar probe made but the loop never adopted is ours too.
    const pending = this.switchTo?.leg;
    this.switchTo = undefined;
    const leg = this.leg ?? pending;
    this.leg = undefined;
    if (!leg) return;
    const legs = pending && pending !== leg ? [leg, pending] : [leg];
    const agent = this.presenceAgent;
    this.presenceAgent = undefined;
    const o = this.options;
    let bound: TimerHandle | undefined;
    let boundHit = false;
    const boundPassed = new Promise<void>((resolve) => {
      bound = o.clock.setTimeout(() => {
        boundHit = true;
        this.emit('warning', `sign-off took longer than ${o.signOffTimeoutMs} ms: connection closed without waiting for ${legs.map((l) => l.target).join(', ')} (its binding expires on its own)`);
        // Closing the connection fails every transaction still waiting on it at once.
        for (const l of legs) l.close();
        resolve();
      }, o.signOffTimeoutMs);
    });
    const work = (async (): Promise<void> => {
      if (agent) {
        // Un-SUBSCRIBE and un-PUBLISH before un-REGISTER, else the server NOTIFYs a dead socket.
        await this.presenceStarting;
        await agent.stop().catch(() => undefined);
      }
      await Promise.all(
        legs.map(async (l) => {
          const step = this.recorder.begin('unregister', 'Un-REGISTER', l.target);
          if (boundHit) return step.skip(`the sign-off bound (${o.signOffTimeoutMs} ms) passed first`);
          try {
            await l.unregister();
            step.pass();
          } catch (e) {
            step.fail(e);
          }
        }),
      );
    })();
    try {
      // After the bound, what is still pending settles on the closed connection by itself.
      await Promise.race([work, boundPassed]);
    } finally {
      o.clock.clearTimeout(bound);
      for (const l of legs) l.close();
    }
  }
}

function isFatal(e: SiplogonError): boolean {
  // Wrong credentials or a registrar that refuses the user will not improve by retrying others.
  return e.code === 'AUTH_FAILED' || e.code === 'AUTH_UNSUPPORTED' || e.code === 'REDIRECT_LOOP' || e.code === 'INVALID_URI' || e.code === 'INVALID_OPTION' || (e.code === 'REGISTER_REJECTED' && [403, 404].includes(Number(e.details['status'])));
}

function asSignInError(err: unknown): SiplogonError {
  if (SiplogonError.is(err)) return err;
  return new SignInError('ALL_CANDIDATES_FAILED', err instanceof Error ? err.message : String(err), { cause: err });
}

function cacheCandidate(r: CacheRecord): Candidate {
  return { fqdn: r.registrar.fqdn, port: r.registrar.port, transport: r.registrar.transport, source: 'cache', step: null, origin: 'cache', addresses: [] };
}

function redirectCandidate(c: { host: string; port?: number | undefined; transport?: string | undefined }): Candidate {
  const transport = c.transport === 'tcp' ? 'tcp' : 'tls';
  return { fqdn: c.host.toLowerCase().replace(/\.$/, ''), port: c.port ?? DEFAULT_PORTS[transport], transport, source: 'redirect', step: null, origin: '301 Contact', addresses: [] };
}

/** Starts signing in; the returned session emits events and stays registered until stop(). */
export function signIn(options: SignInOptions): SignInSession {
  return new SignInSession(options);
}
