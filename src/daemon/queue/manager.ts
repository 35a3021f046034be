/**
 * The ACD engine: queues, the callers waiting in them, and the agents who answer them. It decides
 * who is offered which caller and when; it does no SIP or media itself. Each waiting caller hands
 * in an `offer` function (flows/queue.ts dials the agents through the caller's CallChannel while
 * the caller hears music on hold), and the manager calls it with the agents the queue's strategy
 * picked (strategy.ts). Time comes from an injectable clock so tests run on fake timers.
 *
 * Rules (schemas/queue.schema.json, issue 5):
 * - Order: callers are offered in arrival order; across the queues an agent serves, callers of the
 *   queue with the higher `priority` go first (then arrival). Several callers are offered at once
 *   when several agents are free (each agent rings for one caller at a time).
 * - An agent is offered a call only when logged in to that queue, not paused, not ringing for
 *   another caller, not on a call (a queue call, or any other daemon call: `isBusyElsewhere`),
 *   not within `wrapUp` seconds after the previous queue call, and not recently found
 *   unreachable (a 404/480/410 from the dial: not registered) or busy (486/600: on a call
 *   Kamailio routed without the daemon); those get `unavailableRetryMs` before the next offer.
 * - An offer rings for `agentRingTimeout` seconds. A caller whose offer failed is offered next to
 *   the free agents it has not tried yet; once it has tried all of them it waits `retryMs`.
 * - Overflow: `maxCallers` refuses new callers (`max-callers`); `joinEmpty: false` refuses callers
 *   when no agent is logged in and unpaused (`join-empty`); `leaveWhenEmpty: true` sends every
 *   waiting caller out when the last logged-in, unpaused agent leaves (`leave-empty`);
 *   `maxWait` seconds (0 = none) sends a caller out (`max-wait`), cancelling a ringing offer.
 * - Statistics of the current day per queue and the agents' history (stats.ts), rebuilt at start
 *   from the queue log when one is given (queue-log.ts).
 */
import { PbxError } from '../../lib/errors.js';
import type { FeatureQueue } from '../config-types.js';
import type { AgentStateEvent, DaemonEventBody } from '../events.js';
import type { Party } from '../channel.js';
import type { AgentView, JoinRequest, OfferFn, OfferResult, OverflowReason, QueueClock, QueueManagerOptions, QueueOutcome, QueueTicket } from './types.js';
import { AgentRoster } from './roster.js';
import { QueueStatsBook, type QueueStats } from './stats.js';
import { pickAgents, type StrategyMemory } from './strategy.js';

export type { QueueClock, OfferTarget, OfferResult, OfferFn, OverflowReason, QueueOutcome, QueueTicket, JoinRequest, AgentView, QueueManagerOptions } from './types.js';

const REAL_CLOCK: QueueClock = { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) };

interface Waiting {
  ticket: QueueTicket;
  queue: FeatureQueue;
  caller: Party;
  seq: number;
  joinedAt: number;
  offer: OfferFn;
  /** The offer in progress. */
  ringing?: { controller: AbortController; agents: string[] };
  tried: Set<string>;
  retryAt: number;
  settle(o: QueueOutcome): void;
  maxWaitTimer?: unknown;
}

interface AgentRuntime {
  /** The caller this agent rings for. */
  ringingFor?: string;
  /** On a queue call (answered, until agentCallEnded). */
  busy: boolean;
  wrapUpUntil: number;
  unavailableUntil: number;
  lastReported?: AgentStateEvent['state'];
}

/** The queues, their callers and agents of one daemon. */
export class QueueManager {
  private readonly roster: AgentRoster;
  private readonly waiting = new Map<string, Waiting>();
  private readonly agents = new Map<string, AgentRuntime>();
  private readonly memory = new Map<string, StrategyMemory>();
  private readonly stats: QueueStatsBook;
  private readonly clock: QueueClock;
  private readonly publish: (e: DaemonEventBody) => void;
  private readonly busyElsewhere: (extension: string) => boolean;
  private readonly retryMs: number;
  private readonly unavailableRetryMs: number;
  private readonly random: () => number;
  private seq = 0;
  private dispatchPending = false;
  private wakeTimer: unknown;
  private wakeAt = Infinity;
  private closed = false;

