/**
 * Header fields (RFC 3261 §7.3, §20, ABNF §25.1): canonical names and compact forms (§7.3.3),
 * access to a message's ordered header list, comma-separated lists (§7.3.1), and typed parsers and
 * formatters for Via, name-addr fields (From, To, Contact, Route, Record-Route), CSeq,
 * Content-Length and Max-Forwards.
 *
 * Parsers take one raw, unfolded header value (as parse.ts stores it) and throw only
 * {@link SipParseError}, whose `reason` names the field (`Bad Request - Malformed Via`).
 * The access helpers mutate the message in place: a SipMessage is plain data owned by its holder.
 */
import type { CSeq, NameAddr, SipHeader, Via } from './message.js';
import { SipParseError, excerpt, formatUri, parseHostPort, parseUri } from './uri.js';

/** Compact forms (§7.3.3, §20) and those registered since (IANA "Header Fields" registry). */
const COMPACT = new Map<string, string>([
  ['i', 'Call-ID'], ['m', 'Contact'], ['e', 'Content-Encoding'], ['l', 'Content-Length'],
  ['c', 'Content-Type'], ['f', 'From'], ['s', 'Subject'], ['k', 'Supported'], ['t', 'To'], ['v', 'Via'],
  ['o', 'Event'], ['u', 'Allow-Events'], // RFC 6665
  ['r', 'Refer-To'], ['b', 'Referred-By'], // RFC 3515, RFC 3892
  ['x', 'Session-Expires'], // RFC 4028
  ['y', 'Identity'], ['n', 'Identity-Info'], // RFC 8224, RFC 4474
  ['a', 'Accept-Contact'], ['j', 'Reject-Contact'], ['d', 'Request-Disposition'], // RFC 3841
]);

/** Canonical spelling of the header fields a PBX meets; unknown names are kept as written. */
const CANONICAL = new Map<string, string>(
  [
    'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
    'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition',
    'Content-Encoding', 'Content-Language', 'Content-Length', 'Content-Type', 'CSeq', 'Date', 'Diversion',
    'Error-Info', 'Event', 'Expires', 'From', 'History-Info', 'Identity', 'Identity-Info', 'In-Reply-To',
    'Max-Forwards', 'MIME-Version', 'Min-Expires', 'Min-SE', 'Organization', 'P-Asserted-Identity',
    'P-Preferred-Identity', 'Path', 'Priority', 'Privacy', 'Proxy-Authenticate', 'Proxy-Authorization',
    'Proxy-Require', 'RAck', 'Reason', 'Record-Route', 'Refer-To', 'Referred-By', 'Reject-Contact',
    'Replaces', 'Reply-To', 'Request-Disposition', 'Require', 'Retry-After', 'Route', 'RSeq',
    'Security-Client', 'Security-Server', 'Security-Verify', 'Server', 'Service-Route', 'Session-Expires',
    'SIP-ETag', 'SIP-If-Match', 'Subject', 'Subscription-State', 'Supported', 'Target-Dialog', 'Timestamp',
    'To', 'Unsupported', 'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
  ].map((name) => [name.toLowerCase(), name]),
);

/**
 * Header fields whose whole value is a comma-separated list (§7.3.1), so that several lines may be
 * combined and a line may hold several values. Others (Date, WWW-Authenticate, Subject, ...) may
 * contain commas that separate nothing, and are never split.
 */
const LIST_HEADERS = new Set([
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
  'Call-Info', 'Contact', 'Content-Encoding', 'Content-Language', 'Diversion', 'Error-Info', 'History-Info',
  'In-Reply-To', 'P-Asserted-Identity', 'P-Preferred-Identity', 'Path', 'Proxy-Require', 'Reason',
  'Record-Route', 'Reject-Contact', 'Request-Disposition', 'Require', 'Route', 'Security-Client',
  'Security-Server', 'Security-Verify', 'Service-Route', 'Supported', 'Unsupported', 'Via', 'Warning',
]);

