/**
 * Builds one CDR per call from the daemon's event stream (pure: no I/O, clock passed in).
 *
 * Sources, merged per Call-ID:
 * - Kamailio's dialog events (`dialog.started/answered/ended`, from evapi): every call Kamailio
 *   relays. Each event carries the call's full data (dialog variables), so any one of them, even
 *   `dialog.ended` alone, is enough for a CDR.
 * - The daemon's own events for calls handed to it (`call.started`, `call.state`, `call.step`,
 *   `call.ended`, and `queue.*` with a callId): the caller's leg has the same Call-ID in Kamailio
 *   and in the daemon (Kamailio proxies it), so they merge into one CDR with the path through the
 *   features.
 * - Legs the daemon dials itself (ring-group members, forwards; Kamailio direction `daemon`) are
 *   never CDRs of their own: the answered one is linked to the caller's CDR by the `bridged` step
 *   (`detail.callee` is the leg's Call-ID) and gives `answeredBy` and, for an outbound leg, the
 *   trunk; legs that were not bridged (losing members) are dropped.
 *
 * A call is complete when every side that is involved ended: a plain Kamailio call at its
 * `dialog.ended`; a daemon call when Kamailio's and the daemon's ends both arrived, or `graceMs`
 * after the first of them (evapi not connected, daemon restarted). A call with no event for
 * `staleMs` is closed with what is known (`endReason` "lost: ...").
 *
 * The open state is plain JSON (OpenCall) so the service can persist what a restart could not
 * rebuild (see `settle`) and a restarted daemon resumes calls in progress.
 */
import type { CallState } from '../call-state.js';
import type { DaemonEvent, DialogEventFields } from '../events.js';
import type { Cdr, CdrDirection, CdrDisposition, CdrStep } from './cdr-types.js';

/** Kamailio's view of a dialog. */
export interface KamailioPart extends Omit<DialogEventFields, 'callId' | 'occurredAt'> {
  answeredAt?: number;
  endedAt?: number;
  status?: number;
  reason?: string;
}

/** The daemon's view of a call it handled. */
export interface DaemonPart {
  caller: string;
  callerName?: string;
  dialed: string;
  destination: string;
  trunk?: string;
  startedAt: number;
  answeredAt?: number;
  endedAt?: number;
  state?: CallState;
  reason?: string;
}

/** A call (or a daemon-dialled leg) not complete yet; JSON-serialisable. */
export interface OpenCall {
  callId: string;
  kind: 'call' | 'leg';
  k?: KamailioPart;
  d?: DaemonPart;
  path: CdrStep[];
  /** Call-IDs of legs bridged to this call (from `bridged` steps). */
  legs: string[];
  /** For a leg: the caller's Call-ID once a `bridged` step linked it. */
  parent?: string;
  /** Trunk and number of the bridged leg (merged from the leg's dialog events). */
  legTrunk?: string;
  /** When to complete even though a side has not ended (ms). */
  dueAt?: number;
  /** Last event (ms), for stale detection. */
  updatedAt: number;
}

/** What one step of the builder produced: CDRs to store and open-state changes to persist. */
export interface BuilderResult {
  cdrs: Cdr[];
  upsert: OpenCall[];
  remove: string[];
}

/** Tunables (ms). */
export interface CdrBuilderOptions {
  /** How long to wait for the other side's end once one side ended; default 5000. */
  graceMs?: number;
  /** Silence after which an open call is closed as lost; default 13 h (Kamailio's dialog timeout is 12 h). */
  staleMs?: number;
  /** How many completed Call-IDs to remember so that late events do not reopen them; default 10000. */
  rememberCompleted?: number;
}

const BUSY = new Set([486, 600]);
const NO_ANSWER = new Set([408, 480]);

function isQueueEvent(e: { type: string }): e is { type: string; callId: string; at: number } & Record<string, unknown> {
  return e.type.startsWith('queue.') && typeof (e as { callId?: unknown }).callId === 'string';
}

/** The feature-path detail of a generic event: its scalar fields besides type/seq/at/callId. */
function scalarDetail(e: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'type' || k === 'seq' || k === 'at' || k === 'callId') continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