  constructor(o: QueueManagerOptions) {
    this.roster = new AgentRoster(o.store);
    this.clock = o.clock ?? REAL_CLOCK;
    this.publish = o.publish ?? (() => undefined);
    this.busyElsewhere = o.isBusyElsewhere ?? (() => false);
    this.retryMs = o.retryMs ?? 2000;
    this.unavailableRetryMs = o.unavailableRetryMs ?? 10_000;
    this.random = o.random ?? Math.random;
    this.stats = new QueueStatsBook((o.serviceLevelS ?? 20) * 1000, { ...(o.log ? { log: o.log } : {}), ...(o.periodStart ? { periodStart: o.periodStart } : {}) });
    this.stats.restore(this.clock.now());
  }

  /**
   * Sets the queues of the running config (at start and after every reload). Callers already
   * waiting keep the queue definition they joined with; agent membership follows the new config.
   */
  configure(queues: Readonly<Record<string, FeatureQueue>>): void {
    this.roster.setQueues(queues);
    this.kick();
  }

  /** The queue definitions of the running config. */
  queueIds(): string[] {
    return this.roster.queueIds();
  }

  // ---- callers -------------------------------------------------------------------------------

  /**
   * A caller (already answered) enters `queue`. Refused at once with an overflow outcome when the
   * queue is full (`max-callers`) or has no agent to serve it and `joinEmpty` is false.
   */
  join(queue: FeatureQueue, request: JoinRequest): QueueTicket {
    const now = this.clock.now();
    let settle!: (o: QueueOutcome) => void;
    const outcome = new Promise<QueueOutcome>((resolve) => (settle = resolve));
    const entry: Waiting = {
      queue,
      caller: request.caller,
      seq: ++this.seq,
      joinedAt: now,
      offer: request.offer,
      tried: new Set(),
      retryAt: 0,
      settle,
      ticket: {
        queue: queue.id,
        callId: request.callId,
        joinedAt: now,
        outcome,
        position: () => this.positionOf(request.callId),
        abandon: () => this.abandon(request.callId),
      },
    };
    const refuse = (reason: OverflowReason) => {
      this.stats.overflowed(queue.id, request.callId, reason, 0, now);
      this.publish({ type: 'queue.overflow', queue: queue.id, callId: request.callId, reason, waitMs: 0 });
      settle({ type: 'overflow', reason, waitMs: 0 });
      return entry.ticket;
    };
    if (this.closed) return refuse('leave-empty');
    if (queue.maxCallers > 0 && this.waitingIn(queue.id).length >= queue.maxCallers) return refuse('max-callers');
    if (!queue.joinEmpty && !this.roster.staffed(queue)) return refuse('join-empty');
    if (this.waiting.has(request.callId)) throw new Error(`call ${request.callId} is already waiting in a queue`);
    this.waiting.set(request.callId, entry);
    if (queue.maxWait > 0) entry.maxWaitTimer = this.clock.setTimeout(() => this.leave(entry, { type: 'overflow', reason: 'max-wait' }), queue.maxWait * 1000);
    this.stats.joined(queue.id, request.callId, now);
    this.publish({ type: 'queue.joined', queue: queue.id, callId: request.callId, position: this.positionOf(request.callId), caller: request.caller });
    this.kick();
    return entry.ticket;
  }

  /** Callers of a queue in arrival order. */
  private waitingIn(queueId: string): Waiting[] {
    return [...this.waiting.values()].filter((w) => w.queue.id === queueId).sort((a, b) => a.seq - b.seq);
  }

  private positionOf(callId: string): number {
    const w = this.waiting.get(callId);
    return w ? this.waitingIn(w.queue.id).indexOf(w) + 1 : 0;
  }

  private abandon(callId: string): void {
    const w = this.waiting.get(callId);
    if (w) this.leave(w, { type: 'abandoned' });
  }

