/**
 * The shape check behind parseFeatureConfig (config-types.ts): small combinators that take unknown
 * JSON and return it typed, or throw a FeatureConfigError naming the field. Objects are checked
 * strictly (unknown keys are errors): a document from a newer pbxctl that this daemon does not
 * understand must be refused, not half-used.
 */
import { PbxError } from '../lib/errors.js';
import type {
  DialEntry, FeatureConference, FeatureConfig, FeatureDestination, FeatureExtension, FeatureHoliday, FeatureHours, FeatureInboundRoute,
  FeatureIvr, FeatureMusicOnHold, FeatureOverride, FeatureWebhook, FeatureQueue, FeatureRingGroup, FeatureRingMember, FeatureSchedule, FeatureVoicemail,
} from './config-types.js';

/**
 * A feature config that cannot be used (code FEATURE_CONFIG_INVALID); `path` names the offending
 * field (`ivrs.main.options.1`, '' for the document), `reason` what is wrong with it.
 */
export class FeatureConfigError extends PbxError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super('FEATURE_CONFIG_INVALID', path ? `${path}: ${reason}` : reason, {
      hint: 'Re-apply the release with `pbxctl apply`; the file is written by pbxctl and not meant to be edited.',
    });
    this.name = 'FeatureConfigError';
  }
}

type Check<T> = ((v: unknown, at: string) => T) & { optional?: true };
type Shape<T> = { [K in keyof T]-?: Check<T[K]> };

const DIAL = /^[0-9]{2,8}$/;
const E164 = /^\+[1-9][0-9]{1,14}$/;
const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const DIAL_KEY = /^([0-9]{2,8}|\*[0-9]{1,4})$/;
/** Prompt ids become file names under the release's prompt directory: no separators, no dots but `.wav`. */
const PROMPT = /^[a-z][a-z0-9-]{0,80}\.wav$/;
const TIME = /^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/;
const DATE = /^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/;
const MONTH_DAY = /^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/;
const FEATURE_CODES = ['voicemail', 'voicemailAny', 'agentLogin', 'agentLogout', 'agentPause', 'dndToggle', 'echoTest'] as const;
/** An addr-spec good enough to hand to an SMTP server (the schema's `format: email` checked it first). */
const EMAIL = /^[^\s@<>]+@[^\s@<>]+$/;
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

const fail = (at: string, reason: string): never => {
  throw new FeatureConfigError(at, reason);
};
const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};
const sub = (at: string, key: string) => (at ? `${at}.${key}` : key);

const str = (re: RegExp, what: string): Check<string> => (v, at) =>
  typeof v === 'string' && re.test(v) ? v : fail(at, `expected ${what}, got ${show(v)}`);
const text: Check<string> = (v, at) => (typeof v === 'string' ? v : fail(at, `expected a string, got ${show(v)}`));
const int = (min: number, max: number): Check<number> => (v, at) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? (v as number) : fail(at, `expected an integer ${min}..${max}, got ${show(v)}`);
const bool: Check<boolean> = (v, at) => (typeof v === 'boolean' ? v : fail(at, `expected true or false, got ${show(v)}`));
const oneOf = <T extends string | number>(...values: readonly T[]): Check<T> => (v, at) =>
  values.includes(v as T) ? (v as T) : fail(at, `expected one of ${values.join(', ')}, got ${show(v)}`);
const opt = <T>(check: Check<T>): Check<T | undefined> => Object.assign((v: unknown, at: string) => check(v, at), { optional: true as const });
const arr = <T>(item: Check<T>): Check<T[]> => (v, at) =>
  Array.isArray(v) ? v.map((x, i) => item(x, `${at}[${i}]`)) : fail(at, `expected a list, got ${show(v)}`);

function plain(v: unknown, at: string): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(at, `expected an object, got ${show(v)}`);
}

