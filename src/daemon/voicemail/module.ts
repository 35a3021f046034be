/**
 * The voicemail module of the daemon: the store (reconciled at startup), its HTTP routes and the
 * retention job. startDaemon builds one after the database and the routes array.
 *
 * Routes (bearer token like the rest of the API, api.ts):
 *   GET    /v1/voicemail                               `{mailboxes: [{mailbox, newCount, oldCount}]}`
 *   GET    /v1/voicemail/:mailbox/messages[?folder=]   `{mailbox, newCount, oldCount, messages: [...]}`
 *   GET    /v1/voicemail/:mailbox/messages/:id/audio   the WAV file (audio/wav)
 *   DELETE /v1/voicemail/:mailbox/messages/:id         204, or 404
 */
import { readFileSync } from 'node:fs';
import { PbxError } from '../../lib/errors.js';
import type { ApiRoute } from '../api.js';
import type { EventBus } from '../events.js';
import type { VoicemailRuntime } from '../flows/voicemail.js';
import type { Db } from '../store/database.js';
import { VoicemailStore, type VoicemailFolder, type VoicemailLog, type VoicemailMessage } from './store.js';

/** How often the retention job runs, ms. */
export const RETENTION_INTERVAL_MS = 3_600_000;

/** What {@link startVoicemail} needs. */
export interface VoicemailModuleOptions {
  db: Db;
  stateDir: string;
  events: EventBus;
  /** The daemon's module routes; the voicemail routes are pushed onto it. */
  routes: ApiRoute[];
  /** `voicemail.retentionDays` of the live config (0: keep; undefined: no config yet). */
  retentionDays: () => number | undefined;
  log?: VoicemailLog;
}

/** The running module. */
export interface VoicemailModule {
  store: VoicemailStore;
  /** The flow runtime of a call that started on a release with these PIN hashes. */
  runtime(pins: Record<string, string>): VoicemailRuntime;
  /** Runs the retention job now; returns how many messages it deleted. */
  prune(): number;
  stop(): void;
}

/** A message as the API shows it (no server path). */
export function messageView(m: VoicemailMessage): Omit<VoicemailMessage, 'file'> {
  const { file: _file, ...rest } = m;
  return rest;
}

const FOLDERS: readonly VoicemailFolder[] = ['new', 'old', 'saved'];

/** GET /v1/voicemail. */
export interface VoicemailBoxesReply {
  mailboxes: { mailbox: string; newCount: number; oldCount: number }[];
}

/** GET /v1/voicemail/:mailbox/messages. */
export interface VoicemailMessagesReply {
  mailbox: string;
  newCount: number;
  oldCount: number;
  messages: Omit<VoicemailMessage, 'file'>[];
}

/** The API routes over a store. */
export function voicemailRoutes(store: VoicemailStore): ApiRoute[] {
  const box = (mailbox: string) => {
    store.mailboxDir(mailbox); // throws VOICEMAIL_BAD_ID (422) for a malformed mailbox
    return mailbox;
  };
  return [
    {
      method: 'GET',
      path: /^\/v1\/voicemail$/,
      handle: () => ({ status: 200, body: { mailboxes: store.allMailboxes().map((mailbox) => ({ mailbox, ...store.counts(mailbox) })) } }),
    },
    {
      method: 'GET',
      path: /^\/v1\/voicemail\/([^/]+)\/messages$/,
      handle: ({ params, query }) => {
        const mailbox = box(params[0]!);
        const folder = query.get('folder') ?? undefined;
        if (folder !== undefined && !FOLDERS.includes(folder as VoicemailFolder)) {
          throw new PbxError('VOICEMAIL_BAD_FOLDER', `folder ${JSON.stringify(folder)} is not one of ${FOLDERS.join(', ')}`);
        }
        const messages = store.list(mailbox, folder ? { folder: folder as VoicemailFolder } : {}).map(messageView);
        return { status: 200, body: { mailbox, ...store.counts(mailbox), messages } };
      },
    },
    {
      method: 'GET',
      path: /^\/v1\/voicemail\/([^/]+)\/messages\/([^/]+)\/audio$/,
      handle: ({ params }) => {
        const m = store.get(box(params[0]!), params[1]!);
        if (!m) return { status: 404, body: { error: `no message ${params[1]} in mailbox ${params[0]}` } };
        let bytes: Buffer;
        try {
          bytes = readFileSync(m.file);
        } catch {
          return { status: 404, body: { error: `the audio of message ${m.id} is missing on the node` } };
        }
        return { status: 200, bytes, contentType: 'audio/wav' };
      },
    },
    {
      method: 'DELETE',
      path: /^\/v1\/voicemail\/([^/]+)\/messages\/([^/]+)$/,
      handle: ({ params }) => (store.delete(box(params[0]!), params[1]!) ? { status: 204 } : { status: 404, body: { error: `no message ${params[1]} in mailbox ${params[0]}` } }),
    },
  ];
}

/**
 * Opens the store, reconciles it with the files (startup repair), adds the routes and starts the
 * hourly retention job (also run once now).
 * @throws PbxError DAEMON_DB_MIGRATION; file system errors creating `stateDir/voicemail`
 */
export function startVoicemail(o: VoicemailModuleOptions): VoicemailModule {
  const store = new VoicemailStore(o.db, o.stateDir, o.events, o.log);
  store.reconcile();
  o.routes.push(...voicemailRoutes(store));
  const prune = () => {
    const days = o.retentionDays();
    try {
      return days === undefined ? 0 : store.prune(days);
    } catch (e) {
      o.log?.warn('voicemail retention job failed', { error: e instanceof Error ? e.message : String(e) });
      return 0;
    }
  };
  prune();
  const timer = setInterval(prune, RETENTION_INTERVAL_MS);
  timer.unref();
  return {
    store,
    runtime: (pins) => ({ store, pins, ...(o.log ? { log: o.log } : {}) }),
    prune,
    stop: () => clearInterval(timer),
  };
}
