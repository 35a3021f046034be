/**
 * What every call flow gets: the caller's channel, the config the call started on, its digit
 * queue, the abort signal (caller hung up or teardown), a step recorder, a clock, and the ring-group
 * strategy state. Flows return where the call goes next (a destination) or `undefined` when the
 * call is finished.
 */
import { join } from 'node:path';
import type { AnsweredLeg, CallChannel } from '../channel.js';
import type { FeatureConfig, FeatureDestination } from '../config-types.js';
import type { CallStateMachine } from '../call-state.js';
import { bridge, type DigitQueue } from '../tasks.js';
import type { RingStateStore } from '../ring-state-store.js';
import type { VoicemailRuntime } from './voicemail.js';
import type { QueueManager } from '../queue/manager.js';

/** The context of one call's flow. */
export interface FlowContext {
  channel: CallChannel;
  config: FeatureConfig;
  /** Absolute directory of this call's release prompts. */
  promptDir: string;
  digits: DigitQueue;
  /** Aborts when the caller hangs up or the call is torn down. */
  signal: AbortSignal;
  state: CallStateMachine;
  /** Records a flow step for operators and CDRs (`ivr:main`, `dial`, `bridged`...). */
  step(step: string, detail?: Record<string, string | number | boolean>): void;
  /** Wall clock (injected in tests), for schedules. */
  now(): Date;
  ringState: RingStateStore;
  /** Called with ms from a digit arriving to the flow acting on it (metrics). */
  observeDtmfToAction?(ms: number): void;
  /** Voicemail store and the call's PIN hashes (flows/voicemail.ts); calls without it get 480 at a voicemail step. */
  voicemail?: VoicemailRuntime;
  /** The daemon's ACD queues and agents (queue/manager.ts); without it queue steps answer 480. */
  queues?: QueueManager;
}

/** A flow: runs one feature and says where the call goes next (undefined: the call is done). */
export type Flow<T> = (ctx: FlowContext, feature: T) => Promise<FeatureDestination | undefined>;

/** The absolute file of a prompt id in the call's release. */
export function promptFile(ctx: FlowContext, id: string): string {
  return join(ctx.promptDir, id);
}

/** Answers the caller (2xx) if not yet, moving the call state to `answered`. */
export async function answerCall(ctx: FlowContext): Promise<void> {
  if (ctx.channel.answered) return;
  await ctx.channel.answer();
  if (ctx.state.can('answered')) ctx.state.transition('answered');
}

/** Sends 180 Ringing if the call is not answered yet, moving the state to `ringing`. */
export async function ringCall(ctx: FlowContext): Promise<void> {
  if (ctx.channel.answered) return;
  await ctx.channel.ring();
  if (ctx.state.state === 'initiated') ctx.state.transition('ringing');
}

/**
 * A callee answered: the call is answered (billing starts), the caller is bridged with the leg,
 * and this resolves when either side hangs up. Records `bridged` and `bridge.ended` steps.
 * @throws the abort reason when the call is torn down
 */
export async function bridgeAnswered(ctx: FlowContext, leg: AnsweredLeg): Promise<void> {
  ctx.step('bridged', { to: leg.target.number, callee: leg.callId });
  if (ctx.state.can('answered')) ctx.state.transition('answered');
  const endedBy = await bridge(ctx.channel, leg, ctx.signal);
  ctx.step('bridge.ended', { endedBy });
}
