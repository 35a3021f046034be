/**
 * Compiles the desired state into the feature daemon's configuration (`daemon/features.json` in a
 * release; types in daemon/config-types.ts): everything the daemon needs to run calls, resolved so
 * it needs no repo. Schema defaults are applied here, destinations parsed into typed objects and
 * prompts replaced by their content-addressed ids (compile/prompts.ts). No secrets: passwords,
 * voicemail and conference PINs, SMTP and webhook credentials stay out.
 *
 * Pure and deterministic: records are filled in sorted key order and `version` is a hash of the
 * canonical JSON (keys sorted at every level), so the same repo content gives the same version
 * however its files are arranged.
 */
import { DEFAULT_FEATURE_CODES } from '../config/checks/identity.js';
import type { DesiredState, Extension, Prompt, Schedule } from '../model/types.js';
import {
  FEATURE_CONFIG_FORMAT, featureConfigVersion, toFeatureDestination,
  type DialEntry, type FeatureConfig, type FeatureConference, type FeatureDestination, type FeatureExtension, type FeatureInboundRoute,
  type FeatureIvr, type FeatureMusicOnHold, type FeatureQueue, type FeatureWebhook, type FeatureRingGroup, type FeatureSchedule, type SystemPrompts,
  type FeatureVoicemailEmailTarget,
} from '../daemon/config-types.js';
import { promptSpec, systemPromptSpec, SYSTEM_PROMPT_NAMES, type FileHashes } from './prompts.js';

/** Inputs besides the state. */
export interface FeatureConfigOptions {
  /** sha256 hex of every audio file compile/prompts.ts `promptFiles(state)` lists (repo-relative path -> digest). */
  fileHashes: FileHashes;
  /** compile/daemon-secrets.ts secretsVersion of the release's daemon/secrets.json, when it ships one. */
  secretsVersion?: string;
}

/** Schema defaults the document resolves (schemas/*.schema.json `default`). */
const DEFAULTS = {
  ringTimeout: 20, voicemailEnabled: true, groupRingTimeout: 20, groupTotalTimeout: 60, ivrTimeout: 5, ivrRetries: 2,
  queue: { maxWait: 600, maxCallers: 0, joinEmpty: false, leaveWhenEmpty: true, agentRingTimeout: 15, wrapUp: 0, priority: 0, position: true, holdTime: false, interval: 60 },
  conference: { maxMembers: 20, announceJoinLeave: true },
  voicemailEmailSubject: 'New voicemail from {callerId} ({duration}s)',
  webhook: { timeout: 5, maxAttempts: 10 },
  voicemail: { maxMessageLength: 180, minMessageLength: 2, maxMessages: 100, maxSilence: 5, pinAttempts: 3, retentionDays: 0 },
} as const;

const HANGUP: FeatureDestination = { type: 'hangup' };

/** Parses a destination the validator already accepted; anything else is a bug. */
function dest(text: string): FeatureDestination {
  const d = toFeatureDestination(text);
  if (!d) throw new Error(`unparseable destination ${JSON.stringify(text)} reached the compiler (validation should have rejected it)`);
  return d;
}
const optDest = (text: string | undefined) => (text === undefined ? undefined : dest(text));

/** Drops undefined fields, so the document holds only what is set (and stays readable). */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** A record in sorted key order (JSON.stringify still lists integer-like keys first, numerically). */
function sorted<T>(entries: Iterable<[string, T]>): Record<string, T> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Compiles the feature config.
 * @throws Error (a bug) when a file prompt has no digest in `opts.fileHashes` or a destination is unparseable
 */
