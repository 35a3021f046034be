/**
 * A small SDP parser and builder for audio offer/answer: RFC 8866 (SDP, which obsoletes RFC 4566)
 * for the syntax, RFC 3264 for offer/answer, RFC 3551 for static payload types, RFC 4733 for
 * `telephone-event`. It interprets what the daemon needs (origin, connection, m=audio, rtpmap,
 * fmtp, ptime, direction) and keeps every other line verbatim, so a parsed description formats
 * back to an equivalent one.
 */
import { randomInt } from 'node:crypto';
import { PbxError } from '../lib/errors.js';

/** A malformed SDP body received from a party or from RTPengine. Code `SDP_INVALID`. */
export class SdpError extends PbxError {
  constructor(
    message: string,
    /** 1-based line number in the body, when the error is on one line. */
    readonly line?: number,
  ) {
    super('SDP_INVALID', line === undefined ? `invalid SDP: ${message}` : `invalid SDP (line ${line}): ${message}`);
    this.name = 'SdpError';
  }
}

/** `o=` (RFC 8866 §5.2). `sessionVersion` is a decimal string: it may exceed 2^53. */
export interface SdpOrigin {
  username: string;
  sessionId: string;
  sessionVersion: string;
  netType: string;
  addrType: string;
  address: string;
}

/** `c=` (RFC 8866 §5.7): `IN IP4 192.0.2.1`. */
export interface SdpConnection {
  netType: string;
  addrType: string;
  address: string;
}

/** `a=name` or `a=name:value` (RFC 8866 §5.13). */
export interface SdpAttribute {
  name: string;
  value?: string;
}

/** A line this module keeps without interpreting (`i=`, `b=`, `t=`, `r=`, `z=`, `k=`, `u=`, `e=`, `p=`). */
export interface SdpLine {
  type: string;
  value: string;
}

/** One `m=` section (RFC 8866 §5.14) with its own lines. */
export interface MediaDescription {
  type: string;
  /** 0 = rejected or disabled stream (RFC 3264 §6, §8.2). */
  port: number;
  /** `m=audio 49170/2 ...`: number of ports, when given. */
  portCount?: number;
  protocol: string;
  /** Payload type numbers as strings for RTP profiles (RFC 3551). */
  formats: string[];
  connection?: SdpConnection;
  attributes: SdpAttribute[];
  otherLines: SdpLine[];
}

/** A whole session description. */
export interface SessionDescription {
  version: number;
  origin: SdpOrigin;
  sessionName: string;
  connection?: SdpConnection;
  attributes: SdpAttribute[];
  /** Session-level lines not interpreted here, in order (`t=` among them). */
  otherLines: SdpLine[];
  media: MediaDescription[];
}

