/**
 * A registration leg whose answers a test scripts: what the presence agent sends is recorded, the
 * test's `answer` decides each reply (at once, or later by returning a promise), and `deliver`
 * hands the agent a request as if the server had sent it (NOTIFY, BENOTIFY). For unit tests of
 * src/presence/agent.ts with virtual time; the real-server behaviour is in test/integration.
 */
import type { Clock } from '../../src/core/clock.js';
import type { Leg, LegDialog, LegRequestHandler, LegResponse } from '../../src/engine/sip-port.js';
import type { makeRequest, SipResponse } from '../../src/sip/message.js';
import type { IncomingAnswer } from '../../src/sip/transaction.js';
import { PresenceAgent } from '../../src/presence/agent.js';
import { StepRecorder } from '../../src/engine/steps.js';
import type { SiplogonError } from '../../src/errors.js';

export interface SentRequest {
  method: string;
  uri: string;
  headers: Array<[string, string]>;
  body?: string;
  dialog?: LegDialog;
  /** CSeq the dialog gave this request. */
  cseq?: number;
  /** The dialog's remote tag when the request went out (undefined before the first 200). */
  toTag?: string;
  /** Clock time it was sent (0 without a clock). */
  at: number;
}

export interface ScriptedReply {
  status: number;
  headers?: Array<[string, string]>;
  body?: string;
}

export function legResponse(r: ScriptedReply): LegResponse {
  const headers = (r.headers ?? []).map(([name, value]) => ({ name, value }));
  const response: SipResponse = { kind: 'response', status: r.status, reason: 'R', headers, body: Buffer.from(r.body ?? '') };
  return { status: r.status, reason: 'R', body: r.body ?? '', header: (n) => r.headers?.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1], response };
}

export function scriptedLeg(o: {
  answer: (s: SentRequest) => ScriptedReply | Promise<ScriptedReply>;
  supported?: string[];
  allowEvents?: string[];
  clock?: Clock;
}) {
  const sent: SentRequest[] = [];
  let handler: LegRequestHandler | undefined;
  const leg = {
    target: 'pres.acme.test:5060/tcp',
    outcome: { kind: 'registered', expires: 600, allowEvents: o.allowEvents ?? ['presence'], supported: o.supported ?? [], response: {} as SipResponse },
    async request(method: string, r: { uri: string; headers?: Array<[string, string]>; body?: string; dialog?: LegDialog }): Promise<LegResponse> {
      const s: SentRequest = {
        method,
        uri: r.uri,
        headers: r.headers ?? [],
        ...(r.body !== undefined ? { body: r.body } : {}),
        ...(r.dialog ? { dialog: r.dialog, ...(r.dialog.toTag ? { toTag: r.dialog.toTag } : {}), cseq: r.dialog.nextCSeq() } : {}),
        at: o.clock?.now() ?? 0,
      };
      sent.push(s);
      return legResponse(await o.answer(s));
    },
    setRequestHandler(h: LegRequestHandler | undefined) {
      handler = h;
    },
  } as unknown as Leg;
  const deliver = async (req: ReturnType<typeof makeRequest>): Promise<IncomingAnswer | null | undefined> => (handler ? await handler(req) : undefined);
  return { leg, sent, deliver, hasHandler: () => handler !== undefined };
}

/** A header of a recorded request (case-insensitive name). */
export const header = (s: Pick<SentRequest, 'headers'>, n: string): string | undefined => s.headers.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1];

/** A presence agent for alice on `leg`, with the test's config over quiet defaults; errors collected. */
export function agentOn(leg: Leg, clock: Clock, config: Partial<ConstructorParameters<typeof PresenceAgent>[0]['config']> = {}) {
  const rec = new StepRecorder(clock);
  const agent = new PresenceAgent({
    leg,
    aor: 'sip:alice@acme.test',
    clock,
    recorder: rec,
    transactionTimeoutMs: 1000,
    instanceId: 'urn:uuid:00000000-0000-4000-8000-000000000001',
    config: { flavour: 'auto', listUri: undefined, contacts: [], initialState: 'online', note: undefined, publishExpires: 3600, subscribeExpires: 600, listTimeoutMs: 1000, ...config },
  });
  const errors: [SiplogonError, string][] = [];
  agent.on('presenceError', (e, c) => errors.push([e, c]));
  return { agent, rec, errors };
}