export function compileFeatureConfig(state: DesiredState, opts: FeatureConfigOptions): FeatureConfig {
  const pbx = state.pbx;
  const d = pbx.defaults ?? {};
  const defaults = compact({
    ringTimeout: d.ringTimeout ?? DEFAULTS.ringTimeout,
    // Schedules carry their own zone; this one is for anything zone-less the daemon reports in.
    timezone: d.timezone ?? 'UTC',
    voicemail: d.voicemail ?? DEFAULTS.voicemailEnabled,
    musicOnHold: d.musicOnHold,
  });
  const prompt = (p: Prompt) => promptSpec(p, opts.fileHashes).id;
  const system = Object.fromEntries(SYSTEM_PROMPT_NAMES.map((k) => [k, systemPromptSpec(k).id])) as unknown as SystemPrompts;

  const extensions = sorted([...state.extensions.values()].map((e): [string, FeatureExtension] => [e.number, {
    number: e.number,
    name: e.name,
    noAnswerTimeout: e.noAnswerTimeout ?? defaults.ringTimeout,
    doNotDisturb: e.doNotDisturb ?? false,
    voicemail: e.voicemail?.enabled ?? defaults.voicemail,
    forward: compact({ always: optDest(e.forward?.always), busy: optDest(e.forward?.busy), noAnswer: optDest(e.forward?.noAnswer), unavailable: optDest(e.forward?.unavailable) }),
    ...voicemailEmailOf(e, defaults.voicemail),
  }]));

  const ringGroups = sorted([...state.ringGroups.values()].map((g): [string, FeatureRingGroup] => {
    const ringTimeout = g.ringTimeout ?? DEFAULTS.groupRingTimeout;
    const totalTimeout = g.totalTimeout ?? DEFAULTS.groupTotalTimeout;
    // The group's ringTimeout is "seconds each member rings (sequential strategies)": members of a
    // simultaneous group without their own ring for the whole group time.
    const memberDefault = g.strategy === 'simultaneous' ? totalTimeout : ringTimeout;
    return [g.id, compact({
      id: g.id, number: g.number, name: g.name, strategy: g.strategy,
      members: g.members.map((m) => ({
        type: m.extension !== undefined ? ('extension' as const) : ('external' as const),
        number: (m.extension ?? m.external)!,
        ringTimeout: m.ringTimeout ?? memberDefault,
      })),
      ringTimeout, totalTimeout,
      fallback: optDest(g.fallback) ?? HANGUP,
      callerIdPrefix: g.callerIdPrefix,
    })];
  }));

  const extensionNumbers = Object.keys(extensions).sort();
  const ivrs = sorted([...state.ivrs.values()].map((m): [string, FeatureIvr] => [m.id, compact({
    id: m.id, number: m.number, name: m.name,
    greeting: prompt(m.greeting),
    invalidPrompt: m.invalidPrompt ? prompt(m.invalidPrompt) : system.invalid,
    timeoutPrompt: m.timeoutPrompt ? prompt(m.timeoutPrompt) : system.timeout,
    options: sorted(Object.entries(m.options).map(([digit, text]) => [digit, dest(text)])),
    timeout: m.timeout ?? DEFAULTS.ivrTimeout,
    retries: m.retries ?? DEFAULTS.ivrRetries,
    invalidDestination: optDest(m.invalidDestination) ?? HANGUP,
    timeoutDestination: optDest(m.timeoutDestination) ?? HANGUP,
    directDial: m.directDial ?? false,
    directDialNumbers: m.directDial ? extensionNumbers : [],
  })]));

  const schedules = sorted([...state.schedules.values()].map((s): [string, FeatureSchedule] => [s.id, compileSchedule(s)]));

  const inbound: [string, FeatureInboundRoute][] = [];
  for (const r of state.inboundRoutes.values()) {
    const common = compact({ route: r.id, name: r.name, trunk: r.trunk, callerIdPrefix: r.callerIdPrefix });
    const target = r.schedule !== undefined
      ? { schedule: r.schedule, open: dest(r.open!), closed: dest(r.closed!), holiday: dest(r.holiday ?? r.closed!) }
      : { destination: optDest(r.destination) ?? HANGUP };
    for (const did of r.dids) inbound.push([did, { ...common, ...target }]);
  }

  // The same numbers Kamailio's `dial` htable marks t=feature (compile/node-data.ts), so the daemon
  // can resolve whatever Kamailio hands it.
  const dial: [string, DialEntry][] = [];
  for (const g of state.ringGroups.values()) if (g.number !== undefined) dial.push([g.number, { type: 'ring-group', id: g.id }]);
  for (const q of state.queues.values()) if (q.number !== undefined) dial.push([q.number, { type: 'queue', id: q.id }]);
  for (const m of state.ivrs.values()) if (m.number !== undefined) dial.push([m.number, { type: 'ivr', id: m.id }]);
  for (const c of state.conferences.values()) dial.push([c.number, { type: 'conference', id: c.id }]);
  for (const [name, code] of Object.entries({ ...DEFAULT_FEATURE_CODES, ...pbx.numberPlan.featureCodes })) {
    if (code !== undefined) dial.push([code, { type: 'feature', feature: name as keyof typeof DEFAULT_FEATURE_CODES }]);
  }

  const queues = sorted([...state.queues.values()].map((q): [string, FeatureQueue] => {
    const Q = DEFAULTS.queue;
    const a = q.announcements ?? {};
    return [q.id, compact({
      id: q.id, number: q.number, name: q.name, strategy: q.strategy,
      agents: q.agents.map((x) => ({ extension: x.extension, penalty: x.penalty ?? 0 })),
      maxWait: q.maxWait ?? Q.maxWait, maxCallers: q.maxCallers ?? Q.maxCallers,
      joinEmpty: q.joinEmpty ?? Q.joinEmpty, leaveWhenEmpty: q.leaveWhenEmpty ?? Q.leaveWhenEmpty,
      overflow: optDest(q.overflow) ?? HANGUP,
      agentRingTimeout: q.agentRingTimeout ?? Q.agentRingTimeout, wrapUp: q.wrapUp ?? Q.wrapUp,
      musicOnHold: q.musicOnHold ?? defaults.musicOnHold, priority: q.priority ?? Q.priority,
      announcements: compact({ position: a.position ?? Q.position, holdTime: a.holdTime ?? Q.holdTime, interval: a.interval ?? Q.interval, join: a.join ? prompt(a.join) : undefined }),
    })];
  }));

  const conferences = sorted([...state.conferences.values()].map((c): [string, FeatureConference] => [c.id, compact({
    id: c.id, number: c.number, name: c.name,
    maxMembers: c.maxMembers ?? DEFAULTS.conference.maxMembers,
    announceJoinLeave: c.announceJoinLeave ?? DEFAULTS.conference.announceJoinLeave,
    musicOnHold: c.musicOnHold ?? defaults.musicOnHold,
    pinProtected: c.pin !== undefined,
  })]));

  const v = state.voicemailSettings;
  const V = DEFAULTS.voicemail;
  const voicemail = {
    maxMessageLength: v?.maxMessageLength ?? V.maxMessageLength, minMessageLength: v?.minMessageLength ?? V.minMessageLength,
    maxMessages: v?.maxMessages ?? V.maxMessages, maxSilence: v?.maxSilence ?? V.maxSilence,
    pinAttempts: v?.pinAttempts ?? V.pinAttempts, retentionDays: v?.retentionDays ?? V.retentionDays,
    greeting: v?.greeting ? prompt(v.greeting) : system.voicemailGreeting,
    ...(v?.email ? {
      email: {
        from: v.email.from, subject: v.email.subject ?? DEFAULTS.voicemailEmailSubject,
        smtp: compact({ host: v.email.smtp.host, port: v.email.smtp.port ?? 587, secure: v.email.smtp.secure ?? 'starttls', username: v.email.smtp.username }),
      },
    } : {}),
  };

  const musicOnHold = sorted([...state.musicOnHold.values()].map((m): [string, FeatureMusicOnHold] => [m.id, compact({
    id: m.id, name: m.name, order: m.order ?? 'sequential', files: m.files.map((file) => prompt({ file })),
  })]));

  // Subscriptions only: the signing secrets go to daemon/secrets.json (compile/daemon-secrets.ts).
  const webhooks = sorted([...state.webhooks.values()].map((w): [string, FeatureWebhook] => [w.id, {
    id: w.id, url: w.url, events: [...w.events], enabled: w.enabled ?? true, timeout: w.timeout ?? DEFAULTS.webhook.timeout, maxAttempts: w.maxAttempts ?? DEFAULTS.webhook.maxAttempts,
  }]));

  const body: Omit<FeatureConfig, 'version'> = {
    formatVersion: FEATURE_CONFIG_FORMAT,
    pbx: pbx.name,
    domain: pbx.domain,
    defaults,
    systemPrompts: system,
    extensions, ringGroups, ivrs, schedules,
    inbound: sorted(inbound),
    dial: sorted(dial),
    queues, conferences, voicemail, musicOnHold, webhooks,
    // Only when set, so that configs without it keep their version (the daemon defaults to 365 days).
    ...(pbx.defaults?.cdrRetentionDays !== undefined ? { cdr: { retentionDays: pbx.defaults.cdrRetentionDays } } : {}),
    ...(opts.secretsVersion !== undefined ? { secretsVersion: opts.secretsVersion } : {}),
  };
  const { formatVersion, ...rest } = body;
  return { formatVersion, version: featureConfigVersion(body), ...rest };
}

