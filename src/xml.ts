/**
* Shared XML plumbing for bodies from the network (presence, provisioning, MRAS). Every body here arrives from the network and is
 * untrusted: validate first, then parse, and turn anything unexpected into BODY_MALFORMED.
 */
import { createRequire } from 'node:module';
import type * as Fxp from 'fast-xml-parser';
import { SiplogonError } from './errors.js';

// Loaded on first parse, and through the package's single-file CommonJS build: its ES module
// entry is a graph of some 30 files that cost ~30 ms at start-up, ~5 ms for the bundle. A plain
// sign-in against a registrar without in-band provisioning never parses XML before "registered".
let fxp: typeof Fxp | undefined;
function xmlParser(): typeof Fxp {
  return (fxp ??= createRequire(import.meta.url)('fast-xml-parser') as typeof Fxp);
}

/** Bodies above this are refused before parsing (a NOTIFY for a large RLS list stays far below). */
export const MAX_XML_BODY = 1024 * 1024;

export type XmlObj = Record<string, unknown>;

export function malformed(what: string, why: string): SiplogonError {
  return new SiplogonError('BODY_MALFORMED', `${what}: ${why}`);
}

/**
 * Runs a parser and guarantees the "typed error or value" contract: a bug or a parser surprise on
 * hostile input must not escape as a TypeError/RangeError.
 */
export function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (SiplogonError.is(e)) throw e;
    const why = e instanceof Error ? e.message.slice(0, 160) : 'unreadable body';
    throw new SiplogonError('BODY_MALFORMED', `${what}: ${why}`, { cause: e });
  }
}

/**
 * @param arrays element paths (dot-joined, without namespace prefixes) that are always arrays,
 *   e.g. "presence.tuple".
 */
export function parseXml(body: string, what: string, arrays: readonly string[]): XmlObj {
  if (typeof body !== 'string') throw malformed(what, 'body is not text');
  if (body.length > MAX_XML_BODY) throw malformed(what, `body larger than ${MAX_XML_BODY} bytes`);
  // No presence document uses a DTD; refusing them rules out entity-expansion bombs.
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) throw malformed(what, 'DTDs are not accepted');
  const { XMLParser, XMLValidator } = xmlParser();
  const v = XMLValidator.validate(body);
  if (v !== true) throw malformed(what, `not well-formed XML (${v.err.msg}, line ${v.err.line})`);
  const set = new Set(arrays);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    removeNSPrefix: true,
    processEntities: true,
    htmlEntities: false,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    isArray: (_name, jpath) => set.has(String(jpath)),
  });
  // The parser refuses some well-formed input itself (nesting past its limit, element names
  // like __proto__) with a plain Error: keep the typed-error contract for every caller.
  const doc = guard(what, () => parser.parse(body) as unknown);
  if (!isObj(doc)) throw malformed(what, 'no document element');
  return doc;
}

export function isObj(v: unknown): v is XmlObj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own property only: hostile element names like "__proto__" or "constructor" must not resolve. */
export function get(o: XmlObj, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (isObj(v)) return text(get(v, '#text')) ?? (Object.keys(v).every((k) => k.startsWith('@')) ? '' : undefined);
  return undefined;
}

export function attr(o: XmlObj, name: string): string | undefined {
  const v = get(o, `@${name}`);
  return typeof v === 'string' ? v : undefined;
}

/** Elements named `key`, as objects; an empty element (<a/>) parses as "" and becomes {}. */
export function list(v: unknown): XmlObj[] {
  const items = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return items.map((i) => (i === '' ? {} : i)).filter(isObj);
}

/** The single child element `key`, or its first occurrence if repeated. */
export function child(o: XmlObj, key: string): XmlObj | undefined {
  const v = get(o, key);
  if (Array.isArray(v)) return v.find(isObj);
  if (isObj(v)) return v;
  // An empty element (<a/>) parses as "" : present but without attributes or children.
  if (v === '') return {};
  return undefined;
}

/** xs:boolean (XML Schema Part 2 §3.2.2): true/false/1/0. */
export function xsBool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (t === 'true' || t === '1') return true;
  if (t === 'false' || t === '0') return false;
  return undefined;
}

export function uint(v: string | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined || !/^\s*\d{1,16}\s*$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n <= max ? n : undefined;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** A SIP/SIPS URI as a presence document carries it; rejects what would break a header or XML. */
export function isSipUri(s: string): boolean {
  return /^sips?:[^\s<>"]+$/i.test(s) && s.length <= 512;
}