/**
 * The canonical name of a header field: compact forms expanded (`v` → `Via`, §7.3.3), known names
 * spelled as the RFCs do (`call-id` → `Call-ID`, `www-authenticate` → `WWW-Authenticate`), unknown
 * names returned as written (they still compare case-insensitively, §7.3.1).
 */
export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT.get(lower) ?? CANONICAL.get(lower) ?? name;
}

/** Whether two header names denote the same field (case-insensitive, compact forms expanded, §7.3.1). */
export function sameHeaderName(a: string, b: string): boolean {
  return canonicalHeaderName(a).toLowerCase() === canonicalHeaderName(b).toLowerCase();
}

/** Anything with a header list: a SipMessage, or the `request` of a SipParseError. */
export interface HasHeaders {
  headers: SipHeader[];
}

/** The raw value of the first header line named `name` (any case or compact form), or undefined. */
export function getHeader(m: HasHeaders, name: string): string | undefined {
  return m.headers.find((h) => sameHeaderName(h.name, name))?.value;
}

/**
 * Every value of a header field, in order. For list fields (Via, Contact, Route, Allow, Supported,
 * ...; §7.3.1) each line is split on commas outside quoted strings and `<...>`, empty elements
 * dropped; other fields give one entry per line.
 */
export function getHeaders(m: HasHeaders, name: string): string[] {
  const list = LIST_HEADERS.has(canonicalHeaderName(name));
  const out: string[] = [];
  for (const h of m.headers) {
    if (!sameHeaderName(h.name, name)) continue;
    if (list) out.push(...splitList(h.value).filter((v) => v !== ''));
    else out.push(h.value);
  }
  return out;
}

/** Replace every line of `name` by one line holding `value`, where the first was (else at the end). Mutates `m`. */
export function setHeader(m: HasHeaders, name: string, value: string): void {
  const at = m.headers.findIndex((h) => sameHeaderName(h.name, name));
  removeHeader(m, name);
  m.headers.splice(at < 0 ? m.headers.length : at, 0, { name: canonicalHeaderName(name), value });
}

/**
 * Add a header line. `first` puts it before the existing lines of that field (or at the top when
 * there are none), as a proxy or UAC does with Via and Record-Route (§16.6, §8.1.1.7). Mutates `m`.
 */
export function addHeader(m: HasHeaders, name: string, value: string, position: 'first' | 'last' = 'last'): void {
  const header = { name: canonicalHeaderName(name), value };
  if (position === 'last') {
    m.headers.push(header);
    return;
  }
  const at = m.headers.findIndex((h) => sameHeaderName(h.name, name));
  m.headers.splice(at < 0 ? 0 : at, 0, header);
}

/** Remove every line of `name`; returns how many were removed. Mutates `m`. */
export function removeHeader(m: HasHeaders, name: string): number {
  const before = m.headers.length;
  m.headers = m.headers.filter((h) => !sameHeaderName(h.name, name));
  return before - m.headers.length;
}

// --- lexical pieces of §25.1 -------------------------------------------------------------------

const TOKEN_CHARS = /^[A-Za-z0-9\-.!%*_+`'~]$/;
/** gen-value = token / host / quoted-string; host adds `:` `[` `]` (IPv6) to the token characters. */
const VALUE_CHARS = /^[A-Za-z0-9\-.!%*_+`'~:[\]]$/;
const HOST_CHARS = /^[A-Za-z0-9\-._]$/;

/** token (§25.1): what methods, header names and parameter names are made of. */
export function isToken(text: string): boolean {
  if (text === '') return false;
  for (const ch of text) if (!TOKEN_CHARS.test(ch)) return false;
  return true;
}

const isWsp = (ch: string | undefined) => ch === ' ' || ch === '\t';

/** Strip SP and HTAB at both ends (not `trim()`, which would also eat a U+FEFF in a value). Linear. */
export function trimLws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isWsp(text[start])) start++;
  while (end > start && isWsp(text[end - 1])) end--;
  return text.slice(start, end);
}

