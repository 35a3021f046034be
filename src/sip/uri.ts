/**
 * SIP and SIPS URIs (RFC 3261 §19.1, ABNF §25.1): parse, format, compare (§19.1.4).
 *
 * `sip:user:password@host:port;uri-parameters?headers`. Escaped characters (`%HH`, §19.1.2) stay
 * escaped in every field, so formatting what we parsed reproduces it; comparison unescapes.
 * Any other absolute URI (`tel:`, `http:`, `urn:`, RFC 4475 §3.3.2 `nobodyKnowsThisScheme:`) is
 * kept opaque: the codec must carry it, and deciding that it is unsupported (416, §21.4.15) is the
 * UAS's business, not the parser's.
 *
 * This module is the bottom of the codec's dependency chain, so {@link SipParseError}, the one
 * error every codec function throws on bad input, lives here (parse.ts re-exports it).
 */
import { isIPv6 } from 'node:net';
import { PbxError } from '../lib/errors.js';
import type { SipHeader, SipUri } from './message.js';

/** What a request looked like when it could not be parsed, enough to answer it (§8.2.6, §18.2.2). */
export interface UnparsedRequest {
  method: string;
  /** The Request-URI exactly as received (possibly the malformed part). */
  uri: string;
  /** Every header line that could be read, raw values (so a 400 can copy Via, From, To, Call-ID, CSeq). */
  headers: SipHeader[];
}

/**
 * Malformed SIP input: a message, URI or header value that does not follow RFC 3261 §25.
 * Code `SIP_PARSE`.
 *
 * - `reason`: a short text fit for a response's reason phrase, e.g. `Bad Request - Malformed CSeq`.
 * - `status`: the response a UAS should send: 400 (default, §21.4.1), 505 for a SIP version other
 *   than 2.0 (§21.5.6, RFC 4475 §3.1.2.16), 501 for an unknown method whose CSeq method disagrees
 *   (RFC 4475 §3.1.2.18 prefers it to 400).
 * - `request`: present when the input was a request (not ACK: an ACK gets no response, §17.1.1.3, §17.2.1)
 *   whose Via and CSeq header fields were present, i.e. when a response can reach the sender and be
 *   matched to its transaction (§18.2.2, §17.1.3). Absent means "drop it silently".
 */
export class SipParseError extends PbxError {
  readonly reason: string;
  readonly status: number;
  readonly request?: UnparsedRequest;

  constructor(reason: string, options: { detail?: string; status?: number; request?: UnparsedRequest } = {}) {
    super('SIP_PARSE', options.detail === undefined ? reason : `${reason}: ${options.detail}`);
    this.name = 'SipParseError';
    this.reason = reason;
    this.status = options.status ?? 400;
    if (options.request !== undefined) this.request = options.request;
  }
}

/** A short, printable excerpt of hostile input for error messages. */
export function excerpt(text: string, max = 80): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

function bad(what: string, text: string): never {
  throw new SipParseError(`Bad Request - Malformed URI`, { detail: `${what} in ${excerpt(text)}` });
}

