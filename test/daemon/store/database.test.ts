import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openDaemonDb } from '../../../src/daemon/store/database.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('daemon database', () => {
  it('opens in WAL mode with full sync and applies migrations once, in order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pbx-db-'));
    dirs.push(dir);
    const file = join(dir, 'state', 'daemon.db');
    const db = openDaemonDb(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    const migrations = [
      { version: 2, sql: 'ALTER TABLE t ADD COLUMN b TEXT' },
      { version: 1, sql: 'CREATE TABLE t (a INTEGER)' },
    ];
    expect(migrate(db, 'mod', migrations)).toEqual([1, 2]);
    db.prepare('INSERT INTO t (a, b) VALUES (1, ?)').run('x');
    db.close();
    const again = openDaemonDb(file);
    expect(migrate(again, 'mod', migrations)).toEqual([]);
    expect(again.prepare('SELECT a, b FROM t').all()).toEqual([{ a: 1, b: 'x' }]);
    again.close();
  });

  it('rolls back a failing migration and keeps the earlier ones', () => {
    const db = openDaemonDb(':memory:');
    expect(() => migrate(db, 'm', [{ version: 1, sql: 'CREATE TABLE a (x)' }, { version: 2, sql: 'CREATE TABLE b (y); SELECT nope FROM nowhere' }])).toThrow(/migration m v2 failed/);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('a', 'b')").all()).toEqual([{ name: 'a' }]);
    expect(migrate(db, 'm', [{ version: 1, sql: 'CREATE TABLE a (x)' }, { version: 2, sql: 'CREATE TABLE b (y)' }])).toEqual([2]);
  });

  it('refuses a database written by a newer schema', () => {
    const db = openDaemonDb(':memory:');
    migrate(db, 'm', [{ version: 1, sql: 'CREATE TABLE a (x)' }, { version: 2, sql: 'CREATE TABLE b (x)' }]);
    expect(() => migrate(db, 'm', [{ version: 1, sql: 'CREATE TABLE a (x)' }])).toThrow(/newer than this daemon knows/);
  });
});
