/**
 * SIP codec units: URIs (RFC 3261 §19.1), header names, lists and typed values (§7.3, §20, §25),
 * message parsing details beyond the torture messages, serialization and responses (§7, §8.2.6),
 * and the stream framer (§18.3, RFC 5626 §3.5.1).
 */
import { describe, expect, it } from 'vitest';
import type { SipMessage, SipRequest } from '../../src/sip/message.js';
import {
  addHeader, canonicalHeaderName, formatNameAddr, formatVia, getHeader, getHeaders, parseContentLength, parseCSeq,
  parseMaxForwards, parseNameAddr, parseVia, quoteString, removeHeader, setHeader, splitList, unquote,
} from '../../src/sip/headers.js';
import { parseMessage, SipParseError } from '../../src/sip/parse.js';
import { buildResponse, reasonPhrase, serializeMessage } from '../../src/sip/serialize.js';
import { SipStreamFramer } from '../../src/sip/stream-framer.js';
import { formatUri, parseUri, unescapeUri, uriEquals } from '../../src/sip/uri.js';

const crlf = (lines: string[], body = '') => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'utf8');
const INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
];
const parseReq = (lines: string[], body = '') => parseMessage(crlf(lines, body)) as SipRequest;

/** The SipParseError thrown by `fn` (fails the test when nothing or something else is thrown). */
function parseError(fn: () => unknown): SipParseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SipParseError);
    return err as SipParseError;
  }
  throw new Error('expected a SipParseError');
}

describe('parseUri / formatUri (§19.1)', () => {
  it('parses every part of a SIP URI, keeping escapes and order', () => {
    const uri = parseUri('sip:alice:secret@atlanta.com:5061;transport=tcp;LR?subject=project%20x&priority=urgent');
    expect(uri).toEqual({
      scheme: 'sip', user: 'alice', password: 'secret', host: 'atlanta.com', port: 5061,
      params: new Map([['transport', 'tcp'], ['lr', null]]),
      headers: new Map([['subject', 'project%20x'], ['priority', 'urgent']]),
    });
  });

  it.each([
    ['SIPS:Alice@Example.COM', { scheme: 'sips', user: 'Alice', host: 'Example.COM' }],
    ['sip:[2001:db8::1]:5060;transport=udp', { host: '[2001:db8::1]', port: 5060 }],
    ['sip:alice@[::1]', { user: 'alice', host: '[::1]' }],
    ['sip:%61lice@example.com', { user: '%61lice' }],
    ['sip:*72%23@pbx.example.com', { user: '*72%23' }],
    ['sip:*72#@pbx.example.com', { user: '*72#' }], // unescaped # from sloppy phones
    ['sip:user:@host', { user: 'user', password: '' }],
    ['sip:192.0.2.1:0', { host: '192.0.2.1', port: 0 }],
    ['tel:+1-201-555-0123;phone-context=example.com', { scheme: 'tel', host: '', opaque: '+1-201-555-0123;phone-context=example.com' }],
    ['urn:service:sos', { scheme: 'urn', opaque: 'service:sos' }],
  ])('%s', (text, fields) => {
    expect(parseUri(text)).toMatchObject(fields);
  });

  it.each([
    '', 'sip', 'sip:', ':x', '1sip:a@b', 'sip:user@', 'sip:@host', '<sip:a@b>', 'sip:a@b c', ' sip:a@b', 'sip:a@b;;lr',
    'sip:a@b;', 'sip:a@b;x=', 'sip:a@b:99999', 'sip:a@b:', 'sip:a@b:5x', 'sip:a@[::g]', 'sip:a@[::1', 'sip:a%zz@b',
    'sip:a%2@b', 'sip:a@b?', 'sip:a@b?x', 'sip:a@b?=v', 'sip:a:b:c@d', 'sip:a@b"', 'sip:al<ice@b', 'tel:', 'tel:+1 555',
    'sip:a@b;x=é',
  ])('rejects %j', (text) => {
    expect(parseError(() => parseUri(text)).reason).toBe('Bad Request - Malformed URI');
  });

  it.each([
    'sip:alice@atlanta.com',
    'sips:alice:pw@[2001:db8::1]:5061;transport=tls;lr;maddr=239.255.255.1?to=sip:bob%40biloxi.com&x=',
    'sip:+15551234567@gw.example.net;user=phone',
    'tel:+15551234567',
  ])('formatUri(parseUri(%s)) gives it back', (text) => {
    expect(formatUri(parseUri(text))).toBe(text);
  });

  it('unescapeUri decodes UTF-8 escapes and never throws on bad ones', () => {
    expect(unescapeUri('I%20have%20spaces')).toBe('I have spaces');
    expect(unescapeUri('%E2%82%ACuro')).toBe('€uro');
    expect(unescapeUri('100%zz')).toBe('100%zz');
    expect(unescapeUri('%ff')).toBe('\ufffd');
  });
});

