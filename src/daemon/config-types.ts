/**
 * The feature daemon's configuration document (`daemon/features.json` in a release): its types,
 * its content version, and the parser the daemon loads it with. Written by compile/feature-config.ts
 * (`pbxctl apply`); kept apart from the compiler so the daemon imports no repo code.
 *
 * Units: durations in the document are whole seconds (as in the repo); the daemon converts to ms at
 * run time. Public numbers are E.164 (`+15551234567`), internal numbers digit strings. Prompts are
 * referenced by id: the WAV file name in the release's `prompts/` directory (compile/prompts.ts).
 */
import { createHash } from 'node:crypto';
import { parseDestination } from '../model/destination.js';
import type { FeatureCodeName, Weekday } from '../model/types.js';
import { checkFeatureConfig, FeatureConfigError } from './config-check.js';

/** The error parseFeatureConfig throws (defined with the checker, config-check.ts). */
export { FeatureConfigError };

/** The document format this code reads and writes; a daemon refuses any other. */
export const FEATURE_CONFIG_FORMAT = 1;

/** Where a call goes, parsed from the repo's `TYPE:REF` text (model/destination.ts). */
export type FeatureDestination =
  | { type: 'extension'; number: string }
  | { type: 'voicemail'; mailbox: string }
  | { type: 'ring-group'; id: string }
  | { type: 'queue'; id: string }
  | { type: 'ivr'; id: string }
  | { type: 'conference'; id: string }
  | { type: 'schedule'; id: string }
  /** Dialled out through the outbound routes; `number` is E.164. */
  | { type: 'external'; number: string }
  | { type: 'hangup' };

/** A feature code (`*97`...) as Kamailio hands it over: `dest=feature:<name>`. */
export interface FeatureCodeTarget {
  type: 'feature';
  feature: FeatureCodeName;
}

/** What an internal number handed to the daemon means (Kamailio's `dial` htable, `t=feature`). */
export type DialEntry = FeatureDestination | FeatureCodeTarget;

/** PBX-wide defaults, already resolved (schema defaults applied). */
export interface FeatureDefaults {
  /** Seconds an extension rings before its no-answer forward (pbx.yaml defaults.ringTimeout, 20). */
  ringTimeout: number;
  /** IANA zone for anything without its own (pbx.yaml defaults.timezone, else `UTC`). */
  timezone: string;
  /** Whether extensions have a voicemail box unless they say otherwise (default true). */
  voicemail: boolean;
  /** MusicOnHold class id used where none is set. */
  musicOnHold?: string;
}

/** Built-in prompts (ids) the daemon plays when the repo gives none (compile/prompts.ts SYSTEM_PROMPTS). */
export interface SystemPrompts {
  invalid: string;
  timeout: string;
  goodbye: string;
  voicemailGreeting: string;
  /** Spoken digits "zero" .. "nine": numbers (queue position, minutes, message counts) are read digit by digit. */
  digit0: string;
  digit1: string;
  digit2: string;
  digit3: string;
  digit4: string;
  digit5: string;
  digit6: string;
  digit7: string;
  digit8: string;
  digit9: string;
  /** Queue announcements (flows/queue.ts): "You are caller number" + digits. */
  queuePosition: string;
  /** "Your estimated wait time is" + digits + queueMinutes, or + queueUnderMinute. */
  queueHoldTime: string;
  queueMinutes: string;
  queueUnderMinute: string;
  /** Agent feature codes (`agentLogin` / `agentLogout` / `agentPause`) confirm with these. */
  agentLoggedIn: string;
  agentLoggedOut: string;
  agentPaused: string;
  agentUnpaused: string;
  /** The dialling extension is not an agent of any queue. */
  agentNotMember: string;
  /** Voicemail (flows/voicemail.ts): the default greeting is vmPersonAt + the extension's digits + vmUnavailable / vmBusy, then vmBeep. */
  vmPersonAt: string;
  vmUnavailable: string;
  vmBusy: string;
  /** A 1 kHz tone (compile/prompts.ts SYSTEM_TONES) before a recording. */
  vmBeep: string;
  vmMailboxFull: string;
  /** Retrieval (`voicemail` / `voicemailAny` feature codes). */
  vmEnterMailbox: string;
  vmEnterPin: string;
  vmWrongPin: string;
  /** "You have" N vmNewMessages M vmOldMessages. */
  vmYouHave: string;
  vmNewMessages: string;
  vmOldMessages: string;
  vmMainMenu: string;
  /** Envelope before a message: vmMessageFrom + the caller's digits. */
  vmMessageFrom: string;
  vmMessageMenu: string;
  vmNoMoreMessages: string;
  vmDeleted: string;
  vmSaved: string;
  vmOptionsMenu: string;
  vmRecordGreeting: string;
  vmGreetingSaved: string;
}