/**
 * An extension's voicemail email target: the box's `email`, else the extension's; none when the
 * extension has no box or no address (schemas/extension.schema.json `voicemail.email`, `attachAudio`).
 */
function voicemailEmailOf(e: Extension, boxesByDefault: boolean): { voicemailEmail?: FeatureVoicemailEmailTarget } {
  const address = e.voicemail?.email ?? e.email;
  if (!(e.voicemail?.enabled ?? boxesByDefault) || address === undefined) return {};
  return { voicemailEmail: { address, attachAudio: e.voicemail?.attachAudio ?? true } };
}

/** A schedule with holidays as ranges or yearly dates and overrides with an explicit `closed`. */
function compileSchedule(s: Schedule): FeatureSchedule {
  const branches = s.open !== undefined && s.closed !== undefined
    ? { open: dest(s.open), closed: dest(s.closed), holiday: dest(s.holiday ?? s.closed) }
    : {};
  return compact({
    id: s.id, name: s.name, timezone: s.timezone,
    hours: s.hours.map((h) => ({ days: [...h.days], open: h.open, close: h.close })),
    holidays: (s.holidays ?? []).map((h) => (h.yearly !== undefined
      ? { name: h.name, yearly: h.yearly }
      : { name: h.name, from: (h.date ?? h.from)!, to: (h.date ?? h.to)! })),
    overrides: (s.overrides ?? []).map((o) => (o.closed
      ? compact({ date: o.date, name: o.name, closed: true })
      : compact({ date: o.date, name: o.name, closed: false, open: o.open, close: o.close }))),
    ...branches,
  });
}
