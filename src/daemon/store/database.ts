/**
 * The daemon's durable store: one SQLite database (`STATE_DIR/daemon.db`, through better-sqlite3)
 * shared by every module that must not lose what it accepted across a crash or restart: CDRs,
 * voicemail metadata, the webhook outbox, queue agent state.
 *
 * Durability: WAL journal with `synchronous = FULL`, so a transaction that returned is on disk
 * (SQLite "Write-Ahead Logging": with NORMAL a power loss may roll back the last commits; FULL
 * syncs the WAL at every commit). A process crash loses nothing in either mode; FULL also covers
 * the machine going down, which is what "keeps every CDR it accepted" means for a phone system.
 *
 * Each module owns its tables and declares numbered migrations under its own name; `migrate`
 * applies the missing ones in one transaction per migration and records them in
 * `schema_migrations`, so modules evolve their schema independently and a database from an older
 * daemon upgrades in place.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PbxError } from '../../lib/errors.js';

/** The better-sqlite3 handle modules receive. */
export type Db = Database.Database;

/** One schema step of a module: applied once, in `version` order, inside a transaction. */
export interface Migration {
  /** 1, 2, 3... per module; never reuse or renumber a released one. */
  version: number;
  /** Plain SQL (may hold several statements). */
  sql: string;
}

/** The file name of the database inside the daemon's state directory. */
export const DAEMON_DB_FILE = 'daemon.db';

/**
 * Opens (creating if needed) the daemon database.
 * @param file absolute path, or `:memory:` for tests
 * @throws PbxError DAEMON_DB_OPEN when the file cannot be opened or is not a SQLite database
 */
export function openDaemonDb(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
  let db: Db;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // Several connections (the daemon, `pbxctl cdr` reading on the node) may meet; wait instead of SQLITE_BUSY.
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL, PRIMARY KEY (module, version))');
  } catch (e) {
    throw new PbxError('DAEMON_DB_OPEN', `cannot open the daemon database ${file}: ${e instanceof Error ? e.message : String(e)}`, {
      hint: 'Check the state directory exists, is writable by the daemon user, and holds a SQLite file (move a damaged one aside; the daemon creates a new one).',
      cause: e,
    });
  }
  return db;
}

/** The database file of a state directory. */
export function daemonDbPath(stateDir: string): string {
  return join(stateDir, DAEMON_DB_FILE);
}

/**
 * Applies `module`'s migrations that are not yet recorded, in version order.
 * @returns the versions applied now (empty when the schema was current)
 * @throws PbxError DAEMON_DB_MIGRATION when a migration fails (that migration is rolled back;
 *   earlier ones stay applied), or when the database has a newer version than this code knows
 */
export function migrate(db: Db, module: string, migrations: readonly Migration[]): number[] {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  const done = new Set((db.prepare('SELECT version FROM schema_migrations WHERE module = ?').all(module) as { version: number }[]).map((r) => r.version));
  const newest = Math.max(0, ...done);
  const known = sorted.at(-1)?.version ?? 0;
  if (newest > known) {
    throw new PbxError('DAEMON_DB_MIGRATION', `the daemon database has ${module} schema version ${newest}, newer than this daemon knows (${known})`, {
      hint: 'A newer pbxctl wrote this database: run that version of the daemon, or restore the database from before the upgrade.',
    });
  }
  const applied: number[] = [];
  for (const m of sorted) {
    if (done.has(m.version)) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        db.prepare('INSERT INTO schema_migrations (module, version, applied_at) VALUES (?, ?, ?)').run(module, m.version, Date.now());
      })();
    } catch (e) {
      throw new PbxError('DAEMON_DB_MIGRATION', `migration ${module} v${m.version} failed: ${e instanceof Error ? e.message : String(e)}`, {
        hint: 'The database was left at the previous version. Report this with the daemon log.',
        cause: e,
      });
    }
    applied.push(m.version);
  }
  return applied;
}