function skipLws(s: string, i: number): number {
  while (isWsp(s[i])) i++;
  return i;
}

function scanWhile(s: string, i: number, chars: RegExp): number {
  while (i < s.length && chars.test(s[i] ?? '')) i++;
  return i;
}

/**
 * Split a list value on commas outside quoted strings and `<...>` (§7.3.1). Elements are trimmed;
 * empty elements are kept (callers decide whether `a,,b` is an error, as for Via).
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '<') angle = true;
    else if (ch === '>') angle = false;
    else if (ch === ',' && !angle) {
      out.push(trimLws(value.slice(start, i)));
      start = i + 1;
    }
  }
  out.push(trimLws(value.slice(start)));
  return out;
}

/**
 * Read a quoted-string at `s[i] === '"'`: its unescaped text (quoted-pair, §25.1) and the index
 * after the closing quote, or undefined when it is not terminated (RFC 4475 §3.1.2.6 `quotbal`).
 */
function readQuoted(s: string, i: number): { text: string; end: number } | undefined {
  let text = '';
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === '"') return { text, end: j + 1 };
    if (s[j] === '\\') j++;
    text += s[j] ?? '';
  }
  return undefined;
}

/**
 * Write `text` as a quoted-string (§25.1): `"` and `\` and control characters become quoted-pairs.
 * CR and LF cannot be quoted at all and become spaces (they would end the header line).
 */
export function quoteString(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    if (ch === '\r' || ch === '\n') out += ' ';
    else if (ch === '"' || ch === '\\' || (code < 0x20 && ch !== '\t') || code === 0x7f) out += `\\${ch}`;
    else out += ch;
  }
  return `${out}"`;
}

/** The text of a parameter value: a quoted-string unquoted and unescaped, anything else as is. */
export function unquote(value: string): string {
  const q = value.startsWith('"') ? readQuoted(value, 0) : undefined;
  return q === undefined ? value : q.text;
}

/** generic-param list `*( SEMI token [ EQUAL gen-value ] )` from `s[i]` to the end (§25.1; SEMI and EQUAL allow LWS). */
function parseParams(s: string, i: number, fail: (why: string) => never): Map<string, string | null> {
  const params = new Map<string, string | null>();
  for (;;) {
    i = skipLws(s, i);
    if (i >= s.length) return params;
    if (s[i] !== ';') fail(`unexpected ${excerpt(s.slice(i), 20)}`);
    i = skipLws(s, i + 1);
    const nameEnd = scanWhile(s, i, TOKEN_CHARS);
    if (nameEnd === i) fail('empty parameter');
    const name = s.slice(i, nameEnd).toLowerCase();
    i = skipLws(s, nameEnd);
    let value: string | null = null;
    if (s[i] === '=') {
      i = skipLws(s, i + 1);
      const start = i;
      i = s[i] === '"' ? (readQuoted(s, i) ?? fail('unterminated quoted string')).end : scanWhile(s, i, VALUE_CHARS);
      if (i === start) fail(`empty value for ${name}`);
      value = s.slice(start, i); // quoted values keep their quotes, as written
    }
    // A repeated parameter keeps its first value (a Map holds one).
    if (!params.has(name)) params.set(name, value);
  }
}

function formatParams(params: Map<string, string | null>): string {
  let out = '';
  for (const [name, value] of params) out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}

function failer(field: string, whole: string): (why: string) => never {
  return (why) => {
    throw new SipParseError(`Bad Request - Malformed ${field}`, { detail: `${why} in ${excerpt(whole)}` });
  };
}

// --- typed header values -----------------------------------------------------------------------

