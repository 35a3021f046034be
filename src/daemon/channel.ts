/**
 * The boundary between call flows (IVR, ring groups, ...) and the SIP/media machinery: one inbound
 * call (the caller's leg, a UAS dialog behind Kamailio, RFC 3261 §13.3) as the tasks see it. The
 * production implementation is sip-channel.ts (SIP user agent + RTPengine MediaSession); unit tests
 * use a fake. Everything here is cancellable with an AbortSignal and rejects with an AbortError
 * (`signal.reason`) when aborted.
 */

/** Who is calling, as Kamailio handed the call over (From user and display name). */
export interface Party {
  /** Extension number or E.164 (`+15551234567`); may be `anonymous`. */
  number: string;
  name?: string;
}

/** What {@link CallChannel.record} records and how it ended (media/rtp-recorder.ts). */
export type { RecordOptions, RecordResult } from '../media/rtp-recorder.js';
import type { RecordOptions, RecordResult } from '../media/rtp-recorder.js';

/** One destination of a dial wave. */
export interface DialTarget {
  /** Extension number or E.164; the INVITE goes to Kamailio with this request URI user. */
  number: string;
  /** How long this target may ring, ms. */
  ringTimeoutMs: number;
  /** A label for events and CDRs, e.g. `ring-group:sales member 1002`. */
  label?: string;
}

/** A wave of simultaneous INVITEs (RFC 3261 §13.2.1 per target; the first 2xx wins, the rest are CANCELed). */
export interface DialRequest {
  targets: DialTarget[];
  /** Upper bound for the whole wave, ms (the shortest of this and each target's timeout applies). */
  timeoutMs: number;
  /** Caller ID presented to the callees (From user and display name). */
  callerId: Party;
}

/** A callee leg that answered (a confirmed UAC dialog), ready to be bridged or hung up. */
export interface AnsweredLeg {
  readonly target: DialTarget;
  /** The callee's Call-ID (the daemon is a B2BUA: each leg is its own dialog). */
  readonly callId: string;
  /** Hangs the callee up (BYE); idempotent. */
  hangup(): Promise<void>;
}

/** How a dial wave ended. */
export type DialOutcome =
  | { answered: AnsweredLeg }
  | {
      answered?: undefined;
      /** `busy`: every target answered 486/600; `no-answer`: timeouts; `failed`: errors/unavailable. */
      result: 'busy' | 'no-answer' | 'failed';
      /** Final status per target number (408 for a local timeout). */
      statuses: Record<string, number>;
    };

/** How a bridge ended. */
export interface BridgeEnd {
  endedBy: 'caller' | 'callee';
}

/**
 * One inbound call as the call flows drive it.
 *
 * Media rules (NODE-FACTS.md): prompts are played by RTPengine (`play media`) to the caller; the
 * daemon never sends its own RTP to the caller at the same time; a bridge makes media flow caller
 * <-> RTPengine <-> callee, never through Node.
 */
export interface CallChannel {
  /** The caller's SIP Call-ID (also the RTPengine call-id of the caller's session). */
  readonly callId: string;
  readonly caller: Party;
  /** The dialled number as Kamailio relayed it (request URI user; a DID in E.164). */
  readonly dialed: string;
  /** Whether the daemon has sent a 2xx to the caller. */
  readonly answered: boolean;
  /** Aborted when the caller hangs up (CANCEL before the answer, BYE after) or the call is torn down. */
  readonly hungUp: AbortSignal;

  /** Sends 180 Ringing (once; later calls are no-ops). */
  ring(): Promise<void>;
  /** Answers with the daemon's own media endpoint (2xx with RTPengine's SDP); idempotent. */
  answer(): Promise<void>;
  /**
   * Plays a prompt (a file name in the release's prompt directory) to the caller.
   * Resolves when it has played to the end; rejects with the abort reason when `signal` aborts
   * (the playback is stopped first).
   */
  play(prompt: string, signal: AbortSignal): Promise<void>;
  /**
   * Music on hold for the caller (queues): plays `files` (prompt file paths, in the given order)
   * again and again through RTPengine `play media` (a single file loops with `repeat-times` in one
   * request) until `signal` aborts; then the playback is stopped and the promise rejects with the
   * abort reason. Rejects early when the playback ends otherwise (replaced by another play, media
   * torn down). The caller must be answered.
   */
  playMusicOnHold(files: readonly string[], signal: AbortSignal): Promise<never>;
  /**
   * Records the caller (answered, not bridged: the audio reaching the daemon's endpoint) until
   * hang-up, a stop digit, `maxSilenceMs` of quiet or `maxDurationMs`; 8 kHz 16-bit samples in
   * memory, ordered by RTP sequence with gaps filled with silence. Resolves (never rejects) when
   * `signal` aborts, with what was recorded (`endedBy: 'hangup'`).
   */
  record(options: RecordOptions, signal: AbortSignal): Promise<RecordResult>;
  /** Subscribes to RFC 4733 digits from the caller ('0'-'9', '*', '#', 'A'-'D'); returns the unsubscribe. */
  onDigit(listener: (digit: string) => void): () => void;
  /** Rings one wave of targets through Kamailio; resolves with the first answer or how it failed. */
  dial(request: DialRequest, signal: AbortSignal): Promise<DialOutcome>;
  /**
   * Connects the caller to an answered leg (answering the caller first if needed) and resolves
   * when either side hangs up; the other side is hung up then.
   */
  bridge(leg: AnsweredLeg, signal: AbortSignal): Promise<BridgeEnd>;
  /**
   * Ends the call: BYE when answered, otherwise a final response (`status`, default 480
   * Temporarily Unavailable; 486 for busy, 404 for nowhere to go). Idempotent.
   */
  hangup(status?: number, reason?: string): Promise<void>;
}