/** A strict object: every key of `shape` (optional ones may be missing), nothing else. */
function obj<T>(shape: Shape<T>): Check<T> {
  return (v, at) => {
    const o = plain(v, at);
    for (const k of Object.keys(o)) if (!(k in shape)) fail(sub(at, k), 'unknown field');
    const out: Record<string, unknown> = {};
    for (const [k, check] of Object.entries(shape) as [string, Check<unknown>][]) {
      if (o[k] === undefined) {
        if (!check.optional) fail(sub(at, k), 'missing');
        continue;
      }
      out[k] = check(o[k], sub(at, k));
    }
    return out as T;
  };
}

/** A record whose keys match `key`; `item` also gets the key (to check it matches the entry's identity). */
function rec<T>(key: RegExp, what: string, item: (v: unknown, at: string, key: string) => T): Check<Record<string, T>> {
  return (v, at) => {
    const out: Record<string, T> = {};
    for (const [k, x] of Object.entries(plain(v, at))) {
      if (!key.test(k)) fail(sub(at, k), `key is not ${what}`);
      out[k] = item(x, sub(at, k), k);
    }
    return out;
  };
}

/** Checks that the entry's identity field equals its record key. */
function keyed<T>(check: Check<T>, field: keyof T): (v: unknown, at: string, key: string) => T {
  return (v, at, key) => {
    const value = check(v, at);
    if (value[field] !== key) fail(sub(at, String(field)), `must equal its key ${show(key)}`);
    return value;
  };
}

const byType: Record<string, Check<FeatureDestination>> = {
  extension: obj({ type: oneOf('extension' as const), number: str(DIAL, 'an extension number') }),
  voicemail: obj({ type: oneOf('voicemail' as const), mailbox: str(DIAL, 'an extension number') }),
  'ring-group': obj({ type: oneOf('ring-group' as const), id: str(ID, 'an id') }),
  queue: obj({ type: oneOf('queue' as const), id: str(ID, 'an id') }),
  ivr: obj({ type: oneOf('ivr' as const), id: str(ID, 'an id') }),
  conference: obj({ type: oneOf('conference' as const), id: str(ID, 'an id') }),
  schedule: obj({ type: oneOf('schedule' as const), id: str(ID, 'an id') }),
  external: obj({ type: oneOf('external' as const), number: str(E164, 'an E.164 number') }),
  hangup: obj({ type: oneOf('hangup' as const) }),
};
const destination: Check<FeatureDestination> = (v, at) => {
  const type = plain(v, at).type;
  const check = typeof type === 'string' ? byType[type] : undefined;
  return check ? check(v, at) : fail(sub(at, 'type'), `expected a destination type (${Object.keys(byType).join(', ')}), got ${show(type)}`);
};
const dialEntry: Check<DialEntry> = (v, at) =>
  plain(v, at).type === 'feature' ? obj({ type: oneOf('feature' as const), feature: oneOf(...FEATURE_CODES) })(v, at) : destination(v, at);

const prompt = str(PROMPT, 'a prompt id (NAME.wav)');
const seconds = int(0, 86400);
const optId = opt(str(ID, 'an id'));

