/**
 * Retry delays: exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS
 * Architecture Blog, 2015): attempt n waits a uniformly random time in [0, min(cap, base * 2^(n-1))].
 * Full jitter spreads the retries of many deliveries that failed together (a receiver that was
 * down) instead of bringing them back in one burst. Pure with an injected random source.
 */

/** Backoff parameters, ms. */
export interface BackoffPolicy {
  /** The ceiling of the first retry's delay. */
  baseMs: number;
  /** No delay ceiling grows past this. */
  capMs: number;
}

/** 5 s, 10 s, 20 s ... capped at 1 h: ten attempts span about three hours in the worst case. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 5_000, capMs: 3_600_000 };

/**
 * The delay before the next attempt after `failedAttempts` failures (1 = the first attempt failed).
 * @param random a source in [0, 1) (Math.random by default)
 * @returns ms, an integer in [0, min(capMs, baseMs * 2^(failedAttempts-1))]
 */
export function retryDelayMs(failedAttempts: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(0, failedAttempts - 1), 40);
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** exp);
  return Math.floor(random() * (ceiling + 1));
}

/**
 * Honours a receiver's `Retry-After` (RFC 9110 §10.2.3: seconds or an HTTP date) on 429/503 when it
 * asks for longer than the backoff would wait, within the cap.
 * @returns ms to wait, or undefined when the header is absent or unparseable
 */
export function retryAfterMs(header: string | null | undefined, nowMs: number, capMs: number = DEFAULT_BACKOFF.capMs): number | undefined {
  if (!header) return undefined;
  const s = header.trim();
  if (/^[0-9]+$/.test(s)) return Math.min(capMs, Number(s) * 1000);
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.min(capMs, Math.max(0, at - nowMs));
}