/** An extension's call handling (no secrets: passwords and voicemail PINs are not in this document). */
export interface FeatureExtension {
  number: string;
  name: string;
  /** Seconds to ring before `forward.noAnswer` (extension's, else defaults.ringTimeout). */
  noAnswerTimeout: number;
  /** Reject calls as busy; `forward.busy` applies. */
  doNotDisturb: boolean;
  /** Whether the extension has a voicemail box. */
  voicemail: boolean;
  forward: { always?: FeatureDestination; busy?: FeatureDestination; noAnswer?: FeatureDestination; unavailable?: FeatureDestination };
  /** Where new-voicemail emails go (the box's email, else the extension's); absent: no email. */
  voicemailEmail?: FeatureVoicemailEmailTarget;
}

/** An extension's voicemail notification email (daemon/mwi/email.ts). */
export interface FeatureVoicemailEmailTarget {
  /** RFC 5322 addr-spec, e.g. `ann@example.com`. */
  address: string;
  /** Attach the message WAV (schema default true). */
  attachAudio: boolean;
}

/** One ring-group member, resolved: an extension number or an external E.164 number. */
export interface FeatureRingMember {
  type: 'extension' | 'external';
  number: string;
  /**
   * Seconds this member rings: the member's own ringTimeout, else for `simultaneous` groups the
   * group's totalTimeout (the schema's group ringTimeout is for sequential strategies), else the
   * group's ringTimeout.
   */
  ringTimeout: number;
}

/** Ring-group strategies (schemas/ring-group.schema.json). */
export type RingStrategy = 'simultaneous' | 'sequential' | 'round-robin' | 'random' | 'least-recent';

/** A ring group with defaults applied. */
export interface FeatureRingGroup {
  id: string;
  number?: string;
  name?: string;
  strategy: RingStrategy;
  members: FeatureRingMember[];
  /** Seconds per member for sequential strategies (default 20). */
  ringTimeout: number;
  /** Seconds before the group gives up and goes to `fallback` (default 60). */
  totalTimeout: number;
  /** Where the call goes when nobody answers (default hangup). */
  fallback: FeatureDestination;
  callerIdPrefix?: string;
}

/** An IVR menu with defaults applied; prompts are prompt ids. */
export interface FeatureIvr {
  id: string;
  number?: string;
  name?: string;
  greeting: string;
  /** The repo's invalidPrompt, else the system prompt. */
  invalidPrompt: string;
  /** The repo's timeoutPrompt, else the system prompt. */
  timeoutPrompt: string;
  /** Digit ('0'-'9', '*', '#') to destination. */
  options: Record<string, FeatureDestination>;
  /** Seconds to wait for a digit after the greeting (default 5). */
  timeout: number;
  /** Repeats after a timeout or invalid digit before the timeout/invalid destination (default 2). */
  retries: number;
  invalidDestination: FeatureDestination;
  timeoutDestination: FeatureDestination;
  directDial: boolean;
  /** Extension numbers a caller may dial from the menu, sorted; empty unless directDial. */
  directDialNumbers: string[];
}

/** Weekly open hours: local `HH:MM`, close after open (`24:00` = end of day). */
export interface FeatureHours {
  days: Weekday[];
  open: string;
  close: string;
}

/** A holiday: a date range (a single date has from = to; inclusive) or a yearly `MM-DD`. */
export type FeatureHoliday = { name: string; from: string; to: string } | { name: string; yearly: string };

/** A one-off day: closed all day, or open only `open`-`close` (local `HH:MM`). Wins over hours and holidays. */
export interface FeatureOverride {
  date: string;
  name?: string;
  closed: boolean;
  open?: string;
  close?: string;
}

