/**
 * Resolving what Kamailio hands the daemon (daemon/destination-resolver.ts) against the compiled
 * example configs, with a fixed clock.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { promptFiles } from '../../src/compile/prompts.js';
import { validateRepoDir } from '../../src/config/validate.js';
import type { FeatureConfig } from '../../src/daemon/config-types.js';
import { parseKamailioDest, parseKamailioForward, resolveDestination, resolveRequest, type Clock, type KamailioForward, type Resolution } from '../../src/daemon/destination-resolver.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

async function exampleConfig(name: string): Promise<FeatureConfig> {
  const dir = join(EXAMPLES, name);
  const state = (await validateRepoDir(dir, { strict: false, secretsFile: join(dir, '.secrets.example.yaml') })).state!;
  return compileFeatureConfig(state, { fileHashes: Object.fromEntries(promptFiles(state).map((f) => [f, '0'.repeat(64)])) });
}

/** A clock fixed at `iso` that counts how often it is read. */
function clock(iso: string): Clock & { reads: number } {
  const c = Object.assign(() => {
    c.reads++;
    return new Date(iso);
  }, { reads: 0 });
  return c;
}

/** The step's type and what it names: `ivr:main`, `reject:486`... */
function summary(r: Resolution): string {
  const s = r.step;
  switch (s.type) {
    case 'extension': return `extension:${s.extension.number}`;
    case 'voicemail': return `voicemail:${s.extension.number}`;
    case 'ring-group': return `ring-group:${s.group.id}`;
    case 'queue': return `queue:${s.queue.id}`;
    case 'ivr': return `ivr:${s.ivr.id}`;
    case 'conference': return `conference:${s.conference.id}`;
    case 'external': return `external:${s.number}`;
    case 'feature': return `feature:${s.feature}`;
    case 'hangup': return 'hangup';
    case 'reject': return `reject:${s.status}`;
  }
}

const TUESDAY_10AM_NY = '2026-07-07T14:00:00Z';
const SATURDAY_NOON_NY = '2026-07-11T16:00:00Z';
const CHRISTMAS_NY = '2026-12-25T15:00:00Z';

