import { describe, expect, it } from 'vitest';
import { hashPin, parseDaemonSecrets, verifyPin } from '../../src/daemon/secrets-types.js';

describe('daemon secrets document', () => {
  it('hashes PINs with scrypt and verifies only the right PIN', () => {
    const h = hashPin('4321');
    expect(h).toMatch(/^scrypt\$4096\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(verifyPin(h, '4321')).toBe(true);
    expect(verifyPin(h, '4322')).toBe(false);
    expect(verifyPin(h, '')).toBe(false);
    expect(hashPin('4321', Buffer.alloc(16, 1))).toBe(hashPin('4321', Buffer.alloc(16, 1)));
    expect(hashPin('4321')).not.toBe(h);
  });

  it('treats malformed hashes as a wrong PIN', () => {
    for (const bad of ['', 'plain', 'scrypt$1$2$3', 'scrypt$x$8$1$AAAA$BBBB', 'md5$16384$8$1$AAAAAAAAAAAA$BBBBBBBBBBBBBBBBBBBBBBBB', `scrypt$${2 ** 24}$8$1$AAAAAAAAAAAA$BBBBBBBBBBBBBBBBBBBBBBBB`]) {
      expect(verifyPin(bad, '1234')).toBe(false);
    }
  });

  it('parses documents and names the wrong field', () => {
    expect(parseDaemonSecrets({ formatVersion: 1 })).toEqual({ formatVersion: 1, webhooks: {}, voicemailPins: {} });
    expect(parseDaemonSecrets({ formatVersion: 1, webhooks: { crm: ['a', 'b'] }, voicemailPins: { '1001': 'scrypt$x' }, smtpPassword: 'p' })).toEqual({
      formatVersion: 1,
      webhooks: { crm: ['a', 'b'] },
      voicemailPins: { '1001': 'scrypt$x' },
      smtpPassword: 'p',
    });
    expect(() => parseDaemonSecrets({ formatVersion: 2 })).toThrow(/formatVersion/);
    expect(() => parseDaemonSecrets({ formatVersion: 1, webhooks: { crm: [] } })).toThrow(/webhooks\.crm/);
    expect(() => parseDaemonSecrets({ formatVersion: 1, voicemailPins: { '1001': 5 } })).toThrow(/voicemailPins\.1001/);
    expect(() => parseDaemonSecrets([])).toThrow(/object/);
  });
});
