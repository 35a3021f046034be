/**
 * Helpers of the queue tests: a queue definition with the schema's defaults, and scripted agents
 * that answer or fail an offer after a delay (on vitest's fake timers).
 */
import type { FeatureQueue } from '../../../src/daemon/config-types.js';
import type { OfferFn, OfferResult } from '../../../src/daemon/queue/manager.js';

/** A queue with the schema defaults (queue.schema.json) and agents 1001..100n unless given. */
export function queueDef(o: Partial<FeatureQueue> & { id?: string } = {}): FeatureQueue {
  return {
    id: 'support',
    strategy: 'round-robin',
    agents: [
      { extension: '1001', penalty: 0 },
      { extension: '1002', penalty: 0 },
    ],
    maxWait: 0,
    maxCallers: 0,
    joinEmpty: true,
    leaveWhenEmpty: false,
    overflow: { type: 'voicemail', mailbox: '1001' },
    agentRingTimeout: 15,
    wrapUp: 0,
    priority: 0,
    announcements: { position: true, holdTime: false, interval: 0 },
    ...o,
  };
}

/** What an agent's phone does when offered a call: answer after ms, fail with a status after ms, or ring until the timeout (408). */
export type AgentScript = { answerAfterMs: number } | { failAfterMs: number; status: number } | 'ring';

/**
 * Scripted agents. `offers` records every offer as `callId>1001,1002`; the offer function of a
 * caller rings the targets per script and resolves like flows/queue.ts does.
 */
export class Agents {
  readonly offers: string[] = [];
  constructor(public scripts: Record<string, AgentScript> = {}) {}

  offerFor(callId: string): OfferFn {
    return (targets, signal) => {
      this.offers.push(`${callId}>${targets.map((t) => t.extension).join(',')}`);
      return new Promise<OfferResult>((resolve, reject) => {
        const timers: NodeJS.Timeout[] = [];
        const failed: Record<string, number> = {};
        let pending = targets.length;
        const done = (r: OfferResult) => {
          timers.forEach(clearTimeout);
          signal.removeEventListener('abort', onAbort);
          resolve(r);
        };
        const onAbort = () => {
          timers.forEach(clearTimeout);
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const fail = (ext: string, status: number) => {
          failed[ext] = status;
          if (--pending === 0) done({ failed });
        };
        for (const t of targets) {
          const s = this.scripts[t.extension] ?? 'ring';
          if (s === 'ring') timers.push(setTimeout(() => fail(t.extension, 408), t.ringTimeoutMs));
          else if ('answerAfterMs' in s && s.answerAfterMs < t.ringTimeoutMs) timers.push(setTimeout(() => done({ answered: t.extension }), s.answerAfterMs));
          else if ('failAfterMs' in s) timers.push(setTimeout(() => fail(t.extension, s.status), s.failAfterMs));
          else timers.push(setTimeout(() => fail(t.extension, 408), t.ringTimeoutMs));
        }
      });
    };
  }
}
