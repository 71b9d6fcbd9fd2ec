// Review 2: a director that redirects to a pool outside the SIP domain is refused by the domain
// policy (strict DNS naming). The diagnosis must say so and give the real fix (the pool's FQDN,
// or --allow-domain), not "a registrar FQDN the device can resolve", which sends the admin to DNS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLabCa } from '../../src/lab/certs.js';
import { startDnsServer, type LabDnsServer } from '../../src/lab/dns-server.js';
import { startLabRegistrar, type LabRegistrar } from '../../src/lab/registrar.js';
import { diagnose } from '../../src/diagnose/diagnose.js';

let dns: LabDnsServer | undefined;
let director: LabRegistrar | undefined;
let ca: Awaited<ReturnType<typeof createLabCa>>;

before(async () => {
  ca = await createLabCa();
  director = await startLabRegistrar({ name: 'director.acme.test', address: '127.33.44.10', domain: 'acme.test', users: { alice: 'pw-review2' }, ca, redirectTo: ['sip:pool1.contoso.test:5061;transport=tls'] });
  dns = await startDnsServer({
    address: '127.33.44.53',
    port: 0,
    zone: { domains: ['acme.test'], srv: { '_sipinternaltls._tcp.acme.test': [{ target: 'director.acme.test', port: 5061, priority: 0, weight: 0 }] }, a: { 'director.acme.test': ['127.33.44.10'] } },
  });
});
after(async () => {
  await director?.stop();
  await dns?.stop();
});

test('redirect to a pool outside the SIP domain: the finding names the domain policy and --allow-domain', async () => {
  const r = await diagnose({ user: 'sip:alice@acme.test', password: 'pw-review2', dnsServers: [dns!.server], ca: ca.cert, dhcp: false, cache: false, presence: false, provisioning: false, dnsTimeoutMs: 1000, networkWatchIntervalMs: 0 });
  assert.equal(r.result, 'fail');
  assert.equal(r.error?.code, 'REDIRECT_INVALID');
  assert.equal(r.finding?.kind, 'redirect');
  assert.match(r.finding?.diagnosis ?? '', /pool1\.contoso\.test/);
  assert.match(r.finding?.diagnosis ?? '', /outside acme\.test/);
  assert.match(r.finding?.fix ?? '', /--allow-domain/, `fix was: ${r.finding?.fix}`);
});
