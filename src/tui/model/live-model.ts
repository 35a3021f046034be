/**
 * The pure live model behind `pbxctl calls tail` / `calls list`: a snapshot of the node (the
 * daemon's GET /v1/calls, Kamailio's `dlg.list`) plus the daemon's event stream (daemon/events.ts)
 * reduced into the calls in progress. No I/O, no clocks: every time comes from the events or the
 * caller, so the same inputs always give the same model.
 *
 * Merging rules (why): Kamailio and the daemon see the same call under the same Call-ID when
 * Kamailio hands a call to the daemon, so a call is keyed by Call-ID and both sources fill it in.
 * The legs the daemon dials itself (dialog direction `daemon`, and the callee Call-ID of a
 * `bridged` step) are not separate calls for an operator: they are folded into their caller's call.
 * Events arrive from a network stream that may be older or newer than this client, so anything
 * unknown or malformed is ignored, never thrown on.
 */

/** What an operator sees a call doing, derived from states and flow steps. */
export type CallPhase = 'ringing' | 'answered' | 'ivr' | 'queued' | 'agent' | 'voicemail' | 'hold' | 'dialing';

/** Media quality of a call from RTPengine (`query`), when the daemon reports it (`call.media`). */
export interface MediaHealth {
  packets?: number;
  /** Packets lost, in percent (0-100). */
  lossPct?: number;
  /** Interarrival jitter, ms (RFC 3550 §6.4.1). */
  jitterMs?: number;
  /** Mean opinion score 1.0-5.0, where RTPengine computes one. */
  mos?: number;
}

/** One entry of a call's timeline (the detail pane). `at` is ms since the epoch. */
export interface TimelineEntry {
  at: number;
  text: string;
}

/** A party: extension or E.164 number, and a display name when known. */
export interface PartyView {
  number: string;
  name?: string;
}

/** One call in progress as the operator views show it. */
export interface CallView {
  callId: string;
  /** Who knows about it: the daemon (feature calls), Kamailio (dialogs), or both. */
  sources: { daemon: boolean; kamailio: boolean };
  caller: PartyView;
  callee: PartyView;
  /** The DID (E.164) of an inbound call. */
  did?: string;
  trunk?: string;
  phase: CallPhase;
  /** The queue while queued (and after an agent answered). */
  queue?: string;
  /** 1-based position in `queue` while waiting. */
  position?: number;
  /** The agent extension that answered a queue caller, or the bridged callee. */
  agent?: string;
  /** The current flow step as the daemon names it: `ivr:main`, `queue:sales`, `dial`, `bridged`... */
  step?: string;
  /** Kamailio's feature destination (X-PBX-Dest), e.g. `ivr:main`. */
  destination?: string;
  /** ms since the epoch. */
  startedAt: number;
  answeredAt?: number;
  codec?: string;
  media?: MediaHealth;
  /** Oldest first; bounded to {@link TIMELINE_MAX} entries. */
  timeline: TimelineEntry[];
  /** Kamailio's dialog identifiers for `dlg.end_dlg`, when known from `dlg.list`. */
  dialogKey?: { hEntry: number; hId: number };
}

/** Header data: the node, its release and how busy it is. */
export interface HeaderData {
  node: string;
  release?: string;
  commit?: string;
  registered?: number;
  configured?: number;
  /** Trunk id -> `active`, `inactive`, `disabled`, `trying`, `unknown`. */
  trunks: Record<string, string>;
  /** Registered contacts per extension, kept current from `registration.changed`. */
  contacts: Record<string, number>;
}

/** The connection to the daemon's event stream. */
export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

/** The whole model. Treat as immutable: reducers return a new object when anything changed. */
export interface LiveModel {
  calls: ReadonlyMap<string, CallView>;
  /** Leg Call-ID -> the Call-ID of the call it belongs to. */
  legs: ReadonlyMap<string, string>;
  header: HeaderData;
  connection: ConnectionState;
  /** The last event seq applied (for Last-Event-ID). */
  lastSeq: number;
  /** Number -> display name (repo extensions, queues, IVRs). */
  directory: ReadonlyMap<string, string>;
}

/** Timeline entries kept per call (a call stuck in an IVR loop must not grow without bound). */
export const TIMELINE_MAX = 100;

/** The empty model for node `node`. */
export function emptyModel(node: string, directory: ReadonlyMap<string, string> = new Map()): LiveModel {
  return { calls: new Map(), legs: new Map(), header: { node, trunks: {}, contacts: {} }, connection: 'connecting', lastSeq: 0, directory };
}

/** A party with its display name: the one given (unless it is just the number again), else the directory's. */
export function party(number: string, name: string | undefined, dir: ReadonlyMap<string, string>): PartyView {
  // Carriers and phones often send the number as the display name: that is no name.
  const known = (name && name !== number ? name : undefined) || dir.get(number);
  return known ? { number, name: known } : { number };
}

/** The phase a daemon call state implies, keeping a feature phase (IVR, queue...) once answered. */
export function phaseFromState(state: string, current?: CallPhase): CallPhase {
  if (state === 'answered') return current && current !== 'ringing' && current !== 'dialing' ? current : 'answered';
  if (state === 'ringing') return 'ringing';
  return current ?? 'dialing';
}

