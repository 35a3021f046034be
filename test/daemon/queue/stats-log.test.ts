/** QueueStatsBook over the queue log: the day's figures and agent history survive a restart and start again at local midnight. */
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteQueueLog } from '../../../src/daemon/queue/queue-log.js';
import { QueueStatsBook, localDayStart, type QueueLogEntry } from '../../../src/daemon/queue/stats.js';
import { openDaemonDb, type Db } from '../../../src/daemon/store/database.js';

const dbs: Db[] = [];
const logs: SqliteQueueLog[] = [];
afterEach(() => {
  for (const l of logs.splice(0)) l.close();
  for (const d of dbs.splice(0)) d.close();
});

const live = { waiting: 0, longestWaitMs: 0, agentsLoggedIn: 2, agentsAvailable: 2, callers: [] };
const ZONE = 'America/New_York';
// 2026-11-21 23:30 in New York (UTC-5): 2026-11-22 04:30Z.
const LATE = Date.parse('2026-11-22T04:30:00Z');
const NEXT_DAY = Date.parse('2026-11-22T05:10:00Z'); // 00:10 local on the 22nd

function log(db: Db): SqliteQueueLog {
  const l = new SqliteQueueLog(db, { flushEveryMs: 60_000, now: () => LATE });
  logs.push(l);
  return l;
}

describe('localDayStart', () => {
  it('is local midnight in the zone, across a DST change', () => {
    expect(new Date(localDayStart(LATE, ZONE)).toISOString()).toBe('2026-11-21T05:00:00.000Z');
    expect(new Date(localDayStart(NEXT_DAY, ZONE)).toISOString()).toBe('2026-11-22T05:00:00.000Z');
    // 2026-03-08 is the spring-forward day in New York: midnight is still -05:00.
    expect(new Date(localDayStart(Date.parse('2026-03-08T20:00:00Z'), ZONE)).toISOString()).toBe('2026-03-08T05:00:00.000Z');
    expect(localDayStart(LATE, 'UTC')).toBe(Date.parse('2026-11-22T00:00:00Z'));
  });
});

describe('QueueStatsBook with the queue log', () => {
  it('rebuilds the day (counters, service level, agent history, recent wait) from the log after a restart', () => {
    const db = openDaemonDb(':memory:');
    dbs.push(db);
    const periodStart = (now: number) => localDayStart(now, ZONE);
    const a = new QueueStatsBook(20_000, { log: log(db), periodStart });
    a.restore(LATE - 60_000);
    a.joined('support', 'c1', LATE - 50_000);
    a.answered('support', 'c1', '1001', 10_000, LATE - 40_000);
    a.completed('support', 'c1', '1001', LATE - 20_000);
    a.joined('support', 'c2', LATE - 30_000);
    a.abandoned('support', 'c2', 25_000, LATE - 5_000);
    a.overflowed('support', 'c3', 'max-callers', 0, LATE - 4_000);
    const before = a.view('support', live, LATE);
    expect(before).toMatchObject({ joined: 2, answered: 1, abandoned: 1, answeredWithinServiceLevel: 1, serviceLevel: 0.5, averageWaitMs: 10_000, averageAbandonMs: 25_000, overflow: { 'max-callers': 1 } });
    logs[0]!.close(); // the daemon stops: the buffered rows are committed

    const b = new QueueStatsBook(20_000, { log: log(db), periodStart });
    b.restore(LATE);
    expect(b.view('support', live, LATE)).toEqual(before);
    expect(b.agentAnswered('1001', 'support', LATE)).toBe(1);
    expect(b.agentAnsweredTotal('1001', LATE)).toBe(1);
    expect(b.agentLastEndedAt('1001', LATE)).toBe(LATE - 20_000);
    expect(b.recentWaitMs('support')).toBe(10_000);

    // Local midnight: the day's counters start again; the recent wait (the estimate) does not.
    expect(b.view('support', live, NEXT_DAY)).toMatchObject({ joined: 0, answered: 0, abandoned: 0, serviceLevel: null });
    expect(b.agentAnswered('1001', 'support', NEXT_DAY)).toBe(0);
    expect(b.agentLastEndedAt('1001', NEXT_DAY)).toBeUndefined();
    expect(b.recentWaitMs('support')).toBe(10_000);
    // And a restart on the next day reads only that day.
    b.joined('support', 'c4', NEXT_DAY);
    logs[1]!.flush();
    const c = new QueueStatsBook(20_000, { log: log(db), periodStart });
    c.restore(NEXT_DAY + 1000);
    expect(c.view('support', live, NEXT_DAY + 1000)).toMatchObject({ joined: 1, answered: 0 });
  });

  it('asks for the period start once per day, not on every read (the dispatcher reads per candidate agent)', () => {
    let asked = 0;
    const book = new QueueStatsBook(20_000, { periodStart: (now) => (asked++, localDayStart(now, ZONE)) });
    book.restore(LATE - 3_600_000);
    for (let i = 0; i < 1000; i++) book.agentAnswered('1001', 'support', LATE - 3_600_000 + i * 1000);
    expect(asked).toBe(2); // today's start, and tomorrow's (when to ask again)
    book.answered('support', 'c1', '1001', 1000, LATE);
    expect(book.agentAnswered('1001', 'support', NEXT_DAY)).toBe(0);
    expect(asked).toBe(4);
  });

  it('writes in batches (nothing until a flush) and round-trips every field', () => {
    const db = openDaemonDb(':memory:');
    dbs.push(db);
    const l = log(db);
    const entries: QueueLogEntry[] = [
      { at: LATE, queue: 'q', callId: 'c1', event: 'joined' },
      { at: LATE + 1, queue: 'q', callId: 'c1', event: 'overflow', reason: 'max-wait', waitMs: 60_000 },
      { at: LATE + 2, queue: 'q', callId: 'c2', event: 'answered', agent: '1002', waitMs: 3000 },
    ];
    for (const e of entries) l.record(e);
    expect((db.prepare('SELECT count(*) AS n FROM queue_log').get() as { n: number }).n).toBe(0);
    expect(l.since(LATE + 1)).toEqual(entries.slice(1));
    expect((db.prepare('SELECT count(*) AS n FROM queue_log').get() as { n: number }).n).toBe(3);
  });

  it('deletes rows past the retention when it opens', () => {
    const db = openDaemonDb(':memory:');
    dbs.push(db);
    const old = new SqliteQueueLog(db, { now: () => LATE });
    old.record({ at: LATE - 40 * 86_400_000, queue: 'q', callId: 'x', event: 'joined' });
    old.record({ at: LATE - 86_400_000, queue: 'q', callId: 'y', event: 'joined' });
    old.close();
    const l = new SqliteQueueLog(db, { now: () => LATE, retentionDays: 35 });
    logs.push(l);
    expect(l.since(0).map((e) => e.callId)).toEqual(['y']);
  });
});
