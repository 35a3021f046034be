/**
 * The feature daemon's own RTP endpoint: the "other side" RTPengine forwards the caller's stream to
 * while the daemon runs an IVR, so that RFC 4733 DTMF reaches Node. It only receives:
 * - RTP packets are parsed (RFC 3550 §5.1, CSRCs, header extension §5.3.1, padding) and counted;
 * - `telephone-event` packets (RFC 4733 §2.3, payload type from the negotiated SDP) become one
 *   `dtmf` event per digit.
 *
 * It never sends. Prompts reach the caller through RTPengine's `play media`, and a second stream
 * from Node would be heard on top of it (NODE-FACTS.md). Measured on rtpengine 10.5, nothing needs
 * sending either: RTPengine forwards to the address in our SDP without waiting to learn it from
 * our packets (the `trust address` default), and `play media` plays to a caller whose peer never
 * sent a packet (test/media/media-session.e2e.test.ts). So there is no comfort-noise sender.
 *
 * {@link DtmfLogListener} is the other source of digits: RTPengine's `--dtmf-log-dest` datagrams,
 * which also cover a bridged caller whose stream no longer passes through this endpoint.
 */
import dgram from 'node:dgram';
import { PbxError } from '../lib/errors.js';

/** The digits of RFC 4733 §3.2 events 0-15 (0-9, `*`=10, `#`=11, A-D = 12-15). */
export type DtmfDigit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#' | 'A' | 'B' | 'C' | 'D';
const DIGITS = '0123456789*#ABCD';

/** One detected digit. */
export interface DtmfEvent {
  digit: DtmfDigit;
  /** The event's duration in ms (RFC 4733 duration field / clock rate). */
  durationMs: number;
  /** When it was detected, ms since the epoch. */
  at: number;
}

/** A parsed RTP packet (RFC 3550 §5.1); `payload` is a view without header, CSRCs, extension and padding. */
export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  ssrc: number;
  csrcs: number[];
  /** Header extension (§5.3.1): profile-defined id and its data. */
  extension?: { profile: number; data: Buffer };
  payload: Buffer;
}

/** Parse an RTP packet; `undefined` for anything that is not well-formed RTP version 2. */
export function parseRtp(buf: Buffer): RtpPacket | undefined {
  if (buf.length < 12 || buf[0]! >> 6 !== 2) return undefined;
  const padding = (buf[0]! & 0x20) !== 0;
  const hasExtension = (buf[0]! & 0x10) !== 0;
  const cc = buf[0]! & 0x0f;
  let offset = 12 + 4 * cc;
  if (buf.length < offset) return undefined;
  const csrcs: number[] = [];
  for (let i = 0; i < cc; i++) csrcs.push(buf.readUInt32BE(12 + 4 * i));
  let extension: RtpPacket['extension'];
  if (hasExtension) {
    if (buf.length < offset + 4) return undefined;
    const words = buf.readUInt16BE(offset + 2); // length in 32-bit words, excluding this 4-byte header
    const end = offset + 4 + 4 * words;
    if (buf.length < end) return undefined;
    extension = { profile: buf.readUInt16BE(offset), data: buf.subarray(offset + 4, end) };
    offset = end;
  }
  let end = buf.length;
  if (padding) {
    const count = buf[buf.length - 1]!; // the last octet counts the padding, itself included (§5.1)
    if (count === 0 || end - count < offset) return undefined;
    end -= count;
  }
  return {
    payloadType: buf[1]! & 0x7f,
    marker: (buf[1]! & 0x80) !== 0,
    sequence: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    csrcs,
    ...(extension ? { extension } : {}),
    payload: buf.subarray(offset, end),
  };
}

/** The RFC 4733 §2.3 payload: event code, end bit, volume (-dBm0), duration in timestamp units. */
export interface TelephoneEvent {
  event: number;
  end: boolean;
  volume: number;
  duration: number;
}

/** Parse a 4-byte telephone-event payload; `undefined` if shorter. */
export function parseTelephoneEvent(payload: Buffer): TelephoneEvent | undefined {
  if (payload.length < 4) return undefined;
  return { event: payload[0]!, end: (payload[1]! & 0x80) !== 0, volume: payload[1]! & 0x3f, duration: payload.readUInt16BE(2) };
}

/** Options of {@link DtmfDetector}. */
export interface DtmfDetectorOptions {
  /** Clock rate of the telephone-event format in Hz (its rtpmap); default 8000. */
  clockRate?: number;
  /**
   * Report an event whose end packets were all lost after this long without a packet of it, in
   * ms; default 250 (RFC 4733 §2.5.1.2 senders update every 50 ms).
   */
  endTimeoutMs?: number;
}

