/**
 * The daemon's event stream: what operators (`pbxctl calls tail`), webhooks and CDRs hear about.
 * Every event carries a monotonically increasing `seq` so a client that reconnects resumes with
 * `Last-Event-ID` (the HTML server-sent events convention) from a bounded in-memory backlog.
 * Times are ms since the epoch.
 */
import type { CallState } from './call-state.js';
import type { Party } from './channel.js';

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

/** A new feature configuration is live (new calls use it; calls in progress keep theirs). */
export interface ConfigLoadedEvent {
  type: 'config.loaded';
  version: string;
  release?: string;
}

export type DaemonEventBody = CallStartedEvent | CallStateEvent | CallStepEvent | CallEndedEvent | ConfigLoadedEvent;

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
