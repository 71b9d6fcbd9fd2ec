/**
 * The I/O half of candidate racing: the core's race machine decides when each (candidate,
 * address) starts, which result wins and what is cancelled; this driver opens the connections
 * (TCP connect, then TLS with the candidate's FQDN as the name to verify) and records each as steps.
 */
import { LateJoinQueue } from '../core/late-join.js';
import { expandRaceTargets, StaggeredRace, type RaceCommand, type RaceTarget } from '../core/race.js';
import type { Candidate, SipTransport } from '../core/types.js';
import { SiplogonError, TransportError } from '../errors.js';
import { connectSip, type SipConnection, type TlsInfo } from '../sip/connection.js';
import type { ResolvedOptions } from './options.js';
import type { StepHandle, StepRecorder } from './steps.js';

interface Attempt {
  target: RaceTarget;
  abort: AbortController;
  conn?: SipConnection;
  /** The step in progress (TCP connect, then TLS handshake), to close as skipped if cancelled. */
  step?: StepHandle;
}

export type RaceResult =
  | { candidate: Candidate; address: string; connection: SipConnection }
  | { failures: { candidate: Candidate; address: string; error: SiplogonError }[]; abandoned?: boolean };

/** A candidate whose name is still resolving; `ready` gives it with its addresses, or undefined. */
export interface LateCandidate {
  transport: SipTransport;
  ready: Promise<Candidate | undefined>;
}

/**
 * `abandonOn(candidate)` true for a failed candidate stops the whole race (the cycle rule); the
 * result then carries `abandoned: true`. `later` (in preference order, after `candidates`) join
 * the race as their names resolve, so a slow lookup does not hold up the ones already resolved,
 * and holds up the ones ranked below it for one stagger at most (core/late-join.ts).
 */
