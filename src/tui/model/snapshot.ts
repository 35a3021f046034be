/**
 * Building the live model from a snapshot of the node: the daemon's GET /v1/calls, Kamailio's
 * `dlg.list` and the queue positions of GET /v1/queues, merged by Call-ID (see live-model.ts).
 */
import { applyStep, party, phaseFromState, type CallView, type LiveModel } from './live-model.js';

/** A call as GET /v1/calls lists it (daemon/api.ts LiveCall), loosely typed: older daemons omit fields. */
export interface SnapshotDaemonCall {
  callId: string;
  caller: { number: string; name?: string };
  dialed: string;
  destination?: string;
  trunk?: string;
  state: string;
  step?: string;
  startedAt: number;
  answeredAt?: number;
}

/** One record of Kamailio 5.6 `dlg.list` (dialog module RPC), only the fields used. */
export interface SnapshotDialog {
  h_entry?: number;
  h_id?: number;
  'call-id': string;
  from_uri?: string;
  to_uri?: string;
  /** 1 unconfirmed, 2 early, 3 confirmed (no ACK), 4 confirmed, 5 deleted (dialog module "Dialog states"). */
  state?: number;
  /** Seconds since the epoch (0 before the answer). */
  start_ts?: number;
  init_ts?: number;
}

/** The user part of a SIP URI (`sip:1001@pbx` -> `1001`), or the input when it is none. */
export function uriUser(uri: string | undefined): string {
  if (!uri) return '';
  const m = /^(?:sips?|tel):([^@;>]+)/i.exec(uri.trim().replace(/^<|>$/g, ''));
  return m?.[1] ?? uri;
}

/** A caller waiting in a queue as GET /v1/queues lists it (queue/stats.ts WaitingCaller), with its queue. */
export interface SnapshotQueueCaller {
  queue: string;
  callId: string;
  position: number;
}

/**
 * Builds the model from a snapshot: the daemon's calls and Kamailio's dialogs (merged by Call-ID),
 * and the queue positions of waiting callers (GET /v1/calls does not carry them).
 * Dialogs in state 5 (deleted) are skipped. `nowMs` dates dialogs whose start Kamailio does not give.
 */
export function fromSnapshot(base: LiveModel, daemonCalls: readonly SnapshotDaemonCall[], dialogs: readonly SnapshotDialog[], nowMs: number, waiting: readonly SnapshotQueueCaller[] = []): LiveModel {
  const calls = new Map<string, CallView>();
  const dir = base.directory;
  for (const d of daemonCalls) {
    if (!d || typeof d.callId !== 'string' || base.legs.has(d.callId)) continue;
    const view: CallView = {
      callId: d.callId,
      sources: { daemon: true, kamailio: false },
      caller: party(String(d.caller?.number ?? ''), d.caller?.name, dir),
      callee: party(String(d.dialed ?? ''), undefined, dir),
      phase: phaseFromState(String(d.state)),
      startedAt: Number(d.startedAt) || nowMs,
      timeline: [{ at: Number(d.startedAt) || nowMs, text: `INVITE from ${d.caller?.number ?? '?'} to ${d.dialed ?? '?'}` }],
      // A call from a trunk was dialled to one of the node's DIDs.
      ...(d.trunk ? { trunk: d.trunk, did: String(d.dialed ?? '') } : {}),
      ...(d.destination ? { destination: d.destination } : {}),
      ...(typeof d.answeredAt === 'number' ? { answeredAt: d.answeredAt } : {}),
    };
    calls.set(d.callId, d.step ? applyStep(view, d.step, {}, dir) : view);
  }
  for (const g of dialogs) {
    if (!g || typeof g['call-id'] !== 'string' || g.state === 5) continue;
    const id = g['call-id'];
    if (base.legs.has(id)) continue;
    const key = typeof g.h_entry === 'number' && typeof g.h_id === 'number' ? { dialogKey: { hEntry: g.h_entry, hId: g.h_id } } : {};
    const existing = calls.get(id);
    if (existing) {
      calls.set(id, { ...existing, sources: { ...existing.sources, kamailio: true }, ...key });
      continue;
    }
    const started = (g.init_ts || g.start_ts || 0) * 1000 || nowMs;
    const answered = g.state === 4 || g.state === 3;
    calls.set(id, {
      callId: id,
      sources: { daemon: false, kamailio: true },
      caller: party(uriUser(g.from_uri), undefined, dir),
      callee: party(uriUser(g.to_uri), undefined, dir),
      phase: answered ? 'answered' : 'ringing',
      startedAt: started,
      ...(answered && g.start_ts ? { answeredAt: g.start_ts * 1000 } : {}),
      timeline: [{ at: started, text: `dialog ${uriUser(g.from_uri)} -> ${uriUser(g.to_uri)}` }],
      ...key,
    });
  }
  for (const w of waiting) {
    const c = w && typeof w.callId === 'string' ? calls.get(w.callId) : undefined;
    if (c && typeof w.position === 'number') calls.set(c.callId, { ...c, phase: 'queued', queue: String(w.queue), position: w.position });
  }
  return { ...base, calls };
}