/** A schedule, evaluated by daemon/schedule.ts in its own IANA zone. */
export interface FeatureSchedule {
  id: string;
  name?: string;
  timezone: string;
  hours: FeatureHours[];
  holidays: FeatureHoliday[];
  overrides: FeatureOverride[];
  /** Set when the schedule is usable as a destination (`schedule:ID`); holiday defaults to closed. */
  open?: FeatureDestination;
  closed?: FeatureDestination;
  holiday?: FeatureDestination;
}

/** What an inbound route does with a DID: always one destination, or by schedule (holiday defaults to closed). */
export type FeatureInboundRoute = {
  /** The InboundRoute id (Kamailio's `dest=route:<id>` for scheduled routes). */
  route: string;
  name?: string;
  trunk?: string;
  callerIdPrefix?: string;
} & ({ destination: FeatureDestination } | { schedule: string; open: FeatureDestination; closed: FeatureDestination; holiday: FeatureDestination });

/** Queue data for the queue feature (passthrough, defaults applied). */
export interface FeatureQueue {
  id: string;
  number?: string;
  name?: string;
  strategy: 'ring-all' | 'round-robin' | 'least-recent' | 'fewest-calls' | 'random' | 'priority';
  agents: { extension: string; penalty: number }[];
  /** Seconds; 0 = no limit. */
  maxWait: number;
  /** 0 = no limit. */
  maxCallers: number;
  joinEmpty: boolean;
  leaveWhenEmpty: boolean;
  overflow: FeatureDestination;
  agentRingTimeout: number;
  wrapUp: number;
  musicOnHold?: string;
  priority: number;
  announcements: { position: boolean; holdTime: boolean; interval: number; join?: string };
}

/** Conference data (passthrough; the PIN itself is not in this document). */
export interface FeatureConference {
  id: string;
  number: string;
  name?: string;
  maxMembers: number;
  announceJoinLeave: boolean;
  musicOnHold?: string;
  pinProtected: boolean;
}

/** Voicemail limits (passthrough; SMTP settings and PINs are not in this document). */
export interface FeatureVoicemail {
  maxMessageLength: number;
  minMessageLength: number;
  maxMessages: number;
  maxSilence: number;
  pinAttempts: number;
  /** 0 = keep forever. */
  retentionDays: number;
  /** Prompt id of the default unavailable greeting. */
  greeting: string;
  /** Notification emails (VoicemailSettings.email); absent: the PBX sends none. */
  email?: FeatureVoicemailEmail;
}

/**
 * PBX-wide voicemail email settings (schemas/voicemail-settings.schema.json `email`, defaults
 * applied). The SMTP password is not here: it is `smtpPassword` in the release's
 * daemon/secrets.json (secrets-types.ts).
 */
export interface FeatureVoicemailEmail {
  /** Sender address. */
  from: string;
  /** Subject template; placeholders {callerId}, {callerName}, {mailbox}, {duration}, {time}. */
  subject: string;
  smtp: {
    host: string;
    /** TCP port (default 587). */
    port: number;
    /** `tls`: TLS from the first byte (465); `starttls`: upgrade required; `none`: plain (loopback relays only). */
    secure: 'starttls' | 'tls' | 'none';
    /** SMTP AUTH user; without it the relay is used unauthenticated. */
    username?: string;
  };
}

/** A music-on-hold class; files are prompt ids (converted like any prompt). */
export interface FeatureMusicOnHold {
  id: string;
  name?: string;
  order: 'sequential' | 'random';
  files: string[];
}

/**
 * A webhook subscription (schemas/webhook.schema.json, defaults applied). Its signing secrets are
 * not here: they are in the release's daemon/secrets.json (secrets-types.ts), keyed by `id`.
 */
export interface FeatureWebhook {
  id: string;
  /** http(s) URL the events are POSTed to. */
  url: string;
  /** Webhook event types (daemon/webhooks/mapping.ts WEBHOOK_EVENT_TYPES) or `*`. */
  events: string[];
  enabled: boolean;
  /** Seconds per delivery attempt. */
  timeout: number;
  /** Attempts before a delivery goes to the dead-letter list. */
  maxAttempts: number;
}

