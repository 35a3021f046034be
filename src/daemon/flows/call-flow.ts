/**
 * The top of a call's flow: resolve what Kamailio handed over (destination-resolver.ts), run the
 * feature (IVR, ring group, extension, external number), follow where it sends the call next, and
 * end the call in the final state that fits. Loops are cut after MAX_STEPS features (validation
 * rejects routing loops; this guards a mixed-release moment or an IVR a caller walks in circles).
 */
import type { DialOutcome } from '../channel.js';
import type { FeatureDestination, FeatureExtension } from '../config-types.js';
import { resolveDestination, resolveRequest, type DaemonRequest, type Resolution, type ResolutionHop } from '../destination-resolver.js';
import { CallAborted, dialWaves } from '../tasks.js';
import { bridgeAnswered, ringCall, type FlowContext } from './context.js';
import { runIvr } from './ivr.js';
import { runAgentFeature, runQueue } from './queue.js';
import { runRingGroup } from './ring-group.js';
import { greetingKind, noteForward, runVoicemailDeposit, runVoicemailRetrieval } from './voicemail.js';

/** Features a call may pass through before the daemon ends it as a loop (482). */
export const MAX_STEPS = 32;

/** Ends the call with a final response / BYE and moves the state machine to the matching final state. */
async function end(ctx: FlowContext, status: number | undefined, reason: string): Promise<void> {
  await ctx.channel.hangup(status, reason);
  const unanswered = status === 486 || status === 600 ? 'busy' : status === 408 || status === 480 ? 'no-answer' : 'failed';
  ctx.state.finish(unanswered, status === undefined ? reason : `${status} ${reason}`);
}

/** Dials one number (an extension or E.164) and bridges on answer; the outcome when nobody answered. */
async function dialOne(ctx: FlowContext, number: string, ringTimeoutMs: number, label: string): Promise<Exclude<DialOutcome, { answered: object }> | undefined> {
  await ringCall(ctx);
  ctx.step('dial', { targets: number, timeoutMs: ringTimeoutMs });
  const outcome = await dialWaves(ctx.channel.dial.bind(ctx.channel), [{ targets: [{ number, ringTimeoutMs, label }], timeoutMs: ringTimeoutMs, callerId: ctx.channel.caller }], ringTimeoutMs, ctx.signal);
  if (!outcome.answered) return outcome;
  await bridgeAnswered(ctx, outcome.answered);
  return undefined;
}

/** An extension: ring it for its no-answer timeout, then its busy / no-answer / unavailable forward. */
async function runExtension(ctx: FlowContext, ext: FeatureExtension): Promise<FeatureDestination | { reject: number; reason: string } | undefined> {
  const failed = await dialOne(ctx, ext.number, ext.noAnswerTimeout * 1000, `extension:${ext.number}`);
  if (!failed) return undefined;
  const forward = failed.result === 'busy' ? ext.forward.busy : failed.result === 'no-answer' ? ext.forward.noAnswer : ext.forward.unavailable;
  if (forward) {
    ctx.step('forward', { extension: ext.number, on: failed.result });
    noteForward(ctx, failed.result);
    return forward;
  }
  return failed.result === 'busy' ? { reject: 486, reason: 'Busy Here' } : { reject: 480, reason: failed.result === 'no-answer' ? 'No Answer' : 'Temporarily Unavailable' };
}

function recordHops(ctx: FlowContext, r: Resolution): void {
  for (const h of r.hops) {
    const { type, ...rest } = h;
    const detail: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) detail[k] = v instanceof Date ? v.toISOString() : (v as string);
    ctx.step(type, detail);
  }
}

/**
 * Runs the whole flow of one call and ends it (final response or BYE; final call state).
 * Resolves when the call is over, also when the caller hung up (the state is then `canceled` or
 * `completed`); rejects only on a bug.
 */
export async function runCallFlow(ctx: FlowContext, request: DaemonRequest): Promise<void> {
  try {
    let resolution = resolveRequest(ctx.config, request, ctx.now);
    // Kamailio rang the extension and forwarded (X-PBX-Forward): the box greets as runExtension's would.
    const forwarded = resolution.hops.find((h): h is Extract<ResolutionHop, { type: 'forward' }> => h.type === 'forward');
    if (forwarded) noteForward(ctx, forwarded.on === 'unavailable' ? 'failed' : forwarded.on);
    for (let steps = 1; ; steps++) {
      recordHops(ctx, resolution);
      const step = resolution.step;
      let next: FeatureDestination | { reject: number; reason: string } | undefined;
      switch (step.type) {
        case 'ivr':
          next = await runIvr(ctx, step.ivr);
          break;
        case 'ring-group':
          next = await runRingGroup(ctx, step.group);
          break;
        case 'extension':
          next = await runExtension(ctx, step.extension);
          break;
        case 'external': {
          const failed = await dialOne(ctx, step.number, ctx.config.defaults.ringTimeout * 1000, `external:${step.number}`);
          next = failed && { reject: failed.result === 'busy' ? 486 : 480, reason: failed.result };
          break;
        }
        case 'queue':
          if (!ctx.queues) return await end(ctx, 480, 'queues are not available on this node');
          next = await runQueue(ctx, step.queue, ctx.queues);
          break;
        case 'voicemail':
          if (!ctx.voicemail) {
            ctx.step('unavailable', { feature: 'voicemail' });
            return await end(ctx, 480, 'voicemail is not available on this node');
          }
          next = await runVoicemailDeposit(ctx, step.extension, greetingKind(ctx, resolution));
          break;
        case 'feature':
          if (ctx.voicemail && (step.feature === 'voicemail' || step.feature === 'voicemailAny')) {
            next = await runVoicemailRetrieval(ctx, step.feature);
            break;
          }
          if (ctx.queues && (step.feature === 'agentLogin' || step.feature === 'agentLogout' || step.feature === 'agentPause')) {
            next = await runAgentFeature(ctx, step.feature, ctx.queues);
            break;
          }
          ctx.step('unavailable', { feature: step.feature });
          return await end(ctx, 480, `${step.feature} is not available on this node yet`);
        case 'hangup':
          ctx.step('hangup', {});
          return await end(ctx, 480, 'Hangup destination');
        case 'reject':
          return await end(ctx, step.status, step.reason);
        default:
          // Voicemail, queues, conferences and feature codes are the next slice of the daemon
          // (issue 5); until then the caller gets a clear final status instead of silence.
          ctx.step('unavailable', { feature: step.type });
          return await end(ctx, 480, `${step.type} is not available on this node yet`);
      }
      if (next === undefined) return await end(ctx, undefined, 'normal clearing');
      if ('reject' in next) return await end(ctx, next.reject, next.reason);
      if (steps >= MAX_STEPS) return await end(ctx, 482, 'Loop Detected');
      resolution = resolveDestination(ctx.config, next, ctx.now, steps);
    }
  } catch (e) {
    if (ctx.signal.aborted) {
      // The caller hung up (or the call was torn down): stop, and say how it ended.
      await ctx.channel.hangup().catch(() => undefined);
      ctx.state.finish('canceled', e instanceof CallAborted ? e.message : 'torn down');
      return;
    }
    await ctx.channel.hangup(500, 'Server Internal Error').catch(() => undefined);
    ctx.state.finish('failed', e instanceof Error ? e.message : String(e));
    throw e;
  }
}
