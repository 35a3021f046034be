/**
 * One RTPengine call owned by the feature daemon: the caller's media, the daemon's own
 * {@link RtpEndpoint} (for DTMF), prompts (`play media`), and bridges to callees. The RTPengine
 * call-id is the caller's Call-ID; every other tag in it is the daemon's to choose, since the
 * daemon is a B2BUA and the only one signalling this call to RTPengine (NODE-FACTS.md: Kamailio
 * must not `rtpengine_manage` it).
 *
 * NG sequences, found by experiment against rtpengine 10.5.3 (userspace, loopback; what media
 * arrived where was checked with UDP sockets, and `query` showed `subscriptions`/`subscribers`):
 *
 * - **Answer**: `offer` (from-tag = caller, to-tag = daemon tag, the caller's SDP,
 *   `codec: {mask: [all], transcode: [PCMU, PCMA, telephone-event]}`, `transport-protocol:
 *   RTP/AVP`) gives the daemon an SDP with only G.711 + telephone-event whatever the caller
 *   offered (a G.722-only caller is transcoded); the daemon answers it from its endpoint
 *   (`answer`, to-tag = daemon tag) and gets the SDP for the caller's 200 OK. RFC 4733 events of
 *   the caller arrive at the endpoint; for a caller without telephone-event, rtpengine detects
 *   in-band tones and sends events to the endpoint. The endpoint never sends, and needs not:
 *   rtpengine forwards to the SDP address at once and plays media to the caller regardless.
 * - **Play**: `play media` with from-tag = caller; `duration` is one pass in ms and no event marks
 *   the end, so {@link MediaSession.play} runs its own timer (duration × repeat-times).
 * - **Bridge / fork**: for each callee, an in-dialogue `offer` from the caller with a new to-tag
 *   (one per callee leg: `leg`), the caller's original SDP, `codec: {accept: [caller's current
 *   codec, telephone-event], transcode: [PCMU, PCMA, telephone-event]}`. Each leg gets its own
 *   ports. The winner's SDP goes in an `answer` with its to-tag; then the losers and the
 *   daemon's tag are `delete`d one by one (from-tag = that tag, delete-delay 0): the caller and
 *   the winner stay, media flows caller <-> rtpengine <-> callee, nothing reaches the endpoint.
 *   `port latching` (every offer/answer) keeps the caller's rtpengine port when its peer changes
 *   (without it the port changed on every bridge), and `accept` keeps the caller's codec (a
 *   callee choosing PCMA for a PCMU caller is transcoded instead of changing the caller's SDP):
 *   so the caller normally needs no re-INVITE. Whether it does is decided by comparing the SDP.
 * - **Back to the daemon** (callee hung up, nobody answered): a new daemon tag is offered and
 *   answered *before* the last callee leg is deleted. Deleting the caller's last peer first made
 *   rtpengine drop the caller's ports (a re-offer then allocated new ones: re-INVITE needed).
 *   A deleted tag is never reused: re-creating one made `query` replies carry the same dictionary
 *   key twice (rejected by the bencode decoder).
 *
 * What did not fit: `via-branch` forks (one offer per branch, no to-tag): the first branch
 * took over the daemon's own monologue (its ports were offered to callee 1 and it was renamed to
 * the callee's tag on answer), later branches made untagged monologues; media flowed, but the
 * daemon's leg was no longer its own. An offer without to-tag or via-branch likewise re-used the
 * daemon's monologue and answered into a new one, leaving the callee talking to the daemon's
 * old port. `subscribe request` (10.5 has it, `connect` it has not) yields a `sendonly` offer:
 * one-way, for monitoring, not a bridge. `block media` while connecting was not needed.
 * During ringing the caller's stream goes to the latest leg, not the endpoint (no DTMF then);
 * `play media` to the caller and early media from every leg still reach the caller.
 */