describe('uriEquals (§19.1.4)', () => {
  it.each([
    ['sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'],
    ['sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;security=on'],
    ['sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com', 'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com'],
    ['sip:alice@atlanta.com?subject=project%20x&priority=urgent', 'sip:alice@atlanta.com?priority=urgent&subject=project%20x'],
    ['sip:[2001:DB8::1]', 'sip:[2001:db8::1]'],
    ['tel:+15551234567', 'TEL:+15551234567'],
  ])('%s == %s', (a, b) => {
    expect(uriEquals(parseUri(a), parseUri(b))).toBe(true);
    expect(uriEquals(parseUri(b), parseUri(a))).toBe(true);
  });

  it.each([
    ['SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting'],
    ['sip:bob@phone21.boxesbybob.example.com', 'sip:bob@192.0.2.4'],
    ['sip:alice@atlanta.com', 'sips:alice@atlanta.com'],
    ['sip:alice@atlanta.com;user=phone', 'sip:alice@atlanta.com'],
    ['sip:alice@atlanta.com;maddr=1.2.3.4', 'sip:alice@atlanta.com'],
    ['sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off'],
    ['sip:a%40b@c', 'sip:a@b@c'.replace('a@b@c', 'a%2540b@c')], // %40 (reserved "@") is not the text "%40"
    ['sip:alice:x@atlanta.com', 'sip:alice@atlanta.com'],
    ['tel:+15551234567', 'sip:+15551234567@example.com'],
  ])('%s != %s', (a, b) => {
    expect(uriEquals(parseUri(a), parseUri(b))).toBe(false);
    expect(uriEquals(parseUri(b), parseUri(a))).toBe(false);
  });
});