/**
 * Turns telephone-event packets into digits, one per event. An event is identified by SSRC and
 * RTP timestamp, which all its packets share (RFC 4733 §2.5.1.2). It is reported on its first
 * end packet; the redundant end packets (§2.5.1.4: sent three times) and retransmits of an
 * event already reported are ignored. A lost start packet does not matter (any packet of the
 * event opens it); lost end packets are covered by a newer event or the `endTimeoutMs` timer.
 */
export class DtmfDetector {
  private readonly clockRate: number;
  private readonly endTimeoutMs: number;
  private open?: { key: string; event: number; duration: number; timer: NodeJS.Timeout };
  /** Keys (`ssrc:timestamp`) of recently reported events; bounded. */
  private readonly done: string[] = [];

  constructor(
    private readonly onDigit: (e: DtmfEvent) => void,
    options: DtmfDetectorOptions = {},
  ) {
    this.clockRate = options.clockRate ?? 8000;
    this.endTimeoutMs = options.endTimeoutMs ?? 250;
  }

  /** Feed one telephone-event packet (already known to carry the negotiated PT). */
  push(p: RtpPacket): void {
    const te = parseTelephoneEvent(p.payload);
    if (!te) return;
    const key = `${p.ssrc}:${p.timestamp}`;
    if (this.done.includes(key)) return;
    if (this.open && this.open.key !== key) this.finish(); // a new event: the old one's end packets were lost
    if (!this.open) {
      const timer = setTimeout(() => this.finish(), this.endTimeoutMs);
      timer.unref();
      this.open = { key, event: te.event, duration: te.duration, timer };
    } else {
      this.open.duration = Math.max(this.open.duration, te.duration);
      this.open.timer.refresh();
    }
    if (te.end) this.finish();
  }

  /** Stop the timer without reporting an open event. */
  dispose(): void {
    if (this.open) clearTimeout(this.open.timer);
    this.open = undefined;
  }

  private finish(): void {
    const open = this.open;
    if (!open) return;
    clearTimeout(open.timer);
    this.open = undefined;
    this.done.push(open.key);
    if (this.done.length > 16) this.done.shift();
    // Events above 15 (flash, tones: RFC 4733 §3.2 / RFC 4734) are not digits.
    if (open.event > 15) return;
    this.onDigit({ digit: DIGITS[open.event] as DtmfDigit, durationMs: Math.round((open.duration * 1000) / this.clockRate), at: Date.now() });
  }
}

/** Counters of an endpoint. Bytes are UDP payload bytes (RTP header included). */
export interface RtpEndpointStats {
  packets: number;
  bytes: number;
  /** Datagrams on the RTP port that were not RTP version 2. */
  invalid: number;
  /** RTP packets carrying the telephone-event payload type. */
  dtmfPackets: number;
  /** Datagrams on the RTCP port (port + 1); counted, not parsed. */
  rtcpPackets: number;
  /** Source of the last RTP packet, `address:port`. */
  lastSource?: string;
  /** ms since the epoch. */
  lastPacketAt?: number;
}

/** No even port pair of the configured range could be bound. Code `RTP_NO_PORTS`. */
export class RtpPortsExhaustedError extends PbxError {
  constructor(min: number, max: number, inUse: number) {
    super('RTP_NO_PORTS', `no free RTP port pair in ${min}-${max} (${inUse} in use by this daemon)`, {
      hint: 'Widen the daemon RTP port range, or look for calls that were not torn down.',
    });
    this.name = 'RtpPortsExhaustedError';
  }
}

/** The daemon's RTP ports: a range on one local address. */
export interface RtpPortRange {
  /** Local address to bind and advertise, e.g. `127.0.0.1`. */
  host: string;
  /** Inclusive bounds; RTP takes even ports, RTCP the odd port above (RFC 3550 §11). */
  min: number;
  max: number;
}

/**
 * Hands out endpoints on even ports of a range, round robin (a port just released is reused last,
 * so late packets of an old call do not reach a new one). A port pair someone else holds is skipped.
 * Closing an endpoint returns its ports.
 * @throws TypeError from the constructor on an empty or invalid range
 */
export class RtpPortPool {
  private readonly used = new Set<number>();
  private next: number;

