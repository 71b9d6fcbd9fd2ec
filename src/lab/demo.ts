/**
 * The README's first command: a full sign-in against the embedded lab with every step shown,
 * a failover when the home pool dies, and two diagnoses (a broken registrar, then a clean pass).
 * Uses the same engine and the same renderers as `siplogon sign-in` / `siplogon diagnose`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignInSession, type Registered } from '../engine/session.js';
import { diagnose } from '../diagnose/diagnose.js';
import { renderText, stepLine } from '../diagnose/render.js';
import { startLab, type Lab } from './lab.js';
import type { ContactPresence, ContactsEvent, OwnPresence } from '../presence/agent.js';

type Out = (line: string) => void;

function describe(r: Registered): string {
  const g = r.registrar;
  return `registered at ${g.fqdn}:${g.port}/${g.transport} (${g.address}) via ${r.via} in ${r.tookMs} ms, expires ${r.expires} s`;
}

/**
 * What the session reported about presence since the last reset (one registration leg): own
 * state, the contact list and each contact's latest state.
 */
class PresenceView {
  own: OwnPresence | undefined;
  list: ContactsEvent | undefined;
  readonly states = new Map<string, ContactPresence>();
  readonly errors: string[] = [];
  private wake: (() => void) | undefined;

  constructor(session: SignInSession) {
    session.on('presence', (p) => this.update(() => (this.own = p)));
    session.on('contacts', (l) => this.update(() => (this.list = l)));
    session.on('contactPresence', (c) => this.update(() => this.states.set(c.uri, c)));
    session.on('presenceError', (e, ctx) => this.update(() => this.errors.push(`${ctx}: ${e.code}`)));
  }

  reset(): void {
    this.own = undefined;
    this.list = undefined;
    this.states.clear();
    this.errors.length = 0;
  }

  get complete(): boolean {
    return this.own !== undefined && this.list !== undefined && this.list.contacts.filter((c) => c.subscribed).every((c) => this.states.has(c.uri));
  }

  /** Resolves true once complete, false after `ms`. */
  async settled(ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (!this.complete) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return true;
  }

  lines(): string[] {
    const own = this.own ? `${this.own.state}${this.own.note ? ` "${this.own.note}"` : ''} (${this.own.flavour} flavour)` : 'not published';
    const groups = this.list ? ` in groups ${this.list.groups.map((g) => g.name).join(', ')}` : '';
    const contacts = this.list
      ? this.list.contacts
          .map((c) => {
            const st = this.states.get(c.uri);
            return `${c.name ? `${c.name} (${c.uri})` : c.uri} ${st?.state ?? 'unknown'}${st?.note ? ` "${st.note}"` : ''}`;
          })
          .join('; ')
      : 'no list';
    return [`presence: ${own}`, `contacts${groups}: ${contacts}`, ...(this.errors.length ? [`! presence problems: ${this.errors.join(', ')}`] : [])];
  }

  private update(fn: () => void): void {
    fn();
    this.wake?.();
  }
}

/** Bound on waiting for the contact list and states in the demo (the lab answers in milliseconds). */
const PRESENCE_WAIT_MS = 3000;

export async function runDemo(out: Out = (l) => process.stdout.write(l + '\n')): Promise<boolean> {
  const lab = await startLab();
  const dir = mkdtempSync(join(tmpdir(), 'siplogon-demo-'));
  let ok = true;
  try {
    out(`Lab: ${lab.domain} — DNS ${lab.dns.server}, DHCP responder ${lab.dhcp.address}:${lab.dhcp.port}, director ${lab.addresses[`director.${lab.domain}`]}, pools ${lab.addresses[`pool1.${lab.domain}`]} (home) and ${lab.addresses[`pool2.${lab.domain}`]} (backup), user ${lab.user}`);
    out('');
    out('1. First-time sign-in: no cache; DHCPINFORM and DNS SRV at once, the director redirects to the home pool.');
    const cache = join(dir, 'cache.json');
    const session = new SignInSession(lab.signInOptions({ cache: { path: cache }, keepAliveIntervalMs: 1000, keepAliveTimeoutMs: 1000, backoff: { baseMs: 200, capMs: 2000 } }));
    session.on('step', (s, phase) => {
      if (phase === 'end') out(`   ${stepLine(s)}`);
    });
    // Listening before ready(): presence starts right after the REGISTER 200.
    const view = new PresenceView(session);
    const first = await session.ready();
    out(`   → ${describe(first)}`);
    out(`   → home/backup registrars from the 301: ${first.inBand.map((c) => c.fqdn).join(', ')}; media relays: ${first.provisioning.relays.map((r) => r.hostName).join(', ') || 'none'}`);
    if (!(await view.settled(PRESENCE_WAIT_MS))) ok = false;
    for (const l of view.lines()) out(`   → ${l}`);
    out('');
    out('2. The home pool goes down while registered: the engine notices at once and signs in again.');
    const t0 = performance.now();
    const again = new Promise<Registered>((resolve) =>
      session.once('registered', (r) => {
        view.reset(); // from here on, what the new leg's presence agent reports
        resolve(r);
      }),
    );
    session.once('lost', (e) => out(`   ! lost ${first.registrar.fqdn}: ${e.code}`));
    await lab.setFault('registrar-down', 'pool1');
    const second = await again;
    out(`   → ${describe(second)} — ${Math.round(performance.now() - t0)} ms after the home pool died`);
    if (!(await view.settled(PRESENCE_WAIT_MS))) ok = false;
    for (const l of view.lines()) out(`   → on ${second.registrar.fqdn} again: ${l}`);
    await session.stop();
    out('   ✔ signed out (un-REGISTER)');
    await lab.setFault('none');
    out('');

    out('3. Diagnosis of a broken site: every registrar presents a certificate for the wrong name.');
    await lab.setFault('wrong-certificate');
    const bad = await diagnose(lab.signInOptions({ cache: false }));
    out(indent(renderText(bad)));
    if (bad.result !== 'fail' || bad.finding?.code !== 'TLS_NAME_MISMATCH') ok = false;
    await lab.setFault('none');

    out('4. Diagnosis with --target-fqdn (DHCP bypassed) on the repaired site.');
    const good = await diagnose(lab.signInOptions({ cache: false, targetFqdn: `pool1.${lab.domain}` }));
    out(indent(renderText(good)));
    if (good.result !== 'pass') ok = false;
  } finally {
    await lab.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return ok;
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `   ${l}`)
    .join('\n');
}

export type { Lab };
