import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { secretKey, signatureHeaders, signOne, verifySignature } from '../../../src/daemon/webhooks/signing.js';

// The Standard Webhooks reference test vector (standard-webhooks libraries' tests, svix's docs).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('Standard Webhooks signatures', () => {
  it('reproduces the reference test vector', () => {
    expect(signOne(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
    expect(signOne(Buffer.from(VECTOR.body), VECTOR.id, VECTOR.timestamp, VECTOR.body)).not.toBe(VECTOR.signature);
  });

  it('decodes whsec_ secrets as base64 and uses other text as its bytes', () => {
    expect(secretKey(VECTOR.secret).equals(Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'))).toBe(true);
    expect(secretKey('plain text key').toString()).toBe('plain text key');
    expect(() => secretKey('whsec_not base64!')).toThrow(/base64/);
    expect(() => secretKey('whsec_')).toThrow();
  });

  it('signs with every active secret during a rotation, space-separated, and either verifies', () => {
    const h = signatureHeaders(['whsec_bmV3LXNlY3JldC1rZXktMDEyMzQ1Njc4OQ==', VECTOR.secret], VECTOR.id, VECTOR.timestamp, VECTOR.body);
    expect(h['webhook-id']).toBe(VECTOR.id);
    expect(h['webhook-timestamp']).toBe('1614265330');
    const parts = h['webhook-signature'].split(' ');
    expect(parts).toHaveLength(2);
    expect(parts[1]).toBe(VECTOR.signature);
    for (const secret of ['whsec_bmV3LXNlY3JldC1rZXktMDEyMzQ1Njc4OQ==', VECTOR.secret]) {
      expect(verifySignature(secret, h, VECTOR.body, { nowS: VECTOR.timestamp })).toEqual({ ok: true });
    }
    expect(verifySignature('whsec_b3RoZXI=', h, VECTOR.body, { nowS: VECTOR.timestamp })).toEqual({ ok: false, reason: 'no-matching-signature' });
    expect(() => signatureHeaders([], 'x', 1, '')).toThrow(/no signing secret/);
  });

  it('the verifier rejects a tampered body, id or timestamp, stale timestamps and missing headers', () => {
    const h = signatureHeaders([VECTOR.secret], VECTOR.id, VECTOR.timestamp, VECTOR.body);
    const now = { nowS: VECTOR.timestamp + 10 };
    expect(verifySignature(VECTOR.secret, h, VECTOR.body, now).ok).toBe(true);
    expect(verifySignature(VECTOR.secret, h, '{"test": 2432232315}', now)).toEqual({ ok: false, reason: 'no-matching-signature' });
    expect(verifySignature(VECTOR.secret, { ...h, 'webhook-id': 'msg_other' }, VECTOR.body, now).ok).toBe(false);
    expect(verifySignature(VECTOR.secret, { ...h, 'webhook-timestamp': String(VECTOR.timestamp + 1) }, VECTOR.body, now).ok).toBe(false);
    expect(verifySignature(VECTOR.secret, h, VECTOR.body, { nowS: VECTOR.timestamp + 301 })).toEqual({ ok: false, reason: 'timestamp-out-of-tolerance' });
    expect(verifySignature(VECTOR.secret, { ...h, 'webhook-timestamp': '1e9' }, VECTOR.body, now)).toEqual({ ok: false, reason: 'bad-timestamp' });
    expect(verifySignature(VECTOR.secret, { 'webhook-id': VECTOR.id }, VECTOR.body, now)).toEqual({ ok: false, reason: 'missing-headers' });
    // Header names in any case, as HTTP allows.
    expect(verifySignature(VECTOR.secret, { 'Webhook-Id': h['webhook-id'], 'WEBHOOK-TIMESTAMP': h['webhook-timestamp'], 'Webhook-Signature': h['webhook-signature'] }, VECTOR.body, now).ok).toBe(true);
  });

  it('any body signed verifies, and any one-byte change of it does not (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (bytes, at, xor) => {
      const body = Buffer.from(bytes);
      const h = signatureHeaders([VECTOR.secret], 'msg_x', 1_700_000_000, body);
      expect(verifySignature(VECTOR.secret, h, body, { nowS: 1_700_000_000 }).ok).toBe(true);
      const tampered = Buffer.from(body);
      const i = at % tampered.length;
      tampered[i] = tampered[i]! ^ (xor || 1);
      expect(verifySignature(VECTOR.secret, h, tampered, { nowS: 1_700_000_000 }).ok).toBe(false);
    }), { numRuns: 200 });
  });
});
