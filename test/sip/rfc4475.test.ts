/**
 * RFC 4475 torture messages (test/fixtures/rfc4475, byte-exact) through the codec, one test per
 * message, named by its RFC section. Expectations come from the section texts:
 * - §3.1.1 valid messages parse, and their key fields come out right;
 * - §3.1.2 invalid messages throw SipParseError, with `request` (answer 400/505/501) or without
 *   it (drop), whichever a careful UAS should do; the one exception is `baddate`, which the RFC
 *   lets an element accept when it never reads Date (we never do);
 * - §3.2-§3.4 messages parse (except §3.3.1, §3.3.8, §3.3.9, which the RFC answers with 400), and
 *   the test shows the field the UAS/transaction layer will act on (416, 420, 415, 483...).
 * Every accepted message also re-serializes to an equal message.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SipMessage, SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage, SipParseError } from '../../src/sip/parse.js';
import { serializeMessage } from '../../src/sip/serialize.js';
import { getHeader, getHeaders, parseCSeq, parseMaxForwards, parseNameAddr, parseVia } from '../../src/sip/headers.js';
import { parseUri, unescapeUri, uriEquals } from '../../src/sip/uri.js';
import { SipStreamFramer } from '../../src/sip/stream-framer.js';

const DIR = new URL('../fixtures/rfc4475/', import.meta.url);
const load = (name: string) => readFileSync(new URL(`${name}.dat`, DIR));

interface Accept {
  section: string;
  title: string;
  check: (m: SipMessage) => void;
}
interface Reject {
  section: string;
  title: string;
  /** `answer`: SipParseError.request is set, a response with `status` can be sent; `drop`: it is not. */
  outcome: 'answer' | 'drop';
  status: number;
  reason: RegExp;
}

const req = (m: SipMessage): SipRequest => {
  if (m.kind !== 'request') throw new Error('expected a request');
  return m;
};
const res = (m: SipMessage): SipResponse => {
  if (m.kind !== 'response') throw new Error('expected a response');
  return m;
};
const vias = (m: SipMessage) => getHeaders(m, 'Via').flatMap(parseVia);
const nameAddr = (m: SipMessage, name: string) => parseNameAddr(getHeader(m, name) ?? '');

/** The fields every accepted request is checked on. */
function basics(
  m: SipMessage,
  want: { method: string; uri: string; callId: string; cseq: number; vias: number; body: number },
): SipRequest {
  const r = req(m);
  expect(r.method).toBe(want.method);
  expect(r.uri).toBe(want.uri);
  expect(getHeader(r, 'Call-ID')).toBe(want.callId);
  expect(parseCSeq(getHeader(r, 'CSeq') ?? '')).toEqual({ seq: want.cseq, method: want.method });
  expect(vias(r)).toHaveLength(want.vias);
  expect(r.body.length).toBe(want.body);
  return r;
}

