/**
 * Parse one complete SIP message: a UDP datagram, or one message cut from a stream by
 * SipStreamFramer (RFC 3261 §7, §18.3, ABNF §25; robustness per RFC 4475).
 *
 * What "valid enough" means here: the start line is well formed (one SP between its three parts,
 * a parseable Request-URI without URI headers, SIP/2.0), every header line has a token name, and
 * the fields the transaction and dialog layers need to match and answer a message parse: Via (all
 * values), From, To, Call-ID, CSeq (method equal to the request's), and, when present,
 * Max-Forwards, Content-Length, Contact, Route and Record-Route; none of the single-valued ones
 * repeated (RFC 4475 §3.3.8, §3.3.9). Every other header is stored raw and parsed on demand by
 * headers.ts, so a bad Date or Accept is the UAS's concern (RFC 4475 §3.1.2.12), not a reason to
 * lose the whole message.
 *
 * Deliberate leniencies: compact and oddly cased names, LWS and folding anywhere LWS is allowed
 * (§7.3.1), leading CRLFs before the start line (§7.5), bare LF line ends, a missing empty line
 * when the datagram ends right after a header line, Max-Forwards absent (RFC 2543 requests,
 * RFC 4475 §3.4.1). Header text is decoded as UTF-8 (§7.3.1); invalid sequences become U+FFFD,
 * which only ever touches display names and free text (tokens, Call-ID and URIs are ASCII).
 */
import type { SipHeader, SipMessage } from './message.js';
import {
  canonicalHeaderName,
  isToken,
  parseContentLength,
  parseCSeq,
  parseMaxForwards,
  parseNameAddr,
  parseVia,
  splitList,
  trimLws,
} from './headers.js';
import { SipParseError, excerpt, parseUri, type UnparsedRequest } from './uri.js';

export { SipParseError, type UnparsedRequest } from './uri.js';

const CR = 0x0d;
const LF = 0x0a;

/**
 * Find the empty line that ends the header section, scanning from `from` (RFC 3261 §7: CRLF CRLF;
 * a bare LF is accepted as a line end). Returns the offset where the header section ends (its last
 * line terminator excluded) and where the body starts, or undefined when there is no empty line yet.
 */
export function findHeaderEnd(data: Buffer, from = 0): { headEnd: number; bodyStart: number } | undefined {
  for (let i = data.indexOf(LF, from); i >= 0; i = data.indexOf(LF, i + 1)) {
    // data[i] ends a line; the next line is empty if it is LF or CR LF.
    if (data[i + 1] === LF) return { headEnd: data[i - 1] === CR ? i - 1 : i, bodyStart: i + 2 };
    if (data[i + 1] === CR && data[i + 2] === LF) return { headEnd: data[i - 1] === CR ? i - 1 : i, bodyStart: i + 3 };
  }
  return undefined;
}

/**
 * Split a header section (start line included) into logical lines, unfolding continuation lines
 * (§7.3.1: a line starting with SP or HTAB continues the previous one; the line break and the
 * leading whitespace count as one SP). A continuation of the start line is kept as its own line
 * starting with whitespace, which the caller rejects.
 */
export function unfoldLines(head: string): string[] {
  const lines: string[] = [];
  for (const raw of head.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const last = lines.length - 1;
    if ((line.startsWith(' ') || line.startsWith('\t')) && last > 0) lines[last] += ` ${trimLws(line)}`;
    else lines.push(line);
  }
  return lines;
}

/** Methods registered with IANA: an unknown one whose CSeq disagrees gets 501 (RFC 4475 §3.1.2.18). */
const KNOWN_METHODS = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH',
  'INFO', 'REFER', 'MESSAGE', 'UPDATE',
]);

/** Single-valued fields checked here, in the order their errors are reported. */
const SINGLE = ['From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Length'];

/** callid = word [ "@" word ] (§25.1); word adds ( ) < > : \ " / [ ] ? { } to the token characters. */
const CALL_ID = /^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+)?$/;

interface Failure {
  reason: string;
  detail?: string;
  status: number;
}