describe('small-office', () => {
  let c: FeatureConfig;
  beforeAll(async () => {
    c = await exampleConfig('small-office');
  });

  it('resolves every kind of dest Kamailio sends', () => {
    const now = clock(TUESDAY_10AM_NY);
    const cases: [string, string][] = [
      ['ivr:main', 'ivr:main'], ['ring-group:sales', 'ring-group:sales'], ['voicemail:300', 'voicemail:300'],
      ['feature:echoTest', 'feature:echoTest'], ['feature:voicemail', 'feature:voicemail'], ['extension:301', 'extension:301'],
      ['external:+12125550188', 'external:+12125550188'], ['hangup', 'hangup'],
    ];
    for (const [dest, expected] of cases) expect(summary(resolveRequest(c, { dialed: '700', dest }, now)), dest).toBe(expected);
    expect(now.reads).toBe(0); // no schedule on the way: the clock is not read
    const r = resolveRequest(c, { dialed: '600', dest: 'ring-group:sales' }, now);
    expect(r.step).toEqual({ type: 'ring-group', group: c.ringGroups.sales });
    expect(r.hops).toEqual([]);
  });

  it('routes the main number by its schedule: open, closed, holiday', () => {
    const route = (iso: string) => resolveRequest(c, { dialed: '+12125550100', dest: 'route:main-number' }, clock(iso));
    const open = route(TUESDAY_10AM_NY);
    expect(summary(open)).toBe('ivr:main');
    expect(open.hops).toEqual([
      { type: 'route', route: 'main-number', did: '+12125550100' },
      { type: 'schedule', schedule: 'business-hours', state: 'open', until: new Date('2026-07-07T16:30:00Z') },
    ]);
    expect(summary(route(SATURDAY_NOON_NY))).toBe('voicemail:300');
    const holiday = route(CHRISTMAS_NY);
    expect(summary(holiday)).toBe('ivr:holiday');
    expect(holiday.hops[1]).toMatchObject({ state: 'holiday', name: 'Christmas Day' });
    // The offsite override is a closed day, not a holiday.
    expect(summary(route('2027-03-05T15:00:00Z'))).toBe('voicemail:300');
  });

  it('finds the route by id when Kamailio sent the DID without +, or by its id alone', () => {
    expect(summary(resolveRequest(c, { dialed: '12125550100', dest: 'route:main-number' }, clock(TUESDAY_10AM_NY)))).toBe('ivr:main');
    const byId = resolveRequest(c, { dialed: 'unknown', dest: 'route:main-number' }, clock(TUESDAY_10AM_NY));
    expect(byId.hops[0]).toEqual({ type: 'route', route: 'main-number', did: '+12125550100' });
  });

  it('looks the dialled number up as Kamailio would when there is no dest', () => {
    const now = clock(SATURDAY_NOON_NY);
    expect(summary(resolveRequest(c, { dialed: '601' }, now))).toBe('ring-group:support');
    expect(summary(resolveRequest(c, { dialed: '*97' }, now))).toBe('feature:voicemail');
    expect(summary(resolveRequest(c, { dialed: '+12125550100' }, now))).toBe('voicemail:300');
    expect(summary(resolveRequest(c, { dialed: '+12125550101' }, now))).toBe('extension:301');
    expect(summary(resolveRequest(c, { dialed: '340', dest: '' }, now))).toBe('extension:340');
    expect(resolveRequest(c, { dialed: '999' }, now).step).toEqual({ type: 'reject', status: 404, reason: 'nothing is reachable at 999' });
  });

  it('rejects what it cannot resolve, with a SIP status and a reason', () => {
    const now = clock(TUESDAY_10AM_NY);
    expect(resolveRequest(c, { dialed: '700', dest: 'teleport:mars' }, now).step).toEqual({ type: 'reject', status: 404, reason: 'unknown destination "teleport:mars"' });
    expect(resolveRequest(c, { dialed: '700', dest: 'feature:selfDestruct' }, now).step).toMatchObject({ status: 404 });
    expect(resolveRequest(c, { dialed: '700', dest: 'ivr:nope' }, now).step).toEqual({ type: 'reject', status: 404, reason: "IVR nope is not in the daemon's config" });
    expect(resolveRequest(c, { dialed: '+1', dest: 'route:nope' }, now).step).toMatchObject({ status: 404, reason: expect.stringContaining('inbound route nope') });
    expect(resolveRequest(c, { dialed: '700', dest: 'voicemail:350' }, now).step).toEqual({ type: 'reject', status: 480, reason: 'voicemail box 350 is disabled' });
    expect(resolveRequest(c, { dialed: '700', dest: 'voicemail:399' }, now).step).toMatchObject({ status: 404 });
  });

  it('applies do-not-disturb: forward.busy, else busy', () => {
    const dnd: FeatureConfig = { ...c, extensions: { ...c.extensions, '320': { ...c.extensions['320']!, doNotDisturb: true }, '350': { ...c.extensions['350']!, doNotDisturb: true, forward: {} } } };
    const r = resolveDestination(dnd, { type: 'extension', number: '320' }, clock(TUESDAY_10AM_NY));
    expect(summary(r)).toBe('voicemail:320');
    expect(r.hops).toEqual([{ type: 'do-not-disturb', extension: '320' }]);
    expect(resolveDestination(dnd, { type: 'extension', number: '350' }, clock(TUESDAY_10AM_NY)).step).toEqual({ type: 'reject', status: 486, reason: 'extension 350 is on do-not-disturb' });
  });

  it('applies the forward Kamailio names (X-PBX-Forward) without ringing the extension again', () => {
    const now = clock(TUESDAY_10AM_NY);
    const fwd = (dest: string, forward: KamailioForward) => resolveRequest(c, { dialed: '301', dest, forward }, now);
    expect(summary(fwd('extension:301', 'busy'))).toBe('voicemail:301');
    expect(fwd('extension:301', 'busy').hops).toEqual([{ type: 'forward', extension: '301', on: 'busy' }]);
    expect(summary(fwd('extension:301', 'no-answer'))).toBe('voicemail:301');
    expect(summary(fwd('extension:301', 'unavailable'))).toBe('external:+12125550187');
    // 350 forwards busy / no answer to another extension: that one is rung, with its own forwards.
    const chained = fwd('extension:350', 'no-answer');
    expect(summary(chained)).toBe('extension:300');
    expect(chained.hops).toEqual([{ type: 'forward', extension: '350', on: 'no-answer' }]);
    // Do-not-disturb goes to forward.busy (the box then plays its busy greeting, voicemail.ts).
    const dnd = fwd('extension:320', 'dnd');
    expect(summary(dnd)).toBe('voicemail:320');
    expect(dnd.hops).toEqual([{ type: 'do-not-disturb', extension: '320' }]);
    // Forward always is resolved as for any call to the extension (forward.always, DND).
    expect(summary(fwd('extension:320', 'always'))).toBe('extension:320');
    // A forward this config does not have (Kamailio on another release): end as the extension would.
    expect(fwd('extension:320', 'unavailable').step).toEqual({ type: 'reject', status: 480, reason: 'extension 320 has no forward for unavailable' });
    const bare: FeatureConfig = { ...c, extensions: { ...c.extensions, '350': { ...c.extensions['350']!, forward: {} } } };
    expect(resolveRequest(bare, { dialed: '350', dest: 'extension:350', forward: 'dnd' }, now).step).toMatchObject({ type: 'reject', status: 486 });
    expect(resolveRequest(bare, { dialed: '350', dest: 'extension:350', forward: 'busy' }, now).step).toMatchObject({ type: 'reject', status: 486 });
    expect(fwd('extension:399', 'busy').step).toMatchObject({ type: 'reject', status: 404 });
    // The header only applies to an extension destination.
    expect(summary(resolveRequest(c, { dialed: '600', dest: 'ring-group:sales', forward: 'busy' }, now))).toBe('ring-group:sales');
  });

  it('parses X-PBX-Forward strictly', () => {
    expect(parseKamailioForward('busy')).toBe('busy');
    expect(parseKamailioForward(' No-Answer ')).toBe('no-answer');
    for (const bad of [undefined, '', 'voicemail', 'busy,dnd']) expect(parseKamailioForward(bad), String(bad)).toBeUndefined();
  });

  it('stops a forwarding loop with 482', () => {
    const loop: FeatureConfig = {
      ...c,
      extensions: {
        ...c.extensions,
        '320': { ...c.extensions['320']!, forward: { always: { type: 'extension', number: '321' } } },
        '321': { ...c.extensions['321']!, forward: { always: { type: 'extension', number: '320' } } },
      },
    };
    const r = resolveDestination(loop, { type: 'extension', number: '320' }, clock(TUESDAY_10AM_NY));
    expect(r.step).toEqual({ type: 'reject', status: 482, reason: 'destination loop after extension:320' });
    expect(r.hops.length).toBeGreaterThan(10);
  });
});

