/**
 * The production CallChannel: one caller's INVITE (a UAS ServerCall from the SIP user agent) with
 * its RTPengine MediaSession. The daemon is a B2BUA: each leg it dials is its own UAC dialog
 * through Kamailio (RFC 3261 §13.2; every request goes to the outbound proxy), while media of a
 * bridged call flows caller <-> RTPengine <-> callee (media-session.ts has the NG sequences).
 *
 * A caller INVITE without SDP (delayed offer, RFC 3261 §13.2.1) is refused with 488: every phone
 * and carrier behind Kamailio sends an offer, and the media session starts from it.
 */
import type { MediaSession } from '../media/media-session.js';
import { recordAudio, type RecordOptions, type RecordResult } from '../media/rtp-recorder.js';
import type { ClientCall, ServerCall, Session, SipError, UserAgent } from '../sip/user-agent.js';
import { parseUri } from '../sip/uri.js';
import type { AnsweredLeg, BridgeEnd, CallChannel, DialOutcome, DialRequest, Party } from './channel.js';
import { CallAborted } from './tasks.js';
import { startKeepalive, type KeepaliveResult } from './keepalive.js';
import { systemClock, type Clock } from '../sip/timers.js';

/** `repeat-times` of a single music-on-hold file: with a 10 s file, over 2 hours before the next request. */
const MOH_REPEAT_TIMES = 1000;

/** An answered callee leg of this channel: its UAC session and the RTPengine leg tag. */
interface SipLeg extends AnsweredLeg {
  readonly session: Session;
  readonly media: { leg: string; answerSdp: string };
}

/** What the channel needs besides the call. */
export interface SipChannelOptions {
  ua: UserAgent;
  call: ServerCall;
  media: MediaSession;
  /** The SIP domain: request-URI and From/To host of legs dialled through Kamailio. */
  domain: string;
  /** Told how each task ended (metrics): `answer`, `play`, `dial`, `bridge`. */
  onTask?: (task: 'answer' | 'play' | 'dial' | 'bridge' | 'record', result: 'ok' | 'aborted' | 'error') => void;
  /**
   * In-dialog OPTIONS keepalive of every confirmed leg (keepalive.ts): a leg whose peer answers
   * 408/481 or not at all is ended, which ends the call. Omitted: no keepalive.
   */
  keepalive?: { intervalMs: number; clock?: Clock; onProbe?: (result: KeepaliveResult) => void };
}

/** `"Name" <sip:number@domain>` with the display name quoted per RFC 3261 §25.1. */
function nameAddr(p: Party, domain: string): string {
  const uri = `<sip:${p.number}@${domain}>`;
  return p.name === undefined || p.name === '' ? uri : `"${p.name.replace(/["\\]/g, (c) => `\\${c}`)}" ${uri}`;
}

/** The CallChannel of one inbound call. */
export class SipCallChannel implements CallChannel {
  readonly callId: string;
  readonly caller: Party;
  readonly dialed: string;
  private readonly hangupController = new AbortController();
  readonly hungUp = this.hangupController.signal;
  private session: Session | undefined;
  private ringing = false;
  private ended = false;
  private legCount = 0;
  /** The callee leg the caller is bridged with, while it is. */
  private bridged: SipLeg | undefined;
  private readonly ua: UserAgent;
  private readonly call: ServerCall;
  private readonly media: MediaSession;
  private readonly domain: string;
  private readonly onTask: SipChannelOptions['onTask'];
  private readonly keepalive: SipChannelOptions['keepalive'];

  constructor(o: SipChannelOptions) {
    this.onTask = o.onTask;
    this.keepalive = o.keepalive;
    this.ua = o.ua;
    this.call = o.call;
    this.media = o.media;
    this.domain = o.domain;
    this.callId = o.call.callId;
    const from = o.call.from;
    this.caller = { number: from.uri.user ?? 'anonymous', ...(from.displayName ? { name: from.displayName } : {}) };
    let dialed = '';
    try {
      dialed = parseUri(o.call.request.uri).user ?? '';
    } catch {
      // The user agent refuses unparseable request URIs (416) before a call exists.
    }
    this.dialed = decodeURIComponent(dialed);
    o.call.on('cancel', () => this.callerGone('caller cancelled'));
    o.call.on('end', (state) => {
      if (state !== 'confirmed' && state !== 'accepting') this.callerGone(`caller leg ${state}`);
    });
  }

  get answered(): boolean {
    return this.session !== undefined;
  }