import type { NgClient, NgRequestOptions } from '../rtpengine/ng-client.js';
import type { QueryResult, SsrcQuality } from '../rtpengine/ng-types.js';
import { PbxError } from '../lib/errors.js';
import type { DtmfEvent, RtpEndpoint, RtpPacket } from './rtp-endpoint.js';
import {
  audioMedia,
  buildAudioAnswer,
  codecsOf,
  formatSdp,
  newOrigin,
  nextVersion,
  parseSdp,
  sameAudio,
  telephoneEventOf,
  type SdpOrigin,
  type SessionDescription,
} from './sdp.js';

/** The NG commands a session uses (an {@link NgClient}, or a fake in tests). */
export type MediaNg = Pick<NgClient, 'offer' | 'answer' | 'delete' | 'query' | 'playMedia' | 'stopMedia'>;

/** A session operation that cannot be done: `MEDIA_CLOSED` (after destroy), `MEDIA_NO_DURATION`. */
export class MediaError extends PbxError {
  constructor(code: 'MEDIA_CLOSED' | 'MEDIA_NO_DURATION', message: string) {
    super(code, message);
    this.name = 'MediaError';
  }
}

/** Options of {@link MediaSession}. */
export interface MediaSessionOptions {
  ng: MediaNg;
  /** The caller's SIP Call-ID; also the RTPengine call-id. */
  callId: string;
  /** The caller's From tag. */
  callerTag: string;
  /** The SDP offer of the caller's INVITE. @throws SdpError from the constructor if malformed */
  callerOffer: string;
  /** The daemon's endpoint; the session owns it from now on and closes it in destroy(). */
  endpoint: RtpEndpoint;
  /** NG tag of the daemon's leg (e.g. the To tag of its 200 OK); default random. Later ones get `-2`, `-3`, ... */
  daemonTag?: string;
  /** Codecs on the daemon's side, in preference order; default `['PCMU', 'PCMA']`. */
  codecs?: string[];
  /** Per NG request timeout/retries (the NgClient's defaults otherwise). */
  ngOptions?: NgRequestOptions;
}

/** Options accepted by every operation: aborting rejects the returned promise with `signal.reason`. */
export interface OpOptions {
  signal?: AbortSignal;
}

/** What the caller's side needs after a bridge change. `sdp` carries the daemon's origin (RFC 3264 §8). */
export type CallerUpdate =
  /** Nothing: the caller's stream is unchanged. */
  | { action: 'none' }
  /** The caller was not answered yet: send a 200 OK with this SDP. */
  | { action: 'answer'; sdp: string }
  /**
   * The caller's port or codecs changed: re-INVITE the caller with this SDP (version incremented).
   * RTPengine already sends what it says; the caller's answer needs no NG step if it keeps its own
   * address and accepts the codec.
   */
  | { action: 'reinvite'; sdp: string };

/** What to play: a file path on the RTPengine host, a small in-message blob, or a database id. */
export type PlaySource = { file: string } | { blob: Uint8Array } | { dbId: number };

/** How a playback ended. */
export type PlayEnd = 'finished' | 'stopped' | 'replaced' | 'destroyed';

/** A running playback: `durationMs` of all repeats; `done` resolves when it ends (never rejects). */
export interface Playback {
  durationMs: number;
  done: Promise<PlayEnd>;
}

/** One party of the call in {@link MediaStats}. Counters are what RTPengine received from the party. */
export interface PartyStats {
  tag: string;
  role: 'caller' | 'daemon' | 'callee';
  /** RTPengine's port this party sends to. */
  localPort?: number;
  packets: number;
  bytes: number;
  errors: number;
  /** UNIX seconds. */
  lastPacket?: number;
  codec?: string;
  /** From RTCP, when the party sends it: MOS ×10, jitter, loss (RTPengine's `SSRC` statistics). */
  quality?: SsrcQuality;
}

/** Result of {@link MediaSession.stats}. */
export interface MediaStats {
  parties: PartyStats[];
  totals: QueryResult['totals'];
}