/**
 * The CDR of a finished (or given-up) call. Pure.
 * @param lost why the call is closed without its end events, when it is
 */
export function finishCdr(c: OpenCall, lost?: string): Cdr {
  const k = c.k;
  const d = c.d;
  const startedAt = k?.startedAt ?? d?.startedAt ?? c.updatedAt;
  const answeredAt = k?.answeredAt ?? d?.answeredAt;
  const endedAt = Math.max(startedAt, k?.endedAt ?? d?.endedAt ?? c.updatedAt);
  const bridged = [...c.path].reverse().find((s) => s.step === 'bridged');
  const direction: CdrDirection = k && k.direction !== 'daemon' ? k.direction : d?.trunk ? 'inbound' : 'internal';
  let answeredBy = typeof bridged?.detail.to === 'string' ? bridged.detail.to : undefined;
  if (answeredBy === undefined && k?.answeredAt !== undefined && !k.feature && !d) answeredBy = direction === 'outbound' ? k.dialed : k.target;
  const sipStatus = answeredAt === undefined ? (k?.status ?? statusOf(d?.reason)) : undefined;
  const cdr: Cdr = {
    callId: c.callId,
    direction,
    from: k?.from || d?.caller || '',
    to: k?.dialed || d?.dialed || k?.target || '',
    startedAt,
    endedAt,
    durationS: Math.ceil((endedAt - startedAt) / 1000),
    billableS: answeredAt === undefined ? 0 : Math.ceil(Math.max(0, endedAt - answeredAt) / 1000),
    disposition: disposition(c, answeredAt, sipStatus),
    path: c.path,
  };
  const fromName = k?.fromName ?? d?.callerName;
  const did = k?.did ?? (direction === 'inbound' && d ? d.dialed : undefined);
  const feature = k?.feature ?? d?.destination;
  const trunk = k?.trunk ?? d?.trunk ?? c.legTrunk;
  const endReason = lost ?? k?.reason ?? d?.reason;
  if (fromName) cdr.fromName = fromName;
  if (did) cdr.did = did;
  if (k?.target && k.target !== cdr.to && !k.feature) cdr.target = k.target;
  if (answeredBy) cdr.answeredBy = answeredBy;
  if (feature) cdr.feature = feature;
  if (trunk) cdr.trunk = trunk;
  if (answeredAt !== undefined) cdr.answeredAt = answeredAt;
  if (sipStatus !== undefined) cdr.sipStatus = sipStatus;
  if (endReason) cdr.endReason = endReason;
  return cdr;
}

/** `486 Busy Here` -> 486. */
function statusOf(reason: string | undefined): number | undefined {
  const m = reason === undefined ? null : /^([1-6]\d\d)\b/.exec(reason);
  return m ? Number(m[1]) : undefined;
}

function disposition(c: OpenCall, answeredAt: number | undefined, sipStatus: number | undefined): CdrDisposition {
  if (c.path.some((s) => s.step === 'voicemail' || s.step.startsWith('voicemail:'))) return 'voicemail';
  if (answeredAt !== undefined) return 'answered';
  const state = c.d?.state;
  if (state === 'busy' || state === 'no-answer' || state === 'canceled' || state === 'failed') return state;
  if (c.k?.reason === 'canceled' || sipStatus === 487) return 'canceled';
  if (sipStatus !== undefined && BUSY.has(sipStatus)) return 'busy';
  if (sipStatus !== undefined && NO_ANSWER.has(sipStatus)) return 'no-answer';
  return 'failed';
}

/** The stateful merger of events into CDRs (see the module comment). */
export class CdrBuilder {
  private readonly calls = new Map<string, OpenCall>();
  private readonly completed = new Set<string>();
  private readonly graceMs: number;
  private readonly staleMs: number;
  private readonly remember: number;

  constructor(o: CdrBuilderOptions = {}) {
    this.graceMs = o.graceMs ?? 5000;
    this.staleMs = o.staleMs ?? 13 * 3600_000;
    this.remember = o.rememberCompleted ?? 10_000;
  }