describe('call-center', () => {
  let c: FeatureConfig;
  beforeAll(async () => {
    c = await exampleConfig('call-center');
  });
  const WEDNESDAY_10AM_CHICAGO = '2026-07-08T15:00:00Z';
  const WEDNESDAY_11PM_CHICAGO = '2026-07-09T04:00:00Z';

  it('follows a schedule destination (IVR "0" -> schedule:front-desk) and reads the clock once', () => {
    const open = clock(WEDNESDAY_10AM_CHICAGO);
    const r = resolveDestination(c, c.ivrs.main!.options['0']!, open);
    expect(summary(r)).toBe('extension:2001');
    expect(r.hops).toEqual([{ type: 'schedule', schedule: 'front-desk', state: 'open', until: new Date('2026-07-08T22:00:00Z') }]);
    expect(open.reads).toBe(1);
    expect(summary(resolveDestination(c, { type: 'schedule', id: 'front-desk' }, clock(WEDNESDAY_11PM_CHICAGO)))).toBe('ring-group:supervisors');
    expect(summary(resolveDestination(c, { type: 'schedule', id: 'front-desk' }, clock('2026-12-25T16:00:00Z')))).toBe('ring-group:supervisors'); // holiday -> closed
    expect(resolveDestination(c, { type: 'schedule', id: 'uk-hours' }, clock(WEDNESDAY_10AM_CHICAGO)).step).toMatchObject({ status: 404, reason: 'schedule uk-hours has no open/closed destinations' });
  });

  it('follows forward.always to the team mailbox', () => {
    const r = resolveDestination(c, { type: 'extension', number: '2950' }, clock(WEDNESDAY_10AM_CHICAGO));
    expect(r.step).toEqual({ type: 'voicemail', extension: c.extensions['2950'] });
    expect(r.hops).toEqual([{ type: 'forward-always', extension: '2950' }]);
  });

  it('passes the route\'s callerIdPrefix along, with or without a schedule', () => {
    const campaign = resolveRequest(c, { dialed: '+13125550111', dest: 'queue:sales' }, clock(WEDNESDAY_10AM_CHICAGO));
    expect(summary(campaign)).toBe('queue:sales');
    expect(campaign.callerIdPrefix).toBe('Mailer: ');
    const uk = resolveRequest(c, { dialed: '+442079460100', dest: 'route:uk-support' }, clock('2026-07-08T14:00:00Z')); // 15:00 BST
    expect(summary(uk)).toBe('queue:support');
    expect(uk.callerIdPrefix).toBe('UK: ');
    expect(summary(resolveRequest(c, { dialed: '+442079460100', dest: 'route:uk-support' }, clock(WEDNESDAY_11PM_CHICAGO)))).toBe('ivr:after-hours');
    expect(resolveRequest(c, { dialed: '7000', dest: 'ivr:main' }, clock(WEDNESDAY_10AM_CHICAGO)).callerIdPrefix).toBeUndefined();
  });

  it('resolves conferences and the main number after hours', () => {
    expect(summary(resolveRequest(c, { dialed: '8000' }, clock(WEDNESDAY_10AM_CHICAGO)))).toBe('conference:incident-bridge');
    const night = resolveRequest(c, { dialed: '+13125550100', dest: 'route:main' }, clock(WEDNESDAY_11PM_CHICAGO));
    expect(summary(night)).toBe('ivr:after-hours');
    expect(night.hops.map((h) => h.type)).toEqual(['route', 'schedule']);
  });
});

describe('parseKamailioDest', () => {
  it('knows routes, feature codes and repo destinations', () => {
    expect(parseKamailioDest('route:main-number')).toEqual({ type: 'route', id: 'main-number' });
    expect(parseKamailioDest('feature:dndToggle')).toEqual({ type: 'feature', feature: 'dndToggle' });
    expect(parseKamailioDest('voicemail:300')).toEqual({ type: 'voicemail', mailbox: '300' });
    expect(parseKamailioDest('external:+15551234567')).toEqual({ type: 'external', number: '+15551234567' });
    for (const bad of ['route:', 'feature:nope', 'ivr', '', 'x:y']) expect(parseKamailioDest(bad), bad).toBeUndefined();
  });
});
