/**
 * An IVR menu: answer, play the greeting while collecting digits (barge-in), then go to the chosen
 * option, or a directly dialled extension when the menu allows it. A timeout plays the timeout
 * prompt and the greeting again; an invalid entry the invalid prompt and the greeting again; after
 * `retries` repeats the call goes to the timeout / invalid destination (schemas/ivr.schema.json).
 */
import type { FeatureDestination, FeatureIvr } from '../config-types.js';
import { gather } from '../tasks.js';
import { answerCall, promptFile, type FlowContext } from './context.js';

/** Seconds between digits of a directly dialled number. */
const INTER_DIGIT_S = 3;

/**
 * Whether `digits` is a complete answer to this menu: an option or a direct-dial number that no
 * longer direct-dial number continues (so `1` waits when `1001` can be dialled, but only for the
 * inter-digit timeout).
 */
export function isCompleteEntry(ivr: FeatureIvr, digits: string): boolean {
  const known = ivr.options[digits] !== undefined || ivr.directDialNumbers.includes(digits);
  return known && !ivr.directDialNumbers.some((n) => n.length > digits.length && n.startsWith(digits));
}

/** What an entry means: an option's destination, a direct-dialled extension, or undefined (invalid). */
export function entryDestination(ivr: FeatureIvr, digits: string): FeatureDestination | undefined {
  const option = ivr.options[digits];
  if (option) return option;
  if (ivr.directDial && ivr.directDialNumbers.includes(digits)) return { type: 'extension', number: digits };
  return undefined;
}

/** Runs one IVR menu; resolves with where the call goes next. Rejects only when the call is aborted. */
export async function runIvr(ctx: FlowContext, ivr: FeatureIvr): Promise<FeatureDestination | undefined> {
  await answerCall(ctx);
  ctx.step(`ivr:${ivr.id}`, { ivr: ivr.id });
  const maxDigits = Math.max(1, ...ivr.directDialNumbers.map((n) => n.length), ...Object.keys(ivr.options).map((k) => k.length));
  let prompts = [ivr.greeting];
  for (let attempt = 0; ; attempt++) {
    let lastDigitAt = 0;
    const off = ctx.channel.onDigit(() => (lastDigitAt = performance.now()));
    let result;
    try {
      result = await gather(
        ctx.channel,
        ctx.digits,
        {
          prompts: prompts.map((p) => promptFile(ctx, p)),
          maxDigits,
          firstDigitTimeoutMs: ivr.timeout * 1000,
          interDigitTimeoutMs: Math.min(ivr.timeout, INTER_DIGIT_S) * 1000,
          // `#` ends a direct-dialled number early, unless the menu uses `#` as an option.
          ...(ivr.options['#'] === undefined ? { terminator: '#' } : {}),
          isComplete: (d) => isCompleteEntry(ivr, d),
        },
        ctx.signal,
      );
    } finally {
      off();
    }
    if (lastDigitAt > 0 && result.reason !== 'timeout') ctx.observeDtmfToAction?.(performance.now() - lastDigitAt);
    if (result.digits === '') {
      ctx.step('ivr.timeout', { ivr: ivr.id, attempt: attempt + 1 });
      if (attempt >= ivr.retries) return ivr.timeoutDestination;
      prompts = [ivr.timeoutPrompt, ivr.greeting];
      continue;
    }
    const destination = entryDestination(ivr, result.digits);
    ctx.step('ivr.digits', { ivr: ivr.id, digits: result.digits, valid: destination !== undefined });
    if (destination) return destination;
    if (attempt >= ivr.retries) return ivr.invalidDestination;
    prompts = [ivr.invalidPrompt, ivr.greeting];
  }
}