const COMMON = { replace: ['origin', 'session-connection'], ice: 'remove' as const, flags: ['port-latching'] };

/**
 * The daemon's handle on one call's media. Operations are serialized (one NG exchange at a time),
 * cancellable through `signal` (the NG exchange still completes, keeping the state right; only
 * the caller of the aborted operation stops waiting), and fail with MediaError `MEDIA_CLOSED`
 * once {@link destroy} started. NG failures are the NgClient's typed errors (NgTimeoutError after
 * its retries, NgProtocolError); SDP problems are SdpError (the constructor throws it for a
 * malformed caller offer). Misuse (an unknown leg, play before answer) is a TypeError or Error.
 */
export class MediaSession {
  readonly callId: string;
  readonly callerTag: string;
  private readonly ng: MediaNg;
  private readonly endpoint: RtpEndpoint;
  private readonly codecs: string[];
  private readonly ngOptions?: NgRequestOptions;
  /** The caller's latest offer (its INVITE, then any re-offer: hold, resume, codec change). */
  private callerOffer: SessionDescription;
  /** The o= line each callee leg got from us, so a re-offer keeps its session id (RFC 3264 §8). */
  private readonly legOrigins = new Map<string, SdpOrigin>();
  private readonly baseTag: string;
  private readonly usedTags = new Set<string>();
  private daemonGen = 1;
  /** The daemon's live NG tag, when its leg is the caller's peer (or next to pending legs). */
  private daemonLeg?: string;
  /** The o= line the caller sees from us; created with the first SDP, its version bumped per change. */
  private callerOrigin?: SdpOrigin;
  private callerSdp?: SessionDescription;
  private readonly legs = new Map<string, 'offered' | 'connected'>();
  private playing?: { timer: NodeJS.Timeout; end: (e: PlayEnd) => void };
  private chain: Promise<unknown> = Promise.resolve();
  private destroying?: Promise<void>;

  constructor(o: MediaSessionOptions) {
    this.ng = o.ng;
    this.callId = o.callId;
    this.callerTag = o.callerTag;
    this.endpoint = o.endpoint;
    this.codecs = o.codecs ?? ['PCMU', 'PCMA'];
    this.ngOptions = o.ngOptions;
    this.callerOffer = parseSdp(o.callerOffer);
    this.baseTag = o.daemonTag ?? `pbx-${Math.random().toString(36).slice(2, 12)}`;
    this.usedTags.add(this.callerTag);
  }

  /** Whether the caller has an SDP answer from this session (answer() or a bridge's `answer`). */
  get answered(): boolean {
    return this.callerSdp !== undefined;
  }

  /** The leg connected to the caller, if any. */
  get connectedLeg(): string | undefined {
    return [...this.legs].find(([, s]) => s === 'connected')?.[0];
  }

  /** Legs offered and not yet connected or released. */
  get pendingLegs(): string[] {
    return [...this.legs].filter(([, s]) => s === 'offered').map(([l]) => l);
  }

  /** The NG tag of the daemon's leg while it is part of the call. */
  get daemonTag(): string | undefined {
    return this.daemonLeg;
  }

  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  /** Subscribe to the caller's digits arriving at the daemon's endpoint; returns the unsubscribe. */
  onDtmf(listener: (e: DtmfEvent) => void): () => void {
    return this.endpoint.onDtmf(listener);
  }

  /**
   * Subscribe to the caller's media packets arriving at the daemon's endpoint (G.711 towards the
   * endpoint, see {@link answer}); returns the unsubscribe. Nothing arrives while a callee is bridged.
   */
  onPacket(listener: (p: RtpPacket) => void): () => void {
    return this.endpoint.onPacket(listener);
  }