const extension = obj<FeatureExtension>({
  number: str(DIAL, 'an extension number'), name: text, noAnswerTimeout: seconds, doNotDisturb: bool, voicemail: bool,
  forward: obj({ always: opt(destination), busy: opt(destination), noAnswer: opt(destination), unavailable: opt(destination) }),
  voicemailEmail: opt(obj({ address: str(EMAIL, 'an email address'), attachAudio: bool })),
});
const ringMember = obj<FeatureRingMember>({ type: oneOf('extension', 'external'), number: text, ringTimeout: seconds });
const ringGroup = obj<FeatureRingGroup>({
  id: str(ID, 'an id'), number: opt(str(DIAL, 'an internal number')), name: opt(text),
  strategy: oneOf('simultaneous', 'sequential', 'round-robin', 'random', 'least-recent'),
  members: (v, at) => arr(ringMember)(v, at).map((m, i) =>
    (m.type === 'extension' ? DIAL : E164).test(m.number) ? m : fail(`${at}[${i}].number`, `not a valid ${m.type} number: ${show(m.number)}`)),
  ringTimeout: seconds, totalTimeout: seconds, fallback: destination, callerIdPrefix: opt(text),
});
const ivr = obj<FeatureIvr>({
  id: str(ID, 'an id'), number: opt(str(DIAL, 'an internal number')), name: opt(text),
  greeting: prompt, invalidPrompt: prompt, timeoutPrompt: prompt,
  options: rec(/^[0-9*#]$/, 'a digit (0-9, *, #)', destination), timeout: int(1, 60), retries: int(0, 10),
  invalidDestination: destination, timeoutDestination: destination, directDial: bool, directDialNumbers: arr(str(DIAL, 'an extension number')),
});

const minutes = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));
const hours: Check<FeatureHours> = (v, at) => {
  const h = obj<FeatureHours>({ days: arr(oneOf(...WEEKDAYS)), open: str(TIME, 'HH:MM'), close: str(TIME, 'HH:MM') })(v, at);
  return minutes(h.close) > minutes(h.open) ? h : fail(sub(at, 'close'), `${h.close} is not after open ${h.open}`);
};
const holiday: Check<FeatureHoliday> = (v, at) =>
  'yearly' in plain(v, at)
    ? obj({ name: text, yearly: str(MONTH_DAY, 'MM-DD') })(v, at)
    : obj({ name: text, from: str(DATE, 'YYYY-MM-DD'), to: str(DATE, 'YYYY-MM-DD') })(v, at);
const override: Check<FeatureOverride> = (v, at) => {
  const o = obj<FeatureOverride>({ date: str(DATE, 'YYYY-MM-DD'), name: opt(text), closed: bool, open: opt(str(TIME, 'HH:MM')), close: opt(str(TIME, 'HH:MM')) })(v, at);
  if (o.closed) return o.open === undefined && o.close === undefined ? o : fail(sub(at, 'open'), 'a closed day has no hours');
  if (o.open === undefined || o.close === undefined) return fail(sub(at, 'open'), 'special hours need open and close');
  return minutes(o.close) > minutes(o.open) ? o : fail(sub(at, 'close'), `${o.close} is not after open ${o.open}`);
};
const timeZone: Check<string> = (v, at) => {
  const zone = text(v, at);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone;
  } catch {
    return fail(at, `${show(zone)} is not a time zone this daemon's ICU knows`);
  }
};
const schedule = obj<FeatureSchedule>({
  id: str(ID, 'an id'), name: opt(text), timezone: timeZone, hours: arr(hours), holidays: arr(holiday), overrides: arr(override),
  open: opt(destination), closed: opt(destination), holiday: opt(destination),
});
const inboundCommon = { route: str(ID, 'an id'), name: opt(text), trunk: optId, callerIdPrefix: opt(text) };
const inbound: Check<FeatureInboundRoute> = (v, at) =>
  'schedule' in plain(v, at)
    ? obj({ ...inboundCommon, schedule: str(ID, 'an id'), open: destination, closed: destination, holiday: destination })(v, at)
    : obj({ ...inboundCommon, destination })(v, at);
