/**
 * The caller's side of an ACD queue (queue/manager.ts decides who is offered which caller): answer,
 * play the queue's join announcement, then music on hold (the queue's class, else the PBX default;
 * RTPengine `play media` looping) interrupted every `announcements.interval` seconds by the
 * caller's position and estimated wait (spoken from digit prompts), until an agent answers (MOH
 * stops, the caller is bridged with the agent), the queue sends the caller to its overflow
 * destination, or the caller hangs up (an abandon).
 *
 * Offers ring the agents through the caller's channel (CallChannel.dial) while the caller stays
 * on music on hold: RTPengine keeps playing to the caller while callee legs are offered
 * (media-session.ts).
 *
 * Also the agent feature codes (`agentLogin`, `agentLogout`, `agentPause`): the calling extension
 * is the agent; a confirmation prompt is played.
 */
import type { AnsweredLeg } from '../channel.js';
import type { FeatureDestination, FeatureQueue, SystemPrompts } from '../config-types.js';
import { PbxError } from '../../lib/errors.js';
import type { OfferFn, QueueManager, QueueTicket } from '../queue/manager.js';
import { CallAborted, sleep } from '../tasks.js';
import { answerCall, bridgeAnswered, promptFile, type FlowContext } from './context.js';

/** The digit prompts that speak `n` ("one", "two" for 12): numbers are read digit by digit. */
export function digitPrompts(n: number): (keyof SystemPrompts)[] {
  return String(Math.max(0, Math.floor(n)))
    .split('')
    .map((d) => `digit${d}` as keyof SystemPrompts);
}

/**
 * What a periodic announcement says (system prompt names): "You are caller number N" when
 * `position` is on, "Your estimated wait time is M minutes" (or "less than one minute") when
 * `holdTime` is on and an estimate exists.
 */
export function announcementPrompts(queue: Pick<FeatureQueue, 'announcements'>, position: number, estimatedWaitMs: number | undefined): (keyof SystemPrompts)[] {
  const out: (keyof SystemPrompts)[] = [];
  if (queue.announcements.position && position > 0) out.push('queuePosition', ...digitPrompts(position));
  if (queue.announcements.holdTime && estimatedWaitMs !== undefined) {
    out.push('queueHoldTime');
    if (estimatedWaitMs < 60_000) out.push('queueUnderMinute');
    else out.push(...digitPrompts(Math.ceil(estimatedWaitMs / 60_000)), 'queueMinutes');
  }
  return out;
}

/** The music-on-hold files of a queue (absolute paths, in play order), empty when it has no class. */
function musicOnHold(ctx: FlowContext, queue: FeatureQueue): string[] {
  const id = queue.musicOnHold ?? ctx.config.defaults.musicOnHold;
  const moh = id === undefined ? undefined : ctx.config.musicOnHold[id];
  if (!moh) return [];
  const files = moh.files.map((f) => promptFile(ctx, f));
  if (moh.order === 'random') {
    for (let i = files.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [files[i], files[j]] = [files[j]!, files[i]!];
    }
  }
  return files;
}

/**
 * Restarts the music after an offer that failed: RTPengine ends a running `play media` when the
 * caller's media is handed back from a released callee leg to the daemon (seen with rtpengine
 * 10.5: the caller heard silence after an agent's phone rang out), so the music starts again.
 */
interface HoldControl {
  restart?: () => void;
}

/** Music on hold (or silence without a class) for `ms`; rejects only when `signal` aborts. */
async function holdFor(ctx: FlowContext, files: string[], ms: number, signal: AbortSignal, control: HoldControl): Promise<void> {
  if (files.length === 0) return sleep(ms, signal);
  const until = ctx.now().getTime() + ms;
  for (;;) {
    const remaining = until - ctx.now().getTime();
    if (remaining <= 0) return;
    const due = new AbortController();
    const restart = new AbortController();
    control.restart = () => restart.abort(new CallAborted('music on hold restarted'));
    const timer = setTimeout(() => due.abort(new CallAborted('announcement due')), remaining);
    try {
      await ctx.channel.playMusicOnHold(files, AbortSignal.any([signal, due.signal, restart.signal]));
    } catch (e) {
      if (signal.aborted) throw e;
      if (due.signal.aborted) return;
      if (restart.signal.aborted) continue;
      // The music failed (RTPengine could not play the file): the caller keeps their place in silence.
      ctx.step('queue.moh-failed', { error: e instanceof Error ? e.message : String(e) });
      return sleep(Math.max(0, until - ctx.now().getTime()), signal);
    } finally {
      clearTimeout(timer);
      control.restart = undefined;
    }
  }
}

/** Join prompt, then music on hold with periodic announcements, until `signal` aborts (it always does). */
async function hold(ctx: FlowContext, manager: QueueManager, queue: FeatureQueue, ticket: QueueTicket, signal: AbortSignal, control: HoldControl): Promise<void> {
  const play = async (id: string) => {
    try {
      await ctx.channel.play(promptFile(ctx, id), signal);
    } catch (e) {
      if (signal.aborted) throw e;
      ctx.step('queue.prompt-failed', { prompt: id, error: e instanceof Error ? e.message : String(e) });
    }
  };
  if (queue.announcements.join) await play(queue.announcements.join);
  const files = musicOnHold(ctx, queue);
  const intervalMs = queue.announcements.interval * 1000;
  const announces = intervalMs > 0 && (queue.announcements.position || queue.announcements.holdTime);
  // Announcements are due at fixed times from joining (join + k × interval), however long each took.
  let due = ticket.joinedAt + intervalMs;
  for (;;) {
    const now = ctx.now().getTime();
    if (!announces) {
      await holdFor(ctx, files, 3_600_000, signal, control);
      continue;
    }
    if (due > now) await holdFor(ctx, files, due - now, signal, control);
    const position = ticket.position();
    if (position === 0) return; // left the queue meanwhile; the flow takes over
    const prompts = announcementPrompts(queue, position, manager.estimatedWaitMs(queue.id, position));
    ctx.step('queue.announce', { queue: queue.id, position, scheduledAt: due, lateMs: ctx.now().getTime() - due });
    for (const p of prompts) await play(ctx.config.systemPrompts[p]);
    do due += intervalMs;
    while (due <= ctx.now().getTime());
  }
}

