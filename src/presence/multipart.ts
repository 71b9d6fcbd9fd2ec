/**
 * multipart/related (RFC 2387) as an RLS sends it in NOTIFY (RFC 4662 §5): root part = RLMI,
 * further parts referenced by Content-ID. Framing per RFC 2046 §5.1.1.
 */
import { guard, malformed, MAX_XML_BODY } from '../xml.js';

export interface MediaType {
  /** type/subtype, lower-cased. */
  type: string;
  /** Parameter names lower-cased; values unquoted. */
  params: Record<string, string>;
}

export interface MimePart {
  /** Header names lower-cased; a repeated header keeps the first value. */
  headers: Record<string, string>;
  /** Lower-cased type/subtype; "text/plain" when the part has none (RFC 2046 §5.1). */
  contentType: string;
  contentTypeParams: Record<string, string>;
  /** Content-ID without the angle brackets (RFC 2392), as RLMI `cid` attributes quote it. */
  contentId?: string;
  body: string;
}

export interface MultipartRelated {
  /** The `type` parameter (root part's type, RFC 2387 §3.1), lower-cased. */
  type?: string;
  /** The `start` parameter without angle brackets. */
  start?: string;
  parts: MimePart[];
  /** The part named by `start`, else the first part (RFC 2387 §3.2). */
  root: MimePart;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_PARTS = 2048;

/** Content-Type header value → media type + parameters (RFC 2045 §5.1 grammar, quoted-string with \-escapes). */
export function parseMediaType(value: string): MediaType {
  return guard('Content-Type', () => {
    if (typeof value !== 'string') throw malformed('Content-Type', 'not text');
    const s = value;
    const semi = s.indexOf(';');
    const full = (semi < 0 ? s : s.slice(0, semi)).trim().toLowerCase();
    const slash = full.indexOf('/');
    if (slash <= 0 || !TOKEN.test(full.slice(0, slash)) || !TOKEN.test(full.slice(slash + 1))) {
      throw malformed('Content-Type', `not a media type: ${JSON.stringify(s.slice(0, 80))}`);
    }
    const params: Record<string, string> = Object.create(null) as Record<string, string>;
    let i = semi < 0 ? s.length : semi;
    while (i < s.length) {
      if (s[i] === ';' || s[i] === ' ' || s[i] === '\t') {
        i++;
        continue;
      }
      const eq = s.indexOf('=', i);
      if (eq < 0) throw malformed('Content-Type', 'parameter without value');
      const name = s.slice(i, eq).trim().toLowerCase();
      if (!TOKEN.test(name)) throw malformed('Content-Type', `bad parameter name ${JSON.stringify(name.slice(0, 40))}`);
      i = eq + 1;
      while (s[i] === ' ' || s[i] === '\t') i++;
      let val = '';
      if (s[i] === '"') {
        i++;
        let closed = false;
        while (i < s.length) {
          const c = s[i]!;
          if (c === '\\' && i + 1 < s.length) {
            val += s[i + 1];
            i += 2;
          } else if (c === '"') {
            closed = true;
            i++;
            break;
          } else {
            val += c;
            i++;
          }
        }
        if (!closed) throw malformed('Content-Type', `unterminated quoted value for ${name}`);
      } else {
        const end = s.indexOf(';', i);
        val = (end < 0 ? s.slice(i) : s.slice(i, end)).trim();
        i = end < 0 ? s.length : end;
        if (!TOKEN.test(val) && !/^<[^<>]*>$/.test(val)) {
          // `start=<cid>` unquoted is common enough (and unambiguous) to accept.
          throw malformed('Content-Type', `bad value for ${name}: ${JSON.stringify(val.slice(0, 40))}`);
        }
      }
      if (!(name in params)) params[name] = val;
    }
    return { type: full, params: { ...params } };
  });
}

function stripAngles(s: string): string {
  const t = s.trim();
  return t.startsWith('<') && t.endsWith('>') ? t.slice(1, -1).trim() : t;
}

/** RFC 2046 §5.1.1: 1-70 characters from bchars, not ending in a space. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

function parsePart(raw: string, index: number): MimePart {
  // Headers end at the first empty line; a part may also start directly with an empty line (no headers).
  const m = /\r?\n\r?\n/.exec(raw);
  let head: string;
  let body: string;
  if (raw.startsWith('\r\n') || raw.startsWith('\n')) {
    head = '';
    body = raw.replace(/^\r?\n/, '');
  } else if (m) {
    head = raw.slice(0, m.index);
    body = raw.slice(m.index + m[0].length);
  } else {
    throw malformed('multipart', `part ${index} has no empty line after its headers`);
  }
  const headers: Record<string, string> = {};
  const lines = head.split(/\r?\n/);
  let last: string | undefined;
  for (const line of lines) {
    if (line === '') continue;
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
      headers[last] += ' ' + line.trim(); // folded header (RFC 822 §3.1.1)
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed('multipart', `part ${index}: bad header line ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!TOKEN.test(name)) throw malformed('multipart', `part ${index}: bad header name`);
    if (Object.prototype.hasOwnProperty.call(headers, name)) {
      last = undefined;
      continue;
    }
    headers[name] = line.slice(colon + 1).trim();
    last = name;
  }
  const ct = headers['content-type'];
  const media = ct === undefined ? { type: 'text/plain', params: {} } : parseMediaType(ct);
  const part: MimePart = { headers, contentType: media.type, contentTypeParams: media.params, body };
  const cid = headers['content-id'];
  if (cid !== undefined) part.contentId = stripAngles(cid);
  return part;
}

/**
 * @param contentType the message's Content-Type header value; its `boundary` frames the body.
 */
export function parseMultipartRelated(body: string, contentType: string): MultipartRelated {
  return guard('multipart', () => {
    if (typeof body !== 'string') throw malformed('multipart', 'body is not text');
    if (body.length > MAX_XML_BODY) throw malformed('multipart', `body larger than ${MAX_XML_BODY} bytes`);
    const media = parseMediaType(contentType);
    if (media.type !== 'multipart/related') throw malformed('multipart', `expected multipart/related, got ${media.type}`);
    const boundary = media.params['boundary'];
    if (boundary === undefined) throw malformed('multipart', 'Content-Type has no boundary parameter');
    if (!BOUNDARY.test(boundary)) throw malformed('multipart', 'boundary is not 1-70 bchars (RFC 2046 §5.1.1)');
    const delim = `--${boundary}`;
    // The first delimiter may open the body; every later one follows a line break (RFC 2046 §5.1.1:
    // the CRLF before a delimiter belongs to the delimiter). Bare LF is tolerated.
    const positions: { start: number; end: number; close: boolean }[] = [];
    let from = 0;
    for (;;) {
      const at = body.indexOf(delim, from);
      if (at < 0) break;
      const lineStart = at === 0 || body[at - 1] === '\n';
      if (!lineStart) {
        from = at + 1;
        continue;
      }
      let after = at + delim.length;
      const close = body.startsWith('--', after);
      if (close) after += 2;
      // Transport padding (linear white space) may follow the delimiter on its line.
      while (body[after] === ' ' || body[after] === '\t') after++;
      if (!close && body[after] !== '\r' && body[after] !== '\n') {
        // Not a delimiter line: the boundary string merely prefixes other text.
        from = at + 1;
        continue;
      }
      let bodyStart = after;
      if (body.startsWith('\r\n', bodyStart)) bodyStart += 2;
      else if (body[bodyStart] === '\n') bodyStart += 1;
      let start = at;
      if (at > 0 && body[at - 1] === '\n') start = at >= 2 && body[at - 2] === '\r' ? at - 2 : at - 1;
      positions.push({ start, end: bodyStart, close });
      if (close) break;
      if (positions.length > MAX_PARTS + 1) throw malformed('multipart', `more than ${MAX_PARTS} parts`);
      from = bodyStart;
    }
    if (positions.length === 0) throw malformed('multipart', 'boundary not found in the body');
    const closing = positions[positions.length - 1]!;
    if (!closing.close) throw malformed('multipart', 'no closing delimiter (truncated body?)');
    if (positions.length < 2) throw malformed('multipart', 'no body parts');
    const parts: MimePart[] = [];
    for (let k = 0; k + 1 < positions.length; k++) {
      parts.push(parsePart(body.slice(positions[k]!.end, positions[k + 1]!.start), k));
    }
    const out: Omit<MultipartRelated, 'root'> & { root?: MimePart } = { parts };
    const type = media.params['type'];
    if (type !== undefined) out.type = type.toLowerCase();
    const startParam = media.params['start'];
    let root = parts[0]!;
    if (startParam !== undefined) {
      out.start = stripAngles(startParam);
      const named = parts.find((p) => p.contentId === out.start);
      if (!named) throw malformed('multipart', `start ${JSON.stringify(out.start.slice(0, 80))} names no part`);
      root = named;
    }
    out.root = root;
    return out as MultipartRelated;
  });
}

/** The part a `cid` attribute (RFC 4662 §5.2, RFC 2392) refers to. */
export function partByCid(m: Pick<MultipartRelated, 'parts'>, cid: string): MimePart | undefined {
  const want = stripAngles(cid.replace(/^cid:/i, ''));
  return m.parts.find((p) => p.contentId === want);
}
