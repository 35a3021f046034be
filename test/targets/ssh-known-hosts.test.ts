import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendKnownHost, checkHostKey, fingerprintOf, keyTypeOf, knownHostName, parseKnownHosts, patternsMatch, readKnownHosts } from '../../src/targets/ssh-known-hosts.js';

/** A fake key blob in SSH wire format: string type, then bytes. */
function blob(type: string, seed: string): Buffer {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, Buffer.from(seed)]);
}
const A = blob('ssh-ed25519', 'key-a');
const B = blob('ssh-ed25519', 'key-b');
const R = blob('ssh-rsa', 'key-r');

describe('known_hosts', () => {
  it('names non-22 ports in brackets', () => {
    expect(knownHostName('node1', 22)).toBe('node1');
    expect(knownHostName('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222');
  });

  it('matches plain, wildcard, negated and hashed patterns', () => {
    expect(patternsMatch('node1,node2', 'node2')).toBe(true);
    expect(patternsMatch('*.example.com', 'pbx.example.com')).toBe(true);
    expect(patternsMatch('*.example.com,!bad.example.com', 'bad.example.com')).toBe(false);
    expect(patternsMatch('node?', 'node10')).toBe(false);
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[127.0.0.1]:2200').digest('base64')}`;
    expect(patternsMatch(hashed, '[127.0.0.1]:2200')).toBe(true);
    expect(patternsMatch(hashed, '127.0.0.1')).toBe(false);
  });

  it('judges a key: match, mismatch with the lines, unknown, revoked', () => {
    const entries = parseKnownHosts([
      '# comment',
      `[node]:2200 ssh-ed25519 ${A.toString('base64')} admin@x`,
      `other ssh-ed25519 ${B.toString('base64')}`,
      'garbage line',
      `@cert-authority * ssh-ed25519 ${B.toString('base64')}`,
      `@revoked * ssh-rsa ${R.toString('base64')}`,
    ].join('\n'));
    expect(entries.map((e) => e.line)).toEqual([2, 3, 6]);
    expect(checkHostKey(entries, 'node', 2200, A)).toEqual({ status: 'match', line: 2 });
    expect(checkHostKey(entries, 'node', 2200, B)).toEqual({ status: 'mismatch', lines: [2], knownTypes: ['ssh-ed25519'] });
    // The same name on port 22 is another host entry.
    expect(checkHostKey(entries, 'node', 22, A)).toEqual({ status: 'unknown' });
    expect(checkHostKey(entries, 'node', 2200, R)).toEqual({ status: 'revoked', line: 6 });
  });

  it('reads key type and fingerprint from the blob', () => {
    expect(keyTypeOf(A)).toBe('ssh-ed25519');
    expect(fingerprintOf(A)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('appends an accepted key that then matches; an absent file is empty', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pbxctl-kh-'));
    try {
      const file = join(dir, 'ssh', 'known_hosts');
      expect(await readKnownHosts(file)).toEqual([]);
      await appendKnownHost(file, '127.0.0.1', 2222, A);
      expect(await readFile(file, 'utf8')).toBe(`[127.0.0.1]:2222 ssh-ed25519 ${A.toString('base64')}\n`);
      expect(checkHostKey(await readKnownHosts(file), '127.0.0.1', 2222, A).status).toBe('match');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