/**
 * Runs one queue for the caller: resolves undefined when an agent answered and the bridge ended,
 * the overflow destination when the queue sent the caller out; rejects with the abort reason when
 * the caller hung up (recorded as an abandon).
 */
export async function runQueue(ctx: FlowContext, queue: FeatureQueue, manager: QueueManager): Promise<FeatureDestination | undefined> {
  await answerCall(ctx);
  ctx.step(`queue:${queue.id}`, { queue: queue.id, strategy: queue.strategy });
  let leg: AnsweredLeg | undefined;
  const control: HoldControl = {};
  const offer: OfferFn = async (targets, signal) => {
    ctx.step('dial', { targets: targets.map((t) => t.extension).join(','), timeoutMs: Math.max(...targets.map((t) => t.ringTimeoutMs)) });
    const outcome = await ctx.channel.dial(
      { targets: targets.map((t) => ({ number: t.extension, ringTimeoutMs: t.ringTimeoutMs, label: `queue:${queue.id}` })), timeoutMs: Math.max(...targets.map((t) => t.ringTimeoutMs)), callerId: ctx.channel.caller },
      AbortSignal.any([signal, ctx.signal]),
    );
    if (!outcome.answered) {
      control.restart?.();
      return { failed: outcome.statuses };
    }
    if (signal.aborted || ctx.signal.aborted) {
      // The caller left (hung up, max wait) while the agent answered: the agent gets a BYE.
      await outcome.answered.hangup();
      throw signal.reason;
    }
    leg = outcome.answered;
    return { answered: outcome.answered.target.number };
  };
  const ticket = manager.join(queue, { callId: ctx.channel.callId, caller: ctx.channel.caller, offer });
  const onHangup = () => ticket.abandon();
  ctx.signal.addEventListener('abort', onHangup, { once: true });
  if (ctx.signal.aborted) onHangup();
  const stopHold = new AbortController();
  const holdSignal = AbortSignal.any([ctx.signal, stopHold.signal]);
  const holding = hold(ctx, manager, queue, ticket, holdSignal, control).catch((e: unknown) => {
    if (!holdSignal.aborted) throw e;
  });
  let outcome;
  try {
    outcome = await ticket.outcome;
  } finally {
    ctx.signal.removeEventListener('abort', onHangup);
    stopHold.abort(new CallAborted('left the queue'));
    await holding;
  }
  switch (outcome.type) {
    case 'abandoned':
      ctx.step('queue.abandoned', { queue: queue.id, waitMs: outcome.waitMs });
      throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new CallAborted('caller abandoned the queue');
    case 'overflow':
      ctx.step('queue.overflow', { queue: queue.id, reason: outcome.reason, waitMs: outcome.waitMs });
      return queue.overflow;
    case 'answered': {
      ctx.step('queue.answered', { queue: queue.id, agent: outcome.agent, waitMs: outcome.waitMs });
      try {
        if (!leg) throw new Error(`queue ${queue.id}: agent ${outcome.agent} answered but no leg was kept`);
        await bridgeAnswered(ctx, leg);
      } finally {
        manager.agentCallEnded(outcome.agent, queue.id, ctx.channel.callId);
      }
      return undefined;
    }
  }
}

/** The agent feature codes Kamailio hands to the daemon. */
export type AgentFeature = 'agentLogin' | 'agentLogout' | 'agentPause';

/**
 * An agent feature code: the calling extension logs in to / out of every queue it is an agent
 * of, or toggles its pause, and hears a confirmation. The caller's number is the extension
 * Kamailio authenticated (it hands only its own phones' feature codes to the daemon).
 */
export async function runAgentFeature(ctx: FlowContext, feature: AgentFeature, manager: QueueManager): Promise<undefined> {
  await answerCall(ctx);
  const ext = ctx.channel.caller.number;
  let prompt: keyof SystemPrompts;
  let queues: string[] = [];
  try {
    if (feature === 'agentLogin') {
      queues = manager.login(ext, undefined, 'feature-code');
      prompt = 'agentLoggedIn';
    } else if (feature === 'agentLogout') {
      queues = manager.logout(ext, undefined, 'feature-code');
      prompt = 'agentLoggedOut';
    } else {
      const r = manager.togglePause(ext);
      queues = r.queues;
      prompt = r.paused ? 'agentPaused' : 'agentUnpaused';
    }
  } catch (e) {
    if (!(e instanceof PbxError)) throw e;
    prompt = e.code === 'QUEUE_NOT_LOGGED_IN' ? 'agentLoggedOut' : 'agentNotMember';
  }
  ctx.step(`feature:${feature}`, { extension: ext, result: prompt, queues: queues.join(',') });
  await ctx.channel.play(promptFile(ctx, ctx.config.systemPrompts[prompt]), ctx.signal);
  return undefined;
}
