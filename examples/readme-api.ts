/**
 * The README's API example, as written there, pointed at the embedded lab instead of a real
 * site (the lab's DNS server, CA and registrar name; everything else is the README's code).
 * Run: npm run build && node dist/examples/readme-api.js
 */
import { signIn, diagnose, startLab } from '../src/index.js';

const lab = await startLab({ net: '127.0.35' });
process.env.PW = lab.password;
try {
  const session = signIn({
    user: lab.user,
    password: () => process.env.PW ?? '',
    dnsServers: [lab.dns.server],
    ca: lab.ca.cert, // the lab's registrars have certificates of the lab's own CA
    cache: false, // keep the example from writing a cache file under ~/.cache
  });
  session.on('step', (step, phase) => { if (phase === 'end') console.log(step.status, step.title); });
  session.on('registered', (r) => console.log('registered at', r.registrar.fqdn, 'via', r.via));
  session.on('lost', (e) => console.log('lost registrar:', e.code));
  session.on('contacts', (list) => console.log(list.contacts.map((c) => c.uri)));
  session.on('contactPresence', (c) => console.log(c.uri, c.state));
  await session.ready();
  await session.setPresence('busy', 'in a meeting');
  // … later
  await session.stop(); // un-REGISTERs

  const report = await diagnose({ user: lab.user, password: lab.password, targetFqdn: `pool1.${lab.domain}`, dnsServers: [lab.dns.server], ca: lab.ca.cert });
  console.log(report.result, report.finding ? `${report.finding.diagnosis} Fix: ${report.finding.fix}` : '');
} finally {
  await lab.stop();
}