/**
 * Parse one complete SIP message (RFC 3261 §7; see the module doc for what is checked).
 *
 * Body: exactly Content-Length octets after the empty line; bytes beyond are ignored (§18.3, RFC
 * 4475 §3.1.1.8 `dblreq`); a Content-Length beyond the data is an error (§3.1.2.2 `clerr`); without
 * Content-Length the body is the rest of the data (UDP, §18.3; the stream framer guarantees one).
 *
 * @throws SipParseError, and nothing else, for any input. `status` is 505 for a request in another
 * SIP version, 501 for an unknown method whose CSeq disagrees, else 400; `request` is set when a
 * request (not ACK) with Via and CSeq was recognised, meaning a response can be sent.
 */
export function parseMessage(data: Buffer): SipMessage {
  let start = 0;
  while (data[start] === CR || data[start] === LF) start++; // §7.5: CRLFs before the start line
  let failure: Failure | undefined;
  const fail = (reason: string, detail?: string, status = 400) => {
    failure ??= { reason, status, ...(detail === undefined ? {} : { detail }) };
  };

  let end = findHeaderEnd(data, start);
  if (end === undefined) {
    // Tolerate a datagram ending right after a header line; a partial last line means truncation.
    const lastLf = data.lastIndexOf(LF);
    if (lastLf < start || lastLf !== data.length - 1) fail('Bad Request - Incomplete header section');
    const headEnd = lastLf < start ? data.length : data[lastLf - 1] === CR ? lastLf - 1 : lastLf;
    end = { headEnd, bodyStart: data.length };
  }
  const lines = unfoldLines(data.toString('utf8', start, end.headEnd));
  const startLine = lines[0] ?? '';
  if (startLine === '') throw new SipParseError('Bad Request - Empty message');

  // Start line (§7.1, §7.2).
  const isResponse = /^SIP\//i.test(startLine);
  let method = '';
  let uri = '';
  let version = '';
  let status = 0;
  let reason = '';
  if (isResponse) {
    const m = /^(SIP\/[0-9]+\.[0-9]+) ([0-9]{3})(?: ([^\r]*))?$/i.exec(startLine);
    // A bad response is never answered (§3.1.2.19 `bigcode`: drop it); stop at once.
    if (!m) throw new SipParseError('Bad Request - Malformed Status-Line', { detail: excerpt(startLine) });
    [, version = '', , reason = ''] = m;
    status = Number(m[2]);
    if (version.toUpperCase() !== 'SIP/2.0') throw new SipParseError('Version Not Supported', { detail: version, status: 505 });
    if (status < 100 || status > 699) throw new SipParseError('Bad Request - Malformed Status-Line', { detail: excerpt(startLine) });
  } else {
    // method SP Request-URI SP SIP-Version. A line we cannot even split this way is not a request.
    const trimmed = trimLws(startLine);
    const first = trimmed.indexOf(' ');
    const last = trimmed.lastIndexOf(' ');
    method = trimmed.slice(0, first);
    version = trimmed.slice(last + 1);
    uri = trimmed.slice(first + 1, last);
    if (first <= 0 || last === first || !isToken(method) || !/^SIP\/[0-9]+\.[0-9]+$/i.test(version)) {
      throw new SipParseError('Bad Request - Malformed Request-Line', { detail: excerpt(startLine) });
    }
    if (version.toUpperCase() !== 'SIP/2.0') fail('Version Not Supported', version, 505); // §3.1.2.16 `badvers`
    // Exactly one SP between the parts (§25.1). RFC 4475 §3.1.2.9/§3.1.2.10 allow rejecting the
    // extra or trailing SP; we do, as a malformed start line is a broken or hostile sender.
    if (trimmed !== startLine || uri.startsWith(' ') || uri.endsWith(' ')) fail('Bad Request - Malformed Request-Line', excerpt(startLine));
    try {
      if (parseUri(uri).headers.size > 0) fail('Bad Request - Headers in Request-URI', excerpt(uri)); // §19.1.1, §3.1.2.11
    } catch {
      fail('Bad Request - Malformed Request-URI', excerpt(uri)); // §3.1.2.7 `<...>`, §3.1.2.8 spaces
    }
  }

  // Header lines (§7.3): token name, optional LWS, colon, value (trimmed, unfolded).
  const headers: SipHeader[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : trimLws(line.slice(0, colon));
    if (!isToken(name) || line.includes('\r') || name !== line.slice(0, name.length)) {
      // A bare CR could never be written back out; leading whitespace means folding after the start line.
      fail('Bad Request - Malformed header line', excerpt(line));
      continue;
    }
    headers.push({ name: canonicalHeaderName(name), value: trimLws(line.slice(colon + 1)) });
  }
  const all = (name: string) => headers.filter((h) => h.name === name).map((h) => h.value);
  const check = (name: string, parse: (value: string) => unknown) => {
    for (const value of all(name)) {
      try {
        parse(value);
      } catch (err) {
        fail(err instanceof SipParseError ? err.reason : `Bad Request - Malformed ${name}`, excerpt(value));
      }
    }
  };

  // Mandatory fields (§8.1.1, §20): present, single where they must be, and parseable.
  for (const name of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) if (all(name).length === 0) fail(`Bad Request - Missing ${name}`);
  for (const name of SINGLE) if (all(name).length > 1) fail(`Bad Request - Multiple ${name} header fields`);
  check('Via', parseVia);
  check('From', (v) => parseNameAddr(v, 'From'));
  check('To', (v) => parseNameAddr(v, 'To'));
  // The dialog layer builds route sets and remote targets from these (§12.1); a 400 here beats an
  // exception there (RFC 4475 §3.1.2.13 `regbadct`: a Contact URI with `?` outside `< >`).
  for (const name of ['Contact', 'Route', 'Record-Route']) {
    check(name, (v) => {
      for (const item of splitList(v)) if (!(name === 'Contact' && item === '*')) parseNameAddr(item, name);
    });
  }
  check('Call-ID', (v) => {
    if (!CALL_ID.test(v)) throw new SipParseError('Bad Request - Malformed Call-ID');
  });
  check('CSeq', (v) => {
    const cseq = parseCSeq(v);
    if (isResponse || cseq.method === method) return;
    // §8.1.1.5: the CSeq method matches the request's. RFC 4475 §3.1.2.17 answers 400, and
    // §3.1.2.18 prefers 501 when the method is one we do not know anyway.
    if (KNOWN_METHODS.has(method)) throw new SipParseError('Bad Request - CSeq method does not match');
    fail('Not Implemented', `method ${excerpt(method)} with CSeq ${excerpt(v)}`, 501);
  });
  if (!isResponse) check('Max-Forwards', parseMaxForwards);

  // Body (§7.4, §18.3, §20.14).
  let bodyEnd = data.length;
  const [contentLength] = all('Content-Length');
  if (contentLength !== undefined) {
    try {
      const length = parseContentLength(contentLength);
      if (end.bodyStart + length > data.length) {
        fail('Bad Request - Content-Length larger than body', `${length} > ${data.length - end.bodyStart}`);
      } else {
        bodyEnd = end.bodyStart + length;
      }
    } catch {
      fail('Bad Request - Malformed Content-Length', excerpt(contentLength)); // §3.1.2.3 `ncl`
    }
  }

  if (failure !== undefined) {
    // Answerable: a request other than ACK whose response can be routed (Via, §18.2.2) and matched
    // (Via branch and CSeq, §17.1.3). RFC 4475 §3.3.1 wants a 400 even without From/To/Call-ID.
    const answerable = !isResponse && method !== 'ACK' && all('Via').length > 0 && all('CSeq').length > 0;
    const request: UnparsedRequest | undefined = answerable ? { method, uri, headers } : undefined;
    throw new SipParseError(failure.reason, {
      status: failure.status,
      ...(failure.detail === undefined ? {} : { detail: failure.detail }),
      ...(request === undefined ? {} : { request }),
    });
  }

  const body = Buffer.from(data.subarray(end.bodyStart, bodyEnd));
  return isResponse
    ? { kind: 'response', version, status, reason, headers, body }
    : { kind: 'request', method, uri, version, headers, body };
}