  /** Removes a caller with an outcome (abandoned, overflow) and stops its offer. */
  private leave(w: Waiting, how: { type: 'abandoned' } | { type: 'overflow'; reason: OverflowReason }): void {
    if (this.waiting.get(w.ticket.callId) !== w) return;
    const position = this.positionOf(w.ticket.callId);
    const waitMs = this.clock.now() - w.joinedAt;
    this.remove(w);
    if (how.type === 'abandoned') {
      this.stats.abandoned(w.queue.id, w.ticket.callId, waitMs, this.clock.now());
      this.publish({ type: 'queue.abandoned', queue: w.queue.id, callId: w.ticket.callId, waitMs, position });
      w.settle({ type: 'abandoned', waitMs });
    } else {
      this.stats.overflowed(w.queue.id, w.ticket.callId, how.reason, waitMs, this.clock.now());
      this.publish({ type: 'queue.overflow', queue: w.queue.id, callId: w.ticket.callId, reason: how.reason, waitMs });
      w.settle({ type: 'overflow', reason: how.reason, waitMs });
    }
    this.kick();
  }

  private remove(w: Waiting): void {
    this.waiting.delete(w.ticket.callId);
    if (w.maxWaitTimer !== undefined) this.clock.clearTimeout(w.maxWaitTimer);
    if (w.ringing) {
      w.ringing.controller.abort(new Error('caller left the queue'));
      this.releaseRinging(w);
    }
  }

  private releaseRinging(w: Waiting): void {
    for (const ext of w.ringing?.agents ?? []) {
      const a = this.agent(ext);
      if (a.ringingFor === w.ticket.callId) {
        a.ringingFor = undefined;
        this.report(ext);
      }
    }
    w.ringing = undefined;
  }

  // ---- dispatch ------------------------------------------------------------------------------

  /** Something changed: run a dispatch round soon (once, however many changes came in this tick). */
  kick(): void {
    if (this.dispatchPending || this.closed) return;
    this.dispatchPending = true;
    queueMicrotask(() => {
      this.dispatchPending = false;
      this.dispatch();
    });
  }

  /** Whether `ext` can be offered a call of `queue` now (ignoring what the caller tried). */
  private free(ext: string, queueId: string, now: number): boolean {
    const login = this.roster.login(ext, queueId);
    if (!login || login.paused) return false;
    const a = this.agent(ext);
    return a.ringingFor === undefined && !a.busy && a.wrapUpUntil <= now && a.unavailableUntil <= now && !this.busyElsewhere(ext);
  }

  private dispatch(): void {
    const now = this.clock.now();
    let wake = Infinity;
    const callers = [...this.waiting.values()].filter((w) => !w.ringing).sort((a, b) => b.queue.priority - a.queue.priority || a.seq - b.seq);
    for (const w of callers) {
      const candidates = w.queue.agents.filter((a) => this.free(a.extension, w.queue.id, now));
      if (candidates.length === 0) continue;
      let untried = candidates.filter((a) => !w.tried.has(a.extension));
      if (untried.length === 0) {
        if (now < w.retryAt) {
          wake = Math.min(wake, w.retryAt);
          continue;
        }
        w.tried.clear();
        untried = candidates;
      }
      const picks = pickAgents(
        w.queue,
        untried.map((a) => {
          const ended = this.stats.agentLastEndedAt(a.extension, now);
          return { extension: a.extension, penalty: a.penalty, callsAnswered: this.stats.agentAnswered(a.extension, w.queue.id, now), ...(ended === undefined ? {} : { lastCallEndedAt: ended }) };
        }),
        this.memory.get(w.queue.id) ?? {},
        this.random,
      );
      if (picks.length > 0) this.startOffer(w, picks);
    }
    // Agents in wrap-up or back-off become free by themselves: wake up then.
    for (const a of this.agents.values()) for (const t of [a.wrapUpUntil, a.unavailableUntil]) if (t > now) wake = Math.min(wake, t);
    this.scheduleWake(wake);
  }

