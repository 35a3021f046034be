/**
 * The persistent webhook outbox: one row per (webhook, message) in the daemon's SQLite database
 * (store/database.ts: WAL, synchronous=FULL), written before any attempt is made, so a crash or
 * restart resumes every delivery that was not confirmed (the issue's durability rule). A row is
 * `pending` until a 2xx answer (`delivered`) or its last allowed attempt failed (`dead`: the
 * dead-letter list, visible through the API and retried from there by hand).
 *
 * Times are ms since the epoch.
 */
import type { Db, Migration } from '../store/database.js';
import { migrate } from '../store/database.js';
import type { WebhookMessage } from './mapping.js';

/** The migration module name of this store (schema_migrations.module). */
export const OUTBOX_MODULE = 'webhooks';

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook TEXT NOT NULL,
        message_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        event_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_attempt_at INTEGER,
        last_status INTEGER,
        last_error TEXT,
        done_at INTEGER,
        UNIQUE (webhook, message_id)
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook, status, event_at, id);
      CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, next_attempt_at);
    `,
  },
];

/** Delivery states. */
export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

/** One outbox row, as the API lists it. */
export interface Delivery {
  id: number;
  webhook: string;
  /** The `webhook-id` header: the same on every attempt. */
  messageId: string;
  eventType: string;
  eventAt: number;
  createdAt: number;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  lastAttemptAt?: number;
  /** HTTP status of the last attempt, when it got an answer. */
  lastStatus?: number;
  lastError?: string;
  /** When it was delivered or given up on. */
  doneAt?: number;
}

/** A row with its body, for sending. */
export interface DueDelivery extends Delivery {
  body: string;
}

interface Row {
  id: number; webhook: string; message_id: string; event_type: string; event_at: number; created_at: number; body: string;
  status: DeliveryStatus; attempts: number; next_attempt_at: number; last_attempt_at: number | null; last_status: number | null; last_error: string | null; done_at: number | null;
}

function toDelivery(r: Row): Delivery {
  const d: Delivery = { id: r.id, webhook: r.webhook, messageId: r.message_id, eventType: r.event_type, eventAt: r.event_at, createdAt: r.created_at, status: r.status, attempts: r.attempts, nextAttemptAt: r.next_attempt_at };
  if (r.last_attempt_at !== null) d.lastAttemptAt = r.last_attempt_at;
  if (r.last_status !== null) d.lastStatus = r.last_status;
  if (r.last_error !== null) d.lastError = r.last_error;
  if (r.done_at !== null) d.doneAt = r.done_at;
  return d;
}

/** The outcome of one attempt, recorded by {@link Outbox.recordAttempt}. */
export type AttemptOutcome =
  | { result: 'delivered'; status: number }
  | { result: 'retry'; status?: number; error: string; nextAttemptAt: number }
  | { result: 'dead'; status?: number; error: string };

/** The outbox over the daemon database. Synchronous (better-sqlite3); every write is one transaction. */
export class Outbox {
  private readonly insert;
  private readonly dueStmt;
  private readonly attemptStmt;

  /** Migrates the outbox tables. @throws PbxError DAEMON_DB_MIGRATION */
  constructor(private readonly db: Db) {
    migrate(db, OUTBOX_MODULE, MIGRATIONS);
    this.insert = db.prepare(
      `INSERT OR IGNORE INTO webhook_deliveries (webhook, message_id, event_type, event_at, created_at, body, status, attempts, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?)`,
    );
    this.dueStmt = db.prepare(
      // The (webhook, status, event_at, id) index walks rows in delivery order and stops at LIMIT;
      // left to itself the planner takes the status index and sorts every pending row per call.
      `SELECT * FROM webhook_deliveries INDEXED BY webhook_deliveries_due
       WHERE webhook = ? AND status = 'pending' AND next_attempt_at <= ? ORDER BY event_at, id LIMIT ?`,
    );
    this.attemptStmt = db.prepare(
      `UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, last_attempt_at = ?, last_status = ?, last_error = ?, done_at = ? WHERE id = ?`,
    );
  }

  /**
   * Adds one delivery per (webhook, message) in one transaction; a message already in the outbox
   * for that webhook (same id) is not added again.
   * @returns how many rows were added
   */
  enqueue(items: readonly { webhook: string; message: WebhookMessage }[], now: number): number {
    if (items.length === 0) return 0;
    return this.db.transaction(() => {
      let added = 0;
      for (const { webhook, message: m } of items) added += this.insert.run(webhook, m.id, m.type, m.at, now, m.body, now).changes;
      return added;
    })();
  }

  /** Pending deliveries of `webhook` due at `now`, oldest event first (at most `limit`). */
  due(webhook: string, now: number, limit: number): DueDelivery[] {
    return (this.dueStmt.all(webhook, now, limit) as Row[]).map((r) => ({ ...toDelivery(r), body: r.body }));
  }

  /** Webhooks that have pending deliveries, with the earliest next attempt of each. */
  pendingWebhooks(): { webhook: string; nextAttemptAt: number }[] {
    return this.db.prepare(`SELECT webhook, MIN(next_attempt_at) AS nextAttemptAt FROM webhook_deliveries WHERE status = 'pending' GROUP BY webhook`).all() as { webhook: string; nextAttemptAt: number }[];
  }

  /**
   * Records the outcomes of several attempts in one transaction, without waiting for the disk
   * (synchronous=NORMAL for this commit: durable against a crash of the process, not of the
   * machine). Losing an outcome to a power cut only means an attempt is made again with the same
   * `webhook-id`, which receivers deduplicate; what must survive anything, the delivery itself,
   * is committed with synchronous=FULL by {@link enqueue}. Skipping the fsync per batch keeps a
   * busy outbox from blocking the daemon's event loop on the disk.
   */
  recordAttempts(items: readonly { id: number; outcome: AttemptOutcome; at: number }[]): void {
    if (items.length === 0) return;
    const previous = this.db.pragma('synchronous', { simple: true }) as number;
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.transaction(() => {
        for (const i of items) this.recordAttempt(i.id, i.outcome, i.at);
      })();
    } finally {
      this.db.pragma(`synchronous = ${previous}`);
    }
  }

  /** The earliest next attempt after `now` of any pending delivery (retries waiting), or undefined. */
  nextAttemptAfter(now: number): number | undefined {
    const r = this.db.prepare(`SELECT MIN(next_attempt_at) AS t FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at > ?`).get(now) as { t: number | null };
    return r.t ?? undefined;
  }

  /** Records the outcome of an attempt on delivery `id` made at `now`. */
  recordAttempt(id: number, outcome: AttemptOutcome, now: number): void {
    const status = outcome.result === 'retry' ? 'pending' : outcome.result;
    const next = outcome.result === 'retry' ? outcome.nextAttemptAt : now;
    const error = outcome.result === 'delivered' ? null : outcome.error.slice(0, 500);
    this.attemptStmt.run(status, next, now, outcome.status ?? null, error, outcome.result === 'retry' ? null : now, id);
  }

  /** Gives up on every pending delivery of `webhook` (removed from the config), as dead letters. @returns how many */
  abandon(webhook: string, reason: string, now: number): number {
    return this.db.prepare(`UPDATE webhook_deliveries SET status = 'dead', last_error = ?, done_at = ? WHERE webhook = ? AND status = 'pending'`).run(reason, now, webhook).changes;
  }

  /**
   * Lists deliveries, newest first.
   * @param filter.status one status, or all
   * @param filter.limit at most this many (default 100)
   */
  list(filter: { status?: DeliveryStatus; webhook?: string; limit?: number } = {}): Delivery[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status) {
      where.push('status = ?');
      args.push(filter.status);
    }
    if (filter.webhook) {
      where.push('webhook = ?');
      args.push(filter.webhook);
    }
    const sql = `SELECT * FROM webhook_deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, filter.limit ?? 100) as Row[]).map(toDelivery);
  }

  /** One delivery by row id. */
  get(id: number): Delivery | undefined {
    const r = this.db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?').get(id) as Row | undefined;
    return r ? toDelivery(r) : undefined;
  }

  /**
   * Puts a dead (or pending) delivery back in the queue for an attempt now, with a fresh attempt
   * budget; the message id stays (receivers still deduplicate it).
   * @returns the delivery after the change; undefined when there is no such row; the row unchanged
   *   when it was already delivered
   */
  retry(id: number, now: number): Delivery | undefined {
    const d = this.get(id);
    if (!d || d.status === 'delivered') return d;
    this.db.prepare(`UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, done_at = NULL WHERE id = ?`).run(now, id);
    return this.get(id);
  }

  /** Row counts by status (metrics). */
  counts(): Record<DeliveryStatus, number> {
    const out: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, dead: 0 };
    for (const r of this.db.prepare('SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status').all() as { status: DeliveryStatus; n: number }[]) out[r.status] = r.n;
    return out;
  }

  /**
   * Deletes delivered rows finished before `deliveredBefore` and dead ones before `deadBefore`
   * (the outbox is not an archive; CDRs are).
   * @returns rows deleted
   */
  prune(deliveredBefore: number, deadBefore: number): number {
    return this.db.prepare(`DELETE FROM webhook_deliveries WHERE (status = 'delivered' AND done_at < ?) OR (status = 'dead' AND done_at < ?)`).run(deliveredBefore, deadBefore).changes;
  }
}
