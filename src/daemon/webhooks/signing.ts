/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme"): each
 * delivery carries
 *
 *   webhook-id:        the message id, the same on every retry (receivers deduplicate on it)
 *   webhook-timestamp: integer seconds since the epoch of this attempt (receivers reject old ones)
 *   webhook-signature: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, several
 *                      space-separated during a secret rotation (one per active secret)
 *
 * The key is the secret's bytes: a `whsec_<base64>` secret (the spec's format) is base64-decoded
 * after the prefix; any other text is used as its UTF-8 bytes, so a secret from another provider
 * works unchanged. Pure; both the sender (the daemon) and the documented receiver use these.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The prefix of Standard Webhooks secrets; the rest is base64. */
export const SECRET_PREFIX = 'whsec_';

/** The HTTP headers of one delivery attempt (lower-case names, as HTTP/2 and Node report them). */
export type SignatureHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/**
 * The HMAC key of a secret: base64-decoded after `whsec_`, else the text's UTF-8 bytes.
 * @throws Error when a `whsec_` secret's remainder is not base64 or decodes to nothing
 */
export function secretKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) return Buffer.from(secret, 'utf8');
  const b64 = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Error('a whsec_ secret must be base64 after the prefix');
  const key = Buffer.from(b64, 'base64');
  if (key.length === 0) throw new Error('a whsec_ secret must not be empty');
  return key;
}

/**
 * One `v1,<base64>` signature of `id.timestamp.body`.
 * @param timestamp seconds since the epoch (integer)
 * @param body the exact bytes sent (a re-serialized JSON would not verify)
 */
export function signOne(secret: string | Buffer, id: string, timestamp: number, body: string | Buffer): string {
  const key = typeof secret === 'string' ? secretKey(secret) : secret;
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/**
 * The headers of one attempt, signed with every active secret (newest first).
 * @throws Error when `secrets` is empty (a webhook without a secret must not be sent unsigned)
 */
export function signatureHeaders(secrets: readonly (string | Buffer)[], id: string, timestamp: number, body: string | Buffer): SignatureHeaders {
  if (secrets.length === 0) throw new Error(`no signing secret for webhook message ${id}`);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signOne(s, id, timestamp, body)).join(' '),
  };
}

/** Why {@link verifySignature} refused a delivery. */
export type VerifyFailure = 'missing-headers' | 'bad-timestamp' | 'timestamp-out-of-tolerance' | 'no-matching-signature';

/**
 * What a receiver does (docs/webhooks.md "Verifying a delivery"): the timestamp within `toleranceS`
 * of now, and at least one `v1` signature equal (constant-time) to one computed with its secret.
 * @param headers the request headers (any case)
 * @param nowS the receiver's clock, seconds since the epoch
 * @returns `{ok: true}` or the reason it failed
 */
export function verifySignature(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string | Buffer,
  opts: { nowS?: number; toleranceS?: number } = {},
): { ok: true } | { ok: false; reason: VerifyFailure } {
  const h = (name: string) => {
    const v = Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = h('webhook-id');
  const ts = h('webhook-timestamp');
  const sigs = h('webhook-signature');
  if (!id || !ts || !sigs) return { ok: false, reason: 'missing-headers' };
  if (!/^[0-9]{1,12}$/.test(ts)) return { ok: false, reason: 'bad-timestamp' };
  const now = opts.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(ts)) > (opts.toleranceS ?? 300)) return { ok: false, reason: 'timestamp-out-of-tolerance' };
  const expected = Buffer.from(signOne(secret, id, Number(ts), body).slice(3), 'base64');
  for (const part of sigs.split(' ')) {
    const [version, mac] = part.split(',', 2);
    if (version !== 'v1' || !mac) continue;
    const got = Buffer.from(mac, 'base64');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return { ok: true };
  }
  return { ok: false, reason: 'no-matching-signature' };
}