/** CDR settings of the daemon. */
export interface FeatureCdr {
  /** Days CDRs are kept (1..36500); pruned hourly by start time. */
  retentionDays: number;
}

/**
 * The whole document. Records are keyed by identity: extension number, id, DID (E.164), dialled
 * number (`600`, `*97`).
 */
export interface FeatureConfig {
  formatVersion: typeof FEATURE_CONFIG_FORMAT;
  /** Content hash: first 16 hex digits of sha256 over the canonical JSON without this field. */
  version: string;
  /** The PBX name (pbx.yaml name). */
  pbx: string;
  /** The SIP domain. */
  domain: string;
  defaults: FeatureDefaults;
  systemPrompts: SystemPrompts;
  extensions: Record<string, FeatureExtension>;
  ringGroups: Record<string, FeatureRingGroup>;
  ivrs: Record<string, FeatureIvr>;
  schedules: Record<string, FeatureSchedule>;
  /** By DID. */
  inbound: Record<string, FeatureInboundRoute>;
  /** Internal numbers Kamailio hands to the daemon (`t=feature` in its `dial` htable). */
  dial: Record<string, DialEntry>;
  queues: Record<string, FeatureQueue>;
  conferences: Record<string, FeatureConference>;
  voicemail: FeatureVoicemail;
  musicOnHold: Record<string, FeatureMusicOnHold>;
  /** Webhook subscriptions by id (absent in documents from before webhooks: none). */
  webhooks?: Record<string, FeatureWebhook>;
  /** CDR settings (pbx.yaml defaults.cdrRetentionDays); absent: the daemon's defaults (docs/cdr.md). */
  cdr?: FeatureCdr;
  /**
   * Salted hash of the release's daemon/secrets.json values (compile/daemon-secrets.ts): changes
   * whenever a secret does, so the plan shows a change and apply reloads the daemon, and reveals
   * nothing about the secrets.
   */
  secretsVersion?: string;
}

/** JSON with object keys sorted by code unit at every level: the input of the version hash. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The `version` of a document: sha256 hex of {@link canonicalJson} without `version`, first 16 digits. */
export function featureConfigVersion(doc: Omit<FeatureConfig, 'version'> | FeatureConfig): string {
  const { version: _ignored, ...rest } = doc as FeatureConfig;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 16);
}

/** Parses repo destination text (`ivr:main`, `hangup`); undefined when it is not one. */
export function toFeatureDestination(text: string): FeatureDestination | undefined {
  const d = parseDestination(text);
  if (!d) return undefined;
  if (d.type === 'hangup') return { type: 'hangup' };
  if (d.ref === '') return undefined;
  switch (d.type) {
    case 'extension':
    case 'external':
      return { type: d.type, number: d.ref };
    case 'voicemail':
      return { type: 'voicemail', mailbox: d.ref };
    default:
      return { type: d.type, id: d.ref };
  }
}

/** The text form of a destination or dial entry (`ivr:main`, `feature:echoTest`), as the repo and Kamailio write it. */
export function destinationText(d: DialEntry): string {
  switch (d.type) {
    case 'hangup': return 'hangup';
    case 'extension':
    case 'external': return `${d.type}:${d.number}`;
    case 'voicemail': return `voicemail:${d.mailbox}`;
    case 'feature': return `feature:${d.feature}`;
    default: return `${d.type}:${d.id}`;
  }
}

/**
 * Checks an untrusted document (parsed JSON) and returns it typed: formatVersion, the shape of every
 * field, that `version` matches the content (a hand-edited or truncated file is refused), that every
 * destination and prompt reference points at something in the document, and that every schedule's
 * zone is known to this Node's ICU and its hours close after they open.
 * @throws FeatureConfigError naming the first wrong field
 */
export function parseFeatureConfig(json: unknown): FeatureConfig {
  const doc = checkFeatureConfig(json);
  const expected = featureConfigVersion(doc);
  if (doc.version !== expected) {
    throw new FeatureConfigError('version', `${doc.version} does not match the content (${expected}); the file was edited or damaged after pbxctl wrote it`);
  }
  return doc;
}
