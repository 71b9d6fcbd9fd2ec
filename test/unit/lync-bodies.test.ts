import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { parseProvisioning, parseMrasAnswer, mrasRequestBody, provisioningRequestBody } from '../../src/sip/lync.js';
import { SiplogonError } from '../../src/errors.js';

const PROV = `<?xml version="1.0" encoding="utf-8"?>
<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification">
 <provisionGroup name="ServerConfiguration">
  <mrasUri>sip:mras.acme.test@acme.test;gruu;opaque=srvr:MRAS:abc</mrasUri>
  <focusFactoryUri>sip:alice@acme.test;gruu;opaque=app:conf:focusfactory</focusFactoryUri>
 </provisionGroup>
 <provisionGroup name="endpointConfiguration"><propertyEntryList><property name="EnableTracing">false</property></propertyEntryList></provisionGroup>
</provisionGroupList>`;

test('provisioning answer yields mrasUri and the groups', () => {
  const p = parseProvisioning(PROV);
  assert.deepEqual(p.groups, ['ServerConfiguration', 'endpointConfiguration']);
  assert.equal(p.mrasUri, 'sip:mras.acme.test@acme.test;gruu;opaque=srvr:MRAS:abc');
  assert.match(p.serverConfiguration['focusFactoryUri'] ?? '', /focusfactory/);
});

test('provisioning: malformed XML, wrong root and a non-SIP mrasUri are typed errors', () => {
  for (const bad of ['<provisionGroupList><provisionGroup>', '<other/>', '<provisionGroupList><provisionGroup name="ServerConfiguration"><mrasUri>http://evil</mrasUri></provisionGroup></provisionGroupList>']) {
    assert.throws(() => parseProvisioning(bad), (e) => SiplogonError.is(e, 'BODY_MALFORMED'));
  }
});

test('provisioning without ServerConfiguration has no mrasUri', () => {
  const p = parseProvisioning('<provisionGroupList><provisionGroup name="ucPolicy"/></provisionGroupList>');
  assert.equal(p.mrasUri, undefined);
  assert.deepEqual(p.groups, ['ucPolicy']);
});

const MRAS = `<response xmlns="http://schemas.microsoft.com/2006/09/sip/mrasp" requestID="1" version="1.0" serverVersion="2" to="sip:alice@acme.test" from="sip:mras" reasonPhrase="OK">
<credentialsResponse credentialsRequestID="1"><credentials><username>AgAAJN9x</username><password>s3cr3t-relay</password><duration>480</duration></credentials>
<mediaRelayList><mediaRelay><location>internet</location><hostName>edge1.acme.test</hostName><udpPort>3478</udpPort><tcpPort>443</tcpPort></mediaRelay>
<mediaRelay><location>intranet</location><hostName>EDGE2.acme.test.</hostName><udpPort>99999</udpPort><tcpPort>443</tcpPort></mediaRelay>
<mediaRelay><location>intranet</location><hostName>not a host;rm -rf</hostName></mediaRelay></mediaRelayList></credentialsResponse></response>`;

test('MRAS answer: relays validated, relay password is a Secret that never serialises', () => {
  const a = parseMrasAnswer(MRAS);
  assert.equal(a.ok, true);
  assert.deepEqual(a.relays, [
    { hostName: 'edge1.acme.test', location: 'internet', udpPort: 3478, tcpPort: 443 },
    { hostName: 'edge2.acme.test', location: 'intranet', tcpPort: 443 },
  ]);
  assert.equal(a.credentials?.password.reveal(), 's3cr3t-relay');
  assert.ok(!JSON.stringify(a).includes('s3cr3t'));
  assert.ok(!inspect(a, { depth: 10 }).includes('s3cr3t'));
  assert.ok(!String(a.credentials?.password).includes('s3cr3t'));
});

test('MRAS refusal is not ok and carries no relays', () => {
  const a = parseMrasAnswer('<response reasonPhrase="Forbidden"/>');
  assert.equal(a.ok, false);
  assert.equal(a.reason, 'Forbidden');
  assert.deepEqual(a.relays, []);
});

test('request bodies escape what they embed', () => {
  const b = mrasRequestBody({ aor: 'sip:a"<b>@x', mrasUri: 'sip:m@x', requestId: 7, location: 'intranet' });
  assert.ok(b.includes('from="sip:a&quot;&lt;b&gt;@x"'));
  assert.match(provisioningRequestBody(), /provisioningGroup name="ServerConfiguration"/);
});