  constructor(readonly range: RtpPortRange) {
    const { min, max } = range;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1024 || max > 65535 || (min + (min % 2)) + 1 > max) {
      throw new TypeError(`invalid RTP port range ${min}-${max}: needs at least one even/odd pair above 1023`);
    }
    this.next = min + (min % 2);
  }

  /** Even ports available in the range. */
  get capacity(): number {
    return Math.floor((this.range.max - 1 - (this.range.min + (this.range.min % 2))) / 2) + 1;
  }

  /** Ports (pairs) currently handed out. */
  get inUse(): number {
    return this.used.size;
  }

  /**
   * Bind an RTP/RTCP socket pair on the next free even port.
   * @throws RtpPortsExhaustedError when every pair is in use or cannot be bound
   */
  async open(): Promise<RtpEndpoint> {
    for (let tries = 0; tries < this.capacity; tries++) {
      const port = this.next;
      this.next = port + 2 + 1 > this.range.max ? this.range.min + (this.range.min % 2) : port + 2;
      if (this.used.has(port)) continue;
      this.used.add(port);
      const pair = await bindPair(this.range.host, port);
      if (pair) return new RtpEndpoint(this.range.host, port, pair[0], pair[1], () => this.used.delete(port));
      this.used.delete(port); // held by another process: skip it
    }
    throw new RtpPortsExhaustedError(this.range.min, this.range.max, this.used.size);
  }
}

/** Bind `port` and `port + 1`, or nothing (closing what was bound) if either is taken. */
async function bindPair(host: string, port: number): Promise<[dgram.Socket, dgram.Socket] | undefined> {
  const bind = (p: number) =>
    new Promise<dgram.Socket | undefined>((resolve) => {
      const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      s.once('error', () => s.close(() => resolve(undefined)));
      s.bind(p, host, () => resolve(s));
    });
  const [rtp, rtcp] = await Promise.all([bind(port), bind(port + 1)]);
  if (rtp && rtcp) return [rtp, rtcp];
  await Promise.all([rtp, rtcp].map((s) => s && new Promise<void>((r) => s.close(() => r()))));
  return undefined;
}

/**
 * One bound RTP/RTCP port pair (from {@link RtpPortPool.open}). Set the negotiated
 * telephone-event payload type with {@link setTelephoneEvent} to get digits.
 */
export class RtpEndpoint {
  private readonly counters: RtpEndpointStats = { packets: 0, bytes: 0, invalid: 0, dtmfPackets: 0, rtcpPackets: 0 };
  private readonly listeners = new Set<(e: DtmfEvent) => void>();
  /** Listeners of every non-DTMF RTP packet (recordings: media/rtp-recorder.ts). */
  private readonly packetListeners = new Set<(p: RtpPacket) => void>();
  /** Sender of the last RTP packet (kept as dgram gives it; formatted on `stats`). */
  private lastSource?: dgram.RemoteInfo;
  private telephoneEventPt?: number;
  private detector?: DtmfDetector;
  private closing?: Promise<void>;

  /** @internal created by RtpPortPool */
  constructor(
    readonly address: string,
    readonly port: number,
    private readonly rtp: dgram.Socket,
    private readonly rtcp: dgram.Socket,
    private readonly release: () => void,
  ) {
    rtp.on('message', (msg, rinfo) => this.onRtp(msg, rinfo));
    rtcp.on('message', () => this.counters.rtcpPackets++);
    // Sockets never throw at the daemon: a receive error only loses a packet.
    rtp.on('error', () => undefined);
    rtcp.on('error', () => undefined);
  }

