/**
 * Call detail records: one per call that passed the node (docs/cdr.md). Kamailio's dialog events
 * (evapi) give every call, also plain extension-to-extension calls that never reach the feature
 * daemon; the daemon's own call events add the path through its features (IVR choices, queue
 * wait, agent, voicemail).
 *
 * Times are ms since the epoch; durations in the `...S` fields are whole seconds.
 */

/** How a call ended, as operators and billing see it. */
export type CdrDisposition = 'answered' | 'no-answer' | 'busy' | 'failed' | 'canceled' | 'voicemail';

export const CDR_DISPOSITIONS: readonly CdrDisposition[] = ['answered', 'no-answer', 'busy', 'failed', 'canceled', 'voicemail'];

/** `internal` (extension to extension or feature), `inbound` (from a trunk), `outbound` (to a trunk). */
export type CdrDirection = 'internal' | 'inbound' | 'outbound';

/** One step of the call's path through the daemon's features (a `call.step` or `queue.*` event). */
export interface CdrStep {
  /** ms since the epoch */
  at: number;
  /** e.g. `ivr:main`, `ivr.digits`, `dial`, `bridged`, `voicemail`, `queue.answered` */
  step: string;
  detail: Record<string, string | number | boolean>;
}

/** One call detail record. */
export interface Cdr {
  /** The caller's SIP Call-ID: the key, one CDR per Call-ID. */
  callId: string;
  direction: CdrDirection;
  /** Caller number (an extension, or E.164 from a trunk) and display name. */
  from: string;
  fromName?: string;
  /** The number dialled (E.164 for inbound calls). */
  to: string;
  /** The DID an inbound call came in on (E.164). */
  did?: string;
  /** Where Kamailio sent the call when that is not `to`: the extension a DID rings, or the outbound number as reformatted. */
  target?: string;
  /** The extension or number that answered, when known (the bridged member for daemon calls). */
  answeredBy?: string;
  /** The daemon destination the call was handed to (e.g. `ivr:main`), when it went through the daemon. */
  feature?: string;
  /** Trunk id: the one an inbound call came in on, or the one an outbound call (or outbound leg) used. */
  trunk?: string;
  startedAt: number;
  answeredAt?: number;
  endedAt: number;
  /** endedAt - startedAt rounded up to a whole second (so billableS <= durationS). */
  durationS: number;
  /** endedAt - answeredAt rounded up to a whole second (0 when unanswered): what a carrier bills. */
  billableS: number;
  disposition: CdrDisposition;
  /** The final SIP status of an unanswered call (486, 487, 480...); absent when answered. */
  sipStatus?: number;
  /** Why it ended, free text (e.g. `bye`, `canceled`, `486 Busy Here`, `lost: no end event`). */
  endReason?: string;
  /** The path through the daemon's features, in order; empty for calls that never reached it. */
  path: CdrStep[];
}

/** Filters of a CDR query; every one optional, combined with AND. */
export interface CdrQuery {
  /** startedAt >= from (ms since the epoch). */
  from?: number;
  /** startedAt < to (ms since the epoch). */
  to?: number;
  /** The extension (or number) as caller, as dialled number, as Kamailio's target or as the party that answered. */
  extension?: string;
  did?: string;
  disposition?: CdrDisposition;
  /** Page size; the store caps it (see {@link MAX_CDR_PAGE}). Default {@link DEFAULT_CDR_PAGE}. */
  limit?: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

/** One page of CDRs, newest first; `nextCursor` present when more match. */
export interface CdrPage {
  cdrs: Cdr[];
  nextCursor?: string;
}

export const DEFAULT_CDR_PAGE = 100;
export const MAX_CDR_PAGE = 10_000;

/**
 * Where CDRs are kept. SQLite (sqlite-cdr-store.ts) by default; a PostgreSQL implementation can
 * replace it. The contract every implementation keeps:
 * - `insert` is durable when it returns (committed and synced), and idempotent per `callId`: a
 *   second insert of the same Call-ID leaves the first CDR and returns false (a replay after a
 *   crash must not double-count a call).
 * - `query` returns CDRs newest first by (startedAt, callId), `limit` capped at MAX_CDR_PAGE, and
 *   keyset pagination: the cursor encodes the last row's (startedAt, callId), so pages stay stable
 *   while new CDRs arrive. A cursor the store did not issue throws PbxError CDR_BAD_CURSOR.
 * - `prune` deletes CDRs with startedAt older than the cutoff and returns how many.
 * Methods may be synchronous or async; callers await them.
 */
export interface CdrStore {
  insert(cdr: Cdr): boolean | Promise<boolean>;
  /** Inserts several in one transaction; returns how many were new. */
  insertMany(cdrs: readonly Cdr[]): number | Promise<number>;
  query(q: CdrQuery): CdrPage | Promise<CdrPage>;
  prune(olderThan: number): number | Promise<number>;
  get(callId: string): Cdr | undefined | Promise<Cdr | undefined>;
}