// Character sets of §25.1, slightly widened where real phones are sloppy (noted per set).
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
/** `%` not followed by two hex digits: never valid inside a URI (§25.1 `escaped`). */
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
/** user = 1*( unreserved / escaped / user-unreserved ); plus `#`, which some phones send unescaped for `*72#`. */
const USER = /^[A-Za-z0-9\-_.!~*'()%&=+$,;?/#]+$/;
const PASSWORD = /^[A-Za-z0-9\-_.!~*'()%&=+$,]*$/;
/** hostname / IPv4address; `_` is tolerated (SRV-style names are common in the wild). */
const HOSTNAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;
/** paramchar = param-unreserved / unreserved / escaped. */
const PARAM = /^[A-Za-z0-9\-_.!~*'()%[\]/:&+$]+$/;
/** hname / hvalue characters: hnv-unreserved / unreserved / escaped. */
const HNV = /^[A-Za-z0-9\-_.!~*'()%[\]/?:+$]*$/;
/** Opaque part of another scheme: RFC 2396 uric (reserved / unreserved / escaped), no spaces or brackets. */
const OPAQUE = /^[A-Za-z0-9\-_.!~*'()%;/?:@&=+$,[\]#]+$/;

/**
 * Parse a URI (RFC 3261 §19.1.1, §25.1 `SIP-URI` / `SIPS-URI` / `absoluteURI`).
 *
 * The scheme is lower-cased (schemes compare case-insensitively); parameter names are lower-cased;
 * everything else is kept as written, escapes included. An IPv6 host keeps its brackets
 * (`host` = `[2001:db8::1]`, the §25.1 `IPv6reference`). Non-SIP schemes: `host` is `''` and
 * `opaque` holds everything after the colon.
 *
 * Strict where ambiguity would hurt: no whitespace, no `<>` (RFC 4475 §3.1.2.7/§3.1.2.8), every
 * `%` followed by two hex digits, a port of at most 65535, no empty parameter (`;;`).
 * @throws SipParseError (`Bad Request - Malformed URI`) on anything else
 */
export function parseUri(text: string): SipUri {
  const colon = text.indexOf(':');
  if (colon <= 0 || !SCHEME.test(text.slice(0, colon))) bad('no scheme', text);
  const scheme = text.slice(0, colon).toLowerCase();
  const rest = text.slice(colon + 1);
  if (scheme !== 'sip' && scheme !== 'sips') {
    if (!OPAQUE.test(rest) || BAD_ESCAPE.test(rest)) bad('bad characters', text);
    return { scheme, host: '', params: new Map(), headers: new Map(), opaque: rest };
  }

  // userinfo ends at the first `@`: no other part of a SIP URI may hold an unescaped `@`, while the
  // user part may hold `;` `?` `/` `,` (user-unreserved, RFC 4475 §3.1.1.9 `semiuri`).
  const uri: SipUri = { scheme, host: '', params: new Map(), headers: new Map() };
  let hostPart = rest;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    const pw = userinfo.indexOf(':');
    const user = pw < 0 ? userinfo : userinfo.slice(0, pw);
    if (!USER.test(user) || BAD_ESCAPE.test(user)) bad('bad user', text);
    uri.user = user;
    if (pw >= 0) {
      const password = userinfo.slice(pw + 1);
      if (!PASSWORD.test(password) || BAD_ESCAPE.test(password)) bad('bad password', text);
      uri.password = password;
    }
  }

  const q = hostPart.indexOf('?');
  const headerText = q < 0 ? undefined : hostPart.slice(q + 1);
  const [hostport = '', ...params] = (q < 0 ? hostPart : hostPart.slice(0, q)).split(';');
  const { host, port } = parseHostPort(hostport, text);
  uri.host = host;
  if (port !== undefined) uri.port = port;

  for (const param of params) {
    const eq = param.indexOf('=');
    const name = eq < 0 ? param : param.slice(0, eq);
    const value = eq < 0 ? null : param.slice(eq + 1);
    if (!PARAM.test(name) || BAD_ESCAPE.test(name)) bad('bad parameter name', text);
    if (value !== null && (!PARAM.test(value) || BAD_ESCAPE.test(value))) bad('bad parameter value', text);
    const key = name.toLowerCase();
    // A repeated parameter keeps its first value: a Map cannot hold both, and §19.1.4 gives no rule.
    if (!uri.params.has(key)) uri.params.set(key, value);
  }

  if (headerText !== undefined) {
    for (const header of headerText.split('&')) {
      const eq = header.indexOf('=');
      if (eq <= 0) bad('bad header', text);
      const name = header.slice(0, eq);
      const value = header.slice(eq + 1);
      if (!HNV.test(name) || !HNV.test(value) || BAD_ESCAPE.test(header)) bad('bad header', text);
      if (!uri.headers.has(name)) uri.headers.set(name, value);
    }
  }
  return uri;
}

/**
 * Parse `host [":" port]` (§25.1 `hostport`), shared with Via's sent-by (§20.42).
 * An IPv6 reference keeps its brackets. @throws SipParseError
 */
export function parseHostPort(text: string, context = text): { host: string; port?: number } {
  let host: string;
  let after: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || !isIPv6(text.slice(1, close))) bad('bad IPv6 reference', context);
    host = text.slice(0, close + 1);
    after = text.slice(close + 1);
  } else {
    const c = text.indexOf(':');
    host = c < 0 ? text : text.slice(0, c);
    after = c < 0 ? '' : text.slice(c);
    if (!HOSTNAME.test(host)) bad('bad host', context);
  }
  if (after === '') return { host };
  const digits = after.slice(1);
  if (after[0] !== ':' || !/^[0-9]{1,5}$/.test(digits) || Number(digits) > 65535) bad('bad port', context);
  return { host, port: Number(digits) };
}

/**
 * Format a URI (inverse of {@link parseUri}): `scheme:[user[:password]@]host[:port][;p[=v]]*[?h=v[&h=v]*]`.
 * Values are written as stored (already escaped). Callers building URIs from user data must escape
 * it themselves (§19.1.2); this function does not validate.
 */
export function formatUri(uri: SipUri): string {
  if (uri.opaque !== undefined) return `${uri.scheme}:${uri.opaque}`;
  let out = `${uri.scheme}:`;
  if (uri.user !== undefined) out += uri.password === undefined ? `${uri.user}@` : `${uri.user}:${uri.password}@`;
  out += uri.host;
  if (uri.port !== undefined) out += `:${uri.port}`;
  for (const [name, value] of uri.params) out += value === null ? `;${name}` : `;${name}=${value}`;
  const headers = [...uri.headers].map(([name, value]) => `${name}=${value}`);
  if (headers.length > 0) out += `?${headers.join('&')}`;
  return out;
}

/**
 * RFC 2396 reserved characters: their escaped and unescaped forms are NOT equivalent (§19.1.4).
 * `%` itself stays escaped too, so `%2540` (text "%40") never collides with `%40` (an escaped `@`).
 */
const RESERVED = new Set([';', '/', '?', ':', '@', '&', '=', '+', '$', ',', '%']);

/** Unescape every `%HH` except reserved characters, whose escapes are upper-cased (§19.1.4). */
function canonicalEscapes(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return RESERVED.has(ch) ? `%${hex.toUpperCase()}` : ch;
  });
}

