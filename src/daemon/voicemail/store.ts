/**
 * Voicemail storage: each message is a WAV file `STATE_DIR/voicemail/<mailbox>/<id>.wav` (8 kHz
 * mono 16-bit, media/wav.ts) plus a row in the daemon database (`voicemail_messages`, through
 * better-sqlite3: store/database.ts). Greetings the owner recorded are `greeting-unavailable.wav` /
 * `greeting-busy.wav` in the same directory.
 *
 * Durability (issue 5: "files fsynced before the call is considered recorded"): a deposit writes a
 * temp file, fsyncs it, renames it to its final name, fsyncs the directory (so the rename itself
 * survives a power loss, see rename(2) and fsync(2)), and only then inserts the row (WAL,
 * synchronous=FULL: the commit is on disk when it returns). Only after that is the message
 * "recorded" and `voicemail.new` / `voicemail.changed` published. A crash between the rename and
 * the insert leaves a file without a row: {@link VoicemailStore.reconcile} indexes it again at
 * startup from the caller and time kept inside the file (its INFO comment). Rows whose file is gone
 * are removed, and leftover temp files deleted; each is logged.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PbxError } from '../../lib/errors.js';
import { decodeWav, encodeWav } from '../../media/wav.js';
import type { Party } from '../channel.js';
import type { EventBus } from '../events.js';
import { migrate, type Db } from '../store/database.js';

/** Folders of a box: `new` until listened to, then `old`; `saved` when the owner kept it (9). */
export type VoicemailFolder = 'new' | 'old' | 'saved';

/** One message's metadata. Times are ms since the epoch. */
export interface VoicemailMessage {
  mailbox: string;
  /** Unique in the box; `<receivedAt>-<8 hex>`, safe in paths and URLs. */
  id: string;
  caller: Party;
  receivedAt: number;
  durationMs: number;
  folder: VoicemailFolder;
  /** Absolute path of the WAV file. */
  file: string;
}

/** Message counts of a box (`old` counts old and saved: both have been heard). */
export interface VoicemailCounts {
  newCount: number;
  oldCount: number;
}

/** Greeting kinds an owner can record. */
export type GreetingKind = 'unavailable' | 'busy';

/** Where the store logs what it repaired or removed. */
export interface VoicemailLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

const MIGRATIONS = [
  {
    version: 1,
    sql: `CREATE TABLE voicemail_messages (
      mailbox TEXT NOT NULL,
      id TEXT NOT NULL,
      caller_number TEXT NOT NULL,
      caller_name TEXT,
      received_at INTEGER NOT NULL,
      duration_ms INTEGER NOT NULL,
      folder TEXT NOT NULL CHECK (folder IN ('new', 'old', 'saved')),
      file TEXT NOT NULL,
      PRIMARY KEY (mailbox, id)
    );
    CREATE INDEX voicemail_messages_received ON voicemail_messages (received_at);`,
  },
];

interface Row {
  mailbox: string;
  id: string;
  caller_number: string;
  caller_name: string | null;
  received_at: number;
  duration_ms: number;
  folder: VoicemailFolder;
  file: string;
}

const MAILBOX = /^[0-9A-Za-z*#+_-]{1,32}$/;
const MESSAGE_ID = /^[0-9]{10,16}-[0-9a-f]{8}$/;

/** A mailbox or message id that cannot be one (path safety): code VOICEMAIL_BAD_ID. */
function badId(what: string, value: string): PbxError {
  return new PbxError('VOICEMAIL_BAD_ID', `${JSON.stringify(value)} is not a valid ${what}`, { hint: what === 'mailbox' ? 'A mailbox is an extension number, e.g. 1001.' : 'Message ids look like 1763760000000-1a2b3c4d (see `pbxctl voicemail list`).' });
}

/** Writes `bytes` to `file` durably: temp file, fsync, rename, fsync of the directory. */
export function writeFileDurably(dir: string, name: string, bytes: Buffer): string {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const temp = join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o640);
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const file = join(dir, name);
  renameSync(temp, file);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
  return file;
}

/**
 * The voicemail store. Synchronous SQLite (better-sqlite3) and file calls: each is short, and a
 * deposit must be durable before the flow goes on.
 */
export class VoicemailStore {
  private readonly baseDir: string;

  /**
   * @param db the daemon database (migrates module `voicemail`)
   * @param stateDir the daemon's state directory; files go to `stateDir/voicemail/`
   * @param events where `voicemail.new` / `voicemail.changed` are published
   * @throws PbxError DAEMON_DB_MIGRATION
   */
  constructor(
    private readonly db: Db,
    stateDir: string,
    private readonly events: EventBus,
    private readonly log?: VoicemailLog,
    private readonly clock: () => number = Date.now,
  ) {
    migrate(db, 'voicemail', MIGRATIONS);
    this.baseDir = join(stateDir, 'voicemail');
    mkdirSync(this.baseDir, { recursive: true, mode: 0o750 });
  }

