/**
 * Typed requests and replies of RTPengine's NG control protocol, and the mapping between them and
 * the NG dictionaries. Source for every key: rtpengine docs/ng_control_protocol.md
 * (https://rtpengine.readthedocs.io/en/latest/ng_control_protocol.html; sections named
 * in each docstring) and daemon/call_interfaces.c, which accepts the hyphenated key spellings used
 * here (`call-id`, `from-tag`, `transport-protocol`, ...) alongside the documented spaced ones.
 * Reply shapes were checked against rtpengine 10.5 (see test/rtpengine/ng-client.e2e.test.ts).
 */
import type { BencodeDict, BencodeValue } from './bencode.js';

/** Identifies a call leg: SIP Call-ID, From tag and optionally the Via branch (`via-branch`). */
export interface NgLeg {
  callId: string;
  fromTag: string;
  viaBranch?: string;
}

/** `codec` dictionary ("Optionally included codec manipulations"); each entry is a list of codec names. */
export interface NgCodecOptions {
  strip?: string[];
  offer?: string[];
  transcode?: string[];
  mask?: string[];
  except?: string[];
  set?: string[];
  accept?: string[];
  consume?: string[];
}

/**
 * `offer` request ("`offer` Message"). Keys: `sdp`, `call-id`, `from-tag`, `to-tag`, `via-branch`, `flags`,
 * `replace`, `ICE`, `transport-protocol`, `direction`, `codec`, `rtcp-mux`, `received-from`,
 * `media-address`, `address-family`, `SDES`, `DTLS`, `ptime` (ms), `label`, `record-call`.
 * `extra` adds further NG keys verbatim (the typed fields win on a clash).
 */
export interface OfferOptions extends NgLeg {
  /**
   * `to-tag`: makes the offer an in-dialogue re-offer towards that party; rtpengine 10.5 creates
   * the party if the tag is new (how the daemon offers one caller to several callees at once,
   * src/media/media-session.ts).
   */
  toTag?: string;
  /** The complete SDP body. */
  sdp: string;
  /** e.g. `trust-address`, `symmetric`, `strict-source`, `inject-DTMF`, `early-media`. */
  flags?: string[];
  /** Parts of the SDP to rewrite: `origin`, `session-connection`, `SDP-version`, `username`, `session-name`, `zero-address`. */
  replace?: string[];
  ice?: 'remove' | 'force' | 'default' | 'force-relay' | 'optional';
  /** Rewrite the m= protocol; `accept` (answer only) follows the answerer's change. */
  transportProtocol?: 'RTP/AVP' | 'RTP/AVPF' | 'RTP/SAVP' | 'RTP/SAVPF' | 'accept';
  /** Logical interface names [from side, to side] as configured with `--interface NAME/IP`. */
  direction?: [string, string];
  codec?: NgCodecOptions;
  rtcpMux?: Array<'offer' | 'require' | 'demux' | 'accept' | 'reject'>;
  /** Source of the SIP message, `['IP4', '192.0.2.1']`. */
  receivedFrom?: ['IP4' | 'IP6', string];
  mediaAddress?: string;
  addressFamily?: 'IP4' | 'IP6';
  sdes?: string[];
  dtls?: 'off' | 'passive' | 'active';
  /** Packetisation time in ms towards the receiver of this offer. */
  ptime?: number;
  label?: string;
  recordCall?: 'yes' | 'no';
  extra?: BencodeDict;
}

/** `answer` request ("`answer` Message"): an offer plus the SIP To tag (`to-tag`). */
export interface AnswerOptions extends OfferOptions {
  toTag: string;
}

/** Reply to `offer`/`answer`: the rewritten SDP to put into the SIP message, and any `warning`. */
export interface SdpResult {
  sdp: string;
  warning?: string;
}

/**
 * `delete` request ("`delete` Message"). Without `fromTag` the whole call goes. `fatal` adds the
 * `fatal` flag (unknown call → NgProtocolError instead of a warning); `deleteDelaySec` overrides
 * `--delete-delay` (seconds; 0 = now — rtpengine's default keeps a deleted call listed for 30 s).
 */
export interface DeleteOptions {
  callId: string;
  fromTag?: string;
  toTag?: string;
  viaBranch?: string;
  fatal?: boolean;
  deleteDelaySec?: number;
}

