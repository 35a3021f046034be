/**
 * Stages the release's daemon/secrets.json (compile/daemon-secrets.ts) at apply time, not at plan
 * time: hashing a PIN with scrypt costs ~50 ms, and a plan needs only the document's salted hash.
 * The previous release's hash of a PIN is kept when the PIN's fingerprint (the inventory's
 * `sensitive:` value of `voicemail.pin`, salted per node) is unchanged, so a steady-state apply
 * hashes nothing and a changed PIN costs one scrypt.
 */
import { buildDaemonSecrets, renderDaemonSecretsFile, type PinReuse } from '../compile/daemon-secrets.js';
import type { ReleaseFile } from '../compile/release-files.js';
import { DAEMON_SECRETS_PATH, parseDaemonSecrets } from '../daemon/secrets-types.js';
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
 * The daemon/secrets.json file of the release being staged (mode 0600).
 * @throws nothing of its own; a target read failure only disables reuse
 */
export async function daemonSecretsFile(target: Target, desired: PreparedNode, live: LiveNode): Promise<ReleaseFile> {
  return renderDaemonSecretsFile(buildDaemonSecrets(desired.daemonSecrets, desired.salt, await previousPins(target, desired, live)));
}