  /** Runs a task and reports how it ended (aborted: the call's signal fired). */
  private async task<T>(name: 'answer' | 'play' | 'dial' | 'bridge' | 'record', fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn();
      this.onTask?.(name, 'ok');
      return r;
    } catch (e) {
      this.onTask?.(name, e instanceof CallAborted || this.hungUp.aborted ? 'aborted' : 'error');
      throw e;
    }
  }

  private callerGone(reason: string): void {
    if (!this.hangupController.signal.aborted) this.hangupController.abort(new CallAborted(reason));
  }

  /** Probes a confirmed leg with OPTIONS until it ends; a dead peer's leg is ended (BYE if still up). */
  private watch(session: Session): void {
    const k = this.keepalive;
    if (!k) return;
    startKeepalive(session, {
      intervalMs: k.intervalMs,
      clock: k.clock ?? systemClock,
      onProbe: (result) => k.onProbe?.(result),
      onDead: () => {
        if (session.state !== 'terminated') void session.bye().catch(() => undefined);
      },
    });
  }

  private adopt(session: Session): void {
    this.session = session;
    this.watch(session);
    session.on('terminated', (reason) => this.callerGone(`caller hung up (${String(reason)})`));
    // Hold, resume and media changes from the caller (RFC 3264 §8) go through RTPengine to its
    // current peer: the bridged callee is re-INVITEd with the new offer, or the endpoint answers.
    session.onOffer(async (offer) => {
      if (offer.sdp === undefined) return this.media.answer();
      return this.media.callerReoffer(offer.sdp, async (calleeOffer) => {
        const leg = this.bridged;
        if (!leg) throw new Error('callee re-offer without a bridged leg');
        const answer = await leg.session.reinvite(calleeOffer);
        if (answer === undefined) throw new Error(`callee ${leg.target.number} answered the re-INVITE without SDP`);
        return answer;
      });
    });
  }

  async ring(): Promise<void> {
    if (this.ringing || this.answered || this.ended) return;
    this.ringing = true;
    this.call.progress(180);
  }

  answer(): Promise<void> {
    return this.task('answer', () => this.doAnswer());
  }

  private async doAnswer(): Promise<void> {
    if (this.answered) return;
    const sdp = await this.media.answer({ signal: this.hungUp });
    this.adopt(await this.call.accept(sdp));
  }

  play(prompt: string, signal: AbortSignal): Promise<void> {
    return this.task('play', () => this.doPlay(prompt, signal));
  }

  private async doPlay(prompt: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason;
    const playback = await this.media.play({ file: prompt }, { signal });
    const onAbort = () => void this.media.stop().catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await playback.done;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (signal.aborted) throw signal.reason;
  }

  playMusicOnHold(files: readonly string[], signal: AbortSignal): Promise<never> {
    return this.task('play', () => this.doMusicOnHold(files, signal));
  }

  private async doMusicOnHold(files: readonly string[], signal: AbortSignal): Promise<never> {
    if (files.length === 0) throw new TypeError('music on hold needs at least one file');
    // One file: one `play media` whose repeat-times covers any realistic wait (RTPengine loops it
    // itself, NODE-FACTS.md); several: one pass each, in order, round and round.
    const repeatTimes = files.length === 1 ? MOH_REPEAT_TIMES : 1;
    for (let i = 0; ; i = (i + 1) % files.length) {
      if (signal.aborted) throw signal.reason;
      const playback = await this.media.play({ file: files[i]! }, { signal, repeatTimes });
      const end = await playback.done;
      if (signal.aborted) throw signal.reason;
      if (end !== 'finished') throw new CallAborted(`music on hold ${end}`);
    }
  }

  onDigit(listener: (digit: string) => void): () => void {
    return this.media.onDtmf((e) => listener(e.digit));
  }

  record(options: RecordOptions, signal: AbortSignal): Promise<RecordResult> {
    return this.task('record', async () => {
      if (!this.answered) throw new Error('record() before the caller was answered');
      return recordAudio({ onPacket: (l) => this.media.onPacket(l), onDigit: (l) => this.onDigit(l) }, options, signal);
    });
  }

  dial(request: DialRequest, signal: AbortSignal): Promise<DialOutcome> {
    return this.task('dial', () => this.doDial(request, signal));
  }

  private doDial(request: DialRequest, signal: AbortSignal): Promise<DialOutcome> {
    return new Promise((resolve, reject) => {
      const statuses: Record<string, number> = {};
      const pending = new Map<string, { client: ClientCall; leg: string }>();
      let settled = false;
      // Set at the first 2xx, before the async cleanup: a second member answering meanwhile loses.
      let won = false;
      let offering = request.targets.length;
      const legs: string[] = [];
      const cleanupLosers = async (winner?: string) => {
        for (const p of pending.values()) if (p.leg !== winner) p.client.cancel('another member answered');
        // A leg that did not win leaves RTPengine; the winner is connected by bridge().
        for (const leg of legs) if (leg !== winner) await this.media.releaseCallee(leg).catch(() => undefined);
      };
      const finish = (o: DialOutcome | Error) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (o instanceof Error) reject(o);
        else resolve(o);
      };
      const onAbort = () => {
        void cleanupLosers();
        finish(signal.reason instanceof Error ? signal.reason : new CallAborted());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const failed = (number: string, status: number) => {
        statuses[number] = status;
        pending.delete(number);
        if (pending.size > 0 || offering > 0 || settled || won) return;
        const all = Object.values(statuses);
        const result = all.length > 0 && all.every((s) => s === 486 || s === 600) ? 'busy' : all.some((s) => s === 408 || s === 487) ? 'no-answer' : 'failed';
        void cleanupLosers().then(() => finish({ result, statuses }));
      };
      for (const target of request.targets) {
        const leg = `leg-${++this.legCount}`;
        legs.push(leg);
        const ring = async () => {
          let sdp: string;
          try {
            sdp = await this.media.offerCallee(leg, { signal });
          } catch {
            offering--;
            return failed(target.number, 500);
          }
          offering--;
          if (settled || won) return void this.media.releaseCallee(leg).catch(() => undefined);
          const client = this.ua.invite({
            requestUri: `sip:${target.number}@${this.domain}`,
            from: nameAddr(request.callerId, this.domain),
            to: `<sip:${target.number}@${this.domain}>`,
            sdp,
            timeoutMs: Math.min(target.ringTimeoutMs, request.timeoutMs),
          });
          pending.set(target.number, { client, leg });
          client.on('answered', (session) => {
            if (settled || won) {
              void session.bye().catch(() => undefined);
              return;
            }
            won = true;
            pending.delete(target.number);
            this.watch(session);
            const answered: SipLeg = {
              target,
              callId: client.callId,
              session,
              media: { leg, answerSdp: session.remoteSdp ?? '' },
              hangup: async () => {
                await session.bye().catch(() => undefined);
              },
            };
            void cleanupLosers(leg).then(() => finish({ answered }));
          });
          client.on('failed', (e: SipError) => failed(target.number, e.code === 'TIMEOUT' ? 408 : (e.status ?? 500)));
        };
        // A bug or a closed user agent must fail this target, never escape as an unhandled rejection.
        ring().catch(() => {
          if (pending.has(target.number) || !(target.number in statuses)) failed(target.number, 500);
        });
      }
    });
  }

  bridge(leg: AnsweredLeg, signal: AbortSignal): Promise<BridgeEnd> {
    return this.task('bridge', () => this.doBridge(leg, signal));
  }

  private async doBridge(leg: AnsweredLeg, signal: AbortSignal): Promise<BridgeEnd> {
    const sipLeg = leg as SipLeg;
    const update = await this.media.connectCallee(sipLeg.media.leg, sipLeg.media.answerSdp, { signal });
    if (update.action === 'answer') this.adopt(await this.call.accept(update.sdp));
    else if (update.action === 'reinvite') await this.session?.reinvite(update.sdp);
    this.bridged = sipLeg;
    // Hold / resume from the member goes through RTPengine to the caller (a re-INVITE of its dialog).
    sipLeg.session.onOffer(async (offer) => {
      if (offer.sdp === undefined || !this.session) return sipLeg.session.localSdp;
      const caller = this.session;
      return this.media.calleeReoffer(sipLeg.media.leg, offer.sdp, async (callerOffer) => {
        const answer = await caller.reinvite(callerOffer);
        if (answer === undefined) throw new Error('the caller answered the re-INVITE without SDP');
        return answer;
      });
    });
    return new Promise((resolve, reject) => {
      const done = (o: BridgeEnd | Error) => {
        this.bridged = undefined;
        signal.removeEventListener('abort', onAbort);
        this.hungUp.removeEventListener('abort', onCallerGone);
        sipLeg.session.off('terminated', onCalleeGone);
        if (o instanceof Error) reject(o);
        else resolve(o);
      };
      const onCalleeGone = () => done({ endedBy: 'callee' });
      const onCallerGone = () => {
        void sipLeg.hangup();
        done({ endedBy: 'caller' });
      };
      const onAbort = () => {
        void sipLeg.hangup();
        done(signal.reason instanceof Error ? signal.reason : new CallAborted());
      };
      if (sipLeg.session.state === 'terminated') return done({ endedBy: 'callee' });
      sipLeg.session.on('terminated', onCalleeGone);
      this.hungUp.addEventListener('abort', onCallerGone, { once: true });
      if (signal !== this.hungUp) signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async hangup(status?: number, reason?: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      if (this.session) {
        if (this.session.state !== 'terminated') await this.session.bye().catch(() => undefined);
      } else if (!this.hungUp.aborted) {
        this.call.reject(status ?? 480, reason === undefined ? {} : { reason });
      }
    } finally {
      await this.media.destroy().catch(() => undefined);
    }
  }
}