describe('header names and access (§7.3)', () => {
  it.each([
    ['i', 'Call-ID'], ['m', 'Contact'], ['e', 'Content-Encoding'], ['l', 'Content-Length'], ['c', 'Content-Type'],
    ['f', 'From'], ['s', 'Subject'], ['k', 'Supported'], ['t', 'To'], ['V', 'Via'], ['o', 'Event'], ['r', 'Refer-To'],
    ['u', 'Allow-Events'], ['b', 'Referred-By'], ['x', 'Session-Expires'], ['y', 'Identity'], ['a', 'Accept-Contact'],
    ['j', 'Reject-Contact'], ['d', 'Request-Disposition'], ['call-id', 'Call-ID'], ['CSEQ', 'CSeq'],
    ['www-authenticate', 'WWW-Authenticate'], ['max-FORWARDS', 'Max-Forwards'], ['rack', 'RAck'],
    ['X-PBX-Dest', 'X-PBX-Dest'], ['x-pbx-dest', 'x-pbx-dest'], ['constructor', 'constructor'], ['q', 'q'],
  ])('canonicalHeaderName(%s) = %s', (name, canonical) => {
    expect(canonicalHeaderName(name)).toBe(canonical);
  });

  const m = (): SipMessage => ({
    kind: 'request', method: 'INVITE', uri: 'sip:a@b', version: 'SIP/2.0', body: Buffer.alloc(0),
    headers: [
      { name: 'Via', value: 'SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2' },
      { name: 'Via', value: 'SIP/2.0/UDP c;branch=z9hG4bK3' },
      { name: 'Contact', value: '"Doe, John" <sip:j@d;x=a,b>;q=0.5, <sip:k@e>' },
      { name: 'Date', value: 'Sat, 13 Nov 2010 23:29:00 GMT' },
      { name: 'X-Custom', value: 'a, b' },
      { name: 'x-custom', value: 'c' },
      { name: 'Call-ID', value: 'abc@host' },
    ],
  });

  it('getHeader: first line, any case or compact form', () => {
    expect(getHeader(m(), 'v')).toBe('SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2');
    expect(getHeader(m(), 'i')).toBe('abc@host');
    expect(getHeader(m(), 'CALL-ID')).toBe('abc@host');
    expect(getHeader(m(), 'To')).toBeUndefined();
  });

  it('getHeaders: list fields split on top-level commas, others one entry per line', () => {
    expect(getHeaders(m(), 'Via')).toEqual(['SIP/2.0/UDP a;branch=z9hG4bK1', 'SIP/2.0/TCP b;branch=z9hG4bK2', 'SIP/2.0/UDP c;branch=z9hG4bK3']);
    expect(getHeaders(m(), 'm')).toEqual(['"Doe, John" <sip:j@d;x=a,b>;q=0.5', '<sip:k@e>']);
    expect(getHeaders(m(), 'Date')).toEqual(['Sat, 13 Nov 2010 23:29:00 GMT']);
    expect(getHeaders(m(), 'X-CUSTOM')).toEqual(['a, b', 'c']);
  });

  it('setHeader replaces all lines in place; addHeader appends or goes first; removeHeader counts', () => {
    const msg = m();
    setHeader(msg, 'x-custom', 'z');
    expect(msg.headers.filter((h) => h.name.toLowerCase() === 'x-custom')).toEqual([{ name: 'x-custom', value: 'z' }]);
    expect(msg.headers.findIndex((h) => h.value === 'z')).toBe(4);
    setHeader(msg, 't', '<sip:b@c>');
    expect(msg.headers.at(-1)).toEqual({ name: 'To', value: '<sip:b@c>' });
    addHeader(msg, 'v', 'SIP/2.0/UDP top;branch=z9hG4bK0', 'first');
    expect(getHeaders(msg, 'Via')[0]).toBe('SIP/2.0/UDP top;branch=z9hG4bK0');
    addHeader(msg, 'Record-Route', '<sip:p1;lr>', 'first');
    expect(msg.headers[0]).toEqual({ name: 'Record-Route', value: '<sip:p1;lr>' });
    addHeader(msg, 'k', 'timer');
    expect(msg.headers.at(-1)).toEqual({ name: 'Supported', value: 'timer' });
    expect(removeHeader(msg, 'VIA')).toBe(3);
    expect(removeHeader(msg, 'Via')).toBe(0);
  });

  it('splitList respects quotes (with escapes) and angle brackets, keeps empty elements', () => {
    expect(splitList('"a, \\"b,\\"" <sip:x;p=1,2>, c ,, d')).toEqual(['"a, \\"b,\\"" <sip:x;p=1,2>', 'c', '', 'd']);
    expect(splitList('')).toEqual(['']);
  });
});