  /** Calls and legs in progress. */
  get openCount(): number {
    return this.calls.size;
  }

  /** A snapshot of one open call (tests, API). */
  openCall(callId: string): OpenCall | undefined {
    return this.calls.get(callId);
  }

  /**
   * Kamailio dialogs in progress as far as the events tell (started or answered, not ended), the
   * daemon's own legs excluded, as the dialog event fields of their newest event. Restored open
   * calls included: after a restart this is what the daemon knows of calls it never handled.
   */
  openDialogs(): DialogEventFields[] {
    const out: DialogEventFields[] = [];
    for (const c of this.calls.values()) {
      if (c.kind !== 'call' || !c.k || c.k.endedAt !== undefined || c.k.direction === 'daemon') continue;
      const { endedAt: _ended, status: _status, reason: _reason, ...fields } = c.k;
      out.push({ ...fields, callId: c.callId, occurredAt: c.updatedAt });
    }
    return out;
  }

  /**
   * The open calls (not legs), for a save at shutdown: `settle` does not persist a call Kamailio
   * alone handles (its events carry the whole dialog), so without this save a restarted daemon
   * would not know the calls in progress until their next event.
   */
  openCalls(): OpenCall[] {
    return [...this.calls.values()].filter((c) => c.kind === 'call');
  }

  /** Restores persisted open calls (daemon start). */
  load(open: readonly OpenCall[]): void {
    for (const c of open) this.calls.set(c.callId, c);
  }

  /**
   * Feeds one event. Events without a Call-ID (config, registrations, cdr.written) are ignored.
   * @param now ms since the epoch
   */
  apply(e: DaemonEvent, now: number): BuilderResult {
    const r: BuilderResult = { cdrs: [], upsert: [], remove: [] };
    const touched = this.route(e);
    if (!touched) return r;
    touched.updatedAt = Math.max(touched.updatedAt, now);
    this.settle(touched, now, r);
    return r;
  }

  /** Completes calls whose grace or stale time passed. */
  tick(now: number): BuilderResult {
    const r: BuilderResult = { cdrs: [], upsert: [], remove: [] };
    for (const c of [...this.calls.values()]) {
      if (now - c.updatedAt >= this.staleMs) {
        this.finish(c, r, c.kind === 'call' ? 'lost: no end event' : undefined);
      } else if (c.dueAt !== undefined && now >= c.dueAt) {
        this.finish(c, r);
      }
    }
    return r;
  }

  /** Applies an event to its open call (creating it); returns the call touched, if any. */
  private route(e: DaemonEvent): OpenCall | undefined {
    if (e.type === 'dialog.started' || e.type === 'dialog.answered' || e.type === 'dialog.ended') {
      if (this.completed.has(e.callId)) return undefined;
      const { callId, occurredAt } = e;
      const c = this.get(callId, e.direction === 'daemon' ? 'leg' : 'call', e.startedAt);
      // Every dialog event carries the call's whole data (dialog variables); the newest wins.
      const k: KamailioPart = { ...c.k, direction: e.direction, from: e.from, dialed: e.dialed, target: e.target, startedAt: e.startedAt };
      for (const key of ['fromName', 'did', 'trunk', 'feature'] as const) if (e[key] !== undefined) k[key] = e[key];
      if (e.answeredAt !== undefined) k.answeredAt = e.answeredAt;
      else if (e.type === 'dialog.answered' && k.answeredAt === undefined) k.answeredAt = occurredAt;
      if (e.type === 'dialog.ended') {
        k.endedAt = occurredAt;
        k.status = e.status;
        k.reason = e.reason;
      }
      c.k = k;
      if (c.kind === 'leg' && c.parent) this.mergeLeg(c);
      return c;
    }
    if (e.type === 'call.started') {
      if (this.completed.has(e.callId)) return undefined;
      const c = this.get(e.callId, 'call', e.at);
      c.d = { caller: e.caller.number, dialed: e.dialed, destination: e.destination, startedAt: e.at, ...(e.caller.name ? { callerName: e.caller.name } : {}), ...(e.trunk ? { trunk: e.trunk } : {}) };
      return c;
    }
    if (e.type === 'call.state' || e.type === 'call.step' || e.type === 'call.ended') {
      const c = this.calls.get(e.callId);
      if (!c) return undefined; // a daemon call whose call.started we never saw (restart): Kamailio's events still give its CDR
      if (e.type === 'call.state' && e.state === 'answered' && c.d && c.d.answeredAt === undefined) c.d.answeredAt = e.at;
      if (e.type === 'call.step') {
        c.path.push({ at: e.at, step: e.step, detail: e.detail });
        const callee = e.step === 'bridged' ? e.detail.callee : undefined;
        if (typeof callee === 'string' && !c.legs.includes(callee)) {
          c.legs.push(callee);
          const leg = this.calls.get(callee);
          if (leg?.kind === 'leg') {
            leg.parent = c.callId;
            this.mergeLeg(leg);
          }
        }
      }
      if (e.type === 'call.ended' && c.d) {
        c.d.endedAt = e.at;
        c.d.state = e.state;
        if (e.reason !== undefined) c.d.reason = e.reason;
      }
      return c;
    }
    if (isQueueEvent(e)) {
      const c = this.calls.get(e.callId);
      if (!c) return undefined;
      c.path.push({ at: e.at, step: e.type, detail: scalarDetail(e) });
      return c;
    }
    return undefined;
  }