type Obj = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function withTimeline(c: CallView, at: number, text: string): CallView {
  const timeline = c.timeline.length >= TIMELINE_MAX ? [...c.timeline.slice(1 - TIMELINE_MAX), { at, text }] : [...c.timeline, { at, text }];
  return { ...c, timeline };
}

/** Applies a daemon flow step (call-registry.ts step names) to a call's phase and detail. */
export function applyStep(c: CallView, step: string, detail: Record<string, unknown>, dir: ReadonlyMap<string, string>): CallView {
  const next: CallView = { ...c, step };
  if (step.startsWith('ivr:')) next.phase = 'ivr';
  else if (step.startsWith('queue:')) {
    next.phase = 'queued';
    next.queue = str(detail.queue) ?? step.slice('queue:'.length);
  } else if (step === 'queue.answered') {
    next.phase = 'agent';
    const agent = str(detail.agent);
    if (agent) next.agent = agent;
    delete next.position;
  } else if (step === 'queue.announce') {
    const p = num(detail.position);
    if (p !== undefined) next.position = p;
  } else if (step === 'voicemail' || step === 'voicemail.login') next.phase = 'voicemail';
  else if (step === 'bridged') {
    next.phase = next.queue ? 'agent' : 'answered';
    const to = str(detail.to);
    if (to) {
      next.agent = to;
      if (!next.queue) next.callee = party(to, undefined, dir);
    }
  } else if (step === 'hold') next.phase = 'hold';
  else if (step === 'unhold' || step === 'resume') next.phase = c.queue ? 'agent' : 'answered';
  return next;
}

function stepText(step: string, detail: Obj): string {
  const parts = Object.entries(detail)
    .filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
    .map(([k, v]) => `${k}=${String(v)}`);
  return parts.length ? `${step} ${parts.join(' ')}` : step;
}

/**
 * Applies one event from the daemon's stream (any JSON value). Unknown types, missing fields and
 * events about calls the model does not know are ignored (the model is returned unchanged), so a
 * newer daemon or a garbled line never breaks the view. Never throws.
 */
export function applyEvent(m: LiveModel, raw: unknown): LiveModel {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return m;
  const e = raw as Obj;
  const type = str(e.type);
  const seq = num(e.seq);
  const at = num(e.at) ?? num(e.occurredAt) ?? 0;
  const next = reduce(m, e, type, at);
  return seq !== undefined && seq > next.lastSeq ? { ...next, lastSeq: seq } : next;
}

function setCall(m: LiveModel, c: CallView): LiveModel {
  const calls = new Map(m.calls);
  calls.set(c.callId, c);
  return { ...m, calls };
}

function dropCall(m: LiveModel, callId: string): LiveModel {
  if (!m.calls.has(callId)) return m;
  const calls = new Map(m.calls);
  calls.delete(callId);
  const legs = new Map([...m.legs].filter(([, parent]) => parent !== callId));
  return { ...m, calls, legs };
}