/** `query` request ("`query` Message"). */
export interface QueryOptions {
  callId: string;
  fromTag?: string;
  toTag?: string;
}

/** Packet counters of one stream or of a call's totals (`stats`: `packets`, `bytes`, `errors`). */
export interface NgStats {
  packets: number;
  bytes: number;
  errors: number;
}

/** `endpoint` / `advertised endpoint`: `family` is `IPv4` or `IPv6`. */
export interface NgEndpoint {
  family: string;
  address: string;
  port: number;
}

/** One packet stream (RTP or RTCP) of a media. Times are UNIX seconds. */
export interface QueryStream {
  /** rtpengine's port this party sends to (`local port`); absent for an inactive stream. */
  localPort?: number;
  localAddress?: string;
  /** Where rtpengine forwards to this party (`endpoint`). */
  endpoint?: NgEndpoint;
  advertisedEndpoint?: NgEndpoint;
  lastPacket?: number;
  /** e.g. `RTP`, `RTCP`, `filled`, `confirmed`, `kernelized`. */
  flags: string[];
  /** Received from this party on `localPort`. */
  stats: NgStats;
  /** SSRC last received from this party (`SSRC`), a key of {@link QueryResult.ssrc}. */
  ssrc?: number;
}

/** One SDP media (`medias[]`) of a tag. */
export interface QueryMedia {
  index: number;
  type: string;
  protocol?: string;
  /** Codec in use towards this party when rtpengine reports it (`codec`, e.g. `G722/8000`; 10.5 with transcoding). */
  codec?: string;
  flags: string[];
  streams: QueryStream[];
}

/** One party (SIP tag) of the call; `tag` may be `''` for a side that has not signalled yet. */
export interface QueryTag {
  tag: string;
  label?: string;
  created?: number;
  inDialogueWith?: string;
  /** Tags whose media this party receives (`subscriptions`, rtpengine 10.x). */
  subscriptions: string[];
  /** Tags receiving this party's media (`subscribers`). */
  subscribers: string[];
  medias: QueryMedia[];
}

/**
 * Per-SSRC quality from RTCP (`SSRC` dictionary of `query`, keyed by SSRC in decimal): present
 * once RTCP reports arrived. `mos` is the average MOS ×10 as rtpengine sends it (41 = 4.1);
 * `roundTripUs` in µs; `jitter` and `packetLoss` as rtpengine computes them from RTCP.
 */
export interface SsrcQuality {
  packets?: number;
  bytes?: number;
  cumulativeLoss?: number;
  mos?: number;
  jitter?: number;
  packetLoss?: number;
  roundTripUs?: number;
}

/** Reply to `query` (and the statistics in a `delete` reply). `raw` holds the whole dictionary. */
export interface QueryResult {
  created?: number;
  lastSignal?: number;
  /** One entry per SIP tag; order unspecified (JS objects list integer-like keys first): find by `tag`. */
  tags: QueryTag[];
  totals: { rtp: NgStats; rtcp: NgStats };
  /** Keyed by SSRC in decimal; empty without RTCP. */
  ssrc: Record<string, SsrcQuality>;
  warning?: string;
  raw: BencodeDict;
}

/** Reply to `delete`; `stats` is present when rtpengine attached the call's final statistics. */
export interface DeleteResult {
  warning?: string;
  stats?: QueryResult;
}

/**
 * Selects call participants for `play media`, `stop media`, `block media`, `unblock media`
 * ("`block DTMF` and `unblock DTMF` Messages"): by `from-tag`, `label` or `address`; `toTag`
 * narrows `block media` to one flow; `all` adds the `all` flag (every participant).
 */
export interface NgParticipant {
  callId: string;
  fromTag?: string;
  toTag?: string;
  label?: string;
  address?: string;
  all?: boolean;
}

/** What `play media` plays: a daemon-side file path, an in-message blob, or a database id. */
export type PlayMediaSource =
  | { file: string; blob?: never; dbId?: never }
  | { blob: Uint8Array; file?: never; dbId?: never }
  | { dbId: number; file?: never; blob?: never };

