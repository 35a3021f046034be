import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_BACKOFF, retryAfterMs, retryDelayMs } from '../../../src/daemon/webhooks/backoff.js';

describe('exponential backoff with full jitter', () => {
  it('the ceiling doubles per failed attempt up to the cap', () => {
    const max = (n: number) => retryDelayMs(n, DEFAULT_BACKOFF, () => 0.999999999);
    expect(max(1)).toBe(5000);
    expect(max(2)).toBe(10000);
    expect(max(3)).toBe(20000);
    expect(max(20)).toBe(3_600_000);
    expect(max(1000)).toBe(3_600_000);
    expect(retryDelayMs(5, DEFAULT_BACKOFF, () => 0)).toBe(0);
  });

  it('every delay is an integer within [0, min(cap, base * 2^(n-1))] (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 10_000_000 }), (n, r, baseMs, capMs) => {
      const d = retryDelayMs(n, { baseMs, capMs }, () => r);
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(Math.min(capMs, baseMs * 2 ** (n - 1)));
    }));
  });

  it('spreads retries: 1000 deliveries failing together do not come back at once', () => {
    const delays = Array.from({ length: 1000 }, () => retryDelayMs(4));
    const buckets = new Set(delays.map((d) => Math.floor(d / 1000)));
    expect(buckets.size).toBeGreaterThan(30); // 40 one-second buckets in [0, 40 s]
  });

  it('Retry-After in seconds or as an HTTP date, capped', () => {
    const now = Date.parse('2026-11-21T12:00:00Z');
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs('Sat, 21 Nov 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(retryAfterMs('999999', now, 3_600_000)).toBe(3_600_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});
