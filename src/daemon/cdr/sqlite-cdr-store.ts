/**
 * The default CdrStore (cdr-types.ts): the daemon's SQLite database (store/database.ts: WAL,
 * synchronous=FULL, so an insert that returned survives a crash or power loss), table `cdrs`
 * with indexes for the API's filters (time range, extension as caller / dialled / answering
 * party, DID, disposition). Also keeps the CDR builder's open calls (`cdr_open`), so calls in
 * progress survive a daemon restart; that table is the daemon's working state and stays in
 * SQLite whatever CdrStore is used.
 */
import { PbxError } from '../../lib/errors.js';
import { migrate, type Db } from '../store/database.js';
import type { OpenCall } from './cdr-builder.js';
import { DEFAULT_CDR_PAGE, MAX_CDR_PAGE, type Cdr, type CdrPage, type CdrQuery, type CdrStore } from './cdr-types.js';

/** Migrations of module `cdr` (never renumber a released one). */
export const CDR_MIGRATIONS = [
  {
    version: 1,
    sql: `
CREATE TABLE cdrs (
  call_id TEXT PRIMARY KEY,
  started_at INTEGER NOT NULL,
  answered_at INTEGER,
  ended_at INTEGER NOT NULL,
  direction TEXT NOT NULL,
  from_number TEXT NOT NULL,
  to_number TEXT NOT NULL,
  did TEXT,
  target TEXT,
  answered_by TEXT,
  trunk TEXT,
  disposition TEXT NOT NULL,
  duration_s INTEGER NOT NULL,
  billable_s INTEGER NOT NULL,
  json TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX cdrs_started ON cdrs (started_at, call_id);
CREATE INDEX cdrs_from ON cdrs (from_number, started_at);
CREATE INDEX cdrs_to ON cdrs (to_number, started_at);
CREATE INDEX cdrs_answered_by ON cdrs (answered_by, started_at);
CREATE INDEX cdrs_target ON cdrs (target, started_at);
CREATE INDEX cdrs_did ON cdrs (did, started_at);
CREATE INDEX cdrs_disposition ON cdrs (disposition, started_at);
CREATE TABLE cdr_open (
  call_id TEXT PRIMARY KEY,
  updated_at INTEGER NOT NULL,
  json TEXT NOT NULL
) WITHOUT ROWID;
`,
  },
];

