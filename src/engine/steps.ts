/**
 * The engine reports every thing it does as a step. The CLI checklist, the session's events and
 * the diagnosis report are all subscribers of this one stream: the diagnosis is the sign-in
 * engine with a recorder attached, never a second implementation.
 */
import type { Clock } from '../core/clock.js';
import { SiplogonError, type ErrorCode } from '../errors.js';

export type StepKind =
  | 'cache-load'
  | 'dhcp-inform'
  | 'dns-srv'
  | 'dns-host'
  | 'candidates'
  | 'cache-use'
  | 'tcp-connect'
  | 'tls-handshake'
  | 'register'
  | 'challenge'
  | 'authenticate'
  | 'redirect'
  | 'provisioning'
  | 'media-relay'
  | 'cache-write'
  | 'keepalive'
  | 'refresh'
  | 'unregister'
  | 'presence'
  | 'contacts';

export type StepStatus = 'running' | 'pass' | 'fail' | 'skipped';

export interface StepRecord {
  /** 1-based, in order of start (stays unique when old steps are dropped). */
  id: number;
  kind: StepKind;
  title: string;
  /** What the step was aimed at: a DNS name, "host:port/tls", an AoR. */
  target?: string;
  status: StepStatus;
  /** Milliseconds since the run started. */
  startedAtMs: number;
  latencyMs?: number;
  /** Facts for people and for the diagnosis (never secrets). */
  detail: Record<string, unknown>;
  error?: { code: ErrorCode | string; message: string };
  /** Why it was skipped. */
  reason?: string;
}

export interface StepHandle {
  readonly record: Readonly<StepRecord>;
  pass(detail?: Record<string, unknown>): void;
  fail(error: unknown, detail?: Record<string, unknown>): void;
  skip(reason: string, detail?: Record<string, unknown>): void;
  /** Adds facts while running. */
  note(detail: Record<string, unknown>): void;
}

export type StepListener = (step: Readonly<StepRecord>, phase: 'start' | 'end') => void;

export class StepRecorder {
  readonly steps: StepRecord[] = [];
  private readonly listeners = new Set<StepListener>();
  private readonly t0: number;

  private seq = 0;
  private readonly keep: number;

  /**
   * @param keep how many finished-or-running steps to retain (oldest dropped first). A diagnosis
   *   keeps all; a session that stays signed in for days keeps a recent window so retries during
   *   an outage cannot grow memory without bound. Listeners see every step either way.
   */
  constructor(private readonly clock: Clock, opts: { keep?: number } = {}) {
    this.t0 = clock.now();
    this.keep = opts.keep ?? Infinity;
  }

  subscribe(listener: StepListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  begin(kind: StepKind, title: string, target?: string, detail: Record<string, unknown> = {}): StepHandle {
    const start = this.clock.now();
    const record: StepRecord = {
      id: ++this.seq,
      kind,
      title,
      status: 'running',
      startedAtMs: Math.round(start - this.t0),
      detail: { ...detail },
    };
    if (target !== undefined) record.target = target;
    this.steps.push(record);
    if (this.steps.length > this.keep) this.steps.splice(0, this.steps.length - this.keep);
    this.emit(record, 'start');
    let ended = false;
    const end = (status: StepStatus, extra: Record<string, unknown> | undefined, fill?: (r: StepRecord) => void): void => {
      if (ended) return; // a step ends once; late callbacks from cancelled work are ignored
      ended = true;
      record.status = status;
      record.latencyMs = Math.round((this.clock.now() - start) * 10) / 10;
      if (extra) Object.assign(record.detail, extra);
      fill?.(record);
      this.emit(record, 'end');
    };
    return {
      record,
      pass: (d) => end('pass', d),
      fail: (error, d) =>
        end('fail', d, (r) => {
          r.error = describeError(error);
        }),
      skip: (reason, d) =>
        end('skipped', d, (r) => {
          r.reason = reason;
        }),
      note: (d) => {
        Object.assign(record.detail, d);
      },
    };
  }

  /** A step that is already decided (no latency of its own). */
  instant(kind: StepKind, title: string, status: Exclude<StepStatus, 'running'>, detail: Record<string, unknown> = {}, target?: string): StepRecord {
    const h = this.begin(kind, title, target, detail);
    if (status === 'pass') h.pass();
    else if (status === 'skipped') h.skip(String(detail['reason'] ?? ''));
    else h.fail(detail['error'] ?? new Error(title));
    return h.record as StepRecord;
  }

  private emit(record: StepRecord, phase: 'start' | 'end'): void {
    for (const l of this.listeners) {
      try {
        l(record, phase);
      } catch {
        // a broken subscriber must not break sign-in
      }
    }
  }
}

export function describeError(error: unknown): { code: string; message: string } {
  if (SiplogonError.is(error)) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: (error as NodeJS.ErrnoException).code ?? 'ERROR', message: error.message };
  return { code: 'ERROR', message: String(error) };
}