  private scheduleWake(at: number): void {
    if (at === Infinity || at >= this.wakeAt || this.closed) return;
    if (this.wakeTimer !== undefined) this.clock.clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = this.clock.setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeAt = Infinity;
      // Agents leaving wrap-up are reported available even with nobody waiting.
      for (const ext of this.agents.keys()) this.report(ext);
      this.dispatch();
    }, Math.max(0, at - this.clock.now()));
  }

  private startOffer(w: Waiting, picks: string[]): void {
    const controller = new AbortController();
    w.ringing = { controller, agents: picks };
    for (const ext of picks) {
      this.agent(ext).ringingFor = w.ticket.callId;
      w.tried.add(ext);
      this.report(ext);
    }
    this.memory.set(w.queue.id, { lastOffered: picks.at(-1)! });
    const targets = picks.map((extension) => ({ extension, ringTimeoutMs: w.queue.agentRingTimeout * 1000 }));
    let result: Promise<OfferResult>;
    try {
      result = w.offer(targets, controller.signal);
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      (r) => this.offerDone(w, controller, r),
      () => this.offerDone(w, controller, { failed: Object.fromEntries(picks.map((p) => [p, 500])) }),
    );
  }

  private offerDone(w: Waiting, controller: AbortController, r: OfferResult): void {
    if (controller.signal.aborted || w.ringing?.controller !== controller) return; // the caller left meanwhile
    const now = this.clock.now();
    const offered = w.ringing.agents;
    const winner = 'answered' in r && offered.includes(r.answered) ? r.answered : undefined;
    // Busy before the ringing agents are released, so the winner goes ringing -> busy.
    if (winner !== undefined) this.agent(winner).busy = true;
    this.releaseRinging(w);
    if ('answered' in r && winner !== undefined) {
      const waitMs = now - w.joinedAt;
      this.remove(w);
      this.stats.answered(w.queue.id, w.ticket.callId, r.answered, waitMs, now);
      this.report(r.answered);
      this.publish({ type: 'queue.answered', queue: w.queue.id, callId: w.ticket.callId, agent: r.answered, waitMs });
      w.settle({ type: 'answered', agent: r.answered, waitMs });
    } else {
      const failed = 'failed' in r ? r.failed : {};
      for (const [ext, status] of Object.entries(failed)) {
        // Not registered (404/410/480) or busy on a call the daemon does not see (486/600): back off.
        if ([404, 410, 480, 486, 600].includes(status)) this.agent(ext).unavailableUntil = now + this.unavailableRetryMs;
      }
      const untriedLeft = w.queue.agents.some((a) => !w.tried.has(a.extension) && this.free(a.extension, w.queue.id, now));
      if (!untriedLeft) w.retryAt = now + this.retryMs;
      this.scheduleWake(w.retryAt);
    }
    this.kick();
  }

  // ---- agents --------------------------------------------------------------------------------

  private agent(ext: string): AgentRuntime {
    let a = this.agents.get(ext);
    if (!a) this.agents.set(ext, (a = { busy: false, wrapUpUntil: 0, unavailableUntil: 0 }));
    return a;
  }

  /** The phone-level state of an agent now (reported without a queue). */
  private activity(ext: string): AgentView['activity'] {
    const a = this.agent(ext);
    const now = this.clock.now();
    if (a.busy || this.busyElsewhere(ext)) return 'busy';
    if (a.ringingFor !== undefined) return 'ringing';
    if (a.wrapUpUntil > now) return 'wrap-up';
    if (a.unavailableUntil > now) return 'unreachable';
    return 'available';
  }

  /** Publishes agent.state when the phone-level state changed since the last report. */
  private report(ext: string): void {
    const act = this.activity(ext);
    const state = act === 'unreachable' ? 'available' : act;
    const a = this.agent(ext);
    if (a.lastReported === state) return;
    const first = a.lastReported === undefined;
    a.lastReported = state;
    if (first && state === 'available') return;
    this.publish({ type: 'agent.state', extension: ext, state });
  }

  /**
   * The queue call an agent answered is over (the bridge ended): wrap-up of `queue`'s `wrapUp`
   * seconds starts, then the agent is offered calls again.
   * @param callId the queue caller's Call-ID, for the queue log ('' when not known)
   */
  agentCallEnded(ext: string, queueId: string, callId = ''): void {
    const a = this.agent(ext);
    const now = this.clock.now();
    a.busy = false;
    this.stats.completed(queueId, callId, ext, now);
    const wrapUp = (this.roster.queue(queueId)?.wrapUp ?? 0) * 1000;
    a.wrapUpUntil = now + wrapUp;
    this.report(ext);
    if (wrapUp > 0) this.scheduleWake(a.wrapUpUntil);
    this.kick();
  }

  /**
   * The agent's phone registered (a `registration.changed` event from Kamailio): a back-off after an
   * offer found it unreachable ends at once, so waiting callers are offered to it now.
   */
  agentRegistered(ext: string): void {
    const a = this.agents.get(ext);
    if (!a || a.unavailableUntil <= this.clock.now()) return;
    a.unavailableUntil = 0;
    // Callers that already tried it need not wait out their retry pause for it.
    for (const w of this.waiting.values()) w.tried.delete(ext);
    this.report(ext);
    this.kick();
  }

  /**
   * Logs `ext` in to `queue` (default: every queue it is an agent of); durable before it returns.
   * @returns the queues it is now logged in to by this call
   * @throws PbxError QUEUE_UNKNOWN, QUEUE_NOT_AGENT
   */
  login(ext: string, queue?: string, reason = 'api'): string[] {
    const ids = this.roster.memberQueues(ext, queue);
    const now = this.clock.now();
    for (const id of ids) {
      const login = this.roster.logIn(ext, id, now);
      this.publish({ type: 'agent.state', extension: ext, queue: id, state: login.paused ? 'paused' : 'available', reason });
    }
    this.kick();
    return ids;
  }

  /** Logs `ext` out of `queue` (default: all). @throws PbxError QUEUE_UNKNOWN, QUEUE_NOT_AGENT */
  logout(ext: string, queue?: string, reason = 'api'): string[] {
    // A non-agent is told so (QUEUE_NOT_AGENT); an agent logged in nowhere gets an empty list.
    if (queue === undefined && !this.roster.isAgent(ext)) this.roster.memberQueues(ext);
    const ids = queue === undefined ? this.roster.loggedInQueues(ext) : this.roster.memberQueues(ext, queue);
    for (const id of ids) {
      this.roster.logOut(ext, id);
      this.publish({ type: 'agent.state', extension: ext, queue: id, state: 'logged-out', reason });
    }
    this.afterStaffingChange(ids);
    return ids;
  }

  /**
   * Pauses or unpauses `ext` in `queue` (default: every queue it is logged in to).
   * @throws PbxError QUEUE_UNKNOWN, QUEUE_NOT_AGENT, QUEUE_NOT_LOGGED_IN (not logged in to any of them)
   */
  setPaused(ext: string, paused: boolean, queue?: string, reason?: string): string[] {
    this.roster.memberQueues(ext, queue); // QUEUE_UNKNOWN / QUEUE_NOT_AGENT first
    const ids = this.roster.loggedInQueues(ext).filter((q) => queue === undefined || q === queue);
    if (ids.length === 0) {
      throw new PbxError('QUEUE_NOT_LOGGED_IN', `extension ${ext} is not logged in to ${queue === undefined ? 'any queue' : `queue ${queue}`}`, { hint: `Log in first: pbxctl queue agent login ${ext}${queue === undefined ? '' : ` --queue ${queue}`}` });
    }
    const now = this.clock.now();
    for (const id of ids) {
      this.roster.setPaused(ext, id, paused, reason, now);
      this.publish({ type: 'agent.state', extension: ext, queue: id, state: paused ? 'paused' : 'available', ...(reason === undefined ? {} : { reason }) });
    }
    if (paused) this.afterStaffingChange(ids);
    else this.kick();
    return ids;
  }

  /**
   * The pause feature code: pauses every queue `ext` is logged in to, or unpauses them all when
   * all were paused. @returns the new state and the queues
   * @throws PbxError QUEUE_NOT_LOGGED_IN
   */
  togglePause(ext: string, reason = 'feature-code'): { paused: boolean; queues: string[] } {
    const logins = this.roster.loggedInQueues(ext).map((q) => this.roster.login(ext, q)!);
    const paused = !logins.every((l) => l.paused) || logins.length === 0;
    return { paused, queues: this.setPaused(ext, paused, undefined, reason) };
  }

  /** Whether `ext` is an agent of `queueId` in the running config. */
  isAgentOf(ext: string, queueId: string): boolean {
    return this.roster.isAgentOf(ext, queueId);
  }

  /** Whether `ext` is an agent of some queue of the running config. */
  isAgent(ext: string): boolean {
    return this.roster.isAgent(ext);
  }

  /** Queues of the running config `ext` is logged in to. */
  loggedInQueues(ext: string): string[] {
    return this.roster.loggedInQueues(ext);
  }

  /** After agents left or paused: callers of queues that are now empty leave when the queue says so. */
  private afterStaffingChange(queueIds: string[]): void {
    for (const id of queueIds) {
      for (const w of this.waitingIn(id)) if (w.queue.leaveWhenEmpty && !this.roster.staffed(w.queue)) this.leave(w, { type: 'overflow', reason: 'leave-empty' });
    }
    this.kick();
  }

  // ---- views ---------------------------------------------------------------------------------

  /** Every configured agent (and every stored login), for the API. */
  agentViews(): AgentView[] {
    const exts = new Set<string>();
    for (const id of this.roster.queueIds()) for (const a of this.roster.queue(id)!.agents) exts.add(a.extension);
    const logins = this.roster.all();
    for (const l of logins) exts.add(l.extension);
    return [...exts].sort().map((ext) => {
      const now = this.clock.now();
      const ended = this.stats.agentLastEndedAt(ext, now);
      return {
        extension: ext,
        queues: logins.filter((l) => l.extension === ext).map((l) => ({ queue: l.queue, paused: l.paused, ...(l.pauseReason === undefined ? {} : { pauseReason: l.pauseReason }), loggedInAt: l.loggedInAt })),
        activity: this.activity(ext),
        callsAnswered: this.stats.agentAnsweredTotal(ext, now),
        ...(ended === undefined ? {} : { lastCallEndedAt: ended }),
      };
    });
  }

  /** Statistics of one queue of the running config; undefined when there is no such queue. */
  queueStats(queueId: string): QueueStats | undefined {
    const q = this.roster.queue(queueId);
    if (!q) return undefined;
    const now = this.clock.now();
    const waiting = this.waitingIn(queueId);
    const loggedIn = this.roster.loggedIn(q);
    return this.stats.view(queueId, {
      waiting: waiting.length,
      longestWaitMs: waiting.length ? now - waiting[0]!.joinedAt : 0,
      agentsLoggedIn: loggedIn.length,
      agentsAvailable: loggedIn.filter((a) => this.free(a.extension, q.id, now)).length,
      callers: waiting.map((w, i) => ({ callId: w.ticket.callId, caller: w.caller, position: i + 1, waitMs: now - w.joinedAt, ringing: w.ringing?.agents ?? [] })),
    }, now);
  }

  /**
   * Estimated wait of a caller at `position` (ms): the queue's recent average wait of answered
   * callers (an exponentially weighted mean) times the position, shared by the agents logged in.
   * Undefined until a call of the queue was answered.
   */
  estimatedWaitMs(queueId: string, position: number): number | undefined {
    const avg = this.stats.recentWaitMs(queueId);
    if (avg === undefined) return undefined;
    const q = this.roster.queue(queueId);
    const staff = Math.max(1, q ? this.roster.loggedIn(q).length : 1);
    return (avg * Math.max(1, position)) / staff;
  }

  /** Stops timers; callers still waiting are left to their flows (the daemon tears calls down). */
  close(): void {
    this.closed = true;
    if (this.wakeTimer !== undefined) this.clock.clearTimeout(this.wakeTimer);
    for (const w of this.waiting.values()) if (w.maxWaitTimer !== undefined) this.clock.clearTimeout(w.maxWaitTimer);
  }
}
