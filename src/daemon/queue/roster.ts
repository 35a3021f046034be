/**
 * Who may take calls of which queue: the queues of the running config (their `agents` lists) and
 * the agents' durable logins and pauses (agent-store.ts), kept in memory for the dispatcher and
 * written through to the store on every change. Membership errors are PbxErrors for the API and
 * the CLI (`QUEUE_UNKNOWN`, `QUEUE_NOT_AGENT`).
 */
import { PbxError } from '../../lib/errors.js';
import type { FeatureQueue } from '../config-types.js';
import type { AgentLogin, AgentStore } from './agent-store.js';

/** Queue membership and logins. Times are ms since the epoch. */
export class AgentRoster {
  private queues = new Map<string, FeatureQueue>();
  /** The store's logins by `ext\0queue`, re-read after every write (the dispatcher reads them a lot). */
  private logins = new Map<string, AgentLogin>();

  constructor(private readonly store: AgentStore) {
    this.refresh();
  }

  private refresh(): void {
    this.logins = new Map(this.store.list().map((l) => [`${l.extension}\0${l.queue}`, l]));
  }

  /** The queues of the running config, by id. */
  setQueues(queues: Readonly<Record<string, FeatureQueue>>): void {
    this.queues = new Map(Object.entries(queues));
  }

  queue(id: string): FeatureQueue | undefined {
    return this.queues.get(id);
  }

  queueIds(): string[] {
    return [...this.queues.keys()].sort();
  }

  /** The login of `ext` to `queueId`, if any. */
  login(ext: string, queueId: string): AgentLogin | undefined {
    return this.logins.get(`${ext}\0${queueId}`);
  }

  /** Every stored login (also to queues the running config no longer has). */
  all(): AgentLogin[] {
    return [...this.logins.values()];
  }

  isAgentOf(ext: string, queueId: string): boolean {
    return this.queues.get(queueId)?.agents.some((a) => a.extension === ext) ?? false;
  }

  isAgent(ext: string): boolean {
    return [...this.queues.values()].some((q) => q.agents.some((a) => a.extension === ext));
  }

  /** Queues of the running config `ext` is logged in to. */
  loggedInQueues(ext: string): string[] {
    return this.all()
      .filter((l) => l.extension === ext && this.queues.has(l.queue))
      .map((l) => l.queue);
  }

  /** Agents of `queue` logged in to it (paused or not). */
  loggedIn(queue: FeatureQueue): FeatureQueue['agents'] {
    return queue.agents.filter((a) => this.login(a.extension, queue.id) !== undefined);
  }

  /** Whether some agent of `queue` is logged in and not paused (`joinEmpty` / `leaveWhenEmpty`). */
  staffed(queue: FeatureQueue): boolean {
    return queue.agents.some((a) => {
      const l = this.login(a.extension, queue.id);
      return l !== undefined && !l.paused;
    });
  }

  /**
   * The configured queues `ext` is an agent of (only `queue` when given), sorted.
   * @throws PbxError QUEUE_UNKNOWN (no such queue), QUEUE_NOT_AGENT (not an agent of it / of any)
   */
  memberQueues(ext: string, queue?: string): string[] {
    if (queue !== undefined && !this.queues.has(queue)) {
      throw new PbxError('QUEUE_UNKNOWN', `there is no queue ${queue} in the running config`, { hint: `Queues: ${this.queueIds().join(', ') || '(none)'}.` });
    }
    const ids = [...this.queues.values()].filter((q) => (queue === undefined || q.id === queue) && q.agents.some((a) => a.extension === ext)).map((q) => q.id);
    if (ids.length === 0) {
      throw new PbxError('QUEUE_NOT_AGENT', `extension ${ext} is not an agent of ${queue === undefined ? 'any queue' : `queue ${queue}`}`, {
        hint: 'Add the extension to the queue\'s agents in the repo and apply.',
      });
    }
    return ids.sort();
  }

  /** Stores a login (a login that exists keeps its pause); durable when this returns. */
  logIn(ext: string, queueId: string, at: number): AgentLogin {
    this.store.login(ext, queueId, at);
    this.refresh();
    return this.login(ext, queueId)!;
  }

  logOut(ext: string, queueId: string): void {
    this.store.logout(ext, queueId);
    this.refresh();
  }

  setPaused(ext: string, queueId: string, paused: boolean, reason: string | undefined, at: number): void {
    this.store.setPaused(ext, queueId, paused, reason, at);
    this.refresh();
  }
}