  /**
   * Answer the caller with the daemon's endpoint as its peer: returns the SDP for the 200 OK
   * (G.711 or the caller's codec towards the caller, G.711 + telephone-event towards the endpoint).
   * Idempotent: once answered it returns the caller's current SDP.
   */
  answer(o: OpOptions = {}): Promise<string> {
    return this.run(o, async () => {
      if (this.callerSdp) return formatSdp(this.callerSdp);
      const update = await this.attachDaemon();
      return update.action === 'none' ? formatSdp(this.callerSdp!) : update.sdp;
    });
  }

  /**
   * Play to the caller (`play media` with from-tag = caller); resolves when RTPengine started it.
   * A new play replaces a running one (`done` → `replaced`); aborting `signal` stops it (`stopped`).
   * @throws Error if the caller has no SDP from this session yet; MediaError `MEDIA_NO_DURATION`
   *   if RTPengine reports no duration (the playback is stopped again)
   */
  play(source: PlaySource, o: OpOptions & { repeatTimes?: number } = {}): Promise<Playback> {
    return this.run({ signal: o.signal }, async () => {
      if (!this.callerSdp) throw new Error('play() before the caller was answered');
      const r = await this.ng.playMedia({ callId: this.callId, fromTag: this.callerTag, ...source, repeatTimes: o.repeatTimes }, this.ngOptions);
      this.endPlayback('replaced');
      if (r.durationMs === undefined) {
        await this.ng.stopMedia({ callId: this.callId, fromTag: this.callerTag }, this.ngOptions);
        throw new MediaError('MEDIA_NO_DURATION', `rtpengine could not tell the duration of ${JSON.stringify(source)}`);
      }
      const durationMs = r.durationMs * (o.repeatTimes ?? 1);
      let end!: (e: PlayEnd) => void;
      const done = new Promise<PlayEnd>((resolve) => (end = resolve));
      const timer = setTimeout(() => this.endPlayback('finished'), durationMs);
      this.playing = { timer, end };
      const onAbort = () => void this.stop().catch(() => undefined);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      void done.then(() => o.signal?.removeEventListener('abort', onAbort));
      if (o.signal?.aborted) onAbort();
      return { durationMs, done };
    });
  }

  /** Stop the running playback early (`stop media`); no-op when nothing plays. */
  stop(o: OpOptions = {}): Promise<void> {
    return this.run(o, async () => {
      if (!this.playing) return;
      this.endPlayback('stopped');
      await this.ng.stopMedia({ callId: this.callId, fromTag: this.callerTag }, this.ngOptions);
    });
  }

  /**
   * Offer the caller's media to one callee: returns the SDP offer for that callee's INVITE.
   * Several legs may be offered at once (a simultaneous ring group). `leg` is a tag of the
   * daemon's choosing, unique within the call and never reused (e.g. the callee dialog's local tag).
   * @throws TypeError if `leg` was used before in this call
   */
  offerCallee(leg: string, o: OpOptions = {}): Promise<string> {
    return this.run(o, async () => {
      if (!leg || this.usedTags.has(leg) || leg.startsWith(this.baseTag)) throw new TypeError(`leg tag ${JSON.stringify(leg)} is empty or already used`);
      this.usedTags.add(leg);
      const sd = await this.offerLeg(leg);
      this.legs.set(leg, 'offered');
      // The daemon is the UAC of this leg: a session id of its own, not the caller's (RFC 3264 §5).
      return formatSdp({ ...sd, origin: this.nextLegOrigin(leg, sd.origin.address) });
    });
  }

