/**
 * Compiles the feature daemon's secrets document (`daemon/secrets.json`, daemon/secrets-types.ts)
 * from the repo's secret references: webhook signing secrets (each Webhook's `secret`, then its
 * `previousSecret` during a rotation), voicemail PINs (extension `voicemail.pin`, scrypt-hashed)
 * and the voicemail SMTP password. The file is written with mode 0600; features.json carries only
 * {@link secretsVersion}, a salted hash of these values, so a secret change shows in the plan as
 * a changed `feature/pbx/secrets` entry and reloads the daemon without revealing anything.
 *
 * PIN hashes use a salt derived from the node's inventory salt and the mailbox, so re-applying the
 * same PIN writes the same hash (the file's content hash, and with it the plan, stays unchanged).
 * scrypt costs ~50 ms per PIN: apply reuses the previous release's hash of every PIN whose
 * fingerprint did not change ({@link PinReuse}) and only hashes new or changed ones. Pure.
 */
import { createHmac } from 'node:crypto';
import { canonicalJson } from '../daemon/config-types.js';
import { DAEMON_SECRETS_FORMAT, DAEMON_SECRETS_PATH, hashPin, type DaemonSecrets } from '../daemon/secrets-types.js';
import type { DesiredState } from '../model/types.js';
import type { ReleaseFile } from './release-files.js';

/** The secret values the document is built from, in clear (never printed, never in a plan). */
export interface DaemonSecretValues {
  /** Per webhook id: its secrets, newest first (`secret`, then `previousSecret`). */
  webhooks: Record<string, string[]>;
  /** Per mailbox (extension number): the PIN as keyed in. */
  voicemailPins: Record<string, string>;
  smtpPassword?: string;
}

/**
 * Resolves every secret the daemon needs.
 * @param value resolves a `${secret:...}`/`${env:...}` reference (apply/prepare.ts secretValues)
 * @throws PbxError SECRET_UNRESOLVED (from `value`)
 */
export function resolveDaemonSecrets(state: DesiredState, value: (ref: string) => string): DaemonSecretValues {
  const webhooks: Record<string, string[]> = {};
  for (const w of [...state.webhooks.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    webhooks[w.id] = [value(w.secret), ...(w.previousSecret ? [value(w.previousSecret)] : [])];
  }
  const voicemailPins: Record<string, string> = {};
  const vmDefault = state.pbx.defaults?.voicemail ?? true;
  for (const e of [...state.extensions.values()].sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0))) {
    if ((e.voicemail?.enabled ?? vmDefault) && e.voicemail?.pin) voicemailPins[e.number] = value(e.voicemail.pin);
  }
  const out: DaemonSecretValues = { webhooks, voicemailPins };
  const smtp = state.voicemailSettings?.email?.smtp.password;
  if (smtp) out.smtpPassword = value(smtp);
  return out;
}

/**
 * `secretsVersion` of features.json: HMAC-SHA256 keyed with the node's salt over the canonical
 * JSON of the values, first 16 hex digits. Unlike a plain hash it cannot be checked against
 * guessed PINs without the node's salt.
 */
export function secretsVersion(values: DaemonSecretValues, nodeSalt: string): string {
  return createHmac('sha256', nodeSalt).update(canonicalJson(values)).digest('hex').slice(0, 16);
}

/** The scrypt salt of a mailbox's PIN on a node: 16 bytes of HMAC(node salt, mailbox). */
export function pinSalt(nodeSalt: string, mailbox: string): Buffer {
  return createHmac('sha256', nodeSalt).update(`voicemail-pin\n${mailbox}`).digest().subarray(0, 16);
}

/** Hashes of the previous release that may be kept instead of hashing again. */
export interface PinReuse {
  /** The previous release's document. */
  previous: DaemonSecrets;
  /** True when the mailbox's PIN is known to be the same as in `previous` (same fingerprint). */
  unchanged(mailbox: string): boolean;
}

/**
 * Builds the document: webhook secrets and the SMTP password as they are, PINs hashed.
 * A previous hash is reused only when `reuse` says the PIN did not change and the hash carries
 * this node's salt for that mailbox.
 */
export function buildDaemonSecrets(values: DaemonSecretValues, nodeSalt: string, reuse?: PinReuse): DaemonSecrets {
  const voicemailPins: Record<string, string> = {};
  for (const [mailbox, pin] of Object.entries(values.voicemailPins)) {
    const salt = pinSalt(nodeSalt, mailbox);
    const old = reuse?.previous.voicemailPins[mailbox];
    const saltOfOld = old?.split('$')[4];
    voicemailPins[mailbox] = old && reuse!.unchanged(mailbox) && saltOfOld === salt.toString('base64') ? old : hashPin(pin, salt);
  }
  const doc: DaemonSecrets = { formatVersion: DAEMON_SECRETS_FORMAT, webhooks: values.webhooks, voicemailPins };
  if (values.smtpPassword !== undefined) doc.smtpPassword = values.smtpPassword;
  return doc;
}

/** daemon/secrets.json of a release: pretty JSON, mode 0600 (readable by the daemon's user only). */
export function renderDaemonSecretsFile(doc: DaemonSecrets): ReleaseFile {
  return { path: DAEMON_SECRETS_PATH, content: `${JSON.stringify(doc, null, 2)}\n`, mode: 0o600 };
}
