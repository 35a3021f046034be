/**
 * Write SIP messages (RFC 3261 §7) and build responses to requests (§8.2.6).
 *
 * Serialization writes CRLF line ends, canonical long header names (§7.3.3: compact forms are for
 * reading) and a Content-Length equal to the body, always (§18.3, §20.14: mandatory on streams,
 * harmless on UDP), so no caller can frame a message wrongly. Values are written as stored.
 */
import type { SipHeader, SipMessage, SipResponse } from './message.js';
import { canonicalHeaderName, isToken, parseNameAddr, type HasHeaders } from './headers.js';

/** Reason phrases of RFC 3261 §21 and the extensions a PBX meets (IANA "Response Codes" registry). */
const REASONS = new Map<number, string>([
  [100, 'Trying'], [180, 'Ringing'], [181, 'Call Is Being Forwarded'], [182, 'Queued'], [183, 'Session Progress'],
  [199, 'Early Dialog Terminated'], [200, 'OK'], [202, 'Accepted'], [204, 'No Notification'],
  [300, 'Multiple Choices'], [301, 'Moved Permanently'], [302, 'Moved Temporarily'], [305, 'Use Proxy'],
  [380, 'Alternative Service'], [400, 'Bad Request'], [401, 'Unauthorized'], [402, 'Payment Required'],
  [403, 'Forbidden'], [404, 'Not Found'], [405, 'Method Not Allowed'], [406, 'Not Acceptable'],
  [407, 'Proxy Authentication Required'], [408, 'Request Timeout'], [410, 'Gone'],
  [412, 'Conditional Request Failed'], [413, 'Request Entity Too Large'], [414, 'Request-URI Too Long'],
  [415, 'Unsupported Media Type'], [416, 'Unsupported URI Scheme'], [417, 'Unknown Resource-Priority'],
  [420, 'Bad Extension'], [421, 'Extension Required'], [422, 'Session Interval Too Small'],
  [423, 'Interval Too Brief'], [428, 'Use Identity Header'], [429, 'Provide Referrer Identity'],
  [433, 'Anonymity Disallowed'], [436, 'Bad Identity Info'], [437, 'Unsupported Credential'],
  [438, 'Invalid Identity Header'], [439, 'First Hop Lacks Outbound Support'], [440, 'Max-Breadth Exceeded'],
  [469, 'Bad Info Package'], [470, 'Consent Needed'], [480, 'Temporarily Unavailable'],
  [481, 'Call/Transaction Does Not Exist'], [482, 'Loop Detected'], [483, 'Too Many Hops'],
  [484, 'Address Incomplete'], [485, 'Ambiguous'], [486, 'Busy Here'], [487, 'Request Terminated'],
  [488, 'Not Acceptable Here'], [489, 'Bad Event'], [491, 'Request Pending'], [493, 'Undecipherable'],
  [494, 'Security Agreement Required'], [500, 'Server Internal Error'], [501, 'Not Implemented'],
  [502, 'Bad Gateway'], [503, 'Service Unavailable'], [504, 'Server Time-out'], [505, 'Version Not Supported'],
  [513, 'Message Too Large'], [580, 'Precondition Failure'], [600, 'Busy Everywhere'], [603, 'Decline'],
  [604, 'Does Not Exist Anywhere'], [606, 'Not Acceptable'], [607, 'Unwanted'], [608, 'Rejected'],
]);

/** The class names of §7.2, for codes without a registered phrase. */
const CLASS_REASONS = ['', 'Provisional', 'Success', 'Redirection', 'Client Error', 'Server Error', 'Global Failure'];

/** The standard reason phrase of a status code (§21), or its class name (§7.2) when unregistered. */
export function reasonPhrase(status: number): string {
  return REASONS.get(status) ?? CLASS_REASONS[Math.floor(status / 100)] ?? '';
}

/** Anything that could end a line or break framing: a bug in the caller, never written out. */
function assertLine(text: string, what: string): void {
  if (/[\r\n]/.test(text)) throw new Error(`SIP ${what} contains CR or LF (header injection?): ${JSON.stringify(text.slice(0, 80))}`);
}

/**
 * Serialize a message to wire bytes (§7): start line, `Name: value` lines with canonical names,
 * an empty line, the body. Content-Length is set to `body.length`, replacing the first existing one
 * in place (others are dropped) or appended last.
 *
 * @throws Error (a bug, not bad input) when a field could not be written faithfully: CR/LF in a
 *   value, reason or URI (it would inject header lines), a header name or method that is not a
 *   token, a malformed version, a status outside 100-699. Everything parseMessage returns serializes.
 */
