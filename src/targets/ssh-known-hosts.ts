/**
 * Host key checking against an OpenSSH known_hosts file (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"):
 * one `[marker] hostpatterns keytype base64-key [comment]` per line; host patterns are
 * comma-separated names with `*`/`?` wildcards and `!` negation, `[host]:port` for a port other
 * than 22, or hashed (`|1|base64(salt)|base64(HMAC-SHA1(salt, host))`). Parsing and matching are
 * pure; reading and appending the file are at the bottom.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  /** The host patterns field, as written. */
  patterns: string;
  /** `@revoked` keys are refused wherever they appear; `@cert-authority` lines are skipped (pbxctl does no host certificates). */
  marker?: 'revoked';
  /** Key type, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`. */
  keyType: string;
  /** The public key blob (SSH wire format, RFC 4253 6.6), as ssh2's hostVerifier receives it. */
  key: Buffer;
  /** 1-based line number, for messages. */
  line: number;
}

/** The verdict for a presented host key. */
export type HostKeyVerdict =
  | { status: 'match'; line: number }
  | { status: 'unknown' }
  | { status: 'mismatch'; lines: number[]; knownTypes: string[] }
  | { status: 'revoked'; line: number };

/** Parses known_hosts text; malformed lines and `@cert-authority` lines are skipped (as ssh does). */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m !== '@revoked') return;
      marker = 'revoked';
    }
    const [patterns, keyType, b64] = fields;
    if (!patterns || !keyType || !b64 || !/^[A-Za-z0-9+/]+=*$/.test(b64)) return;
    out.push({ patterns, keyType, key: Buffer.from(b64, 'base64'), line: i + 1, ...(marker ? { marker } : {}) });
  });
  return out;
}

/** The name ssh looks a host up by: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Glob match with `*` and `?` (ssh's match_pattern), case-insensitive like host names. */
function globMatch(name: string, pattern: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

/** Whether a hashed pattern `|1|salt|hash` stands for `name`. */
function hashedMatch(name: string, pattern: string): boolean {
  const [, kind, salt, hash] = pattern.split('|');
  if (kind !== '1' || !salt || !hash) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}

/**
 * Whether a patterns field matches `name` (sshd(8): a negated match wins over any positive one).
 * @param name the lookup name from {@link knownHostName}
 */
export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith('|')) return hashedMatch(name, patterns);
  let positive = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(name, p.slice(1))) return false;
    } else if (globMatch(name, p)) {
      positive = true;
    }
  }
  return positive;
}

/** SSH key types a known key of `keyType` is presented as (RSA keys sign with rsa-sha2-* since OpenSSH 8.8). */
export function hostKeyAlgorithms(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

/**
 * Judges the key a server presented for `host:port`.
 * @param key the public key blob ssh2 hands to hostVerifier
 * @returns `match` (a line lists this key), `revoked`, `mismatch` (the host is known with other
 *   keys: possibly a man in the middle), or `unknown` (no line for the host)
 */
export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const names = [knownHostName(host, port)];
  const forHost = entries.filter((e) => names.some((n) => patternsMatch(e.patterns, n)));
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', line: revoked.line };
  const hit = forHost.find((e) => !e.marker && e.key.equals(key));
  if (hit) return { status: 'match', line: hit.line };
  const others = forHost.filter((e) => !e.marker);
  if (others.length === 0) return { status: 'unknown' };
  return { status: 'mismatch', lines: others.map((e) => e.line), knownTypes: [...new Set(others.map((e) => e.keyType))] };
}

/** The key type name inside a key blob (its first SSH string, RFC 4253 6.6). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const len = key.readUInt32BE(0);
  return key.subarray(4, 4 + len).toString('latin1');
}

/** The SHA256 fingerprint ssh prints (`SHA256:` + unpadded base64 of the key blob's sha256). */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Reads and parses a known_hosts file; an absent file is empty. */
export async function readKnownHosts(file: string): Promise<KnownHostEntry[]> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  return parseKnownHosts(text);
}

/** Appends `name keytype base64` to the file (creating it 0600 and its directory 0700), as ssh's accept-new does. */
export async function appendKnownHost(file: string, host: string, port: number, key: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const existing = await readFile(file, 'utf8').catch(() => '');
  const sep = existing && !existing.endsWith('\n') ? '\n' : '';
  await appendFile(file, `${sep}${knownHostName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}\n`, { mode: 0o600 });
}
