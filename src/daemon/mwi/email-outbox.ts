/**
 * The persistent queue of voicemail notification emails (one SQLite table in the daemon database,
 * module `voicemail-email`): a `voicemail.new` becomes a row before anything is sent, so a daemon
 * that crashes or restarts sends it later; a failed attempt is rescheduled with exponential
 * back-off until `maxAttempts`, then the row is kept as `failed` (visible through the log, the
 * metrics and `list`). Rows are unique per (message, recipient): a replayed event does not mail twice.
 *
 * Times are ms since the epoch; the clock is injected so tests control the schedule.
 */
import type { Db } from '../store/database.js';
import { migrate } from '../store/database.js';

/** Retry schedule: attempt n (1-based) that fails waits `min(baseMs * 2^(n-1), maxMs)` before the next. */
export interface RetryPolicy {
  /** First wait, ms (default 30 s). */
  baseMs: number;
  /** Longest wait, ms (default 1 h). */
  maxMs: number;
  /** Attempts before giving up (default 8: the last one about an hour after the first, with the defaults). */
  maxAttempts: number;
}

/** Defaults of {@link RetryPolicy}. */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({ baseMs: 30_000, maxMs: 3_600_000, maxAttempts: 8 });

/** What a row carries: everything needed to build the email later, whatever the config is then. */
export interface EmailJob {
  messageId: string;
  mailbox: string;
  /** Recipient address. */
  to: string;
  attachAudio: boolean;
  callerNumber: string;
  callerName?: string;
  /** Seconds, one decimal. */
  durationS: number;
  /** ms since the epoch. */
  receivedAt: number;
  /** Absolute WAV path. */
  file: string;
}

/** A row's state. */
export type OutboxState = 'pending' | 'sent' | 'failed';

/** A row as stored. */
export interface OutboxRow {
  id: number;
  job: EmailJob;
  state: OutboxState;
  attempts: number;
  /** When the next attempt is due (pending rows). */
  nextAttemptAt: number;
  lastError?: string;
  createdAt: number;
  updatedAt: number;
}

/** The wait after the `attempt`-th failure (1-based), ms. */
export function backoffMs(attempt: number, policy: RetryPolicy): number {
  return Math.min(policy.baseMs * 2 ** Math.max(0, attempt - 1), policy.maxMs);
}

const MIGRATIONS = [
  {
    version: 1,
    sql: `CREATE TABLE voicemail_email_outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      message_id TEXT NOT NULL,
      recipient TEXT NOT NULL,
      job TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER NOT NULL,
      last_error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      UNIQUE (message_id, recipient)
    );
    CREATE INDEX voicemail_email_outbox_due ON voicemail_email_outbox (state, next_attempt_at);`,
  },
  {
    // The newest voicemail message seen (receivedAt, ms): a restart catches up from there.
    version: 2,
    sql: 'CREATE TABLE voicemail_email_watermark (id INTEGER PRIMARY KEY CHECK (id = 1), received_at INTEGER NOT NULL);',
  },
];