/** `play media` request ("`play media` Message"): `repeat-times` (default 1), `start-pos` (frames). */
export type PlayMediaOptions = NgParticipant &
  PlayMediaSource & {
    repeatTimes?: number;
    startPos?: number;
  };

/**
 * Reply to `play media`: `durationMs` is the length of the media file in ms (`duration`), when
 * rtpengine could determine it. Observed on 10.5: it is one pass's length, not multiplied by
 * `repeat-times`. rtpengine sends no event when playback ends.
 */
export interface PlayMediaResult {
  durationMs?: number;
  warning?: string;
}

/** Reply to `stop media`: `last-frame-pos` when rtpengine reports it. */
export interface StopMediaResult {
  lastFramePos?: number;
  warning?: string;
}

/** `DTMF-security` modes of `block DTMF` ("Optionally included keys"); default `drop`. */
export type DtmfSecurityMode = 'drop' | 'silence' | 'tone' | 'random' | 'zero' | 'DTMF' | 'off';

/** `block DTMF` request ("`block DTMF` and `unblock DTMF` Messages"): participant selection plus the mode. */
export type BlockDtmfOptions = NgParticipant & { mode?: DtmfSecurityMode };

/**
 * `play DTMF` request ("`play DTMF` Message"). The selected participant is the one whose
 * outgoing stream carries the event. rtpengine needs the `inject-DTMF` flag in both `offer` and
 * `answer`, and (10.5) media already flowing from that participant, else it replies
 * `No SSRC context present for DTMF injection`.
 */
export type PlayDtmfOptions = NgParticipant & {
  /** `0`-`9`, `*`, `#`, `A`-`D`, or the event code 0-15 (`code`). */
  code: string | number;
  /** Event duration in ms (`duration`; rtpengine: default 250, 100-5000). */
  durationMs?: number;
  /** Volume in dBm0 below 0 (`volume`; default 8). */
  volume?: number;
  /** Pause after the event in ms (`pause`; default 100, 100-5000). */
  pauseMs?: number;
};

/**
 * Reply to `statistics` ("`statistics` Message"): the same metrics as `rtpengine-ctl list
 * jsonstats`. Numbers stay numbers; some (uptime, averages) arrive as decimal strings.
 */
export interface StatisticsResult {
  /** `currentstatistics`: e.g. `sessionsown`, `sessionstotal`, `transcodedmedia`, `packetrate`. */
  current: Record<string, number | string>;
  /** `totalstatistics`: e.g. `uptime`, `managedsessions`, `relayedpackets`. */
  total: Record<string, number | string>;
  raw: BencodeDict;
}

/** A reply with nothing but `result: ok` and an optional `warning`. */
export interface NgOk {
  warning?: string;
}

/** Build the NG dictionary of an `offer`/`answer` (without `command`). */
export function sdpRequest(o: OfferOptions | AnswerOptions): BencodeDict {
  const codec = o.codec ? ({ ...o.codec } as BencodeDict) : undefined;
  const typed: BencodeDict = {
    'call-id': o.callId,
    'from-tag': o.fromTag,
    'to-tag': o.toTag,
    'via-branch': o.viaBranch,
    sdp: o.sdp,
    flags: o.flags,
    replace: o.replace,
    ICE: o.ice,
    'transport-protocol': o.transportProtocol,
    direction: o.direction,
    codec,
    'rtcp-mux': o.rtcpMux,
    'received-from': o.receivedFrom,
    'media-address': o.mediaAddress,
    'address-family': o.addressFamily,
    SDES: o.sdes,
    DTLS: o.dtls,
    ptime: o.ptime,
    label: o.label,
    'record-call': o.recordCall,
  };
  // Typed fields win over `extra`, but an unset typed field must not erase an `extra` key.
  return { ...o.extra, ...Object.fromEntries(Object.entries(typed).filter(([, v]) => v !== undefined)) };
}

/** Build the participant-selection keys (`call-id`, `from-tag`, `to-tag`, `label`, `address`, `flags: [all]`). */
export function participantRequest(p: NgParticipant): BencodeDict {
  return {
    'call-id': p.callId,
    'from-tag': p.fromTag,
    'to-tag': p.toTag,
    label: p.label,
    address: p.address,
    flags: p.all ? ['all'] : undefined,
  };
}

// ---- reply parsing: tolerant of missing fields, never trusting types -------------------------