/**
 * Parse a Via header value, which may hold several via-parms (§20.42, §25.1):
 * `SIP / 2.0 / UDP host[:port] *(; param)` with LWS allowed around `/`, `:`, `;` and `=`
 * (RFC 4475 §3.1.1.1). Transport is upper-cased; parameter names lower-cased; an IPv6 sent-by keeps
 * its brackets. Empty elements (`;;`, `,,`, RFC 4475 §3.1.2.1) are errors.
 * @throws SipParseError `Bad Request - Malformed Via`
 */
export function parseVia(value: string): Via[] {
  return splitList(value).map((part) => parseOneVia(part, failer('Via', value)));
}

function parseOneVia(s: string, fail: (why: string) => never): Via {
  if (s === '') fail('empty value');
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS
  const pieces: string[] = [];
  let i = 0;
  for (let k = 0; k < 3; k++) {
    if (k > 0) {
      if (s[i] !== '/') fail('bad sent-protocol');
      i = skipLws(s, i + 1);
    }
    const end = scanWhile(s, i, TOKEN_CHARS);
    if (end === i) fail('bad sent-protocol');
    pieces.push(s.slice(i, end));
    i = skipLws(s, end);
    if (k === 2 && i === end) fail('no LWS before sent-by');
  }
  const [name = '', version = '', transport = ''] = pieces;
  // sent-by = host [ COLON port ], COLON = SWS ":" SWS
  const hostStart = i;
  if (s[i] === '[') {
    const close = s.indexOf(']', i);
    i = close < 0 ? s.length : close + 1;
  } else {
    i = scanWhile(s, i, HOST_CHARS);
  }
  let hostport = s.slice(hostStart, i);
  const afterHost = skipLws(s, i);
  if (s[afterHost] === ':') {
    const portStart = skipLws(s, afterHost + 1);
    i = scanWhile(s, portStart, /^[0-9]$/);
    hostport += `:${s.slice(portStart, i)}`;
  }
  let sentBy: { host: string; port?: number };
  try {
    sentBy = parseHostPort(hostport);
  } catch {
    return fail(`bad sent-by ${excerpt(hostport, 40)}`);
  }
  const via: Via = { protocol: `${name}/${version}`, transport: transport.toUpperCase(), host: sentBy.host, params: parseParams(s, i, fail) };
  if (sentBy.port !== undefined) via.port = sentBy.port;
  return via;
}

/** Format one Via value: `SIP/2.0/UDP host[:port];params` (§20.42). */
export function formatVia(via: Via): string {
  const port = via.port === undefined ? '' : `:${via.port}`;
  return `${via.protocol}/${via.transport} ${via.host}${port}${formatParams(via.params)}`;
}

/**
 * Parse a name-addr or addr-spec with header parameters: From, To, Contact (one value), Route,
 * Record-Route, Reply-To, Refer-To... (§20.10, §20.20, §20.39, §25.1).
 *
 * - `"quoted \"display\""  <uri>;p=v`: the display name is unescaped (`quoted "display"`);
 * - `token token <uri>`: tokens joined by single spaces; a non-token character (`Bell, Alexander`,
 *   RFC 4475 §3.1.2.15) is an error, and so is whitespace inside `< >` (§3.1.2.14);
 * - bare addr-spec `sip:u@h;tag=x`: parameters after the URI belong to the header (§20.10), and a
 *   URI with `?` or `,` must be in `< >` (RFC 4475 §3.1.2.13 `regbadct`).
 * The URI may be any scheme (RFC 4475 §3.3.4). `*` (Contact wildcard, §10.2.2) is not a name-addr:
 * callers test for it first. `field` names the header in the error reason.
 * @throws SipParseError `Bad Request - Malformed <field>`
 */
