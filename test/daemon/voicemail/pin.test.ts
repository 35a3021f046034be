import { describe, expect, it } from 'vitest';
import { hashPin, verifyPin, verifyPinAsync } from '../../../src/daemon/secrets-types.js';

describe('verifyPinAsync', () => {
  it('agrees with verifyPin, off the event loop', async () => {
    const h = hashPin('4321');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const results = await Promise.all([verifyPinAsync(h, '4321'), verifyPinAsync(h, '4322'), verifyPinAsync(h, '')]);
    clearInterval(timer);
    expect(results).toEqual([true, false, false]);
    expect([verifyPin(h, '4321'), verifyPin(h, '4322')]).toEqual([true, false]);
    expect(ticks).toBeGreaterThan(0); // the loop kept running while scrypt worked
  });

  it('treats malformed hashes as a wrong PIN', async () => {
    for (const bad of ['', 'plain', 'scrypt$1$2$3', 'scrypt$x$8$1$AAAA$BBBB', `scrypt$${2 ** 24}$8$1$AAAAAAAAAAAA$BBBBBBBBBBBBBBBBBBBBBBBB`]) {
      expect(await verifyPinAsync(bad, '1234')).toBe(false);
    }
  });
});