describe('typed header values (§20, §25.1)', () => {
  it('parseVia: list, LWS everywhere allowed, IPv6 sent-by and received, valueless rport', () => {
    const [a, b] = parseVia('SIP / 2.0 / udp  [2001:db8::9] : 5070 ; branch = z9hG4bKa ; rport ; received=2001:db8::1 ,SIP/2.0/TLS h.example.com;branch="q"');
    expect(a).toEqual({
      protocol: 'SIP/2.0', transport: 'UDP', host: '[2001:db8::9]', port: 5070,
      params: new Map([['branch', 'z9hG4bKa'], ['rport', null], ['received', '2001:db8::1']]),
    });
    expect(b).toMatchObject({ transport: 'TLS', host: 'h.example.com', params: new Map([['branch', '"q"']]) });
    expect(b?.port).toBeUndefined();
  });

  it.each([
    '', 'SIP/2.0/UDP', 'SIP/2.0 UDP host', 'SIP/2.0/UDPhost', 'SIP/2.0/UDP host;;', 'SIP/2.0/UDP host;', 'SIP/2.0/UDP host,,',
    'SIP/2.0/UDP host, ', 'SIP/2.0/UDP host:70000', 'SIP/2.0/UDP host:', 'SIP/2.0/UDP [::1', 'SIP/2.0/UDP host;branch=',
    'SIP/2.0/UDP host;branch="x', 'SIP/2.0/UDP host junk', 'SIP/2.0/UDP ;branch=x',
  ])('parseVia rejects %j', (value) => {
    expect(parseError(() => parseVia(value)).reason).toBe('Bad Request - Malformed Via');
  });

  it('formatVia writes what parseVia reads', () => {
    const text = 'SIP/2.0/TCP [::1]:5060;branch=z9hG4bKx;rport=5061;received=192.0.2.1';
    expect(formatVia(parseVia(text)[0]!)).toBe(text);
  });

  it.each([
    ['"A. \\"Bob\\" \\\\ B" <sip:bob@b>;tag=x', { displayName: 'A. "Bob" \\ B', params: new Map([['tag', 'x']]) }],
    ['Bob  Smith<sip:bob@b>', { displayName: 'Bob Smith' }],
    ['<sip:bob@b;transport=tcp>;Expires=60', { uri: expect.objectContaining({ params: new Map([['transport', 'tcp']]) }), params: new Map([['expires', '60']]) }],
    ['sip:bob@b;transport=tcp', { uri: expect.objectContaining({ params: new Map() }), params: new Map([['transport', 'tcp']]) }],
    ['"" <sip:bob@b>', { displayName: '' }],
    ['<sip:a@b>;+sip.instance="<urn:uuid:1>"', { params: new Map([['+sip.instance', '"<urn:uuid:1>"']]) }],
    ['sip:a@b;+sip.instance="<urn:uuid:1>"', { params: new Map([['+sip.instance', '"<urn:uuid:1>"']]) }],
    ['"Ünïcødé 😀" <sip:a@b>', { displayName: 'Ünïcødé 😀' }],
    ['<tel:+15551234567>;tag=1', { uri: expect.objectContaining({ scheme: 'tel', opaque: '+15551234567' }) }],
  ])('parseNameAddr(%s)', (value, fields) => {
    expect(parseNameAddr(value)).toMatchObject(fields);
  });

  it('parseNameAddr leaves displayName out when there is none', () => {
    expect(parseNameAddr('<sip:a@b>')).not.toHaveProperty('displayName');
  });

  it.each([
    ['"Mr. J. User <sip:j.user@example.com>', 'unterminated'],
    ['"Watson, Thomas" < sip:t.watson@example.org >', 'bad URI'],
    ['sip:user@example.com?Route=%3Csip:sip.example.com%3E', 'enclosed'],
    ['sip:a,b@c', 'enclosed'],
    ['<sip:a@b', 'missing >'],
    ['Bell, Alexander <sip:a.g.bell@example.com>', 'neither tokens'],
    ['"x" sip:a@b', 'expected <'],
    ['*', 'bad URI'],
    ['', 'bad URI'],
    ['<sip:a@b>;;tag=1', 'empty parameter'],
    ['<sip:a@b> junk', 'unexpected'],
  ])('parseNameAddr rejects %j', (value, why) => {
    const err = parseError(() => parseNameAddr(value, 'To'));
    expect(err.reason).toBe('Bad Request - Malformed To');
    expect(err.message).toContain(why);
  });

  it('formatNameAddr quotes display names and always uses < >; parseNameAddr reads it back', () => {
    const na = { displayName: 'Doe, "J" \\ \x07', uri: parseUri('sip:j@d;lr?x=y'), params: new Map<string, string | null>([['tag', 'a'], ['q', null]]) };
    const text = formatNameAddr(na);
    expect(text).toBe('"Doe, \\"J\\" \\\\ \\\x07" <sip:j@d;lr?x=y>;tag=a;q');
    expect(parseNameAddr(text)).toEqual(na);
    expect(formatNameAddr({ uri: parseUri('sip:a@b'), params: new Map() })).toBe('<sip:a@b>');
  });

  it('quoteString cannot carry CR or LF and replaces them; unquote undoes quoting', () => {
    expect(quoteString('a\r\nb')).toBe('"a  b"');
    expect(unquote('"a \\"b\\""')).toBe('a "b"');
    expect(unquote('""')).toBe('');
    expect(unquote('token')).toBe('token');
    expect(unquote('"open')).toBe('"open');
  });

  it('parseCSeq', () => {
    expect(parseCSeq('314159 INVITE')).toEqual({ seq: 314159, method: 'INVITE' });
    expect(parseCSeq(' 0009 \t INVITE ')).toEqual({ seq: 9, method: 'INVITE' });
    expect(parseCSeq('4294967295 BYE')).toEqual({ seq: 4294967295, method: 'BYE' });
    for (const bad of ['INVITE', '1', '', '4294967296 INVITE', '00000000004294967296 BYE', '-1 INVITE', '1 INV ITE', '1 IN"V', 'x1 BYE']) {
      expect(parseError(() => parseCSeq(bad)).reason, bad).toBe('Bad Request - Malformed CSeq');
    }
  });

  it('parseContentLength and parseMaxForwards', () => {
    expect([parseContentLength('0'), parseContentLength(' 150 '), parseContentLength('007')]).toEqual([0, 150, 7]);
    for (const bad of ['-1', 'five', '', '1e3', '1 2', '9999999999999999']) {
      expect(parseError(() => parseContentLength(bad)).reason, bad).toBe('Bad Request - Malformed Content-Length');
    }
    expect([parseMaxForwards('70'), parseMaxForwards('0'), parseMaxForwards('0255')]).toEqual([70, 0, 255]);
    for (const bad of ['256', '-1', '', 'x', '1.5']) {
      expect(parseError(() => parseMaxForwards(bad)).reason, bad).toBe('Bad Request - Malformed Max-Forwards');
    }
  });
});

