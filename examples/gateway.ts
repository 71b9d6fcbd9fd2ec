/**
 * A gateway signing 50 lines in from one process: one shared DnsCache (the lines ask DNS once
 * between them), stepHistory 0 (no per-line step trace kept in memory; the step events are
 * logged instead), presence off (a trunk line has no buddy list).
 * Run: npm run build && node dist/examples/gateway.js
 */
import { signIn, startLab, DnsCache, SiplogonError, type SignInSession, type StepRecord } from '../src/index.js';

const LINES = 50;
const users = Object.fromEntries(Array.from({ length: LINES }, (_, i) => [`line${String(i).padStart(2, '0')}`, `pw-${i}`]));
const lab = await startLab({ net: '127.0.35', users });
const dnsCache = new DnsCache();
const log = (line: string, step: Readonly<StepRecord>): void => {
  // A real gateway would ship these to its log; failures carry a stable error code.
  if (step.status === 'fail') console.log(`${line} #${step.id} ${step.kind} FAIL ${step.error?.code ?? ''} ${step.title}`);
};

const sessions: SignInSession[] = [];
try {
  for (const [name, password] of Object.entries(users)) {
    const s = signIn({
      ...lab.signInOptions({ user: `sip:${name}@${lab.domain}`, password, cache: false, presence: false, dhcp: false }),
      dnsCache,
      stepHistory: 0,
    });
    s.on('step', (step, phase) => { if (phase === 'end') log(name, step); });
    s.on('lost', (e) => console.log(`${name} lost its registrar: ${e.code}`));
    sessions.push(s);
  }
  const results = await Promise.allSettled(sessions.map((s) => s.ready()));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  for (const r of results) if (r.status === 'rejected') console.log('failed:', SiplogonError.is(r.reason) ? r.reason.code : r.reason);
  const kept = sessions.reduce((n, s) => n + s.recorder.steps.length, 0);
  console.log(`${ok}/${LINES} lines registered; steps kept in memory: ${kept}; DNS cache`, dnsCache.stats());
} finally {
  await Promise.all(sessions.map((s) => s.stop()));
  await lab.stop();
}