/** Media direction (RFC 3264 §5.1, RFC 8866 §6.7); `sendonly`/`inactive` put a party on hold (RFC 3264 §8.4). */
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
const DIRECTIONS: readonly string[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

/** One payload format of an m= line: `a=rtpmap:<pt> <name>/<clockRate>[/<channels>]` plus `a=fmtp`. */
export interface Codec {
  pt: number;
  name: string;
  /** Hz. */
  clockRate: number;
  channels?: number;
  fmtp?: string;
}

/** Static audio payload types of RFC 3551 §6 Table 4, used when an m= line has no rtpmap for them. */
const STATIC_PT: Record<number, [string, number]> = {
  0: ['PCMU', 8000], 3: ['GSM', 8000], 4: ['G723', 8000], 5: ['DVI4', 8000], 6: ['DVI4', 16000], 7: ['LPC', 8000],
  8: ['PCMA', 8000], 9: ['G722', 8000], 10: ['L16', 44100], 12: ['QCELP', 8000], 13: ['CN', 8000], 15: ['G728', 8000],
  18: ['G729', 8000],
};

function parseConnection(value: string, line: number): SdpConnection {
  const [netType, addrType, address] = value.split(' ');
  if (!netType || !addrType || !address) throw new SdpError(`c= needs "<nettype> <addrtype> <address>": ${value}`, line);
  // A multicast TTL/count suffix (`/127`) is not used for unicast audio; keep the address part only.
  return { netType, addrType, address: address.split('/')[0]! };
}

function parseAttribute(value: string): SdpAttribute {
  const colon = value.indexOf(':');
  return colon < 0 ? { name: value } : { name: value.slice(0, colon), value: value.slice(colon + 1) };
}

/**
 * Parse an SDP body (RFC 8866 §5: `<type>=<value>` lines, CRLF; bare LF is accepted too).
 * @throws SdpError when `v=`/`o=` are missing or malformed, a line is not `x=...`, or an m= line is malformed
 */
export function parseSdp(text: string): SessionDescription {
  const lines = text.split(/\r?\n/);
  let sd: Partial<SessionDescription> & { attributes: SdpAttribute[]; otherLines: SdpLine[]; media: MediaDescription[] } = {
    attributes: [],
    otherLines: [],
    media: [],
  };
  let current: MediaDescription | undefined;
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (raw === '') return; // the trailing CRLF, or blank lines some stacks emit
    if (raw.length < 2 || raw[1] !== '=') throw new SdpError(`not a "<type>=<value>" line: ${JSON.stringify(raw)}`, n);
    const type = raw[0]!;
    const value = raw.slice(2);
    if (type === 'm') {
      const [mtype, portField, protocol, ...formats] = value.split(' ');
      const [port, count] = (portField ?? '').split('/');
      if (!mtype || !protocol || !/^\d+$/.test(port ?? '') || Number(port) > 65535 || (count !== undefined && !/^\d+$/.test(count))) {
        throw new SdpError(`m= needs "<media> <port>[/<count>] <proto> <fmt> ...": ${value}`, n);
      }
      current = { type: mtype, port: Number(port), protocol, formats: formats.filter(Boolean), attributes: [], otherLines: [] };
      if (count !== undefined) current.portCount = Number(count);
      sd.media.push(current);
      return;
    }
    const target = current ?? sd;
    if (type === 'a') target.attributes.push(parseAttribute(value));
    else if (type === 'c') target.connection = parseConnection(value, n);
    else if (current) current.otherLines.push({ type, value });
    else if (type === 'v') {
      if (value !== '0') throw new SdpError(`unsupported version v=${value}`, n);
      sd.version = 0;
    } else if (type === 'o') {
      const [username, sessionId, sessionVersion, netType, addrType, address] = value.split(' ');
      if (!address || !/^\d+$/.test(sessionVersion ?? '')) throw new SdpError(`o= needs 6 fields and a numeric version: ${value}`, n);
      sd.origin = { username: username!, sessionId: sessionId!, sessionVersion: sessionVersion!, netType: netType!, addrType: addrType!, address };
    } else if (type === 's') sd.sessionName = value;
    else sd.otherLines.push({ type, value });
  });
  if (sd.version === undefined) throw new SdpError('no v= line');
  if (!sd.origin) throw new SdpError('no o= line');
  sd = { ...sd, sessionName: sd.sessionName ?? '-' };
  return sd as SessionDescription;
}

const attrLine = (a: SdpAttribute) => (a.value === undefined ? `a=${a.name}` : `a=${a.name}:${a.value}`);
const connLine = (c: SdpConnection) => `c=${c.netType} ${c.addrType} ${c.address}`;

/** Format a description with CRLF line ends in the order of RFC 8866 §5 (v o s i u e p c b t r z k a, then m sections). */
export function formatSdp(sd: SessionDescription): string {
  const o = sd.origin;
  const out = [`v=${sd.version}`, `o=${o.username} ${o.sessionId} ${o.sessionVersion} ${o.netType} ${o.addrType} ${o.address}`, `s=${sd.sessionName}`];
  const pick = (lines: SdpLine[], types: string) => lines.filter((l) => types.includes(l.type)).map((l) => `${l.type}=${l.value}`);
  out.push(...pick(sd.otherLines, 'iuep'));
  if (sd.connection) out.push(connLine(sd.connection));
  out.push(...pick(sd.otherLines, 'b'));
  const timing = pick(sd.otherLines, 'trzk');
  out.push(...(timing.some((l) => l.startsWith('t=')) ? timing : ['t=0 0', ...timing])); // t= is mandatory (§5.9)
  out.push(...sd.attributes.map(attrLine));
  for (const m of sd.media) {
    out.push(`m=${m.type} ${m.port}${m.portCount === undefined ? '' : `/${m.portCount}`} ${m.protocol} ${m.formats.join(' ')}`);
    out.push(...pick(m.otherLines, 'i'));
    if (m.connection) out.push(connLine(m.connection));
    out.push(...pick(m.otherLines, 'bk'));
    out.push(...m.attributes.map(attrLine));
  }
  return out.join('\r\n') + '\r\n';
}

