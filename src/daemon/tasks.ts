/**
 * The small tasks call flows are made of (DESIGN.md "Call flows are small tasks"): play, gather,
 * dial (in waves), bridge, hangup. Each takes an AbortSignal and stops everything it started when
 * it aborts (the caller hanging up aborts `channel.hungUp`, which every flow links in).
 * Timeouts are in ms.
 */
import type { AnsweredLeg, CallChannel, DialOutcome, DialRequest } from './channel.js';

/** The reason a task was cancelled: the caller hung up, or the flow gave up. */
export class CallAborted extends Error {
  constructor(message = 'call aborted') {
    super(message);
    this.name = 'CallAborted';
  }
}

/** Rejects with the signal's reason (a CallAborted when none was given). */
function abortError(signal: AbortSignal): unknown {
  return signal.reason instanceof Error ? signal.reason : new CallAborted();
}

/** Resolves after `ms`, or rejects with the abort reason. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Digits the caller pressed and nobody consumed yet (type-ahead: a caller who knows the menu may
 * press during the greeting). One per call; `close()` unsubscribes from the channel.
 */
export class DigitQueue {
  private readonly buffered: string[] = [];
  private waiter: (() => void) | undefined;
  private readonly unsubscribe: () => void;

  constructor(channel: CallChannel) {
    this.unsubscribe = channel.onDigit((d) => {
      this.buffered.push(d);
      const w = this.waiter;
      this.waiter = undefined;
      w?.();
    });
  }

  get size(): number {
    return this.buffered.length;
  }

  /** Drops type-ahead (e.g. before a PIN prompt). */
  clear(): void {
    this.buffered.length = 0;
  }

  /** Resolves once at least one digit is buffered (without taking it). */
  whenAny(signal: AbortSignal): Promise<void> {
    if (this.buffered.length > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(abortError(signal));
      const onAbort = () => {
        this.waiter = undefined;
        reject(abortError(signal));
      };
      this.waiter = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The next digit, or undefined after `timeoutMs` without one; rejects when `signal` aborts. */
  async next(timeoutMs: number, signal: AbortSignal): Promise<string | undefined> {
    if (this.buffered.length === 0) {
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(new CallAborted('digit timeout')), timeoutMs);
      try {
        await this.whenAny(AbortSignal.any([signal, timeout.signal]));
      } catch (e) {
        if (signal.aborted) throw e;
        return undefined;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.buffered.shift();
  }

  close(): void {
    this.unsubscribe();
    this.waiter = undefined;
  }
}

/** Options of gather(). */
export interface GatherOptions {
  /** Played in order while waiting; the first digit stops them (barge-in). Skipped when digits are already buffered. */
  prompts?: string[];
  /** Stop after this many digits. */
  maxDigits: number;
  /** Wait for the first digit after the prompt ended, ms. */
  firstDigitTimeoutMs: number;
  /** Wait between digits, ms. */
  interDigitTimeoutMs: number;
  /** A digit that ends input without being part of it (usually `#`). */
  terminator?: string;
  /** Ends input as soon as the digits are a complete answer (e.g. a single-digit IVR option). */
  isComplete?: (digits: string) => boolean;
}

/** What gather() collected and why it stopped. */
export interface GatherResult {
  digits: string;
  reason: 'max-digits' | 'terminator' | 'complete' | 'timeout';
}

/**
 * Plays optional prompts and collects DTMF digits (first-digit and inter-digit timeouts, max
 * digits, terminator). Resolves with what was collected; rejects only when `signal` aborts.
 */
export async function gather(channel: CallChannel, queue: DigitQueue, o: GatherOptions, signal: AbortSignal): Promise<GatherResult> {
  for (const prompt of o.prompts ?? []) {
    if (queue.size > 0) break;
    const stopPrompt = new AbortController();
    const promptSignal = AbortSignal.any([signal, stopPrompt.signal]);
    const playing = channel.play(prompt, promptSignal).catch((e: unknown) => {
      // Our own barge-in stop is not an error; the caller hanging up is.
      if (signal.aborted) throw e;
      if (!stopPrompt.signal.aborted) throw e;
    });
    const digit = queue.whenAny(promptSignal).catch(() => undefined);
    try {
      await Promise.race([playing, digit]);
    } finally {
      stopPrompt.abort(new CallAborted('barge-in'));
    }
    await playing;
  }
  let digits = '';
  for (;;) {
    const d = await queue.next(digits === '' ? o.firstDigitTimeoutMs : o.interDigitTimeoutMs, signal);
    if (d === undefined) return { digits, reason: 'timeout' };
    if (o.terminator !== undefined && d === o.terminator) return { digits, reason: 'terminator' };
    digits += d;
    if (digits.length >= o.maxDigits) return { digits, reason: 'max-digits' };
    if (o.isComplete?.(digits)) return { digits, reason: 'complete' };
  }
}

/**
 * Dials waves (with `dial`, usually `channel.dial`) one after the other (a sequential ring group is one target per wave) until one
 * answers, the total timeout (ms) runs out, or `signal` aborts. The outcome of the last wave tells
 * why nobody answered, except that any busy callee with no answer elsewhere makes it `busy`
 * only when every wave was busy.
 */
export async function dialWaves(dial: CallChannel['dial'], waves: readonly DialRequest[], totalTimeoutMs: number, signal: AbortSignal): Promise<DialOutcome> {
  const deadline = Date.now() + totalTimeoutMs;
  const statuses: Record<string, number> = {};
  let allBusy = waves.length > 0;
  let anyRang = false;
  for (const wave of waves) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const outcome = await dial({ ...wave, timeoutMs: Math.min(wave.timeoutMs, remaining) }, signal);
    if (outcome.answered) return outcome;
    Object.assign(statuses, outcome.statuses);
    if (outcome.result !== 'busy') allBusy = false;
    if (outcome.result === 'no-answer') anyRang = true;
  }
  return { result: allBusy ? 'busy' : anyRang || Date.now() >= deadline ? 'no-answer' : 'failed', statuses };
}

/** Bridges the caller with `leg`; hangs the leg up if the bridge fails to set up. */
export async function bridge(channel: CallChannel, leg: AnsweredLeg, signal: AbortSignal): Promise<'caller' | 'callee'> {
  try {
    return (await channel.bridge(leg, signal)).endedBy;
  } catch (e) {
    await leg.hangup().catch(() => undefined);
    throw e;
  }
}