const ACCEPT: Record<string, Accept> = {
  wsinv: { section: '3.1.1.1', title: 'A Short Tortuous INVITE', check: (m) => {
    basics(m, { method: 'INVITE', uri: 'sip:vivekg@chair-dnrc.example.com;unknownparam', callId: 'wsinv.ndaksdj@192.0.2.1', cseq: 9, vias: 3, body: 150 });
    expect(parseMaxForwards(getHeader(m, 'Max-Forwards') ?? '')).toBe(68); // "MaX-fOrWaRdS: 0068"
    const to = nameAddr(m, 'To'); // "TO :" folded onto the next line
    expect(to.displayName).toBeUndefined();
    expect(to.params.get('tag')).toBe('1918181833n');
    const from = nameAddr(m, 'From');
    expect(from.displayName).toBe('J Rosenberg \\"'); // "J Rosenberg \\\"" unescaped
    expect(from.params.get('tag')).toBe('98asjd8');
    expect(vias(m).map((v) => [v.transport, v.host, v.params.get('branch')])).toEqual([
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ]);
    expect(getHeader(m, 'Subject')).toBe(''); // "s :" with an empty value
    expect(getHeader(m, 'NewFangledHeader')).toBe('newfangled value continued newfangled value');
    expect(getHeader(m, 'UnknownHeaderWithUnusualValue')).toBe(';;,,;;,;');
    const contact = nameAddr(m, 'Contact');
    expect(contact.displayName).toBe('Quoted string ""');
    expect([...contact.params]).toEqual([['newparam', 'newvalue'], ['secondparam', null], ['q', '0.33']]);
    expect([...nameAddr(m, 'Route').uri.params.keys()]).toEqual(['lr', 'unknownwith', 'unknown-no-value']);
  } },
  intmeth: { section: '3.1.1.2', title: 'Wide Range of Valid Characters', check: (m) => {
    const method = "!interesting-Method0123456789_*+`.%indeed'~";
    const r = basics(m, {
      method,
      uri: "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
      callId: 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{', cseq: 139122385, vias: 1, body: 0,
    });
    const uri = parseUri(r.uri);
    expect([uri.user, uri.password, uri.host]).toEqual(["1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*", "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)", 'example.com']);
    expect(nameAddr(m, 'To').displayName).toBe('BEL:\x07 NUL:\x00 DEL:\x7f');
    const from = nameAddr(m, 'From');
    expect(from.displayName).toBe("token1~` token2'+_ token3*%!.-");
    expect(from.params.get("fromparam''~+*_!.-%")).toBe('"работающий"');
    expect(from.params.get('tag')).toBe("_token~1'+`*%!-.");
    expect(parseMaxForwards(getHeader(m, 'Max-Forwards') ?? '')).toBe(255);
    expect(getHeader(m, "extensionHeader-!.%*+_`'~")).toBe('\ufeff大停電'); // the BOM is part of the value
    expect(vias(m)[0]?.params.get('branch')).toBe("z9hG4bK-.!%66*_+`'~");
  } },
  esc01: { section: '3.1.1.3', title: 'Valid Use of the % Escaping Mechanism', check: (m) => {
    const r = basics(m, { method: 'INVITE', uri: 'sip:sips%3Auser%40example.com@example.net', callId: 'esc01.239409asdfakjkn23onasd0-3234', cseq: 234234, vias: 1, body: 150 });
    const uri = parseUri(r.uri);
    expect(uri.user).toBe('sips%3Auser%40example.com'); // kept escaped
    expect(unescapeUri(uri.user ?? '')).toBe('sips:user@example.com');
    expect(uri.host).toBe('example.net');
    expect(uriEquals(nameAddr(m, 'To').uri, parseUri('sip:user@example.com'))).toBe(true);
    expect(unescapeUri(nameAddr(m, 'From').uri.user ?? '')).toBe('I have spaces');
    const contact = nameAddr(m, 'Contact'); // folded onto the next line
    expect(contact.uri.user).toBe('cal%6Cer');
    expect(uriEquals(contact.uri, parseUri('sip:caller@host5.example.net;lr;name=value%2541'))).toBe(true);
    expect(getHeader(m, 'Content-Type')).toBe('application/sdp'); // "C:"
  } },
  escnull: { section: '3.1.1.4', title: 'Escaped Nulls in URIs', check: (m) => {
    basics(m, { method: 'REGISTER', uri: 'sip:example.com', callId: 'escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd', cseq: 14398234, vias: 1, body: 0 });
    expect(nameAddr(m, 'To').uri.user).toBe('null-%00-null');
    expect(unescapeUri('null-%00-null')).toBe('null-\0-null');
    expect(getHeaders(m, 'Contact').map((c) => parseNameAddr(c).uri.user)).toEqual(['%00', '%00%00']);
    expect(getHeader(m, 'Content-Length')).toBe('0'); // "L:0"
  } },
  esc02: { section: '3.1.1.5', title: 'Use of % When It Is Not an Escape', check: (m) => {
    basics(m, { method: 'RE%47IST%45R', uri: 'sip:registrar.example.com', callId: 'esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf', cseq: 29344, vias: 1, body: 0 });
    expect(nameAddr(m, 'To').displayName).toBe('%Z%45');
    expect(vias(m)[0]?.params.get('branch')).toBe('z9hG4bK209%fzsnel234');
    // "C%6Fntact" is an extension header, not Contact.
    expect(getHeaders(m, 'Contact').map((c) => parseNameAddr(c).uri.host)).toEqual(['host1.example.com', 'host3.example.com']);
    expect(getHeader(m, 'C%6Fntact')).toBe('<sip:alias2@host2.example.com>');
  } },
  lwsdisp: { section: '3.1.1.6', title: 'Message with No LWS between Display Name and <', check: (m) => {
    basics(m, { method: 'OPTIONS', uri: 'sip:user@example.com', callId: 'lwsdisp.1234abcd@funky.example.com', cseq: 60, vias: 1, body: 0 });
    const from = nameAddr(m, 'From');
    expect([from.displayName, from.uri.user, from.params.get('tag')]).toEqual(['caller', 'caller', '323']);
  } },
  longreq: { section: '3.1.1.7', title: 'Long Values in Header Fields', check: (m) => {
    const callId = `longreq.one${'really'.repeat(20)}longcallid`;
    basics(m, { method: 'INVITE', uri: 'sip:user@example.com', callId, cseq: 3882340, vias: 34, body: 150 });
    const to = nameAddr(m, 'To');
    expect(to.displayName).toBe(`I have a user name of ${'extreme'.repeat(10)} proportion`);
    expect(to.uri.port).toBe(6000);
    expect(to.uri.params.get('unknownparam1')).toBe(`very${'long'.repeat(20)}value`);
    expect(to.uri.params.get(`longparam${'name'.repeat(25)}`)).toBe('shortvalue');
    expect(to.uri.params.get(`very${'long'.repeat(25)}parameternamewithnovalue`)).toBeNull();
    const from = nameAddr(m, 'From'); // "F:"
    expect(from.uri.user).toBe('amazinglylongcallername'.repeat(5));
    expect(from.params.get('tag')).toMatch(/^1(298){50}2424$/);
    const last = vias(m)[33];
    expect([last?.host, last?.params.get('received'), last?.params.get('branch')]).toEqual(['host.example.com', '192.0.2.5', `very${'long'.repeat(50)}branchvalue`]);
    expect(vias(m).slice(0, 33).map((v) => v.host)).toEqual(Array.from({ length: 33 }, (_, i) => `sip${33 - i}.example.com`));
  } },
  dblreq: { section: '3.1.1.8', title: 'Extra Trailing Octets in a UDP Datagram', check: (m) => {
    // Only the first message; the INVITE after it is ignored (§18.3).
    basics(m, { method: 'REGISTER', uri: 'sip:example.com', callId: 'dblreq.0ha0isndaksdj99sdfafnl3lk233412', cseq: 8, vias: 1, body: 0 });
  } },
  semiuri: { section: '3.1.1.9', title: 'Semicolon-Separated Parameters in URI User Part', check: (m) => {
    const r = basics(m, { method: 'OPTIONS', uri: 'sip:user;par=u%40example.net@example.com', callId: 'semiuri.0ha0isndaksdj', cseq: 8, vias: 1, body: 0 });
    const uri = parseUri(r.uri);
    expect([uri.user, uri.host, uri.params.size]).toEqual(['user;par=u%40example.net', 'example.com', 0]);
    expect(getHeaders(m, 'Accept')).toEqual(['application/sdp', 'application/pkcs7-mime', 'multipart/mixed', 'multipart/signed', 'message/sip', 'message/sipfrag']);
  } },
  transports: { section: '3.1.1.10', title: 'Varied and Unknown Transport Types', check: (m) => {
    basics(m, { method: 'OPTIONS', uri: 'sip:user@example.com', callId: 'transports.kijh4akdnaqjkwendsasfdj', cseq: 60, vias: 5, body: 0 });
    expect(vias(m).map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
  } },
  mpart01: { section: '3.1.1.11', title: 'Multipart MIME Message', check: (m) => {
    basics(m, { method: 'MESSAGE', uri: 'sip:kumiko@example.org', callId: '3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..', cseq: 1, vias: 1, body: 553 });
    const raw = load('mpart01');
    expect(m.body.equals(raw.subarray(raw.length - 553))).toBe(true); // binary body, byte-exact
    expect(getHeader(m, 'Content-Type')).toBe('multipart/mixed;boundary=7a9cbec02ceef655');
  } },
  unreason: { section: '3.1.1.12', title: 'Unusual Reason Phrase', check: (m) => {
    expect(res(m).status).toBe(200);
    expect(res(m).reason).toBe('= 2**3 * 5**2 но сто девяносто девять - простое');
    expect(m.body.length).toBe(154);
  } },
  noreason: { section: '3.1.1.13', title: 'Empty Reason Phrase', check: (m) => {
    expect([res(m).status, res(m).reason]).toEqual([100, '']);
  } },
  baddate: { section: '3.1.2.12', title: 'Invalid Time Zone in Date Header Field (accepted: "shouldn\'t" reject unless Date matters; we never read it)', check: (m) => {
    basics(m, { method: 'INVITE', uri: 'sip:user@example.com', callId: 'baddate.239423mnsadf3j23lj42--sedfnm234', cseq: 1392934, vias: 1, body: 150 });
    expect(getHeader(m, 'Date')).toBe('Fri, 01 Jan 2010 16:00:00 EST'); // kept raw, one value despite the comma
    expect(getHeaders(m, 'Date')).toHaveLength(1);
  } },
  badbranch: { section: '3.2.1', title: 'Missing Transaction Identifier (branch is only the cookie; the transaction layer decides)', check: (m) => {
    basics(m, { method: 'OPTIONS', uri: 'sip:user@example.com', callId: 'badbranch.sadonfo23i420jv0as0derf3j3n', cseq: 8, vias: 1, body: 0 });
    expect(vias(m)[0]?.params.get('branch')).toBe('z9hG4bK');
  } },
  unkscm: { section: '3.3.2', title: 'Request-URI with Unknown Scheme (the UAS answers 416)', check: (m) => {
    const r = basics(m, { method: 'OPTIONS', uri: 'nobodyKnowsThisScheme:totallyopaquecontent', callId: 'unkscm.nasdfasser0q239nwsdfasdkl34', cseq: 3923423, vias: 1, body: 0 });
    expect(parseUri(r.uri)).toMatchObject({ scheme: 'nobodyknowsthisscheme', opaque: 'totallyopaquecontent' });
  } },
  novelsc: { section: '3.3.3', title: 'Request-URI with Known but Atypical Scheme (a UA never serves soap.beep: 416)', check: (m) => {
    const r = basics(m, { method: 'OPTIONS', uri: 'soap.beep://192.0.2.103:3002', callId: 'novelsc.asdfasser0q239nwsdfasdkl34', cseq: 3923423, vias: 1, body: 0 });
    expect(parseUri(r.uri)).toMatchObject({ scheme: 'soap.beep', opaque: '//192.0.2.103:3002' });
  } },
  unksm2: { section: '3.3.4', title: 'Unknown URI Schemes in Header Fields (a registrar answers 400 for the non-SIP To)', check: (m) => {
    basics(m, { method: 'REGISTER', uri: 'sip:example.com', callId: 'unksm2.daksdj@hyphenated-host.example.com', cseq: 234902, vias: 1, body: 0 });
    expect(nameAddr(m, 'To').uri).toMatchObject({ scheme: 'isbn', opaque: '2983792873' });
    expect(nameAddr(m, 'From').uri).toMatchObject({ scheme: 'http', opaque: '//www.example.com' });
    expect(nameAddr(m, 'Contact').uri).toMatchObject({ scheme: 'name', opaque: 'John_Smith' });
  } },
  bext01: { section: '3.3.5', title: 'Proxy-Require and Require (the UAS answers 420 listing Require)', check: (m) => {
    basics(m, { method: 'OPTIONS', uri: 'sip:user@example.com', callId: 'bext01.0ha0isndaksdj', cseq: 8, vias: 1, body: 0 });
    expect(getHeaders(m, 'Require')).toEqual(['nothingSupportsThis', 'nothingSupportsThisEither']);
    expect(getHeaders(m, 'Proxy-Require')).toEqual(['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
    expect(vias(m)[0]?.transport).toBe('TLS');
  } },
  invut: { section: '3.3.6', title: 'Unknown Content-Type (the UAS answers 415)', check: (m) => {
    basics(m, { method: 'INVITE', uri: 'sip:user@example.com', callId: 'invut.0ha0isndaksdjadsfij34n23d', cseq: 235448, vias: 1, body: 40 });
    expect(getHeader(m, 'Content-Type')).toBe('application/unknownformat');
  } },
  regaut01: { section: '3.3.7', title: 'Unknown Authorization Scheme (registrar: 401; not a registrar: 405)', check: (m) => {
    basics(m, { method: 'REGISTER', uri: 'sip:example.com', callId: 'regaut01.0ha0isndaksdj', cseq: 9338, vias: 1, body: 0 });
    expect(getHeader(m, 'Authorization')).toBe('NoOneKnowsThisScheme opaque-data=here');
  } },
  bcast: { section: '3.3.10', title: '200 OK Response with Broadcast Via Header Field Value (the transaction layer discards it)', check: (m) => {
    expect(res(m).status).toBe(200);
    expect(vias(m).map((v) => v.host)).toEqual(['192.0.2.198', '255.255.255.255']);
    expect(parseCSeq(getHeader(m, 'CSeq') ?? '')).toEqual({ seq: 35, method: 'INVITE' });
  } },
  zeromf: { section: '3.3.11', title: 'Max-Forwards of Zero (a UAS processes it; 483 is for proxies)', check: (m) => {
    basics(m, { method: 'OPTIONS', uri: 'sip:user@example.com', callId: 'zeromf.jfasdlfnm2o2l43r5u0asdfas', cseq: 39234321, vias: 1, body: 0 });
    expect(parseMaxForwards(getHeader(m, 'Max-Forwards') ?? '')).toBe(0);
  } },
  cparam01: { section: '3.3.12', title: 'REGISTER with a Contact Header Parameter', check: (m) => {
    basics(m, { method: 'REGISTER', uri: 'sip:example.com', callId: 'cparam01.70710@saturn.example.com', cseq: 2, vias: 1, body: 0 });
    const contact = nameAddr(m, 'Contact'); // addr-spec: the parameter is the header's
    expect([contact.uri.user, contact.uri.params.size, [...contact.params]]).toEqual(['+19725552222', 0, [['unknownparam', null]]]);
  } },
  cparam02: { section: '3.3.13', title: 'REGISTER with a url-parameter', check: (m) => {
    basics(m, { method: 'REGISTER', uri: 'sip:example.com', callId: 'cparam02.70710@saturn.example.com', cseq: 3, vias: 1, body: 0 });
    const contact = nameAddr(m, 'Contact'); // inside < >: the parameter is the URI's
    expect([[...contact.uri.params], contact.params.size]).toEqual([[['unknownparam', null]], 0]);
  } },
  regescrt: { section: '3.3.14', title: 'REGISTER with a URL Escaped Header', check: (m) => {
    basics(m, { method: 'REGISTER', uri: 'sip:example.com', callId: 'regescrt.k345asrl3fdbv@192.0.2.1', cseq: 14398234, vias: 1, body: 0 });
    expect([...nameAddr(m, 'Contact').uri.headers]).toEqual([['Route', '%3Csip:sip.example.com%3E']]); // "M:"
  } },
  sdp01: { section: '3.3.15', title: 'Unacceptable Accept Offering (the UAS answers 406)', check: (m) => {
    basics(m, { method: 'INVITE', uri: 'sip:user@example.com', callId: 'sdp01.ndaksdj9342dasdd', cseq: 8, vias: 1, body: 150 });
    expect(getHeaders(m, 'Accept')).toEqual(['text/nobodyKnowsThis']);
  } },
  inv2543: { section: '3.4.1', title: 'INVITE with RFC 2543 Syntax', check: (m) => {
    // No Max-Forwards, no branch, no From tag, no Content-Length (the body is the rest of the datagram).
    basics(m, { method: 'INVITE', uri: 'sip:UserB@example.com', callId: 'inv2543.1717@ift.client.example.com', cseq: 56, vias: 1, body: 105 });
    expect(getHeader(m, 'Max-Forwards')).toBeUndefined();
    expect(vias(m)[0]?.params.has('branch')).toBe(false);
    expect(nameAddr(m, 'From').params.has('tag')).toBe(false);
    expect(nameAddr(m, 'Record-Route').uri.params.get('maddr')).toBe('ss1.example.com');
  } },
};

const REJECT: Record<string, Reject> = {
  badinv01: { section: '3.1.2.1', title: 'Extraneous Header Field Separators', outcome: 'answer', status: 400, reason: /Malformed Via/ },
  clerr: { section: '3.1.2.2', title: 'Content Length Larger Than Message', outcome: 'answer', status: 400, reason: /Content-Length larger than body/ },
  ncl: { section: '3.1.2.3', title: 'Negative Content-Length', outcome: 'answer', status: 400, reason: /Malformed Content-Length/ },
  scalar02: { section: '3.1.2.4', title: 'Request Scalar Fields with Overlarge Values (400 for the CSeq)', outcome: 'answer', status: 400, reason: /Malformed CSeq/ },
  scalarlg: { section: '3.1.2.5', title: 'Response Scalar Fields with Overlarge Values (a response: discard)', outcome: 'drop', status: 400, reason: /Malformed CSeq/ },
  quotbal: { section: '3.1.2.6', title: 'Unterminated Quoted String in Display Name', outcome: 'answer', status: 400, reason: /Malformed To/ },
  ltgtruri: { section: '3.1.2.7', title: '<> Enclosing Request-URI', outcome: 'answer', status: 400, reason: /Malformed Request-URI/ },
  lwsruri: { section: '3.1.2.8', title: 'Malformed SIP Request-URI (embedded LWS)', outcome: 'answer', status: 400, reason: /Malformed Request-URI/ },
  lwsstart: { section: '3.1.2.9', title: 'Multiple SP Separating Request-Line Elements (rejecting is allowed)', outcome: 'answer', status: 400, reason: /Malformed Request-Line/ },
  trws: { section: '3.1.2.10', title: 'SP Characters at End of Request-Line (rejecting is allowed)', outcome: 'answer', status: 400, reason: /Malformed Request-Line/ },
  escruri: { section: '3.1.2.11', title: 'Escaped Headers in SIP Request-URI (rejecting is allowed)', outcome: 'answer', status: 400, reason: /Headers in Request-URI/ },
  regbadct: { section: '3.1.2.13', title: 'Failure to Enclose name-addr URI in <>', outcome: 'answer', status: 400, reason: /Malformed Contact/ },
  badaspec: { section: '3.1.2.14', title: 'Spaces within addr-spec', outcome: 'answer', status: 400, reason: /Malformed To/ },
  baddn: { section: '3.1.2.15', title: 'Non-token Characters in Display Name', outcome: 'answer', status: 400, reason: /Malformed From/ },
  badvers: { section: '3.1.2.16', title: 'Unknown Protocol Version (505)', outcome: 'answer', status: 505, reason: /Version Not Supported/ },
  mismatch01: { section: '3.1.2.17', title: 'Start Line and CSeq Method Mismatch', outcome: 'answer', status: 400, reason: /CSeq method does not match/ },
  mismatch02: { section: '3.1.2.18', title: 'Unknown Method with CSeq Method Mismatch (501 preferred over 400)', outcome: 'answer', status: 501, reason: /Not Implemented/ },
  bigcode: { section: '3.1.2.19', title: 'Overlarge Response Code (drop)', outcome: 'drop', status: 400, reason: /Malformed Status-Line/ },
  insuf: { section: '3.3.1', title: 'Missing Required Header Fields ("ideally" 400: Via and CSeq suffice to answer)', outcome: 'answer', status: 400, reason: /Missing From/ },
  multi01: { section: '3.3.8', title: 'Multiple Values in Single Value Required Fields', outcome: 'answer', status: 400, reason: /Multiple From header fields/ },
  mcl01: { section: '3.3.9', title: 'Multiple Content-Length Values', outcome: 'answer', status: 400, reason: /Multiple Content-Length/ },
};

const sectionOrder = (s: string) => s.split('.').map((n) => n.padStart(3, '0')).join('.');
const cases = [
  ...Object.entries(ACCEPT).map(([file, e]) => ({ file, ...e, accept: true as const })),
  ...Object.entries(REJECT).map(([file, e]) => ({ file, ...e, accept: false as const })),
].sort((a, b) => sectionOrder(a.section).localeCompare(sectionOrder(b.section)));

/** What a re-parse of serialize(m) must equal: m with Content-Length set to the body's length. */
function withExactLength(m: SipMessage): SipMessage {
  const headers = m.headers.filter((h) => h.name !== 'Content-Length');
  const at = m.headers.findIndex((h) => h.name === 'Content-Length');
  headers.splice(at < 0 ? headers.length : at, 0, { name: 'Content-Length', value: String(m.body.length) });
  return { ...m, headers };
}

describe('RFC 4475 torture messages', () => {
  it('has an expectation for each of the 49 fixtures', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.dat')).map((f) => f.slice(0, -4)).sort();
    expect(files).toHaveLength(49);
    expect(cases.map((c) => c.file).sort()).toEqual(files);
  });

  for (const c of cases) {
    if (c.accept) {
      it(`§${c.section} ${c.file}: ${c.title} → parses`, () => {
        const m = parseMessage(load(c.file));
        c.check(m);
        expect(parseMessage(serializeMessage(m))).toEqual(withExactLength(m));
      });
    } else {
      const what = c.outcome === 'answer' ? `SipParseError with request → ${c.status}` : 'SipParseError without request → drop';
      it(`§${c.section} ${c.file}: ${c.title} → ${what}`, () => {
        let error: unknown;
        try {
          parseMessage(load(c.file));
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(SipParseError);
        const e = error as SipParseError;
        expect(e.reason).toMatch(c.reason);
        expect(e.status).toBe(c.status);
        if (c.outcome === 'drop') {
          expect(e.request).toBeUndefined();
        } else {
          expect(e.request?.method).toBe(load(c.file).toString('latin1').split(' ')[0]);
          expect(e.request?.headers.some((h) => h.name === 'Via')).toBe(true);
          expect(e.request?.headers.some((h) => h.name === 'CSeq')).toBe(true);
        }
      });
    }
  }

  it('frames every message that has a Content-Length the same over a stream, in 7-byte chunks', () => {
    for (const c of cases.filter((x) => x.accept && x.file !== 'inv2543' && x.file !== 'dblreq')) {
      const data = load(c.file);
      const framer = new SipStreamFramer();
      const out: Buffer[] = [];
      for (let i = 0; i < data.length; i += 7) out.push(...framer.push(data.subarray(i, i + 7)));
      expect(framer.error, c.file).toBeUndefined();
      expect(out.map((b) => b.length), c.file).toEqual([data.length]);
    }
  });

  it('§3.1.1.8 dblreq over a stream is two messages, both framed by their Content-Length', () => {
    const framer = new SipStreamFramer();
    const out = framer.push(load('dblreq'));
    expect(out.map((b) => parseMessage(b)).map((m) => (m.kind === 'request' ? m.method : m.status))).toEqual(['REGISTER', 'INVITE']);
  });

  it('§3.3.9 mcl01 over a stream is a framing error: the connection must close', () => {
    const framer = new SipStreamFramer();
    expect(framer.push(load('mcl01'))).toEqual([]);
    expect(framer.error?.reason).toMatch(/Conflicting Content-Length/);
  });
});
