/**
 * The synthetic transaction (cf. Test-CsClientAuth -UserSipAddress -UserCredential [-TargetFqdn]):
 * runs the sign-in engine once with a step recorder, signs off again, and reports where sign-in
 * failed with a plain-language diagnosis and the fix. Same code path as signIn(), by design.
 */
import { toolVersion } from '../version.js';
import { SignInSession, type Registered } from '../engine/session.js';
import type { SignInOptions } from '../engine/options.js';
import { StepRecorder, type StepListener, type StepRecord } from '../engine/steps.js';
import { SiplogonError } from '../errors.js';
import { systemClock } from '../core/clock.js';
import { SipTraceLog, type SipTraceEntry } from '../sip/trace.js';
import { decisiveStep, explain, type Finding } from './advice.js';

export const DIAGNOSIS_SCHEMA_VERSION = 1;
/** The diagnosis's SIP transaction bound unless one is given (--timeout / transactionTimeoutMs). */
export const DIAGNOSIS_TRANSACTION_TIMEOUT_MS = 8000;

export interface DiagnosisReport {
  schemaVersion: 1;
  tool: { name: 'siplogon'; version: string };
  user: string;
  mode: 'discovery' | 'target-fqdn';
  targetFqdn: string | null;
  startedAt: string;
  durationMs: number;
  result: 'pass' | 'fail';
  registrar: (Registered['registrar'] & { expires: number; via: Registered['via'] }) | null;
  mediaRelays: { fqdn: string; addresses: string[] }[];
  steps: StepRecord[];
  /** The step that decided the outcome (first failing one), with diagnosis and fix; null on a clean pass. */
  finding: Finding | null;
  error: { code: string; message: string } | null;
  /**
   * The SIP exchange, redacted (only when asked for with `trace`): entries in order, `atMs` in
   * ms since the run started (as the steps' startedAtMs); `omitted` counts entries past the cap.
   */
  trace?: { entries: SipTraceEntry[]; omitted: number };
}

export interface DiagnoseOptions extends SignInOptions {
  onStep?: StepListener;
  /** Record the redacted SIP trace into the report. @defaultValue false */
  trace?: boolean;
}

export { toolVersion };

export async function diagnose(options: DiagnoseOptions): Promise<DiagnosisReport> {
  const { onStep, trace, ...signInOptions } = options;
  const clock = signInOptions.clock;
  const startedAt = new Date();
  const t0 = performance.now();
  const log = trace ? new SipTraceLog(clock ?? systemClock) : undefined;
  if (log) {
    const theirs = signInOptions.sipTrace;
    signInOptions.sipTrace = theirs
      ? (e) => {
          log.hook(e);
          theirs(e);
        }
      : log.hook;
  }
  // A diagnosis must not change what the device would use next: it reads the cache but never
  // writes it (a run against a test pool would otherwise become the device's next registrar).
  if (signInOptions.cache !== false && signInOptions.cache?.readOnly === undefined) signInOptions.cache = { ...signInOptions.cache, readOnly: true };
  // An administrator is waiting: a hung registrar should cost seconds, not Timer F's 32 s per
  // transport tried (64 s for TLS then TCP). A device keeps the RFC bound.
  signInOptions.transactionTimeoutMs ??= DIAGNOSIS_TRANSACTION_TIMEOUT_MS;
  const session = new SignInSession(signInOptions, { once: true, ...(clock ? { recorder: new StepRecorder(clock) } : {}) });
  if (onStep) session.recorder.subscribe(onStep);
  let registered: Registered | null = null;
  let error: SiplogonError | null = null;
  try {
    registered = await session.ready();
  } catch (e) {
    error = SiplogonError.is(e) ? e : null;
    if (!error) throw e;
  } finally {
    await session.stop();
  }
  const steps = session.recorder.steps.map((s) => ({ ...s, detail: { ...s.detail } }));
  const decisive = decisiveStep(steps, registered !== null, error?.code);
  const finding = decisive ? explain(decisive, { domain: session.options.domain }) : null;
  // A sign-in that worked but left the device unprovisioned is still a failure to fix.
  const result: 'pass' | 'fail' = registered && !finding ? 'pass' : 'fail';
  return {
    schemaVersion: 1,
    tool: { name: 'siplogon', version: toolVersion() },
    user: session.options.aor,
    mode: session.options.targetFqdn ? 'target-fqdn' : 'discovery',
    targetFqdn: session.options.targetFqdn ?? null,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    result,
    registrar: registered ? { ...registered.registrar, expires: registered.expires, via: registered.via } : null,
    mediaRelays: registered ? registered.provisioning.relays.map((r) => ({ fqdn: r.hostName, addresses: r.addresses })) : [],
    steps,
    finding,
    error: error ? { code: error.code, message: error.message } : null,
    ...(log ? { trace: { entries: [...log.entries], omitted: log.omitted } } : {}),
  };
}
