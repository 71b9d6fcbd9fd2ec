// Review 3 finding: provisioning and MRAS bodies come from the network, and the contract is "a
// typed error, never anything else". A well-formed body nested deeper than the XML parser's
// limit, or one with an element named like an Object prototype member, made parseProvisioning()
// / parseMrasAnswer() throw a plain Error from fast-xml-parser (no code: the provisioning step and
// the diagnosis could not say BODY_MALFORMED). The presence parsers were already guarded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SiplogonError } from '../../src/errors.js';
import { parseMrasAnswer, parseProvisioning } from '../../src/sip/lync.js';

const malformed = (e: unknown): boolean => SiplogonError.is(e, 'BODY_MALFORMED');

test('hostile provisioning / MRAS bodies → BODY_MALFORMED, never a plain Error', () => {
  const deep = (root: string): string => `<${root}>${'<a>'.repeat(500)}${'</a>'.repeat(500)}</${root}>`;
  assert.throws(() => parseProvisioning(deep('provisionGroupList')), malformed, 'deeply nested provisioning answer');
  assert.throws(() => parseMrasAnswer(deep('response')), malformed, 'deeply nested MRAS answer');
  const proto = '<provisionGroupList><provisionGroup name="ServerConfiguration"><__proto__>x</__proto__><mrasUri>sip:mras@r3.test</mrasUri></provisionGroup></provisionGroupList>';
  assert.throws(() => parseProvisioning(proto), malformed, '__proto__ element');
  assert.throws(() => parseMrasAnswer('<response reasonPhrase="OK"><constructor/></response>'), malformed, 'constructor element');
  // Still sound: entity bombs and oversize bodies were already refused with the typed error.
  assert.throws(() => parseProvisioning('<!DOCTYPE a [<!ENTITY x "xx">]><provisionGroupList>&x;</provisionGroupList>'), malformed);
  assert.throws(() => parseProvisioning(`<provisionGroupList>${'x'.repeat(1024 * 1024 + 1)}</provisionGroupList>`), malformed);
});
