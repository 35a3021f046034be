/**
 * The queue log: every caller's way through a queue (joined, answered by whom after how long,
 * abandoned, overflowed and why) and every agent's call end, one row each, in the daemon's SQLite
 * database (store/database.ts), as Asterisk keeps its queue_log. QueueStatsBook writes it and a
 * restarted daemon rebuilds the day's statistics and the strategies' history from it.
 *
 * Statistics are not billing records (the CDRs are), so rows are written in batches: buffered and
 * committed once a second (and at close) in one transaction, not one fsync per event. A crash loses
 * at most the last second of statistics. Rows older than `retentionDays` are deleted at open.
 */
import { migrate, type Db } from '../store/database.js';
import type { QueueLog, QueueLogEntry } from './stats.js';
import type { OverflowReason } from './types.js';

/** The migration module name of the queue log in `schema_migrations`. */
export const QUEUE_LOG_MODULE = 'queue-log';

const MIGRATIONS = [
  {
    version: 1,
    sql: `CREATE TABLE queue_log (
      id INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      queue TEXT NOT NULL,
      call_id TEXT NOT NULL,
      event TEXT NOT NULL,
      wait_ms INTEGER,
      agent TEXT,
      reason TEXT
    );
    CREATE INDEX queue_log_at ON queue_log (at)`,
  },
];

/** Rows kept for a retry while writes fail (about a day of a busy contact centre). */
const MAX_BUFFERED = 100_000;

interface Row {
  at: number;
  queue: string;
  call_id: string;
  event: QueueLogEntry['event'];
  wait_ms: number | null;
  agent: string | null;
  reason: string | null;
}

/** Options of {@link SqliteQueueLog}. */
export interface SqliteQueueLogOptions {
  /** How often buffered rows are committed, ms (default 1000). */
  flushEveryMs?: number;
  /** Rows older than this many days are deleted at open (default 35). */
  retentionDays?: number;
  /** ms since the epoch (default Date.now). */
  now?: () => number;
}

/** The production queue log on the shared daemon database. */
export class SqliteQueueLog implements QueueLog {
  private readonly insert;
  private readonly select;
  private readonly writeBatch;
  private buffer: QueueLogEntry[] = [];
  private readonly timer: NodeJS.Timeout;

  /** @throws PbxError DAEMON_DB_MIGRATION when the table cannot be migrated */
  constructor(private readonly db: Db, o: SqliteQueueLogOptions = {}) {
    migrate(db, QUEUE_LOG_MODULE, MIGRATIONS);
    const now = (o.now ?? Date.now)();
    db.prepare('DELETE FROM queue_log WHERE at < ?').run(now - (o.retentionDays ?? 35) * 86_400_000);
    this.insert = db.prepare('INSERT INTO queue_log (at, queue, call_id, event, wait_ms, agent, reason) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.select = db.prepare('SELECT at, queue, call_id, event, wait_ms, agent, reason FROM queue_log WHERE at >= ? ORDER BY at, id');
    this.writeBatch = db.transaction((rows: QueueLogEntry[]) => {
      for (const e of rows) this.insert.run(e.at, e.queue, e.callId, e.event, e.waitMs ?? null, e.agent ?? null, e.reason ?? null);
    });
    this.timer = setInterval(() => this.flush(), o.flushEveryMs ?? 1000);
    this.timer.unref();
  }

  record(entry: QueueLogEntry): void {
    this.buffer.push(entry);
  }

  since(at: number): QueueLogEntry[] {
    this.flush();
    return (this.select.all(at) as Row[]).map((r) => ({
      at: r.at,
      queue: r.queue,
      callId: r.call_id,
      event: r.event,
      ...(r.wait_ms === null ? {} : { waitMs: r.wait_ms }),
      ...(r.agent === null ? {} : { agent: r.agent }),
      ...(r.reason === null ? {} : { reason: r.reason as OverflowReason }),
    }));
  }

  /**
   * Commits the buffered rows in one transaction. A failed write (disk full) keeps them for the
   * next try rather than losing the day's figures.
   */
  flush(): void {
    if (this.buffer.length === 0 || !this.db.open) return;
    const rows = this.buffer;
    this.buffer = [];
    try {
      this.writeBatch(rows);
    } catch {
      // Bounded: a disk that stays full must not grow the daemon's memory without end (the day's
      // oldest figures go first; the in-memory counters are unaffected).
      this.buffer = rows.concat(this.buffer).slice(-MAX_BUFFERED);
    }
  }

  /** Stops the timer and commits what is buffered (before the database closes). */
  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
