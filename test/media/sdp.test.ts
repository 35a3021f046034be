/**
 * The SDP parser/builder (src/media/sdp.ts): RFC 8866 syntax and line order, RFC 3551 static
 * payload types, RFC 4733 telephone-event lists, RFC 3264 answers, directions for hold, origin
 * versions for re-offers, and the audio comparison that decides on a re-INVITE.
 */
import { describe, expect, it } from 'vitest';
import {
  SdpError,
  answerDirection,
  audioMedia,
  buildAudioAnswer,
  codecsOf,
  connectionOf,
  directionOf,
  formatSdp,
  newOrigin,
  nextVersion,
  parseEventList,
  parseSdp,
  ptimeOf,
  sameAudio,
  telephoneEventOf,
  withDirection,
} from '../../src/media/sdp.js';

const lines = (...l: string[]) => l.join('\r\n') + '\r\n';

const OFFER = lines(
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 198.51.100.1',
  's=call',
  'i=a call',
  'c=IN IP4 198.51.100.1',
  'b=AS:64',
  't=0 0',
  'a=tool:x',
  'm=audio 49170 RTP/AVP 9 8 0 101',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=sendonly',
  'm=video 51372 RTP/AVP 96',
  'c=IN IP4 198.51.100.2',
  'a=rtpmap:96 H264/90000',
);