  /** The directory of a box. @throws PbxError VOICEMAIL_BAD_ID */
  mailboxDir(mailbox: string): string {
    if (!MAILBOX.test(mailbox)) throw badId('mailbox', mailbox);
    return join(this.baseDir, mailbox);
  }

  /**
   * Stores a message durably, then publishes `voicemail.new` and `voicemail.changed`.
   * @param samples 8 kHz 16-bit audio
   * @throws PbxError VOICEMAIL_BAD_ID; file system errors (ENOSPC...) as thrown by node:fs
   */
  deposit(m: { mailbox: string; caller: Party; samples: Int16Array; receivedAt?: number }): VoicemailMessage {
    const dir = this.mailboxDir(m.mailbox);
    const receivedAt = m.receivedAt ?? this.clock();
    const id = `${receivedAt}-${randomBytes(4).toString('hex')}`;
    const durationMs = Math.round(m.samples.length / 8);
    const comment = { mailbox: m.mailbox, callerNumber: m.caller.number, ...(m.caller.name ? { callerName: m.caller.name } : {}), receivedAt };
    const file = writeFileDurably(dir, `${id}.wav`, encodeWav(m.samples, comment));
    const message: VoicemailMessage = { mailbox: m.mailbox, id, caller: m.caller, receivedAt, durationMs, folder: 'new', file };
    this.insert(message);
    this.events.publish({ type: 'voicemail.new', mailbox: m.mailbox, messageId: id, caller: m.caller, durationS: Math.round(durationMs / 100) / 10, receivedAt, file });
    this.publishCounts(m.mailbox);
    return message;
  }