const queue = obj<FeatureQueue>({
  id: str(ID, 'an id'), number: opt(str(DIAL, 'an internal number')), name: opt(text),
  strategy: oneOf('ring-all', 'round-robin', 'least-recent', 'fewest-calls', 'random', 'priority'),
  agents: arr(obj({ extension: str(DIAL, 'an extension number'), penalty: int(0, 1000) })),
  maxWait: seconds, maxCallers: int(0, 100000), joinEmpty: bool, leaveWhenEmpty: bool, overflow: destination,
  agentRingTimeout: seconds, wrapUp: seconds, musicOnHold: optId, priority: int(-1000, 1000),
  announcements: obj({ position: bool, holdTime: bool, interval: seconds, join: opt(prompt) }),
});
const conference = obj<FeatureConference>({
  id: str(ID, 'an id'), number: str(DIAL, 'an internal number'), name: opt(text), maxMembers: int(1, 10000),
  announceJoinLeave: bool, musicOnHold: optId, pinProtected: bool,
});
const voicemail = obj<FeatureVoicemail>({
  maxMessageLength: seconds, minMessageLength: seconds, maxMessages: int(0, 1000000), maxSilence: seconds,
  pinAttempts: int(1, 100), retentionDays: int(0, 100000), greeting: prompt,
  email: opt(obj({
    from: str(EMAIL, 'an email address'), subject: text,
    smtp: obj({ host: str(/^[^\s/]+$/, 'a host name or address'), port: int(1, 65535), secure: oneOf('starttls', 'tls', 'none'), username: opt(text) }),
  })),
});
const musicOnHold = obj<FeatureMusicOnHold>({ id: str(ID, 'an id'), name: opt(text), order: oneOf('sequential', 'random'), files: arr(prompt) });

const webhook = obj<FeatureWebhook>({
  id: str(ID, 'an id'), url: str(/^https?:\/\/[^\s]+$/, 'an http(s) URL'), events: arr(str(/^([a-z]+\.[a-z]+|\*)$/, 'an event type')),
  enabled: bool, timeout: int(1, 60), maxAttempts: int(1, 50),
});

const formatVersion: Check<1> = (v, at) => (v === 1 ? 1 : fail(at, `${show(v)} is not supported (this daemon reads format 1); deploy with a matching pbxctl`));
const document = obj<FeatureConfig>({
  formatVersion,
  version: str(/^[0-9a-f]{16}$/, '16 hex digits'),
  pbx: str(ID, 'an id'), domain: text,
  defaults: obj({ ringTimeout: seconds, timezone: timeZone, voicemail: bool, musicOnHold: optId }),
  systemPrompts: obj({
    invalid: prompt, timeout: prompt, goodbye: prompt, voicemailGreeting: prompt,
    digit0: prompt, digit1: prompt, digit2: prompt, digit3: prompt, digit4: prompt, digit5: prompt, digit6: prompt, digit7: prompt, digit8: prompt, digit9: prompt,
    queuePosition: prompt, queueHoldTime: prompt, queueMinutes: prompt, queueUnderMinute: prompt,
    agentLoggedIn: prompt, agentLoggedOut: prompt, agentPaused: prompt, agentUnpaused: prompt, agentNotMember: prompt,
    vmPersonAt: prompt, vmUnavailable: prompt, vmBusy: prompt, vmBeep: prompt, vmMailboxFull: prompt, vmEnterMailbox: prompt, vmEnterPin: prompt,
    vmWrongPin: prompt, vmYouHave: prompt, vmNewMessages: prompt, vmOldMessages: prompt, vmMainMenu: prompt, vmMessageFrom: prompt,
    vmMessageMenu: prompt, vmNoMoreMessages: prompt, vmDeleted: prompt, vmSaved: prompt, vmOptionsMenu: prompt, vmRecordGreeting: prompt, vmGreetingSaved: prompt,
  }),
  extensions: rec(DIAL, 'an extension number', keyed(extension, 'number')),
  ringGroups: rec(ID, 'an id', keyed(ringGroup, 'id')),
  ivrs: rec(ID, 'an id', keyed(ivr, 'id')),
  schedules: rec(ID, 'an id', keyed(schedule, 'id')),
  inbound: rec(E164, 'an E.164 DID', inbound),
  dial: rec(DIAL_KEY, 'an internal number or feature code', dialEntry),
  queues: rec(ID, 'an id', keyed(queue, 'id')),
  conferences: rec(ID, 'an id', keyed(conference, 'id')),
  voicemail,
  musicOnHold: rec(ID, 'an id', keyed(musicOnHold, 'id')),
  webhooks: opt(rec(ID, 'an id', keyed(webhook, 'id'))),
  cdr: opt(obj({ retentionDays: int(1, 36500) })),
  secretsVersion: opt(str(/^[0-9a-f]{16}$/, '16 hex digits')),
});

