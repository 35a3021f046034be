/**
 * A ring group: rings its members per strategy (ring-strategy.ts) in waves through Kamailio, bridges
 * the caller with the first member who answers, and otherwise sends the call to the fallback. The
 * caller hears ringback (180) and is not answered unless a member answers (or it was answered
 * before, e.g. by an IVR), so an unanswered call is not billed. Strategy state (round-robin
 * position, least-recent times) is kept per group in the RingStateStore.
 */
import type { FeatureDestination, FeatureRingGroup } from '../config-types.js';
import { nextState, ringPlan, toRingState } from '../ring-strategy.js';
import { dialWaves } from '../tasks.js';
import { bridgeAnswered, ringCall, type FlowContext } from './context.js';

/** Runs one ring group; resolves undefined when a member answered and the bridge ended, else the fallback. */
export async function runRingGroup(ctx: FlowContext, group: FeatureRingGroup): Promise<FeatureDestination | undefined> {
  const state = toRingState(ctx.ringState.get(group.id));
  const plan = ringPlan(group, { state });
  ctx.step(`ring-group:${group.id}`, { group: group.id, strategy: group.strategy, waves: plan.waves.length });
  if (plan.waves.length === 0) return group.fallback;
  await ringCall(ctx);
  const callerId = {
    number: ctx.channel.caller.number,
    ...(ctx.channel.caller.name !== undefined || group.callerIdPrefix !== undefined ? { name: `${group.callerIdPrefix ?? ''}${ctx.channel.caller.name ?? ctx.channel.caller.number}` } : {}),
  };
  const waves = plan.waves.map((w) => ({ targets: w.targets.map((t) => ({ number: t.number, ringTimeoutMs: t.ringTimeoutMs, label: `ring-group:${group.id}` })), timeoutMs: w.timeoutMs, callerId }));
  const offered: string[] = [];
  const outcome = await dialWaves(
    (request, signal) => {
      // Who was offered, in order, feeds the strategy state (round-robin continues after them).
      offered.push(...request.targets.map((t) => t.number));
      ctx.step('dial', { targets: request.targets.map((t) => t.number).join(','), timeoutMs: request.timeoutMs });
      return ctx.channel.dial(request, signal);
    },
    waves,
    plan.totalTimeoutMs,
    ctx.signal,
  );
  const answered = outcome.answered?.target.number;
  ctx.ringState.set(group.id, nextState(group, state, { offered, ...(answered === undefined ? {} : { answered }), at: Date.now() }));
  if (!outcome.answered) {
    ctx.step('ring-group.no-answer', { group: group.id, result: outcome.result });
    return group.fallback;
  }
  await bridgeAnswered(ctx, outcome.answered);
  return undefined;
}