export function serializeMessage(m: SipMessage): Buffer {
  let startLine: string;
  if (m.kind === 'request') {
    if (!isToken(m.method)) throw new Error(`SIP method is not a token: ${JSON.stringify(m.method)}`);
    if (/[\s]/.test(m.uri) || m.uri === '') throw new Error(`SIP Request-URI is empty or has whitespace: ${JSON.stringify(m.uri)}`);
    startLine = `${m.method} ${m.uri} ${m.version}`;
  } else {
    if (!Number.isInteger(m.status) || m.status < 100 || m.status > 699) throw new Error(`SIP status out of range: ${m.status}`);
    assertLine(m.reason, 'reason phrase');
    startLine = `${m.version} ${m.status} ${m.reason}`;
  }
  if (!/^SIP\/[0-9]+\.[0-9]+$/i.test(m.version)) throw new Error(`SIP version is malformed: ${JSON.stringify(m.version)}`);

  const lines = [startLine];
  let lengthWritten = false;
  for (const h of m.headers) {
    const name = canonicalHeaderName(h.name);
    if (!isToken(name)) throw new Error(`SIP header name is not a token: ${JSON.stringify(h.name)}`);
    if (name === 'Content-Length') {
      if (!lengthWritten) lines.push(`Content-Length: ${m.body.length}`);
      lengthWritten = true;
      continue;
    }
    assertLine(h.value, `${name} value`);
    lines.push(`${name}: ${h.value}`);
  }
  if (!lengthWritten) lines.push(`Content-Length: ${m.body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), m.body]);
}

/**
 * Build a response to a request (RFC 3261 §8.2.6): status line, then Via (every value, in order),
 * From, To, Call-ID and CSeq copied from the request (§8.2.6.2), and Timestamp for a 100 (§8.2.6.1),
 * then `extraHeaders`; empty body. `reason` defaults to the §21 phrase.
 *
 * To: when the request's To has no tag and `toTag` is given, `;tag=<toTag>` is appended to the To
 * value as written, so the URI stays equal to the request's (§8.2.6.2). A To that does not parse
 * (answering a malformed request with 400) is copied unchanged.
 *
 * `request` needs only headers, so the `request` of a SipParseError can be answered directly.
 * Missing fields are left out rather than invented (RFC 4475 §3.3.1 `insuf`); a repeated
 * single-valued field is copied once (§3.3.8 `multi01`).
 * @throws Error (a bug) for a status outside 100-699 or a `toTag` that is not a token
 */
export function buildResponse(
  request: HasHeaders,
  status: number,
  reason?: string,
  extraHeaders: SipHeader[] = [],
  toTag?: string,
): SipResponse {
  if (!Number.isInteger(status) || status < 100 || status > 699) throw new Error(`SIP status out of range: ${status}`);
  if (toTag !== undefined && !isToken(toTag)) throw new Error(`SIP To tag is not a token: ${JSON.stringify(toTag)}`);
  const named = (name: string) => request.headers.filter((h) => canonicalHeaderName(h.name) === name);
  const first = (name: string) => named(name).slice(0, 1);

  const headers: SipHeader[] = [];
  for (const h of named('Via')) headers.push({ name: 'Via', value: h.value });
  for (const h of first('From')) headers.push({ name: 'From', value: h.value });
  for (const h of first('To')) headers.push({ name: 'To', value: toTag === undefined ? h.value : withToTag(h.value, toTag) });
  for (const name of ['Call-ID', 'CSeq']) for (const h of first(name)) headers.push({ name, value: h.value });
  if (status === 100) for (const h of first('Timestamp')) headers.push({ name: 'Timestamp', value: h.value });
  for (const h of extraHeaders) headers.push({ name: canonicalHeaderName(h.name), value: h.value });

  return { kind: 'response', version: 'SIP/2.0', status, reason: reason ?? reasonPhrase(status), headers, body: Buffer.alloc(0) };
}

/** `value` with `;tag=` appended unless it has a tag already or does not parse (see buildResponse). */
function withToTag(value: string, tag: string): string {
  try {
    return parseNameAddr(value, 'To').params.has('tag') ? value : `${value};tag=${tag}`;
  } catch {
    return value;
  }
}