  private get(callId: string, kind: OpenCall['kind'], at: number): OpenCall {
    let c = this.calls.get(callId);
    if (!c) {
      c = { callId, kind, path: [], legs: [], updatedAt: at };
      // A leg whose `bridged` step came first (events from two sources can cross).
      for (const p of this.calls.values()) if (p.legs.includes(callId)) c.parent = p.callId;
      this.calls.set(callId, c);
    }
    return c;
  }

  /** Copies what the caller's CDR needs from its bridged leg. */
  private mergeLeg(leg: OpenCall): void {
    const parent = leg.parent === undefined ? undefined : this.calls.get(leg.parent);
    if (!parent || !leg.k) return;
    if (leg.k.trunk) parent.legTrunk = leg.k.trunk;
  }

  /**
   * Decides whether `c` is complete, persists or finishes it. Only what a restart could not rebuild
   * is persisted: the daemon's side of a call (its path) and calls waiting out their grace time.
   * Kamailio's side needs no copy: its every event, the end included, carries the whole dialog, so
   * a plain call costs one commit (its CDR), not one per event. Legs are not persisted either: the
   * caller's `legs` list is, and a leg's later events link it again.
   */
  private settle(c: OpenCall, now: number, r: BuilderResult): void {
    if (c.kind === 'leg') {
      // Legs never become CDRs; one that ended is done (merged into its caller if bridged).
      if (c.k?.endedAt !== undefined) this.drop(c, r);
      return;
    }
    const kEnded = c.k?.endedAt !== undefined;
    const dEnded = c.d?.endedAt !== undefined;
    const expectsDaemon = c.d !== undefined || (c.k?.feature !== undefined && c.k.feature !== '');
    if ((kEnded && !expectsDaemon) || (kEnded && dEnded)) return this.finish(c, r);
    if ((kEnded || dEnded) && c.dueAt === undefined) c.dueAt = now + this.graceMs;
    if (c.d !== undefined || c.dueAt !== undefined || c.path.length > 0) r.upsert.push(c);
  }

  private finish(c: OpenCall, r: BuilderResult, lost?: string): void {
    if (c.kind === 'call') r.cdrs.push(finishCdr(c, lost));
    this.drop(c, r);
  }

  private drop(c: OpenCall, r: BuilderResult): void {
    this.calls.delete(c.callId);
    if (c.kind !== 'call') return;
    r.remove.push(c.callId);
    this.completed.add(c.callId);
    if (this.completed.size > this.remember) {
      const oldest = this.completed.values().next().value;
      if (oldest !== undefined) this.completed.delete(oldest);
    }
  }
}