  private insert(m: VoicemailMessage): void {
    this.db
      .prepare('INSERT INTO voicemail_messages (mailbox, id, caller_number, caller_name, received_at, duration_ms, folder, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(m.mailbox, m.id, m.caller.number, m.caller.name ?? null, m.receivedAt, m.durationMs, m.folder, m.file);
  }

  /** Counts of a box (zero for a box without messages). */
  counts(mailbox: string): VoicemailCounts {
    const rows = this.db.prepare('SELECT folder, COUNT(*) AS n FROM voicemail_messages WHERE mailbox = ? GROUP BY folder').all(mailbox) as { folder: VoicemailFolder; n: number }[];
    let newCount = 0;
    let oldCount = 0;
    for (const r of rows) {
      if (r.folder === 'new') newCount += r.n;
      else oldCount += r.n;
    }
    return { newCount, oldCount };
  }

  /** Total messages of a box (for maxMessages). */
  total(mailbox: string): number {
    const c = this.counts(mailbox);
    return c.newCount + c.oldCount;
  }

  /** Every mailbox that has at least one message, sorted. */
  allMailboxes(): string[] {
    return (this.db.prepare('SELECT DISTINCT mailbox FROM voicemail_messages ORDER BY mailbox').all() as { mailbox: string }[]).map((r) => r.mailbox);
  }

  /** Messages of a box, oldest first; new ones before heard ones when `order` is `play` (the phone menu's order). */
  list(mailbox: string, o: { folder?: VoicemailFolder; order?: 'time' | 'play' } = {}): VoicemailMessage[] {
    const where = o.folder ? 'mailbox = ? AND folder = ?' : 'mailbox = ?';
    const order = o.order === 'play' ? "CASE folder WHEN 'new' THEN 0 ELSE 1 END, received_at, id" : 'received_at, id';
    const rows = this.db.prepare(`SELECT * FROM voicemail_messages WHERE ${where} ORDER BY ${order}`).all(...(o.folder ? [mailbox, o.folder] : [mailbox])) as Row[];
    return rows.map(toMessage);
  }

  /** One message, or undefined. */
  get(mailbox: string, id: string): VoicemailMessage | undefined {
    if (!MESSAGE_ID.test(id)) return undefined;
    const row = this.db.prepare('SELECT * FROM voicemail_messages WHERE mailbox = ? AND id = ?').get(mailbox, id) as Row | undefined;
    return row && toMessage(row);
  }

  /** Moves a message to a folder; publishes `voicemail.changed` when the counts changed. @returns false when there is no such message */
  setFolder(mailbox: string, id: string, folder: VoicemailFolder): boolean {
    const before = this.counts(mailbox);
    const r = this.db.prepare('UPDATE voicemail_messages SET folder = ? WHERE mailbox = ? AND id = ? AND folder != ?').run(folder, mailbox, id, folder);
    if (r.changes === 0) return this.get(mailbox, id) !== undefined;
    const after = this.counts(mailbox);
    if (before.newCount !== after.newCount || before.oldCount !== after.oldCount) this.publishCounts(mailbox);
    return true;
  }

  /** Deletes a message (row, then file); publishes `voicemail.changed`. @returns false when there is no such message */
  delete(mailbox: string, id: string): boolean {
    const m = this.get(mailbox, id);
    if (!m) return false;
    this.db.prepare('DELETE FROM voicemail_messages WHERE mailbox = ? AND id = ?').run(mailbox, id);
    // Row first: a crash before the unlink leaves a file reconcile() would index again, so unlink
    // now and accept that rare resurrection rather than a row pointing at nothing.
    rmSync(m.file, { force: true });
    this.publishCounts(mailbox);
    return true;
  }

  /**
   * Deletes messages received before `now - retentionDays` (0 keeps everything).
   * @returns how many were deleted
   */
  prune(retentionDays: number, now = this.clock()): number {
    if (retentionDays <= 0) return 0;
    const cutoff = now - retentionDays * 86_400_000;
    const old = (this.db.prepare('SELECT * FROM voicemail_messages WHERE received_at < ?').all(cutoff) as Row[]).map(toMessage);
    for (const m of old) this.delete(m.mailbox, m.id);
    if (old.length > 0) this.log?.info('voicemail retention: old messages deleted', { count: old.length, retentionDays });
    return old.length;
  }

  /** A greeting the owner recorded, or undefined. */
  greetingFile(mailbox: string, kind: GreetingKind): string | undefined {
    const file = join(this.mailboxDir(mailbox), `greeting-${kind}.wav`);
    try {
      return statSync(file).size > 44 ? file : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores a recorded greeting durably (replacing the previous one). @returns its path */
  saveGreeting(mailbox: string, kind: GreetingKind, samples: Int16Array): string {
    return writeFileDurably(this.mailboxDir(mailbox), `greeting-${kind}.wav`, encodeWav(samples));
  }

  /**
   * Startup repair (see the module doc): indexes message files without a row, removes rows
   * without a file and leftover temp files. Publishes `voicemail.changed` for boxes it changed.
   * @returns what it did
   */
  reconcile(): { indexed: number; removed: number; tempFiles: number } {
    let indexed = 0;
    let removed = 0;
    let tempFiles = 0;
    const changed = new Set<string>();
    for (const row of this.db.prepare('SELECT * FROM voicemail_messages').all() as Row[]) {
      try {
        statSync(row.file);
      } catch {
        this.db.prepare('DELETE FROM voicemail_messages WHERE mailbox = ? AND id = ?').run(row.mailbox, row.id);
        this.log?.warn('voicemail message without its audio file removed from the index', { mailbox: row.mailbox, id: row.id, file: row.file });
        removed++;
        changed.add(row.mailbox);
      }
    }
    for (const mailbox of readdirSync(this.baseDir)) {
      if (!MAILBOX.test(mailbox)) continue;
      const dir = join(this.baseDir, mailbox);
      if (!statSync(dir).isDirectory()) continue;
      for (const name of readdirSync(dir)) {
        const file = join(dir, name);
        if (name.startsWith('.') && name.endsWith('.tmp')) {
          rmSync(file, { force: true });
          this.log?.warn('voicemail: unfinished temp file deleted', { file });
          tempFiles++;
          continue;
        }
        const id = name.replace(/\.wav$/, '');
        if (!MESSAGE_ID.test(id) || this.get(mailbox, id)) continue;
        try {
          const wav = decodeWav(readFileSync(file));
          const c = wav.comment ?? {};
          const receivedAt = typeof c.receivedAt === 'number' ? c.receivedAt : Number(id.split('-')[0]);
          const caller: Party = { number: typeof c.callerNumber === 'string' ? c.callerNumber : 'unknown', ...(typeof c.callerName === 'string' ? { name: c.callerName } : {}) };
          this.insert({ mailbox, id, caller, receivedAt, durationMs: wav.durationMs, folder: 'new', file });
          this.log?.warn('voicemail message file without an index row indexed again (crash after the file was written)', { mailbox, id, caller: caller.number });
          indexed++;
          changed.add(mailbox);
        } catch (e) {
          this.log?.warn('voicemail: unreadable message file left alone', { file, error: e instanceof Error ? e.message : String(e) });
        }
      }
    }
    for (const mailbox of changed) this.publishCounts(mailbox);
    if (indexed + removed + tempFiles > 0) this.log?.info('voicemail store reconciled', { indexed, removed, tempFiles });
    return { indexed, removed, tempFiles };
  }

  private publishCounts(mailbox: string): void {
    this.events.publish({ type: 'voicemail.changed', mailbox, ...this.counts(mailbox) });
  }
}

function toMessage(r: Row): VoicemailMessage {
  return {
    mailbox: r.mailbox,
    id: r.id,
    caller: { number: r.caller_number, ...(r.caller_name !== null ? { name: r.caller_name } : {}) },
    receivedAt: r.received_at,
    durationMs: r.duration_ms,
    folder: r.folder,
    file: r.file,
  };
}