/** Keyset cursor: base64url of `startedAt:callId`. */
function encodeCursor(c: Cdr): string {
  return Buffer.from(`${c.startedAt}:${c.callId}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { startedAt: number; callId: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^(\d{1,15}):(.+)$/s.exec(text);
  if (!m) throw new PbxError('CDR_BAD_CURSOR', `"${cursor}" is not a CDR cursor`, { hint: 'Pass the nextCursor of the previous page unchanged, or leave it out for the first page.' });
  return { startedAt: Number(m[1]), callId: m[2]! };
}

/** SQLite CdrStore plus the builder's open-call table. */
export class SqliteCdrStore implements CdrStore {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly pruneStmt;
  private readonly upsertOpen;
  private readonly deleteOpen;

  /** Migrates module `cdr` and prepares statements. @throws PbxError DAEMON_DB_MIGRATION */
  constructor(private readonly db: Db) {
    migrate(db, 'cdr', CDR_MIGRATIONS);
    this.insertStmt = db.prepare(
      `INSERT OR IGNORE INTO cdrs (call_id, started_at, answered_at, ended_at, direction, from_number, to_number, did, target, answered_by, trunk, disposition, duration_s, billable_s, json)
       VALUES (@callId, @startedAt, @answeredAt, @endedAt, @direction, @from, @to, @did, @target, @answeredBy, @trunk, @disposition, @durationS, @billableS, @json)`,
    );
    this.getStmt = db.prepare('SELECT json FROM cdrs WHERE call_id = ?');
    this.pruneStmt = db.prepare('DELETE FROM cdrs WHERE started_at < ?');
    this.upsertOpen = db.prepare('INSERT INTO cdr_open (call_id, updated_at, json) VALUES (?, ?, ?) ON CONFLICT (call_id) DO UPDATE SET updated_at = excluded.updated_at, json = excluded.json');
    this.deleteOpen = db.prepare('DELETE FROM cdr_open WHERE call_id = ?');
  }

  private row(c: Cdr) {
    return {
      callId: c.callId,
      startedAt: c.startedAt,
      answeredAt: c.answeredAt ?? null,
      endedAt: c.endedAt,
      direction: c.direction,
      from: c.from,
      to: c.to,
      did: c.did ?? null,
      target: c.target ?? null,
      answeredBy: c.answeredBy ?? null,
      trunk: c.trunk ?? null,
      disposition: c.disposition,
      durationS: c.durationS,
      billableS: c.billableS,
      json: JSON.stringify(c),
    };
  }

  insert(cdr: Cdr): boolean {
    return this.insertStmt.run(this.row(cdr)).changes === 1;
  }

  insertMany(cdrs: readonly Cdr[]): number {
    return this.db.transaction((list: readonly Cdr[]) => {
      let n = 0;
      for (const c of list) n += this.insertStmt.run(this.row(c)).changes;
      return n;
    })(cdrs);
  }

  get(callId: string): Cdr | undefined {
    const r = this.getStmt.get(callId) as { json: string } | undefined;
    return r ? (JSON.parse(r.json) as Cdr) : undefined;
  }

  /** @throws PbxError CDR_BAD_CURSOR */
  query(q: CdrQuery): CdrPage {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.from !== undefined) {
      where.push('started_at >= ?');
      args.push(q.from);
    }
    if (q.to !== undefined) {
      where.push('started_at < ?');
      args.push(q.to);
    }
    if (q.extension !== undefined) {
      where.push('(from_number = ? OR to_number = ? OR target = ? OR answered_by = ?)');
      args.push(q.extension, q.extension, q.extension, q.extension);
    }
    if (q.did !== undefined) {
      where.push('did = ?');
      args.push(q.did);
    }
    if (q.disposition !== undefined) {
      where.push('disposition = ?');
      args.push(q.disposition);
    }
    if (q.cursor !== undefined) {
      const c = decodeCursor(q.cursor);
      where.push('(started_at < ? OR (started_at = ? AND call_id < ?))');
      args.push(c.startedAt, c.startedAt, c.callId);
    }
    const limit = Math.max(1, Math.min(MAX_CDR_PAGE, Math.floor(q.limit ?? DEFAULT_CDR_PAGE)));
    const sql = `SELECT json FROM cdrs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, call_id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, limit + 1) as { json: string }[];
    const cdrs = rows.slice(0, limit).map((r) => JSON.parse(r.json) as Cdr);
    const last = cdrs.at(-1);
    return rows.length > limit && last ? { cdrs, nextCursor: encodeCursor(last) } : { cdrs };
  }

  prune(olderThan: number): number {
    return this.pruneStmt.run(olderThan).changes;
  }

  /** The builder's open calls, as persisted. Rows that do not parse are dropped (logged by the caller). */
  loadOpen(): { open: OpenCall[]; broken: string[] } {
    const open: OpenCall[] = [];
    const broken: string[] = [];
    for (const r of this.db.prepare('SELECT call_id, json FROM cdr_open').all() as { call_id: string; json: string }[]) {
      try {
        open.push(JSON.parse(r.json) as OpenCall);
      } catch {
        broken.push(r.call_id);
        this.deleteOpen.run(r.call_id);
      }
    }
    return { open, broken };
  }

  /**
   * Persists one builder step in one transaction: new CDRs, open calls changed, open calls done.
   * @returns the CDRs that were new (a replayed Call-ID is not)
   */
  commit(step: { cdrs: readonly Cdr[]; upsert: readonly OpenCall[]; remove: readonly string[] }): Cdr[] {
    return this.db.transaction(() => {
      const fresh = step.cdrs.filter((c) => this.insertStmt.run(this.row(c)).changes === 1);
      for (const c of step.upsert) this.upsertOpen.run(c.callId, c.updatedAt, JSON.stringify(c));
      for (const id of step.remove) this.deleteOpen.run(id);
      return fresh;
    })();
  }
}