describe('parseSdp / formatSdp', () => {
  it('parses session and media lines and formats them back byte for byte', () => {
    const sd = parseSdp(OFFER);
    expect(sd.origin).toEqual({ username: 'alice', sessionId: '2890844526', sessionVersion: '2890844526', netType: 'IN', addrType: 'IP4', address: '198.51.100.1' });
    expect(sd.sessionName).toBe('call');
    expect(sd.connection).toEqual({ netType: 'IN', addrType: 'IP4', address: '198.51.100.1' });
    expect(sd.attributes).toEqual([{ name: 'tool', value: 'x' }]);
    expect(sd.media.map((m) => [m.type, m.port, m.protocol, m.formats])).toEqual([
      ['audio', 49170, 'RTP/AVP', ['9', '8', '0', '101']],
      ['video', 51372, 'RTP/AVP', ['96']],
    ]);
    expect(formatSdp(sd)).toBe(OFFER);
  });

  it('accepts bare LF line ends and a missing t= (added on output, RFC 8866 §5.9)', () => {
    const sd = parseSdp('v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nm=audio 4000 RTP/AVP 0\n');
    expect(formatSdp(sd)).toBe(lines('v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 't=0 0', 'm=audio 4000 RTP/AVP 0'));
  });

  it('writes lines in RFC 8866 order whatever order they came in, and keeps a port count', () => {
    const sd = parseSdp(lines('v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 't=0 0', 'b=CT:1', 'c=IN IP4 192.0.2.1', 'm=audio 4000/2 RTP/AVP 0', 'a=x', 'b=AS:1', 'i=info'));
    expect(sd.media[0]!.portCount).toBe(2);
    expect(formatSdp(sd)).toBe(lines('v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 'b=CT:1', 't=0 0', 'm=audio 4000/2 RTP/AVP 0', 'i=info', 'b=AS:1', 'a=x'));
  });

  it.each([
    ['no v=', 'o=- 1 1 IN IP4 192.0.2.1\r\n', /no v= line/, undefined],
    ['no o=', 'v=0\r\ns=-\r\n', /no o= line/, undefined],
    ['a bad line', 'v=0\r\nhello\r\n', /not a "<type>=<value>" line/, 2],
    ['v=1', 'v=1\r\n', /unsupported version/, 1],
    ['a short o=', 'v=0\r\no=- 1 IN IP4 x\r\n', /o= needs/, 2],
    ['a bad m= port', 'v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\nm=audio 70000 RTP/AVP 0\r\n', /m= needs/, 4],
    ['an m= without protocol', 'v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\nm=audio 4000\r\n', /m= needs/, 4],
    ['a short c=', 'v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\nc=IN IP4\r\n', /c= needs/, 4],
  ])('rejects %s with SdpError (code SDP_INVALID, line number)', (_name, text, message, line) => {
    const err = (() => {
      try {
        parseSdp(text);
      } catch (e) {
        return e;
      }
    })() as SdpError;
    expect(err).toBeInstanceOf(SdpError);
    expect(err.code).toBe('SDP_INVALID');
    expect(err.message).toMatch(message);
    expect(err.line).toBe(line);
  });
});

describe('media helpers', () => {
  const sd = parseSdp(OFFER);
  const audio = audioMedia(sd)!;

  it('lists codecs in m= order with rtpmap and fmtp', () => {
    expect(codecsOf(audio)).toEqual([
      { pt: 9, name: 'G722', clockRate: 8000 },
      { pt: 8, name: 'PCMA', clockRate: 8000 },
      { pt: 0, name: 'PCMU', clockRate: 8000 },
      { pt: 101, name: 'telephone-event', clockRate: 8000, fmtp: '0-16' },
    ]);
  });

  it('knows RFC 3551 static payload types without rtpmap and skips unmapped dynamic ones', () => {
    const m = parseSdp(lines('v=0', 'o=- 1 1 IN IP4 x', 's=-', 'm=audio 4000 RTP/AVP 0 8 18 13 97', 'a=rtpmap:13 CN/8000')).media[0]!;
    expect(codecsOf(m).map((c) => `${c.pt} ${c.name}/${c.clockRate}`)).toEqual(['0 PCMU/8000', '8 PCMA/8000', '18 G729/8000', '13 CN/8000']);
  });

  it('finds telephone-event at 8000 Hz and expands its event list (RFC 4733 §7.1.1)', () => {
    expect(telephoneEventOf(audio)).toEqual({ pt: 101, name: 'telephone-event', clockRate: 8000, fmtp: '0-16' });
    expect(telephoneEventOf(audio, 16000)).toBeUndefined();
    expect(parseEventList('0-16').size).toBe(17);
    expect([...parseEventList('0-11, 66,70-71')]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 66, 70, 71]);
    expect(parseEventList(undefined).size).toBe(16); // the default is 0-15
    expect(() => parseEventList('5-3')).toThrow(SdpError);
    expect(() => parseEventList('x')).toThrow(SdpError);
  });

  it('reads ptime, connection and direction with media-level values winning (RFC 3264 §5.1)', () => {
    expect(ptimeOf(audio)).toBe(20);
    expect(connectionOf(sd, audio)?.address).toBe('198.51.100.1');
    expect(connectionOf(sd, sd.media[1]!)?.address).toBe('198.51.100.2');
    expect(directionOf(sd, audio)).toBe('sendonly');
    expect(directionOf(sd, sd.media[1]!)).toBe('sendrecv'); // the default
    const sessionInactive = parseSdp(lines('v=0', 'o=- 1 1 IN IP4 x', 's=-', 'a=inactive', 'm=audio 4000 RTP/AVP 0'));
    expect(directionOf(sessionInactive, sessionInactive.media[0]!)).toBe('inactive');
  });

  it('puts a stream on hold and back with exactly one direction attribute (RFC 3264 §8.4)', () => {
    const held = withDirection(audio, 'inactive');
    expect(held.attributes.filter((a) => ['sendrecv', 'sendonly', 'recvonly', 'inactive'].includes(a.name))).toEqual([{ name: 'inactive' }]);
    expect(directionOf(sd, withDirection(held, 'sendrecv'))).toBe('sendrecv');
    expect(audio.attributes.some((a) => a.name === 'sendonly')).toBe(true); // the input is not changed
    expect(['sendrecv', 'sendonly', 'recvonly', 'inactive'].map((d) => answerDirection(d as never))).toEqual(['sendrecv', 'recvonly', 'sendonly', 'inactive']);
  });

  it('skips rejected (port 0) audio streams', () => {
    const two = parseSdp(lines('v=0', 'o=- 1 1 IN IP4 x', 's=-', 'm=audio 0 RTP/AVP 0', 'm=audio 5000 RTP/AVP 8'));
    expect(audioMedia(two)?.port).toBe(5000);
  });
});

describe('origins', () => {
  it('makes a numeric origin and increments versions past 2^53 (RFC 3264 §8)', () => {
    const o = newOrigin('192.0.2.9');
    expect(o).toMatchObject({ username: '-', sessionVersion: '1', netType: 'IN', addrType: 'IP4', address: '192.0.2.9' });
    expect(o.sessionId).toMatch(/^\d+$/);
    expect(newOrigin('2001:db8::1').addrType).toBe('IP6');
    expect(nextVersion({ ...o, sessionVersion: '18446744073709551614' }).sessionVersion).toBe('18446744073709551615');
    expect(nextVersion(o).sessionId).toBe(o.sessionId);
  });
});

describe('buildAudioAnswer (RFC 3264 §6)', () => {
  const origin = newOrigin('127.0.0.1');

  it("answers our codecs in our order with the offer's payload types, telephone-event, ptime, the answering direction; rejects other streams", () => {
    const answer = buildAudioAnswer(parseSdp(OFFER), { origin, address: '127.0.0.1', port: 40000, accept: ['PCMU', 'PCMA'] });
    expect(formatSdp(answer)).toBe(
      lines(
        'v=0',
        `o=- ${origin.sessionId} 1 IN IP4 127.0.0.1`,
        's=-',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        'm=audio 40000 RTP/AVP 0 8 101',
        'a=rtpmap:0 PCMU/8000',
        'a=rtpmap:8 PCMA/8000',
        'a=rtpmap:101 telephone-event/8000',
        'a=fmtp:101 0-16',
        'a=ptime:20',
        'a=recvonly',
        'm=video 0 RTP/AVP 96',
      ),
    );
  });

  it('answers a single codec and no telephone-event when asked', () => {
    const answer = buildAudioAnswer(parseSdp(OFFER), { origin, address: '127.0.0.1', port: 40000, accept: ['PCMA', 'PCMU'], single: true, telephoneEvent: false });
    expect(audioMedia(answer)!.formats).toEqual(['8']);
  });

  it('fails with SdpError when nothing acceptable is offered', () => {
    const opus = parseSdp(lines('v=0', 'o=- 1 1 IN IP4 x', 's=-', 'm=audio 4000 RTP/AVP 111', 'a=rtpmap:111 opus/48000/2'));
    expect(() => buildAudioAnswer(opus, { origin, address: 'x', port: 1, accept: ['PCMU'] })).toThrow(/none of PCMU \(offered: opus\)/);
    const video = parseSdp(lines('v=0', 'o=- 1 1 IN IP4 x', 's=-', 'm=video 4000 RTP/AVP 96'));
    expect(() => buildAudioAnswer(video, { origin, address: 'x', port: 1, accept: ['PCMU'] })).toThrow(/no audio stream/);
  });
});

describe('sameAudio', () => {
  const base = lines('v=0', 'o=- 1 1 IN IP4 x', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 4000 RTP/AVP 0 101', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv');
  const a = parseSdp(base);

  it('ignores the origin and unrelated attributes', () => {
    expect(sameAudio(a, parseSdp(base.replace('o=- 1 1', 'o=x 9 9').replace('a=sendrecv', 'a=sendrecv\r\na=rtcp:4001')))).toBe(true);
  });

  it.each([
    ['port', base.replace('m=audio 4000', 'm=audio 4002')],
    ['address', base.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 127.0.0.2')],
    ['codec', base.replace('RTP/AVP 0 101', 'RTP/AVP 8 101')],
    ['direction', base.replace('a=sendrecv', 'a=sendonly')],
    ['telephone-event', base.replace('RTP/AVP 0 101', 'RTP/AVP 0')],
  ])('sees a changed %s', (_what, changed) => {
    expect(sameAudio(a, parseSdp(changed))).toBe(false);
  });
});
