/**
 * The daemon's event stream: what operators (`pbxctl calls tail`), webhooks and CDRs hear about.
 * Every event carries a monotonically increasing `seq` so a client that reconnects resumes with
 * `Last-Event-ID` (the HTML server-sent events convention) from a bounded in-memory backlog.
 * Times are ms since the epoch.
 */
import type { CallState } from './call-state.js';
import type { Party } from './channel.js';
import type { Cdr } from './cdr/cdr-types.js';

/** A call entered the daemon (INVITE from Kamailio). */
export interface CallStartedEvent {
  type: 'call.started';
  callId: string;
  caller: Party;
  /** Dialled number / DID (E.164). */
  dialed: string;
  /** Kamailio's X-PBX-Dest, e.g. `ivr:main`. */
  destination: string;
  trunk?: string;
  /** Feature config version the call runs on until it ends. */
  configVersion: string;
}

/** A call's state changed (call-state.ts). */
export interface CallStateEvent {
  type: 'call.state';
  callId: string;
  state: CallState;
  from: CallState;
  reason?: string;
}

/** A step of the call flow: `ivr` (menu entered), `ivr.digits`, `dial` (targets rung), `bridged`, `hangup`... */
export interface CallStepEvent {
  type: 'call.step';
  callId: string;
  step: string;
  detail: Record<string, string | number | boolean>;
}

/** The call ended; duration from the INVITE, billable from the answer (ms). */
export interface CallEndedEvent {
  type: 'call.ended';
  callId: string;
  state: CallState;
  durationMs: number;
  billableMs: number;
  reason?: string;
}

/**
 * Media health of an answered call from RTPengine `query` (media-monitor.ts), published every few
 * seconds per call and only while an operator follows the event stream. Loss in percent, jitter in
 * ms, MOS 1.0-5.0: from RTCP, absent until the endpoints sent reports.
 */
export interface CallMediaEvent {
  type: 'call.media';
  callId: string;
  /** RTP packets RTPengine received from every party so far. */
  packets: number;
  codec?: string;
  lossPct?: number;
  jitterMs?: number;
  mos?: number;
}

/** A new feature configuration is live (new calls use it; calls in progress keep theirs). */
export interface ConfigLoadedEvent {
  type: 'config.loaded';
  version: string;
  release?: string;
}

/**
 * What Kamailio reports about one dialog it tracks (evapi, docs/cdr.md "Kamailio events"). Numbers
 * are SIP URI users as Kamailio saw them: extensions, or E.164 for trunks.
 */
export interface DialogEventFields {
  callId: string;
  /** `internal`, `inbound` (from a trunk), `outbound` (to a trunk), `daemon` (a leg the feature daemon dialled). */
  direction: 'internal' | 'inbound' | 'outbound' | 'daemon';
  /** Caller (From user) and display name. */
  from: string;
  fromName?: string;
  /** The number as dialled (E.164 after the trunk's normalisation for inbound calls). */
  dialed: string;
  /** Where Kamailio sent it: the extension, or the outbound number before per-trunk formatting. */
  target: string;
  /** The DID (E.164) of an inbound call. */
  did?: string;
  /** Trunk id: the one the call came in on, or the one last tried outbound. */
  trunk?: string;
  /** The feature daemon destination (X-PBX-Dest, e.g. `ivr:main`) when Kamailio handed the call to the daemon. */
  feature?: string;
  /** When Kamailio relayed the first INVITE, ms since the epoch. */
  startedAt: number;
  /** When the dialog was confirmed (2xx), ms since the epoch; on every event after the answer. */
  answeredAt?: number;
  /** When Kamailio emitted this event, ms since the epoch. */
  occurredAt: number;
}

/** Kamailio relayed the first INVITE of a dialog (before any answer). */
export interface DialogStartedEvent extends DialogEventFields {
  type: 'dialog.started';
}

/** The dialog was confirmed (2xx to the INVITE). */
export interface DialogAnsweredEvent extends DialogEventFields {
  type: 'dialog.answered';
}

/**
 * The dialog is over: after a BYE or the dialog timeout (`status` 200), or it failed before the
 * answer (`status` the final SIP reply code, 487 when the caller cancelled).
 */
export interface DialogEndedEvent extends DialogEventFields {
  type: 'dialog.ended';
  status: number;
  reason: 'bye' | 'timeout' | 'failed' | 'canceled';
}

/**
 * A phone's registration changed (REGISTER saved by Kamailio, or a contact expired). `expires` is
 * in seconds (0 when unregistered or expired); `contact` the Contact URI (`*` for "all").
 */
export interface RegistrationChangedEvent {
  type: 'registration.changed';
  /** The extension (address-of-record user). */
  aor: string;
  contact: string;
  expires: number;
  userAgent?: string;
  /** Source `IP:PORT` the REGISTER came from (NAT), when known. */
  received?: string;
  change: 'registered' | 'refreshed' | 'unregistered' | 'expired';
}

/** A CDR was stored (durably: after the SQLite commit). See src/daemon/cdr/cdr-types.ts `Cdr`. */
export interface CdrWrittenEvent {
  type: 'cdr.written';
  cdr: Cdr;
}