function reduce(m: LiveModel, e: Obj, type: string | undefined, at: number): LiveModel {
  const callId = str(e.callId);
  const dir = m.directory;
  switch (type) {
    case 'call.started': {
      if (!callId || m.legs.has(callId)) return m;
      const caller = (e.caller ?? {}) as Obj;
      const existing = m.calls.get(callId);
      const dialed = str(e.dialed) ?? '';
      const destination = str(e.destination);
      const trunk = str(e.trunk);
      const base: CallView = existing ?? { callId, sources: { daemon: true, kamailio: false }, caller: party(str(caller.number) ?? '', str(caller.name), dir), callee: party(dialed, undefined, dir), phase: 'dialing', startedAt: at, timeline: [] };
      return setCall(m, withTimeline({ ...base, sources: { ...base.sources, daemon: true }, ...(destination ? { destination } : {}), ...(trunk ? { trunk, ...(base.did ? {} : { did: dialed }) } : {}) }, at, `INVITE from ${base.caller.number} to ${dialed}${destination ? ` (${destination})` : ''}`));
    }
    case 'call.state': {
      const c = callId ? m.calls.get(callId) : undefined;
      const state = str(e.state);
      if (!c || !state) return m;
      const phase = phaseFromState(state, c.phase);
      return setCall(m, withTimeline({ ...c, phase, ...(state === 'answered' && c.answeredAt === undefined ? { answeredAt: at } : {}) }, at, state + (str(e.reason) ? ` (${str(e.reason)})` : '')));
    }
    case 'call.step': {
      const c = callId ? m.calls.get(callId) : undefined;
      const step = str(e.step);
      if (!c || !step) return m;
      const detail = e.detail && typeof e.detail === 'object' ? (e.detail as Obj) : {};
      let next = m;
      const leg = step === 'bridged' ? str(detail.callee) : undefined;
      if (leg && leg !== c.callId) {
        // The daemon's callee leg: fold it (and hide it if Kamailio already reported it as a dialog).
        const legs = new Map(m.legs);
        legs.set(leg, c.callId);
        next = dropCall({ ...m, legs }, leg);
        next = { ...next, legs };
      }
      return setCall(next, withTimeline(applyStep(c, step, detail, dir), at, stepText(step, detail)));
    }
    case 'call.ended':
    case 'dialog.ended': {
      if (!callId) return m;
      if (m.legs.has(callId)) {
        const legs = new Map(m.legs);
        legs.delete(callId);
        return { ...m, legs };
      }
      // A daemon call also has a Kamailio dialog; whichever ends first ends the row.
      return dropCall(m, callId);
    }
    case 'dialog.started':
    case 'dialog.answered': {
      if (!callId || m.legs.has(callId)) return m;
      const direction = str(e.direction);
      const existing = m.calls.get(callId);
      if (direction === 'daemon' && !existing) return m; // a leg the daemon dialled: shown in its caller's call
      const from = str(e.from) ?? '';
      const target = str(e.target) ?? str(e.dialed) ?? '';
      const startedAt = num(e.startedAt) ?? at;
      const answeredAt = num(e.answeredAt) ?? (type === 'dialog.answered' ? at : undefined);
      const did = str(e.did);
      const trunk = str(e.trunk);
      const feature = str(e.feature);
      const base: CallView = existing ?? { callId, sources: { daemon: false, kamailio: true }, caller: party(from, str(e.fromName), dir), callee: party(target, undefined, dir), phase: 'ringing', startedAt, timeline: [] };
      const merged: CallView = {
        ...base,
        sources: { ...base.sources, kamailio: true },
        ...(did ? { did } : {}),
        ...(trunk && !base.trunk ? { trunk } : {}),
        ...(feature && !base.destination ? { destination: feature } : {}),
        ...(answeredAt !== undefined && base.answeredAt === undefined ? { answeredAt } : {}),
      };
      if (!base.sources.daemon && type === 'dialog.answered') merged.phase = 'answered';
      return setCall(m, withTimeline(merged, at, type === 'dialog.started' ? `INVITE ${from} -> ${target}${did ? ` (DID ${did})` : ''}` : 'answered (200 OK)'));
    }
    case 'queue.joined': {
      const c = callId ? m.calls.get(callId) : undefined;
      if (!c) return m;
      const queue = str(e.queue);
      const position = num(e.position);
      return setCall(m, withTimeline({ ...c, phase: 'queued', ...(queue ? { queue } : {}), ...(position !== undefined ? { position } : {}) }, at, `queue ${queue ?? '?'} joined at position ${position ?? '?'}`));
    }
    case 'queue.answered': {
      const c = callId ? m.calls.get(callId) : undefined;
      if (!c) return m;
      const agent = str(e.agent);
      const { position: _drop, ...rest } = c;
      void _drop;
      return setCall(m, withTimeline({ ...rest, phase: 'agent', ...(agent ? { agent } : {}) }, at, `agent ${agent ?? '?'} answered`));
    }
    case 'queue.abandoned':
    case 'queue.overflow': {
      const c = callId ? m.calls.get(callId) : undefined;
      if (!c) return m;
      const { position: _drop, ...rest } = c;
      void _drop;
      return setCall(m, withTimeline({ ...rest, phase: c.phase === 'queued' ? 'answered' : c.phase }, at, `${type === 'queue.overflow' ? `queue overflow (${str(e.reason) ?? '?'})` : 'left the queue'}`));
    }
    case 'call.media': {
      const c = callId ? m.calls.get(callId) : undefined;
      if (!c) return m;
      const media: MediaHealth = {};
      for (const k of ['packets', 'lossPct', 'jitterMs', 'mos'] as const) {
        const v = num(e[k]);
        if (v !== undefined) media[k] = v;
      }
      const codec = str(e.codec);
      return setCall(m, { ...c, media, ...(codec ? { codec } : {}) });
    }
    case 'registration.changed': {
      const aor = str(e.aor);
      const change = str(e.change);
      if (!aor || !change) return m;
      const contacts = { ...m.header.contacts };
      const n = contacts[aor] ?? 0;
      if (change === 'registered') contacts[aor] = n + 1;
      else if (change === 'unregistered' || change === 'expired') contacts[aor] = str(e.contact) === '*' ? 0 : Math.max(0, n - 1);
      else return m;
      const wasReg = n > 0;
      const isReg = (contacts[aor] ?? 0) > 0;
      const registered = m.header.registered === undefined ? undefined : m.header.registered + (isReg === wasReg ? 0 : isReg ? 1 : -1);
      return { ...m, header: { ...m.header, contacts, ...(registered !== undefined ? { registered } : {}) } };
    }
    case 'config.loaded': {
      const release = str(e.release);
      return release ? { ...m, header: { ...m.header, release } } : m;
    }
    default:
      return m;
  }
}

/** Calls waiting in queues. */
export function queuedCount(m: LiveModel): number {
  let n = 0;
  for (const c of m.calls.values()) if (c.phase === 'queued') n++;
  return n;
}
