/**
 * Queue statistics since the daemon started (issue 5: waiting, longest wait, answered, abandoned,
 * service level), kept by QueueManager and served by `GET /v1/queues` and the metrics.
 *
 * Service level follows the usual contact-centre definition (as Asterisk's `servicelevel`):
 * calls answered within the threshold (default 20 s) divided by all calls that ended their wait
 * in the queue (answered + abandoned + overflowed after joining); callers refused at the door
 * (`max-callers`, `join-empty`) never waited and are not counted. No such call yet: null.
 */
import type { Party } from '../channel.js';
import type { OverflowReason } from './types.js';

/** Weight of the newest answered wait in the recent-wait mean (Asterisk's holdtime uses 1/4). */
const RECENT_WEIGHT = 0.25;

/** A waiting caller in the API view. */
export interface WaitingCaller {
  callId: string;
  caller: Party;
  position: number;
  waitMs: number;
  /** Agents ringing for this caller right now. */
  ringing: string[];
}

/** One queue's statistics (`GET /v1/queues/:id`). Durations ms; `serviceLevel` 0..1 or null. */
export interface QueueStats {
  queue: string;
  waiting: number;
  longestWaitMs: number;
  agentsLoggedIn: number;
  /** Logged in, unpaused, and free to take a call now. */
  agentsAvailable: number;
  joined: number;
  answered: number;
  abandoned: number;
  /** By reason, including callers refused at the door. */
  overflow: Record<OverflowReason, number>;
  answeredWithinServiceLevel: number;
  serviceLevelS: number;
  serviceLevel: number | null;
  /** Mean wait of answered callers; null before the first. */
  averageWaitMs: number | null;
  /** Mean wait of abandoned callers; null before the first. */
  averageAbandonMs: number | null;
  callers: WaitingCaller[];
}

interface Counters {
  joined: number;
  answered: number;
  abandoned: number;
  overflow: Record<OverflowReason, number>;
  /** Overflowed after waiting (max-wait, leave-empty). */
  overflowedAfterWait: number;
  withinSl: number;
  answeredWaitMs: number;
  abandonedWaitMs: number;
  recentWaitMs?: number;
}

/** The counters of every queue. */
export class QueueStatsBook {
  private readonly queues = new Map<string, Counters>();

  /** @param serviceLevelMs answered within this counts for the service level */
  constructor(readonly serviceLevelMs: number) {}

  private of(queue: string): Counters {
    let c = this.queues.get(queue);
    if (!c) this.queues.set(queue, (c = { joined: 0, answered: 0, abandoned: 0, overflow: { 'max-wait': 0, 'max-callers': 0, 'join-empty': 0, 'leave-empty': 0 }, overflowedAfterWait: 0, withinSl: 0, answeredWaitMs: 0, abandonedWaitMs: 0 }));
    return c;
  }

  joined(queue: string): void {
    this.of(queue).joined++;
  }

  answered(queue: string, waitMs: number): void {
    const c = this.of(queue);
    c.answered++;
    c.answeredWaitMs += waitMs;
    if (waitMs <= this.serviceLevelMs) c.withinSl++;
    c.recentWaitMs = c.recentWaitMs === undefined ? waitMs : c.recentWaitMs * (1 - RECENT_WEIGHT) + waitMs * RECENT_WEIGHT;
  }

  abandoned(queue: string, waitMs: number): void {
    const c = this.of(queue);
    c.abandoned++;
    c.abandonedWaitMs += waitMs;
  }

  overflowed(queue: string, reason: OverflowReason): void {
    const c = this.of(queue);
    c.overflow[reason]++;
    if (reason === 'max-wait' || reason === 'leave-empty') c.overflowedAfterWait++;
  }

  /** The exponentially weighted mean wait of answered callers, ms; undefined before the first. */
  recentWaitMs(queue: string): number | undefined {
    return this.queues.get(queue)?.recentWaitMs;
  }

  /** The statistics of `queue` with the live figures the manager measures. */
  view(queue: string, live: Pick<QueueStats, 'waiting' | 'longestWaitMs' | 'agentsLoggedIn' | 'agentsAvailable' | 'callers'>): QueueStats {
    const c = this.of(queue);
    const ended = c.answered + c.abandoned + c.overflowedAfterWait;
    return {
      queue,
      waiting: live.waiting,
      longestWaitMs: live.longestWaitMs,
      agentsLoggedIn: live.agentsLoggedIn,
      agentsAvailable: live.agentsAvailable,
      joined: c.joined,
      answered: c.answered,
      abandoned: c.abandoned,
      overflow: { ...c.overflow },
      answeredWithinServiceLevel: c.withinSl,
      serviceLevelS: this.serviceLevelMs / 1000,
      serviceLevel: ended === 0 ? null : c.withinSl / ended,
      averageWaitMs: c.answered === 0 ? null : c.answeredWaitMs / c.answered,
      averageAbandonMs: c.abandoned === 0 ? null : c.abandonedWaitMs / c.abandoned,
      callers: live.callers,
    };
  }
}
