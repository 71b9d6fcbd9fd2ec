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
    if (this.keep > 0) {
      this.steps.push(record);
      if (this.steps.length > this.keep) this.steps.splice(0, this.steps.length - this.keep);
    }
    this.emit(record, 'start');
    return new Step(this, record, start);
  }

  /** @internal */
  end(step: Step, status: StepStatus, extra: Record<string, unknown> | undefined): void {
    const record = step.record;
    record.status = status;
    record.latencyMs = Math.round((this.clock.now() - step.start) * 10) / 10;
    if (extra) Object.assign(record.detail, extra);
    this.emit(record, 'end');
  }

  /** A step that is already decided (no latency of its own). */
  instant(kind: StepKind, title: string, status: Exclude<StepStatus, 'running'>, detail: Record<string, unknown> = {}, target?: string): StepRecord {
    const h = this.begin(kind, title, target, detail);
    if (status === 'pass') h.pass();
    else if (status === 'skipped') h.skip(String(detail['reason'] ?? ''));
    else h.fail(detail['error'] ?? new Error(title));
    return h.record as StepRecord;
  }

  /** @internal */
  emit(record: StepRecord, phase: 'start' | 'end'): void {
    for (const l of this.listeners) {
      try {
        l(record, phase);
      } catch {
        // a broken subscriber must not break sign-in
      }
    }
  }
}

/** One running step; a class rather than closures, since a sign-in makes a dozen and a fleet millions. */
class Step implements StepHandle {
  private ended = false;

  constructor(
    private readonly recorder: StepRecorder,
    readonly record: StepRecord,
    readonly start: number,
  ) {}

  private finish(status: StepStatus, extra: Record<string, unknown> | undefined, fill?: (r: StepRecord) => void): void {
    if (this.ended) return; // a step ends once; late callbacks from cancelled work are ignored
    this.ended = true;
    fill?.(this.record);
    this.recorder.end(this, status, extra);
  }

  pass(detail?: Record<string, unknown>): void {
    this.finish('pass', detail);
  }

  fail(error: unknown, detail?: Record<string, unknown>): void {
    this.finish('fail', detail, (r) => {
      r.error = describeError(error);
    });
  }

  skip(reason: string, detail?: Record<string, unknown>): void {
    this.finish('skipped', detail, (r) => {
      r.reason = reason;
    });
  }

  note(detail: Record<string, unknown>): void {
    Object.assign(this.record.detail, detail);
  }
}

export function describeError(error: unknown): { code: string; message: string } {
  if (SiplogonError.is(error)) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: (error as NodeJS.ErrnoException).code ?? 'ERROR', message: error.message };
  return { code: 'ERROR', message: String(error) };
}
