/**
 * Dialog state (RFC 3261 §12): creation on both sides (route set order, remote target, tags,
 * sequence numbers), in-dialog request construction with loose and strict routing (§12.2.1.1,
 * §16.12), CSeq ordering of incoming requests (§12.2.2), target refresh, ids and checked states.
 */
import { describe, expect, it } from 'vitest';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parse.js';
import { buildResponse } from '../../src/sip/serialize.js';
import { getHeader, getHeaders } from '../../src/sip/headers.js';
import { formatUri } from '../../src/sip/uri.js';
import { Dialog, DialogState } from '../../src/sip/dialog.js';

function invite(extra: string[] = []): SipRequest {
  const text = [
    'INVITE sip:bob@pbx.example.com SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKd1',
    'Max-Forwards: 70',
    'From: "Alice" <sip:alice@pbx.example.com>;tag=alice1',
    'To: <sip:bob@pbx.example.com>',
    'Call-ID: dlg-1@10.0.0.1',
    'CSeq: 10 INVITE',
    'Contact: <sip:alice@10.0.0.1:5060>',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

function answer(req: SipRequest, status: number, headers: { name: string; value: string }[]): SipResponse {
  return buildResponse(req, status, undefined, headers, 'bob1');
}

const RR = [
  { name: 'Record-Route', value: '<sip:p1.example.com;lr>' },
  { name: 'Record-Route', value: '<sip:p2.example.com;lr>, <sip:p3.example.com;lr>' },
];

describe('UAC dialog (§12.1.2)', () => {
  const req = invite();
  const ok = answer(req, 200, [...RR, { name: 'Contact', value: '<sip:bob@10.0.0.2:5070>' }]);

  it('takes tags, URIs, remote target, reversed Record-Route and the INVITE CSeq', () => {
    const d = Dialog.fromUacResponse(req, ok, '<sip:daemon@10.0.0.9:5063>');
    expect(d.state).toBe(DialogState.Confirmed);
    expect(d.role).toBe('uac');
    expect(d.callId).toBe('dlg-1@10.0.0.1');
    expect(d.localTag).toBe('alice1');
    expect(d.remoteTag).toBe('bob1');
    expect(formatUri(d.remoteTarget)).toBe('sip:bob@10.0.0.2:5070');
    expect(d.routeSet).toEqual(['<sip:p3.example.com;lr>', '<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>']);
    expect(d.localSeq).toBe(10);
    expect(d.remoteSeq).toBeUndefined();
    expect(d.local.params.has('tag')).toBe(false);
  });

  it('builds loose-routed in-dialog requests: Request-URI = remote target, Route = route set (§12.2.1.1)', () => {
    const d = Dialog.fromUacResponse(req, ok, '<sip:daemon@10.0.0.9:5063>');
    const bye = d.createRequest('BYE');
    expect(bye.uri).toBe('sip:bob@10.0.0.2:5070');
    expect(getHeaders(bye, 'Route')).toEqual(d.routeSet);
    expect(getHeader(bye, 'From')).toBe('"Alice" <sip:alice@pbx.example.com>;tag=alice1');
    expect(getHeader(bye, 'To')).toBe('<sip:bob@pbx.example.com>;tag=bob1');
    expect(getHeader(bye, 'Call-ID')).toBe('dlg-1@10.0.0.1');
    expect(getHeader(bye, 'CSeq')).toBe('11 BYE');
    expect(getHeader(bye, 'Contact')).toBeUndefined();
    expect(getHeader(bye, 'Via')).toBeUndefined(); // the UA adds it per transport
    const reinvite = d.createRequest('INVITE', { body: 'v=0\r\n' });
    expect(getHeader(reinvite, 'CSeq')).toBe('12 INVITE');
    expect(getHeader(reinvite, 'Contact')).toBe('<sip:daemon@10.0.0.9:5063>');
    expect(getHeader(reinvite, 'Content-Type')).toBe('application/sdp');
    expect(reinvite.body.toString()).toBe('v=0\r\n');
    const ack = d.createRequest('ACK', { cseq: 12 });
    expect(getHeader(ack, 'CSeq')).toBe('12 ACK');
    expect(d.localSeq).toBe(12);
    expect(formatUri(d.nextHop())).toBe('sip:p3.example.com;lr');
  });

  it('builds strict-routed requests: Request-URI = first route, remote target appended (§12.2.1.1)', () => {
    const strict = answer(req, 200, [
      { name: 'Record-Route', value: '<sip:p1.example.com>, <sip:strict.example.com;maddr=10.1.1.1>' },
      { name: 'Contact', value: '<sip:bob@10.0.0.2:5070>' },
    ]);
    const d = Dialog.fromUacResponse(req, strict);
    const bye = d.createRequest('BYE');
    expect(bye.uri).toBe('sip:strict.example.com;maddr=10.1.1.1');
    expect(getHeaders(bye, 'Route')).toEqual(['<sip:p1.example.com>', '<sip:bob@10.0.0.2:5070>']);
  });

  it('sends straight to the remote target without a route set', () => {
    const d = Dialog.fromUacResponse(req, answer(req, 200, [{ name: 'Contact', value: '<sip:bob@10.0.0.2>' }]));
    const bye = d.createRequest('BYE');
    expect(bye.uri).toBe('sip:bob@10.0.0.2');
    expect(getHeaders(bye, 'Route')).toEqual([]);
    expect(formatUri(d.nextHop())).toBe('sip:bob@10.0.0.2');
  });

  it('starts early on a provisional and recomputes route set and target from the 2xx (§13.2.2.4)', () => {
    const ringing = answer(req, 180, [RR[0]!, { name: 'Contact', value: '<sip:bob@early.example.com>' }]);
    const d = Dialog.fromUacResponse(req, ringing);
    expect(d.state).toBe(DialogState.Early);
    d.confirm(ok);
    expect(d.state).toBe(DialogState.Confirmed);
    expect(d.routeSet).toHaveLength(3);
    expect(formatUri(d.remoteTarget)).toBe('sip:bob@10.0.0.2:5070');
    expect(() => d.confirm(ok)).toThrow(/illegal transition confirmed -> confirmed/);
  });

  it('needs a To tag and Contact', () => {
    expect(() => Dialog.fromUacResponse(req, buildResponse(req, 200, undefined, [{ name: 'Contact', value: '<sip:b@h>' }]))).toThrow();
    expect(() => Dialog.fromUacResponse(req, answer(req, 200, []))).toThrow(/Contact/);
  });

  it('matches responses by Call-ID + From tag (ours) + To tag (theirs)', () => {
    const d = Dialog.fromUacResponse(req, ok);
    expect(Dialog.idOfResponse(ok)).toBe(d.id);
    expect(Dialog.idOfResponse(buildResponse(req, 200))).toBeUndefined();
  });
});

describe('UAS dialog (§12.1.1)', () => {
  const req = invite(RR.map((h) => `${h.name}: ${h.value}`));

  it('keeps Record-Route order, takes the remote CSeq and answers with its own tag', () => {
    const d = Dialog.fromUasRequest(req, 'bob1', DialogState.Confirmed, '<sip:daemon@10.0.0.9>');
    expect(d.role).toBe('uas');
    expect(d.routeSet).toEqual(['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>', '<sip:p3.example.com;lr>']);
    expect(d.remoteSeq).toBe(10);
    expect(d.localSeq).toBeGreaterThan(0);
    expect(formatUri(d.remoteTarget)).toBe('sip:alice@10.0.0.1:5060');
    const bye = d.createRequest('BYE');
    expect(bye.uri).toBe('sip:alice@10.0.0.1:5060');
    expect(getHeader(bye, 'From')).toBe('<sip:bob@pbx.example.com>;tag=bob1');
    expect(getHeader(bye, 'To')).toBe('"Alice" <sip:alice@pbx.example.com>;tag=alice1');
    expect(getHeaders(bye, 'Route')).toEqual(d.routeSet);
  });

  it('rejects out-of-order CSeq (§12.2.2) and accepts equal or higher ones', () => {
    const d = Dialog.fromUasRequest(req, 'bob1', DialogState.Confirmed);
    expect(d.acceptRemoteSeq(9)).toBe(false);
    expect(d.acceptRemoteSeq(10)).toBe(true);
    expect(d.acceptRemoteSeq(11)).toBe(true);
    expect(d.remoteSeq).toBe(11);
  });

  it('matches incoming requests by Call-ID + To tag (ours) + From tag (theirs)', () => {
    const d = Dialog.fromUasRequest(req, 'bob1', DialogState.Early);
    const bye = parseMessage(
      Buffer.from(
        'BYE sip:bob@10.0.0.9 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:alice@pbx.example.com>;tag=alice1\r\n' +
          'To: <sip:bob@pbx.example.com>;tag=bob1\r\nCall-ID: dlg-1@10.0.0.1\r\nCSeq: 11 BYE\r\nContent-Length: 0\r\n\r\n',
      ),
    ) as SipRequest;
    expect(Dialog.idOfRequest(bye)).toBe(d.id);
    expect(Dialog.idOfRequest(req)).toBeUndefined();
  });

  it('refreshes the remote target from a target-refresh request, ignoring one without Contact', () => {
    const d = Dialog.fromUasRequest(req, 'bob1', DialogState.Confirmed);
    d.refreshTarget(withContact('<sip:alice@10.0.0.77>'));
    expect(formatUri(d.remoteTarget)).toBe('sip:alice@10.0.0.77');
    const noContact = invite();
    noContact.headers = noContact.headers.filter((h) => h.name !== 'Contact');
    d.refreshTarget(noContact);
    expect(formatUri(d.remoteTarget)).toBe('sip:alice@10.0.0.77');
  });

  it('checks its states: nothing but ACK in a terminated dialog', () => {
    const d = Dialog.fromUasRequest(req, 'bob1', DialogState.Early);
    d.confirm();
    d.terminate();
    d.terminate();
    expect(d.state).toBe(DialogState.Terminated);
    expect(() => d.createRequest('BYE')).toThrow(/terminated dialog/);
    expect(d.createRequest('ACK', { cseq: 10 }).method).toBe('ACK');
    expect(() => d.confirm()).toThrow(/illegal transition/);
  });
});

function withContact(contact: string): SipRequest {
  const r = invite();
  r.headers = r.headers.map((h) => (h.name === 'Contact' ? { name: 'Contact', value: contact } : h));
  return r;
}
