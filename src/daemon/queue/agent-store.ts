/**
 * Durable agent state (issue 5: "agent state survives a daemon restart"): which extension is
 * logged in to which queue, and whether it is paused, in the daemon's SQLite database
 * (store/database.ts; WAL, synchronous=FULL, so a login that was confirmed is on disk). Runtime
 * states (ringing, busy, wrap-up) are not stored: after a restart no call is in progress.
 *
 * One row per (extension, queue) an agent is logged in to; no row = logged out.
 */
import { migrate, type Db } from '../store/database.js';

/** The migration module name of these tables in `schema_migrations`. */
export const AGENT_STORE_MODULE = 'queue';

const MIGRATIONS = [
  {
    version: 1,
    sql: `CREATE TABLE queue_agent_login (
      extension TEXT NOT NULL,
      queue TEXT NOT NULL,
      paused INTEGER NOT NULL DEFAULT 0,
      pause_reason TEXT,
      logged_in_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (extension, queue)
    )`,
  },
];

/** One stored login. Times are ms since the epoch. */
export interface AgentLogin {
  extension: string;
  queue: string;
  paused: boolean;
  pauseReason?: string;
  loggedInAt: number;
  updatedAt: number;
}

/** Where QueueManager keeps logins (SqliteAgentStore; an in-memory one in tests). */
export interface AgentStore {
  list(): AgentLogin[];
  /** Logs in (not paused); a login that exists keeps its pause state and time. */
  login(extension: string, queue: string, at: number): void;
  logout(extension: string, queue: string): void;
  /** No-op when the agent is not logged in to `queue`. */
  setPaused(extension: string, queue: string, paused: boolean, reason: string | undefined, at: number): void;
}

interface Row {
  extension: string;
  queue: string;
  paused: number;
  pause_reason: string | null;
  logged_in_at: number;
  updated_at: number;
}

/** The production store on the shared daemon database. */
export class SqliteAgentStore implements AgentStore {
  private readonly stmts;

  /** Migrates the `queue` module's tables. @throws PbxError DAEMON_DB_MIGRATION */
  constructor(db: Db) {
    migrate(db, AGENT_STORE_MODULE, MIGRATIONS);
    this.stmts = {
      list: db.prepare('SELECT * FROM queue_agent_login ORDER BY extension, queue'),
      login: db.prepare('INSERT INTO queue_agent_login (extension, queue, paused, logged_in_at, updated_at) VALUES (?, ?, 0, ?, ?) ON CONFLICT (extension, queue) DO NOTHING'),
      logout: db.prepare('DELETE FROM queue_agent_login WHERE extension = ? AND queue = ?'),
      pause: db.prepare('UPDATE queue_agent_login SET paused = ?, pause_reason = ?, updated_at = ? WHERE extension = ? AND queue = ?'),
    };
  }

  list(): AgentLogin[] {
    return (this.stmts.list.all() as Row[]).map((r) => ({
      extension: r.extension,
      queue: r.queue,
      paused: r.paused !== 0,
      ...(r.pause_reason === null ? {} : { pauseReason: r.pause_reason }),
      loggedInAt: r.logged_in_at,
      updatedAt: r.updated_at,
    }));
  }

  login(extension: string, queue: string, at: number): void {
    this.stmts.login.run(extension, queue, at, at);
  }

  logout(extension: string, queue: string): void {
    this.stmts.logout.run(extension, queue);
  }

  setPaused(extension: string, queue: string, paused: boolean, reason: string | undefined, at: number): void {
    this.stmts.pause.run(paused ? 1 : 0, paused ? (reason ?? null) : null, at, extension, queue);
  }
}

/** A store that forgets everything on restart (unit tests, and a daemon run without a state directory). */
export class MemoryAgentStore implements AgentStore {
  private readonly rows = new Map<string, AgentLogin>();

  list(): AgentLogin[] {
    return [...this.rows.values()].map((r) => ({ ...r })).sort((a, b) => (a.extension + '\0' + a.queue < b.extension + '\0' + b.queue ? -1 : 1));
  }

  login(extension: string, queue: string, at: number): void {
    const key = `${extension}\0${queue}`;
    if (!this.rows.has(key)) this.rows.set(key, { extension, queue, paused: false, loggedInAt: at, updatedAt: at });
  }

  logout(extension: string, queue: string): void {
    this.rows.delete(`${extension}\0${queue}`);
  }

  setPaused(extension: string, queue: string, paused: boolean, reason: string | undefined, at: number): void {
    const r = this.rows.get(`${extension}\0${queue}`);
    if (!r) return;
    r.paused = paused;
    if (paused && reason !== undefined) r.pauseReason = reason;
    else delete r.pauseReason;
    r.updatedAt = at;
  }
}