  /**
   * Connect the caller to the leg that answered (its SDP answer): media then flows caller <->
   * RTPengine <-> callee. The other offered legs and the daemon's own leg are deleted from the call.
   * @throws TypeError if `leg` is not an offered leg
   */
  connectCallee(leg: string, answerSdp: string, o: OpOptions = {}): Promise<CallerUpdate> {
    return this.run(o, async () => {
      if (this.legs.get(leg) !== 'offered') throw new TypeError(`leg ${JSON.stringify(leg)} is not an offered leg`);
      parseSdp(answerSdp); // reject a malformed answer before touching RTPengine
      const r = await this.ng.answer({ ...COMMON, callId: this.callId, fromTag: this.callerTag, toTag: leg, sdp: answerSdp }, this.ngOptions);
      this.legs.set(leg, 'connected');
      for (const other of [...this.legs.keys()]) if (other !== leg) await this.dropTag(other);
      if (this.daemonLeg) {
        await this.deleteTag(this.daemonLeg);
        this.daemonLeg = undefined;
      }
      return this.updateCaller(parseSdp(r.sdp));
    });
  }

  /**
   * Drop a leg (rejected, cancelled, or hung up). When it was the caller's peer (connected, or the
   * last one pending) and the caller is answered, the daemon's endpoint becomes the peer again
   * first (DTMF and prompts work as before). Unknown or released legs are a no-op.
   */
  releaseCallee(leg: string, o: OpOptions = {}): Promise<CallerUpdate> {
    return this.run(o, async () => {
      const state = this.legs.get(leg);
      if (!state) return { action: 'none' } as const;
      const lastPeer = state === 'connected' || (!this.connectedLeg && this.pendingLegs.length === 1);
      const update = lastPeer && this.callerSdp ? await this.attachDaemon() : ({ action: 'none' } as const);
      await this.dropTag(leg);
      return update;
    });
  }

  /**
   * The caller sent a new offer in its dialog (re-INVITE or UPDATE: hold with `sendonly`, resume,
   * a codec or address change; RFC 3264 §8, RFC 6337 §5.3): it goes through RTPengine to the
   * caller's current peer, and the SDP answer for the caller comes back. With a connected callee,
   * `relayToCallee` gets RTPengine's offer for the callee (its session id kept, version bumped) and
   * must return the callee's answer (the daemon re-INVITEs that leg); with the daemon's endpoint as
   * the peer, the endpoint answers itself.
   * @throws Error before the caller was answered; SdpError for a malformed offer; what `relayToCallee` throws
   */
  callerReoffer(sdp: string, relayToCallee: (offer: string) => Promise<string>, o: OpOptions = {}): Promise<string> {
    return this.run(o, async () => {
      if (!this.callerSdp) throw new Error('callerReoffer() before the caller was answered');
      const offer = parseSdp(sdp);
      const leg = this.connectedLeg;
      if (!leg && !this.daemonLeg) throw new Error('callerReoffer() with neither a connected callee nor the daemon as the caller\'s peer');
      this.callerOffer = offer;
      if (!leg) {
        // The daemon's endpoint answers the new offer itself, exactly as at the first answer.
        await this.attachDaemon();
        return formatSdp(this.callerSdp);
      }
      const toCallee = await this.offerLeg(leg);
      const calleeAnswer = await relayToCallee(formatSdp({ ...toCallee, origin: this.nextLegOrigin(leg, toCallee.origin.address) }));
      const a = await this.ng.answer({ ...COMMON, callId: this.callId, fromTag: this.callerTag, toTag: leg, sdp: calleeAnswer }, this.ngOptions);
      this.updateCaller(parseSdp(a.sdp));
      return formatSdp(this.callerSdp);
    });
  }