/**
 * Decode `%HH` escapes as UTF-8 (invalid sequences become U+FFFD), for showing a user part such as
 * `I%20have%20spaces` as text (§19.1.2). Never throws (unlike `decodeURIComponent`).
 */
export function unescapeUri(text: string): string {
  if (!text.includes('%')) return text;
  // split() with a capture group alternates plain text and runs of escapes.
  const parts = text.split(/((?:%[0-9A-Fa-f]{2})+)/);
  const bytes = parts.map((part, i) =>
    i % 2 === 0 ? Buffer.from(part, 'utf8') : Buffer.from(part.replaceAll('%', ''), 'hex'),
  );
  return Buffer.concat(bytes).toString('utf8');
}

/** Parameters that, when present in only one URI, make them differ (§19.1.4; `transport` per its examples). */
const MUST_MATCH_PARAMS = ['user', 'ttl', 'method', 'maddr', 'transport'];

/**
 * URI equivalence per RFC 3261 §19.1.4, for dialog and route matching:
 * - sip and sips never match; other schemes compare scheme (case-insensitive) and opaque part;
 * - user and password compare case-sensitively, host case-insensitively, after unescaping
 *   non-reserved characters (`%61lice` == `alice`);
 * - a port, or a `user`/`ttl`/`method`/`maddr`/`transport` parameter, present in only one URI
 *   never matches (no default values are assumed); other parameters present in only one are
 *   ignored; parameters present in both must match (case-insensitive);
 * - URI headers must be present in both and match (names and values case-insensitive).
 * Host names are not resolved: `example.com` never equals `192.0.2.4`.
 */
export function uriEquals(a: SipUri, b: SipUri): boolean {
  if (a.scheme.toLowerCase() !== b.scheme.toLowerCase()) return false;
  if (a.opaque !== undefined || b.opaque !== undefined) {
    return a.opaque !== undefined && b.opaque !== undefined && canonicalEscapes(a.opaque) === canonicalEscapes(b.opaque);
  }
  const same = (x: string | undefined, y: string | undefined, fold: boolean): boolean => {
    if (x === undefined || y === undefined) return x === y;
    const cx = canonicalEscapes(x);
    const cy = canonicalEscapes(y);
    return fold ? cx.toLowerCase() === cy.toLowerCase() : cx === cy;
  };
  if (!same(a.user, b.user, false) || !same(a.password, b.password, false)) return false;
  if (!same(a.host, b.host, true) || a.port !== b.port) return false;

  for (const [name, value] of a.params) {
    if (b.params.has(name)) {
      if (!same(value ?? '', b.params.get(name) ?? '', true)) return false;
    } else if (MUST_MATCH_PARAMS.includes(name)) {
      return false;
    }
  }
  for (const name of b.params.keys()) if (!a.params.has(name) && MUST_MATCH_PARAMS.includes(name)) return false;

  const headers = (u: SipUri) =>
    new Map([...u.headers].map(([n, v]) => [canonicalEscapes(n).toLowerCase(), canonicalEscapes(v).toLowerCase()]));
  const ha = headers(a);
  const hb = headers(b);
  if (ha.size !== hb.size) return false;
  for (const [name, value] of ha) if (hb.get(name) !== value) return false;
  return true;
}
