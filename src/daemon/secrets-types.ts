/**
 * The feature daemon's secrets document (`daemon/secrets.json` in a release, mode 0600, readable by
 * the daemon's service user only; DESIGN.md "Secrets reach the node only as digest HA1 hashes or in
 * files readable by the service alone"). Kept apart from features.json, which is not secret and is
 * listed, hashed and diffed freely.
 *
 * - `webhooks`: per Webhook id, the signing secrets in clear (Standard Webhooks needs the key to
 *   sign), newest first; two during a rotation, so receivers can verify with either.
 * - `voicemailPins`: per mailbox (extension number), the PIN as an scrypt hash ({@link hashPin}).
 * - `smtpPassword`: the SMTP password of voicemail-to-email, if any.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/** The document format this code reads and writes. */
export const DAEMON_SECRETS_FORMAT = 1;
/** Where the document lives inside a release. */
export const DAEMON_SECRETS_PATH = 'daemon/secrets.json';

/** The document. */
export interface DaemonSecrets {
  formatVersion: typeof DAEMON_SECRETS_FORMAT;
  webhooks: Record<string, string[]>;
  voicemailPins: Record<string, string>;
  smtpPassword?: string;
}

/**
 * scrypt cost parameters: N=2^12, r=8, p=1 (4 MiB, ~8-12 ms per hash here). A voicemail PIN has 4-8
 * digits, and no cost factor makes 10^4 guesses expensive offline: the hash keeps the PIN from being
 * read off the (0600) file, while apply must hash thousands of boxes on a large site's first deploy.
 * Hashes carry their own parameters, so ones made with other costs keep verifying.
 */
const N = 4096;
const R = 8;
const P = 1;
const KEYLEN = 32;

/**
 * Hashes a voicemail PIN for the secrets document: `scrypt$N$r$p$<salt b64>$<hash b64>`.
 * Deterministic when `salt` is given (compile uses a salt derived from the repo secret so the
 * document does not change on every apply); random salt otherwise.
 * @param pin digits, as the caller will key them in
 * @param salt 16 bytes or more
 */
export function hashPin(pin: string, salt: Buffer = randomBytes(16)): string {
  const hash = scryptSync(pin, salt, KEYLEN, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/**
 * Checks a keyed-in PIN against a {@link hashPin} hash, in constant time.
 * @returns false for a wrong PIN and for a malformed hash (never throws on bad input)
 */
export function verifyPin(stored: string, pin: string): boolean {
  const h = parsePinHash(stored);
  if (!h) return false;
  const got = scryptSync(pin, h.salt, h.expected.length, h.options);
  return timingSafeEqual(got, h.expected);
}

/**
 * {@link verifyPin} on libuv's thread pool: one check costs tens to hundreds of ms of CPU, which
 * must not stall the daemon's event loop (SIP timers, other calls) while a caller keys a PIN.
 * @returns false for a wrong PIN and for a malformed hash (never rejects on bad input)
 */
export function verifyPinAsync(stored: string, pin: string): Promise<boolean> {
  const h = parsePinHash(stored);
  if (!h) return Promise.resolve(false);
  return new Promise((resolve) => {
    scrypt(pin, h.salt, h.expected.length, h.options, (err, got) => resolve(!err && timingSafeEqual(got, h.expected)));
  });
}

/** The parts of a {@link hashPin} hash, or undefined when malformed or asking for absurd cost. */
function parsePinHash(stored: string): { salt: Buffer; expected: Buffer; options: { N: number; r: number; p: number; maxmem: number } } | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![n, r, p].every((v) => Number.isInteger(v) && v > 0) || n > 1 << 20) return undefined;
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const expected = Buffer.from(parts[5] ?? '', 'base64');
  if (salt.length < 8 || expected.length < 16) return undefined;
  return { salt, expected, options: { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 } };
}

/** An empty document: what a daemon runs with when the release has no secrets file. */
export function emptyDaemonSecrets(): DaemonSecrets {
  return { formatVersion: DAEMON_SECRETS_FORMAT, webhooks: {}, voicemailPins: {} };
}

function stringRecord(v: unknown, field: string): Record<string, string> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${field} must be an object`);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw new Error(`${field}.${k} must be a string`);
  return v as Record<string, string>;
}

/**
 * Checks an untrusted secrets document (parsed JSON) and returns it typed.
 * @throws Error naming the first wrong field (the caller wraps it with the file name)
 */
export function parseDaemonSecrets(json: unknown): DaemonSecrets {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('the document must be a JSON object');
  const d = json as Record<string, unknown>;
  if (d.formatVersion !== DAEMON_SECRETS_FORMAT) throw new Error(`formatVersion ${String(d.formatVersion)} is not ${DAEMON_SECRETS_FORMAT}`);
  const webhooks: Record<string, string[]> = {};
  if (d.webhooks !== undefined) {
    if (d.webhooks === null || typeof d.webhooks !== 'object' || Array.isArray(d.webhooks)) throw new Error('webhooks must be an object');
    for (const [id, list] of Object.entries(d.webhooks)) {
      if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length > 0)) throw new Error(`webhooks.${id} must be a non-empty list of secrets`);
      webhooks[id] = list as string[];
    }
  }
  const out: DaemonSecrets = { formatVersion: DAEMON_SECRETS_FORMAT, webhooks, voicemailPins: stringRecord(d.voicemailPins, 'voicemailPins') };
  if (d.smtpPassword !== undefined) {
    if (typeof d.smtpPassword !== 'string') throw new Error('smtpPassword must be a string');
    out.smtpPassword = d.smtpPassword;
  }
  return out;
}