export async function raceConnect(
  candidates: readonly Candidate[],
  o: ResolvedOptions,
  rec: StepRecorder,
  signal: AbortSignal,
  abandonOn: (c: Candidate) => boolean = () => false,
  later: readonly LateCandidate[] = [],
): Promise<RaceResult> {
  // One record per race entry, same index as in the core's race; late arrivals are appended.
  const attempts: Attempt[] = [];
  // A late name may bring an address already racing for the same name (the cache's FQDN resolved
  // afresh to its cached IP): that attempt would only repeat the one under way.
  const same = (a: RaceTarget, b: RaceTarget): boolean =>
    a.address === b.address && a.transport === b.transport && a.candidate.port === b.candidate.port && a.candidate.fqdn === b.candidate.fqdn;
  const enlist = (targets: readonly RaceTarget[]): RaceTarget[] => {
    const fresh: RaceTarget[] = [];
    for (const t of targets) {
      if (attempts.some((a) => same(a.target, t))) continue;
      attempts.push({ target: t, abort: new AbortController() });
      fresh.push(t);
    }
    return fresh;
  };
  const initial = enlist(expandRaceTargets(candidates));
  if (initial.length === 0 && later.length === 0) return { failures: [] };
  const failures: { candidate: Candidate; address: string; error: SiplogonError }[] = [];
  if (signal.aborted) return { failures };

  return new Promise<RaceResult>((resolve) => {
    let settled = false;
    let joining: LateJoinQueue | undefined;
    const stagger = Math.max(10, o.staggerMs);
    const finish = (r: RaceResult): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      joining?.stop();
      resolve(r);
    };
    // The caller gave up (session stopped): an aborted attempt reports nothing to the core, so
    // the race must be ended here, or it would wait forever for attempts that no longer run.
    const onAbort = (): void => {
      finish({ failures });
      race.abort();
      attempts.forEach((a) => a.abort.abort());
    };
    const race = new StaggeredRace(initial, {
      staggerMs: stagger,
      tlsPatienceMs: o.tlsPatienceMs,
      clock: o.clock,
      openEnded: later.length > 0,
      onCommand: (cmd: RaceCommand) => {
        switch (cmd.type) {
          case 'start':
            start(cmd.index);
            break;
          case 'cancel': {
            const a = attempts[cmd.index] as Attempt;
            a.abort.abort();
            a.conn?.close();
            a.conn = undefined;
            a.step?.skip(cmd.reason === 'aborted' ? 'cancelled: the sign-in was stopped' : 'cancelled: another candidate won the race');
            break;
          }
          case 'winner': {
            const a = attempts[cmd.index] as Attempt;
            finish({ candidate: a.target.candidate, address: a.target.address, connection: a.conn as SipConnection });
            break;
          }
          case 'all-failed':
            finish({ failures });
            break;
          case 'hold':
            break; // a TCP connection waiting for TLS to fail or the patience to run out
        }
      },
    });

    const start = (i: number): void => {
      const a = attempts[i] as Attempt;
      const e = a.target;
      const c = e.candidate;
      const where = `${e.address.includes(':') ? `[${e.address}]` : e.address}:${c.port}`;
      const tcp = rec.begin('tcp-connect', `TCP connect ${c.fqdn} ${where}`, where, {
        fqdn: c.fqdn, address: e.address, port: c.port, transport: c.transport, source: c.source, step: c.step, timeoutMs: o.connectTimeoutMs,
      });
      a.step = tcp;
      let tlsStep: StepHandle | undefined;
      connectSip(
        { address: e.address, port: c.port, transport: c.transport, servername: c.fqdn },
        {
          connectTimeoutMs: o.connectTimeoutMs,
          tlsHandshakeTimeoutMs: o.tlsHandshakeTimeoutMs,
          ...(o.ca !== undefined ? { ca: o.ca } : {}),
          rejectUnauthorized: o.verifyTls,
          signal: a.abort.signal,
          ...(o.sipTrace ? { sipTrace: o.sipTrace, clock: o.clock } : {}),
          onPhase: (p) => {
            if (p.phase === 'tcp-connected') {
              tcp.pass();
              if (c.transport === 'tls') {
                tlsStep = rec.begin('tls-handshake', `TLS handshake with ${c.fqdn}`, c.fqdn, { fqdn: c.fqdn, address: e.address, source: c.source, timeoutMs: o.tlsHandshakeTimeoutMs });
                a.step = tlsStep;
              }
            } else if (p.phase === 'tls-established') {
              tlsStep?.pass({ tls: p.tls });
            }
          },
        },
      ).then(
        (conn) => {
          if (settled || a.abort.signal.aborted) {
            conn.close();
            return;
          }
          a.conn = conn;
          race.succeeded(i);
        },
        (err: unknown) => {
          const error = SiplogonError.is(err) ? err : new TransportError('CONNECT_FAILED', String(err), { cause: err });
          if (a.abort.signal.aborted) return; // a cancelled loser, already recorded
          const tlsInfo = (error.details['tls'] ?? undefined) as TlsInfo | undefined;
          (tlsStep ?? tcp).fail(error, tlsInfo ? { tls: tlsInfo } : {});
          failures.push({ candidate: c, address: e.address, error });
          if (abandonOn(c)) {
            race.abort();
            finish({ failures, abandoned: true });
          } else race.failed(i, error);
        },
      );
    };

    // Open before the start: a TLS name still resolving keeps a TCP success held.
    const closers = later.map((l) => race.expect(l.transport));
    const arrived: (Candidate | undefined)[] = later.map(() => undefined);
    // The core decides when a late name joins: in preference order, except that a name still
    // resolving when its turn comes holds the ones below it for one stagger only. A name that
    // turned out unresolvable closes its source at once (a TCP success need not wait for it).
    joining = new LateJoinQueue(later.length, {
      clock: o.clock,
      slotMs: stagger,
      onJoin: (k) => {
        const c = arrived[k];
        if (c && !settled) race.add(enlist(expandRaceTargets([c])));
        closers[k]!();
      },
    });
    signal.addEventListener('abort', onAbort, { once: true });
    race.start();
    joining.start();
    later.forEach((l, k) => {
      void l.ready
        .catch(() => undefined)
        .then((c) => {
          arrived[k] = c;
          if (!c) closers[k]!();
          joining?.settled(k);
        });
    });
  });
}