  /**
   * The connected callee sent a new offer (hold, resume, media change): it goes through RTPengine
   * to the caller. `relayToCaller` gets RTPengine's offer for the caller (our session id, version
   * bumped) and must return the caller's answer (the daemon re-INVITEs the caller); the SDP answer
   * for the callee comes back.
   * @throws Error when `leg` is not the connected leg; SdpError for a malformed offer; what `relayToCaller` throws
   */
  calleeReoffer(leg: string, sdp: string, relayToCaller: (offer: string) => Promise<string>, o: OpOptions = {}): Promise<string> {
    return this.run(o, async () => {
      if (this.connectedLeg !== leg || !this.callerSdp || !this.callerOrigin) throw new Error(`calleeReoffer() from ${leg}, which is not the connected leg`);
      parseSdp(sdp);
      const r = await this.ng.offer({ ...COMMON, callId: this.callId, fromTag: leg, toTag: this.callerTag, sdp, codec: { transcode: [...this.codecs, 'telephone-event'] } }, this.ngOptions);
      this.callerOrigin = nextVersion(this.callerOrigin);
      this.callerSdp = { ...parseSdp(r.sdp), origin: this.callerOrigin };
      const callerAnswer = await relayToCaller(formatSdp(this.callerSdp));
      const a = await this.ng.answer({ ...COMMON, callId: this.callId, fromTag: leg, toTag: this.callerTag, sdp: callerAnswer }, this.ngOptions);
      const fresh = parseSdp(a.sdp);
      return formatSdp({ ...fresh, origin: this.nextLegOrigin(leg, fresh.origin.address) });
    });
  }

  /** Per-party counters and quality from RTPengine's `query` (live parties only). */
  stats(o: OpOptions = {}): Promise<MediaStats> {
    return this.run(o, async () => {
      const q = await this.ng.query({ callId: this.callId }, this.ngOptions);
      const role = (tag: string): PartyStats['role'] | undefined =>
        tag === this.callerTag ? 'caller' : tag === this.daemonLeg ? 'daemon' : this.legs.has(tag) ? 'callee' : undefined;
      const parties = q.tags.flatMap((t) => {
        const r = role(t.tag);
        const media = t.medias[0];
        const rtp = media?.streams.find((s) => s.flags.includes('RTP')) ?? media?.streams[0];
        if (!r || !rtp) return [];
        const quality = rtp.ssrc === undefined ? undefined : q.ssrc[String(rtp.ssrc)];
        return [{ tag: t.tag, role: r, localPort: rtp.localPort, ...rtp.stats, lastPacket: rtp.lastPacket, codec: media?.codec, ...(quality && Object.keys(quality).length ? { quality } : {}) }];
      });
      return { parties, totals: q.totals };
    });
  }

