/**
 * A bot's line: a redacted SIP trace, own presence, the contact list and the contacts' states,
 * then a clean stop() (un-SUBSCRIBE, un-PUBLISH, un-REGISTER) after which the process exits by
 * itself. Run: npm run build && node dist/examples/session.js [lync|simple]
 */
import { signIn, startLab, type SipTraceEntry } from '../src/index.js';

const flavour = process.argv[2] === 'simple' ? 'simple' : 'lync';
const lab = await startLab({ net: '127.0.35', presenceFlavour: flavour });
const trace: SipTraceEntry[] = [];
try {
  const session = signIn(lab.signInOptions({ cache: false, sipTrace: (e) => trace.push(e) }));
  session.on('state', (s) => console.log('state:', s));
  session.on('presence', (p) => console.log(`own presence (${p.flavour}): ${p.state}${p.note ? ` "${p.note}"` : ''}`));
  session.on('contacts', (l) => console.log(`contact list from ${l.source}:`, l.contacts.map((c) => c.uri).join(', ')));
  session.on('contactPresence', (c) => console.log(`  ${c.uri} is ${c.state}`));
  session.on('presenceError', (e, ctx) => console.log(`presence problem (${ctx}): ${e.code} ${e.message}`));
  session.on('warning', (m) => console.log('warning:', m));

  const reg = await session.ready();
  console.log(`registered at ${reg.registrar.fqdn} (${reg.registrar.transport}), expires ${reg.expires} s`);
  await session.setPresence('busy', 'in a meeting');
  lab.setContactPresence(`sip:bob@${lab.domain}`, 'dnd', 'presenting');
  await new Promise((r) => setTimeout(r, 300)); // let the NOTIFY arrive
  await session.stop();

  console.log(`${trace.length} SIP messages, e.g.:`);
  for (const e of trace.filter((x) => /^(REGISTER|SIP\/2\.0 401)/.test(x.startLine)).slice(0, 3)) {
    const auth = e.headers.find((h) => /^(authorization|www-authenticate)$/i.test(h.name));
    console.log(` ${e.direction === 'out' ? '→' : '←'} ${e.startLine}${auth ? `\n     ${auth.name}: ${auth.value}` : ''}`);
  }
} finally {
  await lab.stop();
}
