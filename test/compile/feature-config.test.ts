/**
 * The feature daemon's config (compile/feature-config.ts) from the example repos and small inline
 * repos, and the daemon-side parser (daemon/config-types.ts parseFeatureConfig).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { allocate, compileNodeData } from '../../src/compile/node-data.js';
import { promptFiles, systemPromptSpec } from '../../src/compile/prompts.js';
import { secretResolver } from '../../src/config/secrets.js';
import { validateRepoDir, validateSnapshot } from '../../src/config/validate.js';
import {
  canonicalJson, destinationText, FeatureConfigError, featureConfigVersion, parseFeatureConfig, toFeatureDestination, type FeatureConfig,
} from '../../src/daemon/config-types.js';
import { PbxError } from '../../src/lib/errors.js';
import type { DesiredState } from '../../src/model/types.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

async function example(name: string): Promise<{ state: DesiredState; hashes: Record<string, string>; dir: string }> {
  const dir = join(EXAMPLES, name);
  const r = await validateRepoDir(dir, { strict: false, secretsFile: join(dir, '.secrets.example.yaml') });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const hashes = Object.fromEntries(promptFiles(r.state!).map((f) => [f, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')]));
  return { state: r.state!, hashes, dir };
}

const PBX = 'name: t\ndomain: pbx.example.com\nnumberPlan: {extensions: ["1000-1999"], ringGroups: ["6000-6099"], ivrs: ["7000-7099"]}\nnodes: [{name: lab, type: local}]\n';

async function inline(files: Record<string, string>): Promise<DesiredState> {
  const secrets = secretResolver({ PW: 'pw' }, {}, { envPrefix: 'X_', file: 'f' });
  const r = await validateSnapshot({ files: Object.entries(files).map(([path, t]) => ({ path, bytes: new TextEncoder().encode(t) })), assets: { read: async () => undefined } }, secrets, { strict: false });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.state!;
}

const ext = (n: string, extra = '') => `kind: Extension\nnumber: "${n}"\nname: E${n}\npassword: \${env:PW}\n${extra}`;
const roundTrip = (c: FeatureConfig): unknown => JSON.parse(JSON.stringify(c));

describe('compileFeatureConfig: small-office', () => {
  it('matches the reviewed document (test/compile/__snapshots__/small-office.features.json)', async () => {
    const { state, hashes } = await example('small-office');
    const config = compileFeatureConfig(state, { fileHashes: hashes });
    await expect(`${JSON.stringify(config, null, 2)}\n`).toMatchFileSnapshot('__snapshots__/small-office.features.json');
  });

  it('is versioned by its content and reads back through parseFeatureConfig unchanged', async () => {
    const { state, hashes } = await example('small-office');
    const config = compileFeatureConfig(state, { fileHashes: hashes });
    expect(config.formatVersion).toBe(1);
    expect(config.version).toMatch(/^[0-9a-f]{16}$/);
    expect(config.version).toBe(featureConfigVersion(config));
    expect(parseFeatureConfig(roundTrip(config))).toEqual(config);
    expect(compileFeatureConfig(state, { fileHashes: hashes })).toEqual(config);
  });

  it('does not depend on the order resources were loaded in', async () => {
    const { state, hashes } = await example('small-office');
    const reversed: DesiredState = { ...state };
    for (const k of ['extensions', 'ringGroups', 'ivrs', 'inboundRoutes', 'schedules', 'musicOnHold'] as const) {
      const entries: [string, unknown][] = [...(state[k] as Map<string, unknown>)];
      (reversed as unknown as Record<string, Map<string, unknown>>)[k] = new Map(entries.reverse());
    }
    const a = compileFeatureConfig(state, { fileHashes: hashes });
    const b = compileFeatureConfig(reversed, { fileHashes: hashes });
    expect(b.version).toBe(a.version);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it('changes the version when anything the daemon uses changes, including a prompt file', async () => {
    const { state, hashes } = await example('small-office');
    const base = compileFeatureConfig(state, { fileHashes: hashes }).version;
    const ivr = state.ivrs.get('main')!;
    const changed = { ...state, ivrs: new Map(state.ivrs).set('main', { ...ivr, timeout: 7 }) };
    expect(compileFeatureConfig(changed, { fileHashes: hashes }).version).not.toBe(base);
    const newAudio = { ...hashes, 'prompts/main-greeting.wav': 'f'.repeat(64) };
    expect(compileFeatureConfig(state, { fileHashes: newAudio }).version).not.toBe(base);
  });

  it('resolves defaults: timeouts, voicemail, ring timeouts by strategy, prompts, holiday branch', async () => {
    const { state, hashes } = await example('small-office');
    const c = compileFeatureConfig(state, { fileHashes: hashes });
    expect(c.defaults).toEqual({ ringTimeout: 20, timezone: 'America/New_York', voicemail: true, musicOnHold: 'default' });
    expect(c.extensions['301']!.noAnswerTimeout).toBe(20); // defaults.ringTimeout
    expect(c.extensions['340']!.noAnswerTimeout).toBe(35);
    expect(c.extensions['350']!.voicemail).toBe(false);
    expect(c.extensions['320']!.voicemail).toBe(true); // no enabled: defaults.voicemail
    // simultaneous: members ring the whole group time; sequential: the group's ringTimeout
    expect(c.ringGroups.sales!.members.map((m) => m.ringTimeout)).toEqual([25, 25]);
    expect(c.ringGroups.support!.members.map((m) => m.ringTimeout)).toEqual([15, 15]);
    expect(c.ivrs.holiday!.invalidPrompt).toBe(systemPromptSpec('invalid').id);
    expect(c.ivrs.holiday!.directDialNumbers).toEqual([]);
    expect(c.ivrs.main!.directDialNumbers).toEqual(['300', '301', '320', '321', '330', '331', '340', '350']);
    expect(c.inbound['+12125550100']).toMatchObject({ route: 'main-number', schedule: 'business-hours', holiday: { type: 'ivr', id: 'holiday' } });
    expect(c.inbound['+12125550101']).toEqual({ route: 'owner-direct', name: 'Sam Whitaker direct', trunk: 'carrier', destination: { type: 'extension', number: '301' } });
  });

  it('holds no secrets', async () => {
    const { state, hashes, dir } = await example('small-office');
    const text = JSON.stringify(compileFeatureConfig(state, { fileHashes: hashes }));
    expect(text).not.toContain('${');
    const secrets = readFileSync(join(dir, '.secrets.example.yaml'), 'utf8').matchAll(/^[\w.-]+: "([^"]+)"/gm);
    for (const [, value] of secrets) expect(text).not.toContain(value);
  });

  it('lists every number Kamailio hands to the daemon, with the same destination', async () => {
    for (const name of ['small-office', 'call-center']) {
      const { state, hashes } = await example(name);
      const c = compileFeatureConfig(state, { fileHashes: hashes });
      const entries = compileNodeData(state, () => 'x', allocate(state));
      for (const e of entries) {
        const m = /^htable\/(dial|did)\/(.+)$/.exec(e.id);
        const dest = /t=feature;dest=([^;]+)/.exec(e.value)?.[1];
        if (!m || !dest) continue;
        if (m[1] === 'dial') expect(destinationText(c.dial[m[2]!]!), e.id).toBe(dest);
        else {
          const r = c.inbound[m[2]!]!;
          expect('destination' in r ? destinationText(r.destination) : `route:${r.route}`, e.id).toBe(dest);
        }
      }
    }
  });
});

describe('compileFeatureConfig: call-center', () => {
  it('carries queues, conferences and voicemail as resolved passthrough data', async () => {
    const { state, hashes } = await example('call-center');
    const c = compileFeatureConfig(state, { fileHashes: hashes });
    expect(parseFeatureConfig(roundTrip(c))).toEqual(c);
    const q = c.queues.support!;
    expect(q).toMatchObject({ strategy: 'least-recent', maxWait: 900, maxCallers: 40, wrapUp: 30, agentRingTimeout: 15, musicOnHold: 'default', priority: 0, overflow: { type: 'voicemail', mailbox: '2952' } });
    expect(q.agents.at(-1)).toEqual({ extension: '2901', penalty: 10 });
    expect(q.announcements).toEqual({ position: true, holdTime: true, interval: 60, join: expect.stringMatching(/^file-[0-9a-f]{16}\.wav$/) });
    expect(c.conferences['incident-bridge']).toEqual({ id: 'incident-bridge', number: '8000', name: 'Major incident bridge', maxMembers: 40, announceJoinLeave: true, musicOnHold: 'default', pinProtected: true });
    expect(c.conferences['floor-huddle']!.pinProtected).toBe(false);
    expect(c.voicemail).toMatchObject({ maxMessageLength: 300, retentionDays: 30 });
    expect(c.dial['*74']).toEqual({ type: 'feature', feature: 'agentPause' });
    expect(c.dial['8001']).toEqual({ type: 'conference', id: 'floor-huddle' });
    // A schedule used as a destination: holiday defaults to closed.
    expect(c.schedules['front-desk']).toMatchObject({ open: { type: 'extension', number: '2001' }, closed: { type: 'ring-group', id: 'supervisors' }, holiday: { type: 'ring-group', id: 'supervisors' } });
    expect(c.schedules['uk-hours']!.open).toBeUndefined();
    expect(c.inbound['+442079460100']).toMatchObject({ callerIdPrefix: 'UK: ', holiday: { type: 'ivr', id: 'after-hours' } });
    expect(c.extensions['2950']!.forward.always).toEqual({ type: 'voicemail', mailbox: '2950' });
  });
});

describe('compileFeatureConfig: schema defaults', () => {
  it('carries the CDR retention of pbx.yaml defaults (none when unset: the daemon keeps 365 days)', async () => {
    const plain = compileFeatureConfig(await inline({ 'pbx.yaml': PBX, 'e.yaml': ext('1001') }), { fileHashes: {} });
    expect(plain.cdr).toBeUndefined();
    const set = compileFeatureConfig(await inline({ 'pbx.yaml': `${PBX}defaults: {cdrRetentionDays: 90}\n`, 'e.yaml': ext('1001') }), { fileHashes: {} });
    expect(set.cdr).toEqual({ retentionDays: 90 });
    expect(set.version).not.toBe(plain.version);
    expect(parseFeatureConfig(roundTrip(set))).toEqual(set);
    expect(() => parseFeatureConfig({ ...(roundTrip(set) as object), cdr: { retentionDays: 0 } })).toThrow(/cdr\.retentionDays/);
  });

  it('fills what a minimal repo leaves out', async () => {
    const state = await inline({
      'pbx.yaml': PBX,
      'e.yaml': ext('1001'),
      'g.yaml': 'kind: RingGroup\nid: g\nstrategy: round-robin\nmembers: [{extension: "1001"}, {external: "+15551230000", ringTimeout: 9}]\n',
      'i.yaml': 'kind: IVR\nid: m\ngreeting: {text: "Hello  there,\\n caller."}\noptions: {"1": ring-group:g}\n',
      's.yaml': 'kind: Schedule\nid: s\ntimezone: Europe/Berlin\nhours: [{days: [mon], open: "09:00", close: "24:00"}]\nholidays: [{name: X, date: "2026-01-02"}]\noverrides: [{date: "2026-01-05", closed: true}]\n',
      'r.yaml': 'kind: InboundRoute\nid: r\ndids: ["+15551230100"]\nschedule: s\nopen: ivr:m\nclosed: hangup\n',
    });
    const c = compileFeatureConfig(state, { fileHashes: {} });
    expect(c.defaults).toEqual({ ringTimeout: 20, timezone: 'UTC', voicemail: true });
    expect(c.ringGroups.g).toEqual({
      id: 'g', strategy: 'round-robin', ringTimeout: 20, totalTimeout: 60, fallback: { type: 'hangup' },
      members: [{ type: 'extension', number: '1001', ringTimeout: 20 }, { type: 'external', number: '+15551230000', ringTimeout: 9 }],
    });
    expect(c.ivrs.m).toMatchObject({ timeout: 5, retries: 2, invalidDestination: { type: 'hangup' }, timeoutDestination: { type: 'hangup' }, directDial: false, timeoutPrompt: systemPromptSpec('timeout').id });
    expect(c.schedules.s).toEqual({
      id: 's', timezone: 'Europe/Berlin', hours: [{ days: ['mon'], open: '09:00', close: '24:00' }],
      holidays: [{ name: 'X', from: '2026-01-02', to: '2026-01-02' }], overrides: [{ date: '2026-01-05', closed: true }],
    });
    expect(c.inbound['+15551230100']).toEqual({ route: 'r', schedule: 's', open: { type: 'ivr', id: 'm' }, closed: { type: 'hangup' }, holiday: { type: 'hangup' } });
    expect(c.voicemail).toEqual({ maxMessageLength: 180, minMessageLength: 2, maxMessages: 100, maxSilence: 5, pinAttempts: 3, retentionDays: 0, greeting: systemPromptSpec('voicemailGreeting').id });
    expect(c.dial['*43']).toEqual({ type: 'feature', feature: 'echoTest' });
    expect(parseFeatureConfig(roundTrip(c))).toEqual(c);
  });

  it('throws (a bug) when a file prompt has no digest', async () => {
    const { state, hashes } = await example('small-office');
    const { 'prompts/main-greeting.wav': _dropped, ...partial } = hashes;
    expect(() => compileFeatureConfig(state, { fileHashes: partial })).toThrow(/prompts\/main-greeting\.wav/);
  });
});

describe('destinations', () => {
  it('parse from and format back to the repo text', () => {
    for (const text of ['extension:1001', 'voicemail:1001', 'ring-group:sales', 'queue:q', 'ivr:main', 'conference:c', 'schedule:s', 'external:+15551234567', 'hangup']) {
      expect(destinationText(toFeatureDestination(text)!)).toBe(text);
    }
    expect(toFeatureDestination('ivr:')).toBeUndefined();
    expect(toFeatureDestination('route:x')).toBeUndefined();
    expect(destinationText({ type: 'feature', feature: 'echoTest' })).toBe('feature:echoTest');
  });

  it('hash canonically: key order does not matter', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
  });
});

describe('parseFeatureConfig', () => {
  async function valid(): Promise<Record<string, unknown>> {
    const { state, hashes } = await example('small-office');
    return roundTrip(compileFeatureConfig(state, { fileHashes: hashes })) as Record<string, unknown>;
  }
  /** Applies a change and re-stamps the version, so only the change itself can be refused. */
  const restamp = (doc: Record<string, unknown>) => ({ ...doc, version: featureConfigVersion(doc as unknown as FeatureConfig) });
  const refuse = (doc: unknown, path: string, reason: RegExp) => {
    let err: unknown;
    try {
      parseFeatureConfig(doc);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FeatureConfigError);
    expect(err).toBeInstanceOf(PbxError);
    expect((err as FeatureConfigError).code).toBe('FEATURE_CONFIG_INVALID');
    expect((err as FeatureConfigError).path).toBe(path);
    expect((err as FeatureConfigError).reason).toMatch(reason);
    expect((err as Error).message).toContain(path);
  };

  it('refuses another format version before anything else', async () => {
    refuse({ ...(await valid()), formatVersion: 2, newField: true }, 'formatVersion', /2 is not supported/);
    refuse({}, 'formatVersion', /undefined is not supported/);
    refuse([], '', /expected an object/);
    refuse(null, '', /expected an object/);
  });

  it('refuses a document whose content does not match its version', async () => {
    const doc = await valid();
    (doc.extensions as Record<string, { name: string }>)['300']!.name = 'Edited by hand';
    refuse(doc, 'version', /does not match the content/);
  });

  it('names the field that is missing, unknown or of the wrong type', async () => {
    const doc = await valid();
    const ivrs = doc.ivrs as Record<string, Record<string, unknown>>;
    const { greeting: _g, ...noGreeting } = ivrs.main!;
    refuse(restamp({ ...doc, ivrs: { ...ivrs, main: noGreeting } }), 'ivrs.main.greeting', /missing/);
    refuse(restamp({ ...doc, ivrs: { ...ivrs, main: { ...ivrs.main, colour: 'red' } } }), 'ivrs.main.colour', /unknown field/);
    refuse(restamp({ ...doc, ivrs: { ...ivrs, main: { ...ivrs.main, timeout: '5' } } }), 'ivrs.main.timeout', /integer 1\.\.60/);
    refuse(restamp({ ...doc, ivrs: { ...ivrs, main: { ...ivrs.main, options: { '1': { type: 'teleport' } } } } }), 'ivrs.main.options.1.type', /destination type/);
    refuse(restamp({ ...doc, ivrs: { ...ivrs, main: { ...ivrs.main, greeting: '../../etc/passwd' } } }), 'ivrs.main.greeting', /prompt id/);
    refuse(restamp({ ...doc, ivrs: { ...ivrs, other: ivrs.main } }), 'ivrs.other.id', /must equal its key/);
    refuse(restamp({ ...doc, dial: { 'x1': { type: 'hangup' } } }), 'dial.x1', /key is not/);
  });

  it('refuses dangling references, unknown zones and hours that do not close after they open', async () => {
    const doc = await valid();
    const ivrs = doc.ivrs as Record<string, Record<string, unknown>>;
    refuse(restamp({ ...doc, ivrs: { ...ivrs, main: { ...ivrs.main, options: { '1': { type: 'queue', id: 'nope' } } } } }), 'ivrs.main.options.1', /queue "nope", which this document does not define/);
    const schedules = doc.schedules as Record<string, Record<string, unknown>>;
    const bh = schedules['business-hours']!;
    refuse(restamp({ ...doc, schedules: { 'business-hours': { ...bh, timezone: 'Mars/Olympus_Mons' } } }), 'schedules.business-hours.timezone', /not a time zone/);
    refuse(restamp({ ...doc, schedules: { 'business-hours': { ...bh, hours: [{ days: ['mon'], open: '17:00', close: '09:00' }] } } }), 'schedules.business-hours.hours[0].close', /not after open/);
    refuse(restamp({ ...doc, schedules: { 'business-hours': { ...bh, overrides: [{ date: '2026-01-01', closed: true, open: '09:00', close: '10:00' }] } } }), 'schedules.business-hours.overrides[0].open', /closed day has no hours/);
    refuse(restamp({ ...doc, schedules: {} }), 'inbound.+12125550100.schedule', /not defined/);
  });
});