interface Row {
  id: number;
  job: string;
  state: OutboxState;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

const toRow = (r: Row): OutboxRow => ({
  id: r.id,
  job: JSON.parse(r.job) as EmailJob,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  ...(r.last_error === null ? {} : { lastError: r.last_error }),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The outbox table; see the module comment. Every method is one synchronous, durable statement. */
export class EmailOutbox {
  /**
   * @throws PbxError DAEMON_DB_MIGRATION
   */
  constructor(
    private readonly db: Db,
    private readonly policy: RetryPolicy = DEFAULT_RETRY,
    private readonly now: () => number = Date.now,
  ) {
    migrate(db, 'voicemail-email', MIGRATIONS);
  }

  /**
   * Queues a job, due now (committed when this returns).
   * @returns false when the same message was already queued for that recipient
   */
  enqueue(job: EmailJob): boolean {
    const t = this.now();
    const r = this.db
      .prepare("INSERT OR IGNORE INTO voicemail_email_outbox (message_id, recipient, job, state, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?)")
      .run(job.messageId, job.to, JSON.stringify(job), t, t, t);
    return r.changes === 1;
  }

  /**
   * Queues `job` (when there is one: the box may have no email) and records `receivedAt` as seen,
   * in one transaction. @returns whether a row was added
   */
  record(receivedAt: number, job: EmailJob | undefined): boolean {
    return this.db.transaction(() => {
      this.db.prepare('INSERT INTO voicemail_email_watermark (id, received_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET received_at = MAX(received_at, excluded.received_at)').run(receivedAt);
      return job ? this.enqueue(job) : false;
    })();
  }

  /** The newest `receivedAt` recorded, or undefined on a database that never saw a message. */
  watermark(): number | undefined {
    return (this.db.prepare('SELECT received_at FROM voicemail_email_watermark WHERE id = 1').get() as { received_at: number } | undefined)?.received_at;
  }

  /** Pending rows due at or before `at` (default now), oldest due first. */
  due(limit = 10, at = this.now()): OutboxRow[] {
    return (this.db.prepare("SELECT * FROM voicemail_email_outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?").all(at, limit) as Row[]).map(toRow);
  }

  /** When the earliest pending row is due, or undefined when none is pending. */
  nextDue(): number | undefined {
    const r = this.db.prepare("SELECT MIN(next_attempt_at) AS t FROM voicemail_email_outbox WHERE state = 'pending'").get() as { t: number | null };
    return r.t ?? undefined;
  }

  /** Marks a row sent. */
  sent(id: number): void {
    const t = this.now();
    this.db.prepare("UPDATE voicemail_email_outbox SET state = 'sent', attempts = attempts + 1, last_error = NULL, updated_at = ? WHERE id = ?").run(t, id);
  }

  /**
   * Records a failed attempt: rescheduled by the policy, or `failed` when the attempts are used up
   * or `permanent` (an SMTP 5xx: retrying cannot help).
   * @returns the row's new state
   */
  failed(id: number, error: string, permanent = false): OutboxState {
    const t = this.now();
    const row = this.db.prepare('SELECT attempts FROM voicemail_email_outbox WHERE id = ?').get(id) as { attempts: number } | undefined;
    if (!row) return 'failed';
    const attempts = row.attempts + 1;
    const giveUp = permanent || attempts >= this.policy.maxAttempts;
    this.db
      .prepare('UPDATE voicemail_email_outbox SET state = ?, attempts = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?')
      .run(giveUp ? 'failed' : 'pending', attempts, error.slice(0, 1000), giveUp ? t : t + backoffMs(attempts, this.policy), t, id);
    return giveUp ? 'failed' : 'pending';
  }

  /**
   * Puts a failed row back in the queue, due now, with its attempts reset (an operator fixed the
   * settings or the mailbox). @returns false when there is no failed row `id`
   */
  retry(id: number): boolean {
    const t = this.now();
    return this.db.prepare("UPDATE voicemail_email_outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'failed'").run(t, t, id).changes === 1;
  }

  /** Rows, newest first (API and tests). */
  list(o: { state?: OutboxState; limit?: number } = {}): OutboxRow[] {
    const rows = o.state
      ? this.db.prepare('SELECT * FROM voicemail_email_outbox WHERE state = ? ORDER BY id DESC LIMIT ?').all(o.state, o.limit ?? 100)
      : this.db.prepare('SELECT * FROM voicemail_email_outbox ORDER BY id DESC LIMIT ?').all(o.limit ?? 100);
    return (rows as Row[]).map(toRow);
  }

  /** Rows per state (metrics). */
  counts(): Record<OutboxState, number> {
    const out: Record<OutboxState, number> = { pending: 0, sent: 0, failed: 0 };
    for (const r of this.db.prepare('SELECT state, COUNT(*) AS n FROM voicemail_email_outbox GROUP BY state').all() as { state: OutboxState; n: number }[]) out[r.state] = r.n;
    return out;
  }
}
