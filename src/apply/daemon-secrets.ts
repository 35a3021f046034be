/**
 * Stages the release's daemon/secrets.json (compile/daemon-secrets.ts) at apply time, not at plan
 * time: hashing a PIN with scrypt costs 30-50 ms here, and a plan needs only the document's
 * salted hash. The previous release's hash of a PIN is kept when the PIN's fingerprint (the
 * inventory's `sensitive:` value of `voicemail.pin`, salted per node) is unchanged, so a
 * steady-state apply hashes nothing; new and changed PINs are hashed in parallel on libuv's
 * thread pool (a first apply of a repo with 3,000 PINs would take minutes one after another).
 */
import { scrypt, type ScryptOptions } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { buildDaemonSecrets, pinSalt, renderDaemonSecretsFile, type DaemonSecretValues, type PinReuse } from '../compile/daemon-secrets.js';
import type { ReleaseFile } from '../compile/release-files.js';
import { DAEMON_SECRETS_FORMAT, DAEMON_SECRETS_PATH, hashPin, parseDaemonSecrets, type DaemonSecrets } from '../daemon/secrets-types.js';
import type { LiveNode } from '../plan/diff.js';
import type { ResourceSnapshot } from '../plan/types.js';
import type { Target } from '../targets/target.js';
import type { PreparedNode } from './prepare.js';

/** `voicemail.pin` fingerprints of the Extension snapshots, by number. */
function pinFingerprints(resources: readonly ResourceSnapshot[] | undefined): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const r of resources ?? []) if (r.kind === 'Extension' && r.attributes['voicemail.pin'] !== undefined) out.set(r.identity, r.attributes['voicemail.pin']);
  return out;
}

/**
 * The previous release's hashes that may be reused: only from a readable, valid document of a
 * release made with the same node salt. Anything else means hashing every PIN again.
 */
async function previousPins(target: Target, desired: PreparedNode, live: LiveNode): Promise<PinReuse | undefined> {
  if (!live.inventory || live.inventory.salt !== desired.salt) return undefined;
  const text = await target.readText(`current/${DAEMON_SECRETS_PATH}`).catch(() => undefined);
  if (text === undefined) return undefined;
  let previous;
  try {
    previous = parseDaemonSecrets(JSON.parse(text));
  } catch {
    return undefined; // a damaged file is replaced, not trusted
  }
  const before = pinFingerprints(live.inventory.resources);
  const now = pinFingerprints(desired.resources);
  return { previous, unchanged: (mailbox) => before.has(mailbox) && before.get(mailbox) === now.get(mailbox) };
}

/**
 * Hashes PINs exactly as {@link hashPin} does (same format and cost parameters, read off one
 * hashPin result so the two cannot drift apart) with the salt compile/daemon-secrets.ts uses, in
 * parallel (async scrypt runs on libuv's thread pool).
 * @returns mailbox -> hash
 */
export async function hashPinsInParallel(pins: readonly [mailbox: string, pin: string][], nodeSalt: string, parallel = availableParallelism()): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (pins.length === 0) return out;
  const [, n, r, p, , reference] = hashPin('0', Buffer.alloc(16)).split('$') as [string, string, string, string, string, string];
  const keylen = Buffer.from(reference, 'base64').length;
  const opts: ScryptOptions = { N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * Number(n) * Number(r) + (1 << 20) };
  const one = (pin: string, salt: Buffer) =>
    new Promise<Buffer>((resolve, reject) => scrypt(pin, salt, keylen, opts, (e, key) => (e ? reject(e) : resolve(key))));
  let next = 0;
  const worker = async () => {
    while (next < pins.length) {
      const [mailbox, pin] = pins[next++]!;
      const salt = pinSalt(nodeSalt, mailbox);
      out[mailbox] = `scrypt$${n}$${r}$${p}$${salt.toString('base64')}$${(await one(pin, salt)).toString('base64')}`;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, pins.length)) }, worker));
  return out;
}

/**
 * The document: reused hashes for unchanged PINs, the others hashed in parallel first.
 * @param reuse the previous release's hashes (undefined: hash every PIN)
 */
export async function daemonSecretsDocument(values: DaemonSecretValues, nodeSalt: string, reuse?: PinReuse): Promise<DaemonSecrets> {
  const salted = (mailbox: string) => pinSalt(nodeSalt, mailbox).toString('base64');
  const keep = (mailbox: string) => {
    const old = reuse?.previous.voicemailPins[mailbox];
    return old !== undefined && reuse!.unchanged(mailbox) && old.split('$')[4] === salted(mailbox);
  };
  const missing = Object.entries(values.voicemailPins).filter(([mailbox]) => !keep(mailbox));
  const fresh = await hashPinsInParallel(missing, nodeSalt);
  const previous: DaemonSecrets = { formatVersion: DAEMON_SECRETS_FORMAT, webhooks: {}, voicemailPins: { ...reuse?.previous.voicemailPins, ...fresh } };
  return buildDaemonSecrets(values, nodeSalt, { previous, unchanged: (mailbox) => mailbox in fresh || keep(mailbox) });
}

/**
 * The daemon/secrets.json file of the release being staged (mode 0600).
 * @throws nothing of its own; a target read failure only disables reuse
 */
export async function daemonSecretsFile(target: Target, desired: PreparedNode, live: LiveNode): Promise<ReleaseFile> {
  return renderDaemonSecretsFile(await daemonSecretsDocument(desired.daemonSecrets, desired.salt, await previousPins(target, desired, live)));
}
