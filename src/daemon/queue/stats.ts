/**
 * Queue statistics for the current day in the PBX's time zone (issue 5: waiting, longest wait,
 * answered, abandoned, service level), kept by QueueManager and served by `GET /v1/queues` and the
 * metrics, and each agent's answered calls and last call end, which the fewest-calls and
 * least-recent strategies read. Every counted event also goes to the queue log (queue-log.ts,
 * Asterisk's queue_log in spirit), from which a restarted daemon rebuilds the day so far.
 *
 * Service level follows the usual contact-centre definition (as Asterisk's `servicelevel`):
 * calls answered within the threshold (default 20 s) divided by all calls that ended their wait
 * in the queue (answered + abandoned + overflowed after joining); callers refused at the door
 * (`max-callers`, `join-empty`) never waited and are not counted. No such call yet: null.
 * The counters start again at local midnight; the recent-wait mean behind the estimated wait
 * does not (it describes the queue, not the day).
 */
import type { Party } from '../channel.js';
import { wallClock, zonedInstant } from '../schedule.js';
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
}

/** One line of the queue log. Times ms since the epoch, waits ms. */
export interface QueueLogEntry {
  at: number;
  queue: string;
  /** The caller's Call-ID ('' when not known, e.g. a `completed` without it). */
  callId: string;
  event: 'joined' | 'answered' | 'abandoned' | 'overflow' | 'completed';
  waitMs?: number;
  /** `answered`, `completed`: the agent's extension. */
  agent?: string;
  /** `overflow`: why. */
  reason?: OverflowReason;
}

/** Where the book writes its events and reads them back at start (SqliteQueueLog). */
export interface QueueLog {
  record(entry: QueueLogEntry): void;
  /** Entries at or after `at`, oldest first. */
  since(at: number): QueueLogEntry[];
}

/** Options of {@link QueueStatsBook}. */
export interface QueueStatsOptions {
  log?: QueueLog;
  /** Start of the statistics period holding `now` (ms); default: none, counters never restart. */
  periodStart?: (now: number) => number;
}

const emptyCounters = (): Counters => ({ joined: 0, answered: 0, abandoned: 0, overflow: { 'max-wait': 0, 'max-callers': 0, 'join-empty': 0, 'leave-empty': 0 }, overflowedAfterWait: 0, withinSl: 0, answeredWaitMs: 0, abandonedWaitMs: 0 });

/**
 * The counters of every queue and agent for the current period. Every `now` is ms since the epoch
 * and every wait ms; each recording method counts the event and writes it to the log.
 */
export class QueueStatsBook {
  private queues = new Map<string, Counters>();
  /** Agent -> queue -> calls answered this period. */
  private agentAnswers = new Map<string, Map<string, number>>();
  /** Agent -> end of its last queue call this period (ms). */
  private agentEnded = new Map<string, number>();
  private readonly recent = new Map<string, number>();
  private period = -Infinity;
  /** Start of the next period (ms): until then `roll` need not ask `periodStart` again. */
  private nextPeriod = -Infinity;

  /** @param serviceLevelMs answered within this counts for the service level */
  constructor(
    readonly serviceLevelMs: number,
    private readonly o: QueueStatsOptions = {},
  ) {}

  /**
   * Rebuilds the current period from the log (daemon start); `now` ms.
   * @throws whatever the log's read throws (SQLite errors)
   */
  restore(now: number): void {
    this.roll(now);
    if (!this.o.log) return;
    for (const e of this.o.log.since(this.period === -Infinity ? 0 : this.period)) this.count(e);
  }

  joined(queue: string, callId: string, now: number): void {
    this.add({ at: now, queue, callId, event: 'joined' });
  }

  answered(queue: string, callId: string, agent: string, waitMs: number, now: number): void {
    this.add({ at: now, queue, callId, event: 'answered', agent, waitMs });
  }

  abandoned(queue: string, callId: string, waitMs: number, now: number): void {
    this.add({ at: now, queue, callId, event: 'abandoned', waitMs });
  }

  overflowed(queue: string, callId: string, reason: OverflowReason, waitMs: number, now: number): void {
    this.add({ at: now, queue, callId, event: 'overflow', reason, waitMs });
  }