/** The first `audio` m= section with a non-zero port (RFC 3264 §6: port 0 = rejected), if any. */
export function audioMedia(sd: SessionDescription): MediaDescription | undefined {
  return sd.media.find((m) => m.type === 'audio' && m.port !== 0);
}

/** Values of every attribute `name` of a section. */
export function attributeValues(m: { attributes: SdpAttribute[] }, name: string): string[] {
  return m.attributes.filter((a) => a.name === name).map((a) => a.value ?? '');
}

/** The connection address in effect for a media section: its own c= or the session's (RFC 8866 §5.7). */
export function connectionOf(sd: SessionDescription, m: MediaDescription): SdpConnection | undefined {
  return m.connection ?? sd.connection;
}

/**
 * The payload formats of an m= line in preference order (RFC 3264 §5.1), from `a=rtpmap`
 * (RFC 8866 §6.6) or the RFC 3551 static table, each with its `a=fmtp` (§6.15). Formats
 * without either (a dynamic PT lacking rtpmap) are left out.
 */
export function codecsOf(m: MediaDescription): Codec[] {
  const maps = new Map<number, Codec>();
  for (const v of attributeValues(m, 'rtpmap')) {
    const match = /^(\d+) ([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(v);
    if (!match) continue;
    const codec: Codec = { pt: Number(match[1]), name: match[2]!, clockRate: Number(match[3]) };
    if (match[4]) codec.channels = Number(match[4]);
    maps.set(codec.pt, codec);
  }
  const fmtps = new Map<number, string>();
  for (const v of attributeValues(m, 'fmtp')) {
    const sp = v.indexOf(' ');
    if (sp > 0) fmtps.set(Number(v.slice(0, sp)), v.slice(sp + 1));
  }
  return m.formats.flatMap((f) => {
    const pt = Number(f);
    const fixed = STATIC_PT[pt];
    const codec = maps.get(pt) ?? (fixed ? { pt, name: fixed[0], clockRate: fixed[1] } : undefined);
    if (!codec) return [];
    const fmtp = fmtps.get(pt);
    return [fmtp === undefined ? codec : { ...codec, fmtp }];
  });
}

/** The RFC 4733 `telephone-event` format of an m= line at `clockRate` Hz (default 8000), if offered. */
export function telephoneEventOf(m: MediaDescription, clockRate = 8000): Codec | undefined {
  return codecsOf(m).find((c) => c.name.toLowerCase() === 'telephone-event' && c.clockRate === clockRate);
}

/**
 * Expand an RFC 4733 §7.1.1 event list (`0-15,66,70-72`) into event codes. The default when
 * fmtp is absent is `0-15` (RFC 4733 §7.1.1). @throws SdpError on a malformed list
 */
export function parseEventList(fmtp: string | undefined): Set<number> {
  const events = new Set<number>();
  for (const part of (fmtp ?? '0-15').split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) throw new SdpError(`bad telephone-event list: ${fmtp}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi > 255) throw new SdpError(`bad telephone-event range: ${part}`);
    for (let e = lo; e <= hi; e++) events.add(e);
  }
  return events;
}

/** `a=ptime` in ms (RFC 8866 §6.4), if given. */
export function ptimeOf(m: MediaDescription): number | undefined {
  const v = attributeValues(m, 'ptime')[0];
  return v !== undefined && /^\d+(\.\d+)?$/.test(v) ? Number(v) : undefined;
}

/** The direction in effect: the media's own attribute, else the session's, else `sendrecv` (RFC 3264 §5.1). */
export function directionOf(sd: SessionDescription, m: MediaDescription): Direction {
  const own = m.attributes.find((a) => DIRECTIONS.includes(a.name));
  const session = sd.attributes.find((a) => DIRECTIONS.includes(a.name));
  return ((own ?? session)?.name as Direction | undefined) ?? 'sendrecv';
}

/** A copy of `m` with exactly one direction attribute, `dir` (e.g. `sendonly` to hold, RFC 3264 §8.4). */
export function withDirection(m: MediaDescription, dir: Direction): MediaDescription {
  return { ...m, attributes: [...m.attributes.filter((a) => !DIRECTIONS.includes(a.name)), { name: dir }] };
}

/** The answerer's direction for an offered one (RFC 3264 §6.1): sendonly ↔ recvonly, others unchanged. */
export function answerDirection(offered: Direction): Direction {
  return offered === 'sendonly' ? 'recvonly' : offered === 'recvonly' ? 'sendonly' : offered;
}

/** A fresh origin for a session the daemon originates (RFC 8866 §5.2: numeric session id, NTP-style). */
export function newOrigin(address: string, username = '-'): SdpOrigin {
  return {
    username,
    sessionId: String(randomInt(1, 2 ** 47)),
    sessionVersion: '1',
    netType: 'IN',
    addrType: address.includes(':') ? 'IP6' : 'IP4',
    address,
  };
}

/** The same origin with the version incremented, as every changed re-offer needs (RFC 3264 §8). */
export function nextVersion(o: SdpOrigin): SdpOrigin {
  return { ...o, sessionVersion: (BigInt(o.sessionVersion) + 1n).toString() };
}

/** Options of {@link buildAudioAnswer}. */
export interface AudioAnswerOptions {
  origin: SdpOrigin;
  /** Our RTP address and port. */
  address: string;
  port: number;
  /** Codec names we accept, in our preference order (e.g. `['PCMU', 'PCMA']`), at 8000 Hz. */
  accept: string[];
  /** Accept the offered RFC 4733 telephone-event format, if any (default true). */
  telephoneEvent?: boolean;
  /** Answer only the first acceptable codec (§6.1 allows any subset; one codec cannot switch mid-call). */
  single?: boolean;
  sessionName?: string;
}

/**
 * Answer an offer (RFC 3264 §6): the first usable audio m= line gets the acceptable codecs in
 * our preference order with the offerer's payload type numbers (§6.1: the answerer uses the
 * offer's PTs), the offered telephone-event with its fmtp, the offered ptime, and the answering
 * direction; every other m= line is rejected with port 0 and kept in place (§6: one m= line
 * per offered one, same order).
 * @throws SdpError if the offer has no audio m= line or none of `accept` is offered
 */
export function buildAudioAnswer(offer: SessionDescription, o: AudioAnswerOptions): SessionDescription {
  const audio = audioMedia(offer);
  if (!audio) throw new SdpError('the offer has no audio stream');
  const offered = codecsOf(audio);
  const acceptable = o.accept.flatMap((name) => offered.filter((c) => c.name.toUpperCase() === name.toUpperCase() && c.clockRate === 8000).slice(0, 1));
  const chosen = o.single ? acceptable.slice(0, 1) : acceptable;
  if (chosen.length === 0) throw new SdpError(`the offer has none of ${o.accept.join(', ')} (offered: ${offered.map((c) => c.name).join(', ') || 'nothing'})`);
  const te = o.telephoneEvent === false ? undefined : telephoneEventOf(audio);
  const formats = [...chosen, ...(te ? [te] : [])];
  const attributes: SdpAttribute[] = [];
  for (const c of formats) {
    attributes.push({ name: 'rtpmap', value: `${c.pt} ${c.name}/${c.clockRate}${c.channels ? `/${c.channels}` : ''}` });
    if (c.fmtp !== undefined) attributes.push({ name: 'fmtp', value: `${c.pt} ${c.fmtp}` });
  }
  const ptime = ptimeOf(audio);
  if (ptime !== undefined) attributes.push({ name: 'ptime', value: String(ptime) });
  attributes.push({ name: answerDirection(directionOf(offer, audio)) });
  const addrType = o.address.includes(':') ? 'IP6' : 'IP4';
  return {
    version: 0,
    origin: o.origin,
    sessionName: o.sessionName ?? '-',
    connection: { netType: 'IN', addrType, address: o.address },
    attributes: [],
    otherLines: [{ type: 't', value: '0 0' }],
    media: offer.media.map((m) =>
      m === audio
        ? { type: 'audio', port: o.port, protocol: m.protocol, formats: formats.map((c) => String(c.pt)), attributes, otherLines: [] }
        : { type: m.type, port: 0, protocol: m.protocol, formats: m.formats, attributes: [], otherLines: [] },
    ),
  };
}

/**
 * Whether two descriptions give a party the same audio stream: effective address, port,
 * protocol, formats in order with their rtpmap/fmtp, ptime and direction. Origin and other
 * lines are ignored. Used to decide whether a party needs a re-INVITE (RFC 3264 §8).
 */
export function sameAudio(a: SessionDescription, b: SessionDescription): boolean {
  const ma = audioMedia(a);
  const mb = audioMedia(b);
  if (!ma || !mb) return !ma && !mb;
  const key = (sd: SessionDescription, m: MediaDescription) =>
    JSON.stringify([connectionOf(sd, m)?.address, m.port, m.protocol, codecsOf(m), m.formats, ptimeOf(m), directionOf(sd, m)]);
  return key(a, ma) === key(b, mb);
}