export function parseNameAddr(value: string, field = 'name-addr'): NameAddr {
  const fail = failer(field, value);
  const s = value;
  let i = skipLws(s, 0);
  let displayName: string | undefined;
  if (s[i] === '"') {
    const q = readQuoted(s, i) ?? fail('unterminated quoted string');
    displayName = q.text;
    i = skipLws(s, q.end);
    if (s[i] !== '<') fail('expected < after the display name');
  }
  // name-addr when a `<` comes before any `;` or `"`: a bare addr-spec cannot contain `<`, but its
  // header parameters may (`;+sip.instance="<urn:...>"`, RFC 5626).
  let lt = i;
  while (lt < s.length && s[lt] !== '<' && s[lt] !== ';' && s[lt] !== '"') lt++;
  if (s[lt] !== '<') lt = -1;
  let uriText: string;
  if (lt >= 0) {
    if (displayName === undefined) {
      const words = s.slice(i, lt).split(/[ \t]+/).filter((w) => w !== '');
      if (!words.every(isToken)) fail('display name is neither tokens nor a quoted string');
      if (words.length > 0) displayName = words.join(' ');
    }
    const gt = s.indexOf('>', lt + 1);
    if (gt < 0) fail('missing >');
    uriText = s.slice(lt + 1, gt);
    i = gt + 1;
  } else {
    const semi = s.indexOf(';', i);
    const end = semi < 0 ? s.length : semi;
    uriText = trimLws(s.slice(i, end));
    if (/[?,]/.test(uriText)) fail('a URI with ? or , must be enclosed in < >');
    i = end;
  }
  let uri;
  try {
    uri = parseUri(uriText);
  } catch {
    return fail(`bad URI ${excerpt(uriText, 40)}`);
  }
  const params = parseParams(s, i, fail);
  return displayName === undefined ? { uri, params } : { displayName, uri, params };
}

/** Format a name-addr: `"display" <uri>;params`, always with `< >` (safe for any URI, §20.10). */
export function formatNameAddr(na: NameAddr): string {
  const display = na.displayName === undefined ? '' : `${quoteString(na.displayName)} `;
  return `${display}<${formatUri(na.uri)}>${formatParams(na.params)}`;
}

/**
 * Parse CSeq (§20.16): `1*DIGIT LWS Method`. The number must fit 32 bits unsigned (§8.1.1.5;
 * RFC 4475 §3.1.2.4 `scalar02`); leading zeros are allowed (`0009`, §3.1.1.1).
 * @throws SipParseError `Bad Request - Malformed CSeq`
 */
export function parseCSeq(value: string): CSeq {
  const fail = failer('CSeq', value);
  const m = /^([0-9]+)[ \t]+([^ \t]+)$/.exec(trimLws(value));
  if (!m || !isToken(m[2] ?? '')) return fail('expected "number method"');
  const digits = (m[1] ?? '').replace(/^0+(?=.)/, '');
  const seq = Number(digits);
  if (digits.length > 10 || seq > 0xffffffff) fail('sequence number beyond 2**32-1');
  return { seq, method: m[2] ?? '' };
}

/**
 * Parse Content-Length (§20.14): `1*DIGIT` octets. Negative or non-numeric values are errors
 * (RFC 4475 §3.1.2.3 `ncl`).
 * @throws SipParseError `Bad Request - Malformed Content-Length`
 */
export function parseContentLength(value: string): number {
  const digits = trimLws(value).replace(/^0+(?=.)/, '');
  if (!/^[0-9]{1,15}$/.test(digits)) failer('Content-Length', value)('expected a number of octets');
  return Number(digits);
}

/**
 * Parse Max-Forwards (§20.22): `1*DIGIT`, 0 to 255 (RFC 4475 §3.1.2.4 `scalar02` has 300).
 * @throws SipParseError `Bad Request - Malformed Max-Forwards`
 */
export function parseMaxForwards(value: string): number {
  const digits = trimLws(value).replace(/^0+(?=.)/, '');
  if (!/^[0-9]{1,3}$/.test(digits) || Number(digits) > 255) failer('Max-Forwards', value)('expected 0 to 255');
  return Number(digits);
}
