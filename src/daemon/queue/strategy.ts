/**
 * Queue (ACD) strategies (schemas/queue.schema.json `strategy`): which of the agents who are free
 * right now are offered the next waiting caller. Pure: the agents' call history and the random
 * source are inputs; QueueManager (manager.ts) keeps that history and dials the picks.
 *
 * - ring-all: every free agent at once; the first to answer gets the caller.
 * - round-robin: one agent, the next after the one last offered a call of this queue, in the
 *   queue's agent order (wrapping), so offers rotate through the team.
 * - least-recent: one agent, the one whose last queue call ended longest ago (never = longest);
 *   ties in agent order.
 * - fewest-calls: one agent, the one who answered the fewest calls of this queue today (stats.ts:
 *   the PBX's local day); ties go to the least recent, then agent order.
 * - random: one agent, uniformly at random.
 * - priority: ring-all within the lowest `penalty` tier among the free agents (0 = most preferred;
 *   the repo's per-agent penalty, queue.schema.json). Agents with a higher penalty get calls only
 *   when every agent with a lower one is busy, paused, ringing or wrapping up.
 *
 * Unlike ring groups (ring-strategy.ts) there are no waves: a queue offers one caller to one agent
 * (or to all, ring-all) for the agent ring timeout; if nobody answers, the manager offers the
 * caller again to whoever is free then, so availability changes are taken into account at once.
 */
import type { FeatureQueue } from '../config-types.js';

/** A free agent as the strategy sees it. Times are ms since the epoch. */
export interface StrategyAgent {
  extension: string;
  /** The repo's penalty for this queue (0 = preferred). */
  penalty: number;
  /** When the agent's last call of this queue ended (answered calls only). */
  lastCallEndedAt?: number;
  /** Calls of this queue the agent answered today (QueueStatsBook.agentAnswered). */
  callsAnswered: number;
}

/** Per-queue strategy memory (the manager keeps one per queue). */
export interface StrategyMemory {
  /** The agent last offered a call of this queue (round-robin continues after it). */
  lastOffered?: string;
}

/**
 * The agents to offer the next caller to.
 * @param queue the queue (its strategy and agent order)
 * @param free agents who can take a call now, in any order (a subset of `queue.agents`)
 * @param random uniform in [0, 1), for `random`
 * @returns extensions to ring at once: all of `free` for ring-all, else one; empty when `free` is
 */
export function pickAgents(queue: Pick<FeatureQueue, 'strategy' | 'agents'>, free: readonly StrategyAgent[], memory: StrategyMemory, random: () => number = Math.random): string[] {
  if (free.length === 0) return [];
  const order = new Map(queue.agents.map((a, i) => [a.extension, i]));
  const byOrder = [...free].sort((a, b) => (order.get(a.extension) ?? Infinity) - (order.get(b.extension) ?? Infinity));
  switch (queue.strategy) {
    case 'ring-all':
      return byOrder.map((a) => a.extension);
    case 'round-robin': {
      const last = memory.lastOffered === undefined ? -1 : (order.get(memory.lastOffered) ?? -1);
      const next = byOrder.find((a) => (order.get(a.extension) ?? -1) > last) ?? byOrder[0]!;
      return [next.extension];
    }
    case 'least-recent':
      return [minBy(byOrder, (a) => a.lastCallEndedAt ?? -Infinity).extension];
    case 'fewest-calls': {
      const fewest = Math.min(...byOrder.map((a) => a.callsAnswered));
      return [minBy(byOrder.filter((a) => a.callsAnswered === fewest), (a) => a.lastCallEndedAt ?? -Infinity).extension];
    }
    case 'random':
      return [byOrder[Math.min(byOrder.length - 1, Math.floor(random() * byOrder.length))]!.extension];
    case 'priority': {
      const best = Math.min(...byOrder.map((a) => a.penalty));
      return byOrder.filter((a) => a.penalty === best).map((a) => a.extension);
    }
  }
}

/** The first element with the smallest key (stable: ties keep the input order). */
function minBy<T>(items: readonly T[], key: (t: T) => number): T {
  // Callers never pass an empty list (pickAgents returns early).
  let best = items[0] as T;
  for (const item of items) if (key(item) < key(best)) best = item;
  return best;
}