  /**
   * Delete the whole call from RTPengine (delete-delay 0, so `list` no longer shows it), end a
   * running playback (`destroyed`) and close the endpoint. Waits for an NG exchange in flight so
   * it cannot re-create the call afterwards. Idempotent; the endpoint is closed even if RTPengine
   * fails, and then the NG error is thrown (the call times out in RTPengine by itself).
   */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      this.endPlayback('destroyed');
      await this.chain.catch(() => undefined);
      this.endPlayback('destroyed'); // a play that was in flight
      try {
        await this.ng.delete({ callId: this.callId, deleteDelaySec: 0 }, this.ngOptions);
      } finally {
        this.legs.clear();
        this.daemonLeg = undefined;
        await this.endpoint.close();
      }
    })();
    return this.destroying;
  }

  /** Make the daemon's endpoint the caller's peer: offer + answer with a live or fresh daemon tag. */
  private async attachDaemon(): Promise<CallerUpdate> {
    const tag = this.daemonLeg ?? this.freshDaemonTag();
    const offer = await this.ng.offer(
      { ...COMMON, callId: this.callId, fromTag: this.callerTag, toTag: tag, sdp: formatSdp(this.callerOffer), transportProtocol: 'RTP/AVP', codec: { mask: ['all'], transcode: [...this.codecs, 'telephone-event'] } },
      this.ngOptions,
    );
    this.daemonLeg = tag;
    const toDaemon = parseSdp(offer.sdp);
    const mine = buildAudioAnswer(toDaemon, { origin: newOrigin(this.endpoint.address), address: this.endpoint.address, port: this.endpoint.port, accept: this.codecs, single: true });
    const answer = await this.ng.answer({ ...COMMON, callId: this.callId, fromTag: this.callerTag, toTag: tag, sdp: formatSdp(mine) }, this.ngOptions);
    const te = telephoneEventOf(audioMedia(mine)!);
    this.endpoint.setTelephoneEvent(te?.pt, { clockRate: te?.clockRate });
    return this.updateCaller(parseSdp(answer.sdp));
  }

  private freshDaemonTag(): string {
    let tag = this.baseTag;
    while (this.usedTags.has(tag)) tag = `${this.baseTag}-${++this.daemonGen}`;
    this.usedTags.add(tag);
    return tag;
  }

  /** Compare RTPengine's new SDP for the caller with what the caller has, and say what to send. */
  private updateCaller(fresh: SessionDescription): CallerUpdate {
    if (!this.callerSdp || !this.callerOrigin) {
      // RTPengine's address (`replace: origin`), the daemon's session id and version.
      this.callerOrigin = newOrigin(fresh.origin.address);
      this.callerSdp = { ...fresh, origin: this.callerOrigin };
      return { action: 'answer', sdp: formatSdp(this.callerSdp) };
    }
    if (sameAudio(this.callerSdp, fresh)) return { action: 'none' };
    this.callerOrigin = nextVersion(this.callerOrigin);
    this.callerSdp = { ...fresh, origin: this.callerOrigin };
    return { action: 'reinvite', sdp: formatSdp(this.callerSdp) };
  }

  /**
   * Offers the caller's current offer to a callee leg (`offer`, to-tag = leg) and returns RTPengine's
   * SDP for the callee. `codec.accept` keeps the codec the caller uses now whatever the callee picks
   * (RTPengine transcodes), so the caller normally needs no re-INVITE.
   */
  private async offerLeg(leg: string): Promise<SessionDescription> {
    const current = this.callerSdp ? audioMedia(this.callerSdp) : undefined;
    const inUse = current ? codecsOf(current)[0]?.name : undefined;
    const r = await this.ng.offer(
      { ...COMMON, callId: this.callId, fromTag: this.callerTag, toTag: leg, sdp: formatSdp(this.callerOffer), codec: { ...(inUse ? { accept: [inUse, 'telephone-event'] } : {}), transcode: [...this.codecs, 'telephone-event'] } },
      this.ngOptions,
    );
    return parseSdp(r.sdp);
  }

  /** The o= line for the next SDP to a callee leg: its session id kept, version bumped (RFC 3264 §8). */
  private nextLegOrigin(leg: string, address: string): SdpOrigin {
    const previous = this.legOrigins.get(leg);
    const origin = previous ? nextVersion(previous) : newOrigin(address);
    this.legOrigins.set(leg, origin);
    return origin;
  }

  private async dropTag(leg: string): Promise<void> {
    this.legs.delete(leg);
    this.legOrigins.delete(leg);
    await this.deleteTag(leg);
  }

  private async deleteTag(tag: string): Promise<void> {
    await this.ng.delete({ callId: this.callId, fromTag: tag, deleteDelaySec: 0 }, this.ngOptions);
  }

  private endPlayback(reason: PlayEnd): void {
    const p = this.playing;
    if (!p) return;
    this.playing = undefined;
    clearTimeout(p.timer);
    p.end(reason);
  }

  /** Serialize `fn` after earlier operations; reject early (fn keeps running) when `signal` aborts. */
  private run<T>(o: OpOptions, fn: () => Promise<T>): Promise<T> {
    if (this.destroying) return Promise.reject(new MediaError('MEDIA_CLOSED', `media session of call ${this.callId} is destroyed`));
    if (o.signal?.aborted) return Promise.reject(o.signal.reason);
    const result = this.chain.then(() => {
      if (this.destroying) throw new MediaError('MEDIA_CLOSED', `media session of call ${this.callId} is destroyed`);
      return fn();
    });
    this.chain = result.catch(() => undefined);
    const signal = o.signal;
    if (!signal) return result;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      result.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }
}