  /** An agent's queue call ended (least-recent reads when). */
  completed(queue: string, callId: string, agent: string, now: number): void {
    this.add({ at: now, queue, callId, event: 'completed', agent });
  }

  /** Calls of `queue` that `agent` answered this period. */
  agentAnswered(agent: string, queue: string, now: number): number {
    this.roll(now);
    return this.agentAnswers.get(agent)?.get(queue) ?? 0;
  }

  /** Calls of all queues that `agent` answered this period. */
  agentAnsweredTotal(agent: string, now: number): number {
    this.roll(now);
    let n = 0;
    for (const v of this.agentAnswers.get(agent)?.values() ?? []) n += v;
    return n;
  }

  /** When `agent`'s last queue call of this period ended (ms), if any. */
  agentLastEndedAt(agent: string, now: number): number | undefined {
    this.roll(now);
    return this.agentEnded.get(agent);
  }

  /** The exponentially weighted mean wait of answered callers, ms; undefined before the first. */
  recentWaitMs(queue: string): number | undefined {
    return this.recent.get(queue);
  }

  /** The statistics of `queue` with the live figures the manager measures. */
  view(queue: string, live: Pick<QueueStats, 'waiting' | 'longestWaitMs' | 'agentsLoggedIn' | 'agentsAvailable' | 'callers'>, now: number): QueueStats {
    this.roll(now);
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

  private add(e: QueueLogEntry): void {
    this.roll(e.at);
    this.o.log?.record(e);
    this.count(e);
  }

  /** A new period (local midnight passed) starts the counters again. */
  private roll(now: number): void {
    // The dispatcher reads agent history for every candidate on every pass: a zone lookup (Intl)
    // each time would be the costliest part of it. A zone changed by a config reload therefore
    // takes effect at the next period boundary.
    if (now >= this.period && now < this.nextPeriod) return;
    if (!this.o.periodStart) {
      this.nextPeriod = Infinity;
      return;
    }
    const start = this.o.periodStart(now);
    // A local day lasts 23-25 h: 26 h after its start lies in the next one.
    this.nextPeriod = Math.max(now + 1, this.o.periodStart(start + 26 * 3_600_000));
    if (start <= this.period) return;
    this.period = start;
    this.queues = new Map();
    this.agentAnswers = new Map();
    this.agentEnded = new Map();
  }

  private of(queue: string): Counters {
    let c = this.queues.get(queue);
    if (!c) this.queues.set(queue, (c = emptyCounters()));
    return c;
  }

  private count(e: QueueLogEntry): void {
    const c = this.of(e.queue);
    const wait = e.waitMs ?? 0;
    switch (e.event) {
      case 'joined':
        c.joined++;
        break;
      case 'answered': {
        c.answered++;
        c.answeredWaitMs += wait;
        if (wait <= this.serviceLevelMs) c.withinSl++;
        const r = this.recent.get(e.queue);
        this.recent.set(e.queue, r === undefined ? wait : r * (1 - RECENT_WEIGHT) + wait * RECENT_WEIGHT);
        if (e.agent !== undefined) {
          let m = this.agentAnswers.get(e.agent);
          if (!m) this.agentAnswers.set(e.agent, (m = new Map()));
          m.set(e.queue, (m.get(e.queue) ?? 0) + 1);
        }
        break;
      }
      case 'abandoned':
        c.abandoned++;
        c.abandonedWaitMs += wait;
        break;
      case 'overflow':
        if (e.reason === undefined) break;
        c.overflow[e.reason]++;
        if (e.reason === 'max-wait' || e.reason === 'leave-empty') c.overflowedAfterWait++;
        break;
      case 'completed':
        if (e.agent !== undefined) this.agentEnded.set(e.agent, Math.max(e.at, this.agentEnded.get(e.agent) ?? 0));
        break;
    }
  }
}

/**
 * Local midnight of the day holding `now` in `zone` (IANA), ms since the epoch: the start of the
 * statistics day. @throws RangeError for an unknown zone
 */
export function localDayStart(now: number, zone: string): number {
  return zonedInstant(wallClock(new Date(now), zone).date, 0, zone).getTime();
}