const num = (v: BencodeValue | undefined): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
const str = (v: BencodeValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const dict = (v: BencodeValue | undefined): BencodeDict | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) ? v : undefined;
const list = (v: BencodeValue | undefined): BencodeValue[] => (Array.isArray(v) ? v : []);
const strings = (v: BencodeValue | undefined): string[] => list(v).filter((x): x is string => typeof x === 'string');

function stats(v: BencodeValue | undefined): NgStats {
  const d = dict(v) ?? {};
  return { packets: num(d.packets) ?? 0, bytes: num(d.bytes) ?? 0, errors: num(d.errors) ?? 0 };
}

function endpoint(v: BencodeValue | undefined): NgEndpoint | undefined {
  const d = dict(v);
  if (!d) return undefined;
  return { family: str(d.family) ?? '', address: str(d.address) ?? '', port: num(d.port) ?? 0 };
}

function stream(d: BencodeDict): QueryStream {
  return {
    localPort: num(d['local port']),
    localAddress: str(d['local address']),
    endpoint: endpoint(d.endpoint),
    advertisedEndpoint: endpoint(d['advertised endpoint']),
    lastPacket: num(d['last packet']),
    flags: strings(d.flags),
    stats: stats(d.stats),
    ssrc: num(d.SSRC),
  };
}

function media(d: BencodeDict): QueryMedia {
  return {
    index: num(d.index) ?? 0,
    type: str(d.type) ?? '',
    protocol: str(d.protocol),
    codec: str(d.codec),
    flags: strings(d.flags),
    streams: list(d.streams).flatMap((s) => (dict(s) ? [stream(dict(s) as BencodeDict)] : [])),
  };
}

/** `subscriptions` / `subscribers`: a list of `{tag, type}`. */
function tagNames(v: BencodeValue | undefined): string[] {
  return list(v).flatMap((x) => {
    const t = str(dict(x)?.tag);
    return t === undefined ? [] : [t];
  });
}

function ssrcQuality(d: BencodeDict): SsrcQuality {
  const avg = dict(d['average MOS']) ?? {};
  const q: SsrcQuality = {
    packets: num(d.packets),
    bytes: num(d.bytes),
    cumulativeLoss: num(d['cumulative loss']),
    mos: num(avg.MOS),
    jitter: num(avg.jitter),
    packetLoss: num(avg['packet loss']),
    roundTripUs: num(avg['round-trip time']),
  };
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined));
}

/** Parse a `query` (or `delete`) reply dictionary into a {@link QueryResult}. */
export function parseQuery(reply: BencodeDict): QueryResult {
  const tags = dict(reply.tags) ?? {};
  const totals = dict(reply.totals) ?? {};
  return {
    created: num(reply.created),
    lastSignal: num(reply['last signal']),
    tags: Object.entries(tags).flatMap(([key, v]) => {
      const t = dict(v);
      if (!t) return [];
      return [
        {
          tag: str(t.tag) ?? key,
          label: str(t.label),
          created: num(t.created),
          inDialogueWith: str(t['in dialogue with']),
          subscriptions: tagNames(t.subscriptions),
          subscribers: tagNames(t.subscribers),
          medias: list(t.medias).flatMap((m) => (dict(m) ? [media(dict(m) as BencodeDict)] : [])),
        },
      ];
    }),
    totals: { rtp: stats(totals.RTP), rtcp: stats(totals.RTCP) },
    ssrc: Object.fromEntries(Object.entries(dict(reply.SSRC) ?? {}).map(([k, v]) => [k, ssrcQuality(dict(v) ?? {})])),
    warning: str(reply.warning),
    raw: reply,
  };
}

/** `warning` of a reply, when present. */
export function warningOf(reply: BencodeDict): NgOk {
  const warning = str(reply.warning);
  return warning === undefined ? {} : { warning };
}

/** Keep the number and string entries of a dictionary (statistics sections). */
export function ngScalars(v: BencodeValue | undefined): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [k, x] of Object.entries(dict(v) ?? {})) {
    const n = num(x);
    if (n !== undefined) out[k] = n;
    else if (typeof x === 'string') out[k] = x;
  }
  return out;
}

export { dict as ngDict, num as ngNumber, str as ngString, strings as ngStrings };