describe('parseMessage details (§7)', () => {
  it('unfolds continuation lines, expands compact names, keeps unknown names as written', () => {
    const m = parseReq([...INVITE, 'Subject: first\r\n\tsecond\r\n   third', 'x-Custom :  v  ', 'k: 100rel, timer']);
    expect(getHeader(m, 'Subject')).toBe('first second third');
    expect(m.headers.map((h) => h.name).slice(-3)).toEqual(['Subject', 'x-Custom', 'Supported']);
    expect(getHeader(m, 'x-custom')).toBe('v');
    expect(getHeaders(m, 'Supported')).toEqual(['100rel', 'timer']);
  });

  it('accepts bare LF line ends and CRLFs before the start line (§7.5)', () => {
    const m = parseMessage(Buffer.from(`\r\n\r\n${INVITE.join('\n')}\nContent-Length: 2\n\nhi`));
    expect(m.kind === 'request' && m.method).toBe('INVITE');
    expect(m.body.toString()).toBe('hi');
  });

  it('body: Content-Length octets, trailing bytes ignored; without Content-Length, the rest (§18.3)', () => {
    expect(parseReq([...INVITE, 'Content-Length: 3'], 'abcdef').body.toString()).toBe('abc');
    expect(parseReq(INVITE, 'abcdef').body.toString()).toBe('abcdef');
    const err = parseError(() => parseReq([...INVITE, 'Content-Length: 7'], 'abcdef'));
    expect([err.reason, err.request?.method]).toEqual(['Bad Request - Content-Length larger than body', 'INVITE']);
  });

  it('tolerates a missing empty line only when the data ends with a whole header line', () => {
    expect(parseMessage(Buffer.from(`${INVITE.join('\r\n')}\r\n`)).headers).toHaveLength(7);
    const err = parseError(() => parseMessage(Buffer.from(`${INVITE.join('\r\n')}\r\nSubj`)));
    expect(err.reason).toBe('Bad Request - Incomplete header section');
    expect(err.request?.headers).toHaveLength(7); // the partial line is not trusted
  });

  it('empty input, CRLF keep-alives and garbage are dropped (no request)', () => {
    for (const input of ['', '\r\n\r\n', 'hello', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', '\x00\x01\x02']) {
      expect(parseError(() => parseMessage(Buffer.from(input))).request, JSON.stringify(input)).toBeUndefined();
    }
  });

  it('a malformed ACK is never answered (§17.2.1)', () => {
    const lines = ['ACK sip:bob@b SIP/2.0', ...INVITE.slice(1).map((l) => l.replace('314159 INVITE', '314159 ACK')), 'Max-Forwards: 999'];
    const err = parseError(() => parseReq(lines));
    expect(err.reason).toBe('Bad Request - Multiple Max-Forwards header fields');
    expect(err.request).toBeUndefined();
  });

  it.each([
    ['a bare CR in a value', [...INVITE, 'Subject: a\rb'], 'Malformed header line'],
    ['a header line without colon', [...INVITE, 'Subject'], 'Malformed header line'],
    ['a header name with a space', [...INVITE, 'Sub ject: x'], 'Malformed header line'],
    ['a continuation of the start line', [INVITE[0]!, ' more', ...INVITE.slice(1)], 'Malformed header line'],
    ['Max-Forwards above 255', [...INVITE.slice(0, 2), 'Max-Forwards: 256', ...INVITE.slice(3)], 'Malformed Max-Forwards'],
    ['a malformed Call-ID', INVITE.map((l) => (l.startsWith('Call-ID') ? 'Call-ID: a b' : l)), 'Malformed Call-ID'],
    ['a malformed Record-Route', [...INVITE, 'Record-Route: <sip:p1;lr>, sip:p2?x=y'], 'Malformed Record-Route'],
    ['a lowercase method in CSeq', INVITE.map((l) => l.replace('314159 INVITE', '314159 invite')), 'CSeq method does not match'],
    ['no Via', INVITE.filter((l) => !l.startsWith('Via')), 'Missing Via'],
  ])('rejects %s with 400', (_, lines, reason) => {
    const err = parseError(() => parseReq(lines));
    expect(err.reason).toContain(reason);
    expect(err.status).toBe(400);
    expect(err.request === undefined).toBe(reason === 'Missing Via');
  });

  it('accepts Contact: * and a missing Max-Forwards (RFC 2543)', () => {
    const m = parseReq(INVITE.map((l) => (l.startsWith('Contact') ? 'Contact: *' : l)).filter((l) => !l.startsWith('Max-')));
    expect(getHeaders(m, 'Contact')).toEqual(['*']);
  });

  it('responses: no Max-Forwards needed; bad ones never carry a request', () => {
    const lines = ['SIP/2.0 180 Ringing', ...INVITE.slice(1).filter((l) => !l.startsWith('Max-'))];
    expect(parseMessage(crlf(lines))).toMatchObject({ kind: 'response', status: 180, reason: 'Ringing', version: 'SIP/2.0' });
    expect(parseMessage(crlf(['SIP/2.0 180', ...lines.slice(1)]))).toMatchObject({ reason: '' });
    for (const start of ['SIP/2.0 700 Whatever', 'SIP/2.0 099 Low', 'SIP/2.0 20 OK', 'SIP/3.0 200 OK', 'SIP/2.0  200 OK']) {
      expect(parseError(() => parseMessage(crlf([start, ...lines.slice(1)]))).request, start).toBeUndefined();
    }
    expect(parseError(() => parseMessage(crlf(lines.filter((l) => !l.startsWith('Via'))))).request).toBeUndefined();
  });

  it('decodes header text as UTF-8, invalid bytes as U+FFFD, without throwing', () => {
    const bytes = Buffer.concat([Buffer.from(`${INVITE.join('\r\n')}\r\nSubject: `), Buffer.from([0xc3, 0xa9, 0xff, 0x41]), Buffer.from('\r\n\r\n')]);
    expect(getHeader(parseMessage(bytes), 'Subject')).toBe('é\ufffdA');
  });
});

describe('serializeMessage (§7)', () => {
  it('writes CRLF, canonical names, and a Content-Length equal to the body, in place of the old one', () => {
    const m: SipMessage = {
      kind: 'request', method: 'MESSAGE', uri: 'sip:a@b', version: 'SIP/2.0', body: Buffer.from('héllo'),
      headers: [{ name: 'v', value: 'SIP/2.0/UDP h;branch=z9hG4bK1' }, { name: 'l', value: '99' }, { name: 'call-id', value: 'x' }, { name: 'Content-Length', value: '1' }],
    };
    expect(serializeMessage(m).toString()).toBe('MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 6\r\nCall-ID: x\r\n\r\nhéllo');
    m.headers = m.headers.filter((h) => h.name !== 'l' && h.name !== 'Content-Length');
    expect(serializeMessage(m).toString()).toMatch(/Call-ID: x\r\nContent-Length: 6\r\n\r\nhéllo$/);
  });

  it('throws (a bug, not input) on values that would inject lines or break the start line', () => {
    const base: SipMessage = { kind: 'response', version: 'SIP/2.0', status: 200, reason: 'OK', headers: [], body: Buffer.alloc(0) };
    expect(() => serializeMessage({ ...base, headers: [{ name: 'Subject', value: 'a\r\nVia: evil' }] })).toThrow(/CR or LF/);
    expect(() => serializeMessage({ ...base, headers: [{ name: 'Bad Name', value: 'x' }] })).toThrow(/not a token/);
    expect(() => serializeMessage({ ...base, reason: 'OK\n' })).toThrow(/CR or LF/);
    expect(() => serializeMessage({ ...base, status: 1000 })).toThrow(/out of range/);
    expect(() => serializeMessage({ ...base, version: 'SIP/2.0 x' })).toThrow(/version/);
    expect(() => serializeMessage({ kind: 'request', method: 'IN VITE', uri: 'sip:a@b', version: 'SIP/2.0', headers: [], body: Buffer.alloc(0) })).toThrow(/token/);
    expect(() => serializeMessage({ kind: 'request', method: 'INVITE', uri: 'sip:a@b x', version: 'SIP/2.0', headers: [], body: Buffer.alloc(0) })).toThrow(/whitespace/);
  });
});

describe('buildResponse (§8.2.6)', () => {
  const request = () => parseReq([...INVITE.slice(0, 2), 'Via: SIP/2.0/UDP p1;branch=z9hG4bKp1, SIP/2.0/UDP p2;branch=z9hG4bKp2', ...INVITE.slice(2), 'Timestamp: 54', 'Subject: x']);

  it('copies Via (all, in order), From, To, Call-ID, CSeq; adds the To tag; default reason', () => {
    const r = buildResponse(request(), 180, undefined, [{ name: 'm', value: '<sip:bob@192.0.2.4>' }], 'b0b');
    expect(r).toMatchObject({ kind: 'response', version: 'SIP/2.0', status: 180, reason: 'Ringing' });
    expect(r.headers).toEqual([
      { name: 'Via', value: 'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds' },
      { name: 'Via', value: 'SIP/2.0/UDP p1;branch=z9hG4bKp1, SIP/2.0/UDP p2;branch=z9hG4bKp2' },
      { name: 'From', value: 'Alice <sip:alice@atlanta.example.com>;tag=1928301774' },
      { name: 'To', value: 'Bob <sip:bob@biloxi.example.com>;tag=b0b' },
      { name: 'Call-ID', value: 'a84b4c76e66710@pc33.atlanta.example.com' },
      { name: 'CSeq', value: '314159 INVITE' },
      { name: 'Contact', value: '<sip:bob@192.0.2.4>' },
    ]);
    expect(parseMessage(serializeMessage(r))).toEqual({ ...r, headers: [...r.headers, { name: 'Content-Length', value: '0' }] });
  });

  it('keeps an existing To tag, copies Timestamp into a 100 only, takes a custom reason', () => {
    const req = request();
    setHeader(req, 'To', '<sip:bob@b>;tag=old');
    const trying = buildResponse(req, 100, undefined, [], 'new');
    expect(getHeader(trying, 'To')).toBe('<sip:bob@b>;tag=old');
    expect(getHeader(trying, 'Timestamp')).toBe('54');
    const busy = buildResponse(req, 486, 'Busy Here Now');
    expect([busy.reason, getHeader(busy, 'Timestamp')]).toEqual(['Busy Here Now', undefined]);
  });

  it('answers the request of a SipParseError: missing fields left out, repeated ones copied once', () => {
    const insuf = parseError(() => parseReq(['INVITE sip:a@b SIP/2.0', 'CSeq: 1 INVITE', 'Via: SIP/2.0/UDP h;branch=z9hG4bKx']));
    expect(buildResponse(insuf.request!, insuf.status).headers.map((h) => h.name)).toEqual(['Via', 'CSeq']);
    const multi = parseError(() => parseReq([...INVITE, 'From: <sip:x@y>;tag=2', 'To: <sip:z@w>']));
    const r = buildResponse(multi.request!, 400, multi.reason, [], 'tt');
    expect(r.headers.map((h) => h.name)).toEqual(['Via', 'From', 'To', 'Call-ID', 'CSeq']);
    expect(getHeader(r, 'To')).toBe('Bob <sip:bob@biloxi.example.com>;tag=tt');
    const quotbal = parseError(() => parseReq(INVITE.map((l) => (l.startsWith('To') ? 'To: "Bob <sip:bob@b>' : l))));
    expect(getHeader(buildResponse(quotbal.request!, 400, undefined, [], 'tt'), 'To')).toBe('"Bob <sip:bob@b>'); // unparseable: copied
  });

  it('refuses bad statuses and tags (bugs)', () => {
    expect(() => buildResponse(request(), 99)).toThrow(/out of range/);
    expect(() => buildResponse(request(), 200, undefined, [], 'a b')).toThrow(/not a token/);
  });

  it('reasonPhrase: §21 phrases, class names otherwise', () => {
    expect([reasonPhrase(200), reasonPhrase(487), reasonPhrase(505), reasonPhrase(299), reasonPhrase(499)]).toEqual(['OK', 'Request Terminated', 'Version Not Supported', 'Success', 'Client Error']);
  });
});

describe('SipStreamFramer (§18.3, RFC 5626 §3.5.1)', () => {
  const msg = (body: string, extra: string[] = []) => crlf([...INVITE, ...extra, `Content-Length: ${Buffer.byteLength(body)}`], body);

  it('yields messages split across and packed within chunks', () => {
    const a = msg('v=0\r\n');
    const b = msg('', ['Subject: second']);
    const framer = new SipStreamFramer();
    const stream = Buffer.concat([a, b, a]);
    expect(framer.push(stream.subarray(0, 10))).toEqual([]);
    expect(framer.push(stream.subarray(10, a.length + 3))).toEqual([a]);
    expect(framer.push(stream.subarray(a.length + 3))).toEqual([b, a]);
    expect(framer.buffered).toBe(0);
  });

  it('skips CRLFs between messages and counts double-CRLF pings, even split across chunks', () => {
    const framer = new SipStreamFramer();
    expect(framer.push(Buffer.from('\r\n\r\n\r'))).toEqual([]);
    expect(framer.push(Buffer.from('\n\r\n'))).toEqual([]);
    expect(framer.pings).toBe(2);
    expect(framer.push(Buffer.concat([Buffer.from('\r\n'), msg('x')]))).toEqual([msg('x')]); // a pong is not a ping
    expect(framer.pings).toBe(2);
  });

  it('a CRLF left from one gap does not join the next gap into a ping', () => {
    const framer = new SipStreamFramer();
    framer.push(Buffer.from('\r\n'));
    expect(framer.push(Buffer.concat([msg(''), Buffer.from('\r\n'), msg('')]))).toHaveLength(2);
    expect(framer.pings).toBe(0);
  });

  it('accepts the compact form and LWS in Content-Length', () => {
    const framer = new SipStreamFramer();
    const m = crlf([...INVITE, 'l :  2'], 'ok');
    expect(framer.push(m)).toEqual([m]);
  });

  it.each([
    ['no Content-Length', crlf(INVITE), /Missing Content-Length/],
    ['a negative Content-Length', crlf([...INVITE, 'Content-Length: -5']), /Malformed Content-Length/],
    ['conflicting Content-Lengths', crlf([...INVITE, 'Content-Length: 5', 'l: 6']), /Conflicting/],
    ['a body beyond the limit', crlf([...INVITE, 'Content-Length: 70000']), /Too Large/],
    ['headers beyond the limit', Buffer.from(`${INVITE.join('\r\n')}\r\nX: ${'a'.repeat(70000)}`), /Too Large/],
  ])('fails on %s, keeps what was complete, then ignores the stream', (_, bad, reason) => {
    const framer = new SipStreamFramer();
    const good = msg('');
    expect(framer.push(Buffer.concat([good, bad, good]))).toEqual([good]);
    expect(framer.error).toBeInstanceOf(SipParseError);
    expect(framer.error?.reason).toMatch(reason);
    expect(framer.push(good)).toEqual([]);
    expect(framer.buffered).toBe(0);
  });

  it('frames equal duplicate Content-Lengths (parseMessage then answers 400)', () => {
    const framer = new SipStreamFramer();
    const m = crlf([...INVITE, 'Content-Length: 0', 'l: 0']);
    expect(framer.push(m)).toEqual([m]);
    expect(parseError(() => parseMessage(m)).reason).toBe('Bad Request - Multiple Content-Length header fields');
  });

  it('honours a custom maxMessageSize', () => {
    const framer = new SipStreamFramer({ maxMessageSize: 100 });
    framer.push(msg(''));
    expect(framer.error?.reason).toBe('Message Too Large');
  });
});
