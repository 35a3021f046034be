/**
 * The types QueueManager (manager.ts) exchanges with the caller flow (flows/queue.ts), the API
 * (api.ts) and tests: offers, outcomes, tickets, agent views, options. Times are ms.
 */
import type { QueueLog } from './stats.js';
import type { Party } from '../channel.js';
import type { DaemonEventBody, QueueOverflowEvent } from '../events.js';
import type { AgentStore } from './agent-store.js';

/** The manager's clock (ms since the epoch) and timers; real ones by default. */
export interface QueueClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

/** One agent to ring: the extension and how long, ms. */
export interface OfferTarget {
  extension: string;
  ringTimeoutMs: number;
}

/** How an offer ended: an agent answered (the caller's flow holds the answered leg), or not (SIP status per agent; 408 = no answer). */
export type OfferResult = { answered: string } | { failed: Record<string, number> };

/**
 * Rings agents for one caller. Must resolve (not reject) with the outcome; when `signal` aborts
 * it must stop ringing (CANCEL) and may reject with the abort reason.
 */
export type OfferFn = (targets: OfferTarget[], signal: AbortSignal) => Promise<OfferResult>;

/** Why a caller left for the overflow destination. */
export type OverflowReason = QueueOverflowEvent['reason'];

/** How a caller's time in the queue ended. */
export type QueueOutcome = { type: 'answered'; agent: string; waitMs: number } | { type: 'overflow'; reason: OverflowReason; waitMs: number } | { type: 'abandoned'; waitMs: number };

/** A caller in a queue, as its flow holds it. */
export interface QueueTicket {
  readonly queue: string;
  readonly callId: string;
  readonly joinedAt: number;
  /** Resolves once: answered (bridge, then call {@link QueueManager.agentCallEnded}), overflow, or abandoned. */
  readonly outcome: Promise<QueueOutcome>;
  /** 1-based place in the queue now; 0 once the caller left it. */
  position(): number;
  /** The caller hung up: recorded as abandoned (a no-op once the outcome is settled). */
  abandon(): void;
}

/** What a caller brings to {@link QueueManager.join}. */
export interface JoinRequest {
  callId: string;
  caller: Party;
  offer: OfferFn;
}

/** An agent as the API lists it. */
export interface AgentView {
  extension: string;
  /** Queues it is logged in to, with pause state. */
  queues: { queue: string; paused: boolean; pauseReason?: string; loggedInAt: number }[];
  /** What the phone is doing: `available`, `ringing`, `busy`, `wrap-up`, `unreachable`. */
  activity: 'available' | 'ringing' | 'busy' | 'wrap-up' | 'unreachable';
  /** Queue calls answered today (the PBX's local day). */
  callsAnswered: number;
  lastCallEndedAt?: number;
}

/** Options of the manager. Times in ms. */
export interface QueueManagerOptions {
  store: AgentStore;
  clock?: QueueClock;
  /** Publishes queue.* and agent.state events (EventBus.publish). */
  publish?: (e: DaemonEventBody) => void;
  /** Whether an extension is on a daemon call that is not this manager's (default: never). */
  isBusyElsewhere?: (extension: string) => boolean;
  /** Answered within this many seconds counts for the service level (default 20). */
  serviceLevelS?: number;
  /** A caller who tried every free agent waits this long before the next round (default 2000). */
  retryMs?: number;
  /** An agent that was unreachable or busy is not offered calls for this long (default 10000). */
  unavailableRetryMs?: number;
  random?: () => number;
  /** Where statistics events go and come back from at start (SqliteQueueLog); default none. */
  log?: QueueLog;
  /** Start of the statistics period holding `now` (localDayStart in the PBX zone); default none. */
  periodStart?: (now: number) => number;
}