/** Every destination in the document with its path (for the reference check). */
function* destinations(c: FeatureConfig): Generator<[string, DialEntry]> {
  for (const [n, e] of Object.entries(c.extensions)) for (const [k, d] of Object.entries(e.forward)) if (d) yield [`extensions.${n}.forward.${k}`, d];
  for (const [id, g] of Object.entries(c.ringGroups)) yield [`ringGroups.${id}.fallback`, g.fallback];
  for (const [id, m] of Object.entries(c.ivrs)) {
    for (const [digit, d] of Object.entries(m.options)) yield [`ivrs.${id}.options.${digit}`, d];
    yield [`ivrs.${id}.invalidDestination`, m.invalidDestination];
    yield [`ivrs.${id}.timeoutDestination`, m.timeoutDestination];
  }
  for (const [id, s] of Object.entries(c.schedules)) for (const k of ['open', 'closed', 'holiday'] as const) if (s[k]) yield [`schedules.${id}.${k}`, s[k]];
  for (const [did, r] of Object.entries(c.inbound)) {
    if ('destination' in r) yield [`inbound.${did}.destination`, r.destination];
    else for (const k of ['open', 'closed', 'holiday'] as const) yield [`inbound.${did}.${k}`, r[k]];
  }
  for (const [n, d] of Object.entries(c.dial)) yield [`dial.${n}`, d];
  for (const [id, q] of Object.entries(c.queues)) yield [`queues.${id}.overflow`, q.overflow];
}

/** Whether the entity a destination names is in the document. */
function exists(c: FeatureConfig, d: DialEntry): boolean {
  switch (d.type) {
    case 'extension': return d.number in c.extensions;
    case 'voicemail': return d.mailbox in c.extensions;
    case 'ring-group': return d.id in c.ringGroups;
    case 'queue': return d.id in c.queues;
    case 'ivr': return d.id in c.ivrs;
    case 'conference': return d.id in c.conferences;
    case 'schedule': return d.id in c.schedules && c.schedules[d.id]!.open !== undefined;
    default: return true; // external, hangup, feature codes
  }
}

/**
 * Shape and reference check of a whole document (the version hash is checked by the caller).
 * @throws FeatureConfigError naming the first wrong field
 */
export function checkFeatureConfig(json: unknown): FeatureConfig {
  formatVersion(plain(json, '').formatVersion, 'formatVersion'); // first: a newer format fails on this, not on a new field
  const c = document(json, '');
  for (const [at, d] of destinations(c)) if (!exists(c, d)) fail(at, `points at ${d.type} ${show('id' in d ? d.id : 'number' in d ? d.number : 'mailbox' in d ? d.mailbox : '')}, which this document does not define`);
  for (const [did, r] of Object.entries(c.inbound)) if ('schedule' in r && !(r.schedule in c.schedules)) fail(`inbound.${did}.schedule`, `schedule ${show(r.schedule)} is not defined`);
  for (const [id, g] of Object.entries(c.ringGroups)) g.members.forEach((m, i) => {
    if (m.type === 'extension' && !(m.number in c.extensions)) fail(`ringGroups.${id}.members[${i}].number`, `extension ${m.number} is not defined`);
  });
  for (const [id, q] of Object.entries(c.queues)) q.agents.forEach((a, i) => {
    if (!(a.extension in c.extensions)) fail(`queues.${id}.agents[${i}].extension`, `extension ${a.extension} is not defined`);
  });
  return c;
}