/**
 * A voicemail message was recorded: its WAV file is fsynced and its row committed
 * (daemon/voicemail/store.ts), so it survives a crash from here on.
 */
export interface VoicemailNewEvent {
  type: 'voicemail.new';
  /** The box (extension number). */
  mailbox: string;
  messageId: string;
  caller: Party;
  /** Length of the recording, seconds (one decimal). */
  durationS: number;
  /** When it was received, ms since the epoch. */
  receivedAt: number;
  /** Absolute path of the WAV file (8 kHz mono 16-bit PCM) on the daemon's host. */
  file: string;
}

/** A box's message counts changed (deposit, listened, saved, deleted, retention); `oldCount` includes saved messages. */
export interface VoicemailChangedEvent {
  type: 'voicemail.changed';
  mailbox: string;
  newCount: number;
  oldCount: number;
}

/** A caller entered a queue (answered, now waiting); `position` is 1-based in that queue. */
export interface QueueJoinedEvent {
  type: 'queue.joined';
  queue: string;
  callId: string;
  position: number;
  caller: Party;
}

/** A waiting caller hung up before an agent answered; `position` when they left, `waitMs` since joining. */
export interface QueueAbandonedEvent {
  type: 'queue.abandoned';
  queue: string;
  callId: string;
  waitMs: number;
  position: number;
}

/** An agent (extension) answered a queue caller, who waited `waitMs`. */
export interface QueueAnsweredEvent {
  type: 'queue.answered';
  queue: string;
  callId: string;
  agent: string;
  waitMs: number;
}

/**
 * A caller left a queue for its overflow destination: `max-wait`, `max-callers` (refused at the
 * door), `join-empty` (nobody logged in when joining) or `leave-empty` (the last agent left).
 */
export interface QueueOverflowEvent {
  type: 'queue.overflow';
  queue: string;
  callId: string;
  reason: 'max-wait' | 'max-callers' | 'join-empty' | 'leave-empty';
  waitMs: number;
}

/**
 * An agent's state changed. With `queue`: membership (`logged-out`, `available`, `paused`) in that
 * queue; without: what the agent's phone is doing for every queue (`ringing`, `busy`, `wrap-up`,
 * back to `available`). `reason`: a pause reason, or what caused the change (`api`, `feature-code`).
 */
export interface AgentStateEvent {
  type: 'agent.state';
  extension: string;
  queue?: string;
  state: 'logged-out' | 'available' | 'paused' | 'ringing' | 'busy' | 'wrap-up';
  reason?: string;
}

export type DaemonEventBody =
  | VoicemailNewEvent
  | VoicemailChangedEvent
  | CallStartedEvent
  | CallStateEvent
  | CallStepEvent
  | CallEndedEvent
  | CallMediaEvent
  | ConfigLoadedEvent
  | QueueJoinedEvent
  | QueueAbandonedEvent
  | QueueAnsweredEvent
  | QueueOverflowEvent
  | AgentStateEvent
  | DialogStartedEvent
  | DialogAnsweredEvent
  | DialogEndedEvent
  | RegistrationChangedEvent
  | CdrWrittenEvent;

/** An event as published: the body plus `seq` and `at`. */
export type DaemonEvent = DaemonEventBody & { seq: number; at: number };

/**
 * Publish/subscribe with a backlog. Subscribers run synchronously in publish order; a throwing
 * subscriber is dropped from nothing and breaks nothing (its error is swallowed).
 */
export class EventBus {
  private seq = 0;
  private readonly backlog: DaemonEvent[] = [];
  private readonly subscribers = new Set<(e: DaemonEvent) => void>();

  /**
   * @param backlogSize events kept for resuming clients
   * @param now clock, ms since the epoch
   */
  constructor(
    private readonly backlogSize = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  publish(body: DaemonEventBody): DaemonEvent {
    const event = { ...body, seq: ++this.seq, at: this.now() } as DaemonEvent;
    this.backlog.push(event);
    // Trim in chunks: a splice of the whole backlog on every event cost 3% of a busy daemon's CPU.
    if (this.backlog.length > this.backlogSize + (this.backlogSize >> 2)) this.backlog.splice(0, this.backlog.length - this.backlogSize);
    for (const s of this.subscribers) {
      try {
        s(event);
      } catch {
        // An operator's stream or a metrics hook must never break call handling.
      }
    }
    return event;
  }

  /** The last seq published (0 before the first event). */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Subscribes; when `afterSeq` is given, first replays the backlog after it (synchronously).
   * @returns unsubscribe; `gap` is true when events after `afterSeq` were already dropped from the backlog
   */
  subscribe(listener: (e: DaemonEvent) => void, afterSeq?: number): { unsubscribe: () => void; gap: boolean } {
    let gap = false;
    if (afterSeq !== undefined) {
      const first = this.backlog[Math.max(0, this.backlog.length - this.backlogSize)];
      gap = first !== undefined && first.seq > afterSeq + 1;
      for (const e of this.backlog.slice(-this.backlogSize)) if (e.seq > afterSeq) listener(e);
    }
    this.subscribers.add(listener);
    return { unsubscribe: () => this.subscribers.delete(listener), gap };
  }
}