  /** The RTCP port (RFC 3550 §11: RTP port + 1). */
  get rtcpPort(): number {
    return this.port + 1;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Counters so far. */
  get stats(): Readonly<RtpEndpointStats> {
    const last = this.lastSource;
    return { ...this.counters, ...(last ? { lastSource: `${last.address}:${last.port}` } : {}) };
  }

  /**
   * The telephone-event payload type negotiated in SDP (RFC 4733 §7.1.1) and its clock rate;
   * `undefined` stops detection. Options go to the {@link DtmfDetector}.
   */
  setTelephoneEvent(pt: number | undefined, options: DtmfDetectorOptions = {}): void {
    this.detector?.dispose();
    this.telephoneEventPt = pt;
    this.detector = pt === undefined ? undefined : new DtmfDetector((e) => this.emit(e), options);
  }

  /** Subscribe to digits; returns the unsubscribe function. */
  onDtmf(listener: (e: DtmfEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Subscribe to the caller's media packets (every well-formed RTP packet except telephone-event),
   * e.g. to record them; returns the unsubscribe function.
   */
  onPacket(listener: (p: RtpPacket) => void): () => void {
    this.packetListeners.add(listener);
    return () => this.packetListeners.delete(listener);
  }

  /** Close both sockets and return the port to the pool. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.detector?.dispose();
      this.listeners.clear();
      this.packetListeners.clear();
      await Promise.all([this.rtp, this.rtcp].map((s) => new Promise<void>((r) => s.close(() => r()))));
      this.release();
    })();
    return this.closing;
  }

  /**
   * Every packet of every IVR caller lands here (50 a second per call: 10,000 a second at 200
   * calls), so a voice packet nobody records is only checked and counted: no packet object, no
   * source string (built when `stats` is read). Only telephone-event packets and packets a
   * recorder subscribed to are parsed in full.
   */
  private onRtp(msg: Buffer, source: dgram.RemoteInfo): void {
    const pt = msg.length >= 12 && msg[0]! >> 6 === 2 ? msg[1]! & 0x7f : -1;
    const dtmf = pt === this.telephoneEventPt && this.detector !== undefined;
    const p = dtmf || this.packetListeners.size > 0 ? parseRtp(msg) : undefined;
    if (pt < 0 || ((dtmf || this.packetListeners.size > 0) && !p)) {
      this.counters.invalid++;
      return;
    }
    this.counters.packets++;
    this.counters.bytes += msg.length;
    this.lastSource = source;
    this.counters.lastPacketAt = Date.now();
    if (!p) return;
    if (dtmf) {
      this.counters.dtmfPackets++;
      this.detector!.push(p);
      return;
    }
    for (const l of this.packetListeners) l(p);
  }

  private emit(e: DtmfEvent): void {
    for (const l of this.listeners) l(e);
  }
}

/** A digit reported by RTPengine's DTMF log (`--dtmf-log-dest`), with the call it belongs to. */
export interface LoggedDtmfEvent extends DtmfEvent {
  callId: string;
  /** The tag of the party that sent the digit (`source_tag`). */
  sourceTag: string;
  /** Every tag of the call (`tags`). */
  tags: string[];
  sourceIp?: string;
  volume?: number;
}

/**
 * Receives RTPengine's DTMF log datagrams: one JSON object per finished digit,
 * `{callid, source_tag, tags, type: "DTMF", timestamp, source_ip, event, duration (ms), volume}`
 * (measured on 10.5; NODE-FACTS.md). RTPengine reports a digit whichever party it is forwarded
 * to, so this covers bridged calls and in-band tones RTPengine detected. Listen once per daemon.
 */
export class DtmfLogListener {
  private readonly listeners = new Set<(e: LoggedDtmfEvent) => void>();
  /** Datagrams that were not a DTMF log object. */
  ignored = 0;

  private constructor(private readonly socket: dgram.Socket) {
    socket.on('message', (msg) => this.onMessage(msg));
    socket.on('error', () => undefined);
  }

  /** Bind `host:port` (port 0 picks one; see {@link port}). @throws Error (EADDRINUSE, ...) from bind */
  static async open(host: string, port = 0): Promise<DtmfLogListener> {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, host, () => {
        s.removeListener('error', reject);
        resolve();
      });
    });
    return new DtmfLogListener(s);
  }

  /** The bound port (for `--dtmf-log-dest=HOST:PORT`). */
  get port(): number {
    return this.socket.address().port;
  }

  /** Subscribe to every digit, or only those of `callId` (and `sourceTag`); returns the unsubscribe. */
  onDtmf(listener: (e: LoggedDtmfEvent) => void, filter: { callId?: string; sourceTag?: string } = {}): () => void {
    const l = (e: LoggedDtmfEvent) => {
      if ((filter.callId === undefined || e.callId === filter.callId) && (filter.sourceTag === undefined || e.sourceTag === filter.sourceTag)) listener(e);
    };
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  close(): Promise<void> {
    this.listeners.clear();
    return new Promise((r) => this.socket.close(() => r()));
  }

  private onMessage(msg: Buffer): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(msg.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null) {
      this.ignored++;
      return;
    }
    const v = parsed as Record<string, unknown>;
    const event = v.event;
    if (v.type !== 'DTMF' || typeof v.callid !== 'string' || typeof event !== 'number' || !(event >= 0 && event <= 15)) {
      this.ignored++;
      return;
    }
    const e: LoggedDtmfEvent = {
      digit: DIGITS[event] as DtmfDigit,
      durationMs: typeof v.duration === 'number' ? v.duration : 0,
      at: Date.now(),
      callId: v.callid,
      sourceTag: typeof v.source_tag === 'string' ? v.source_tag : '',
      tags: Array.isArray(v.tags) ? v.tags.filter((t): t is string => typeof t === 'string') : [],
      ...(typeof v.source_ip === 'string' ? { sourceIp: v.source_ip } : {}),
      ...(typeof v.volume === 'number' ? { volume: v.volume } : {}),
    };
    for (const l of this.listeners) l(e);
  }
}
