/**
 * Schedule evaluation (daemon/schedule.ts) at fixed instants in four zones, around both DST
 * transitions of each, plus fast-check properties against an independent oracle (a different
 * Intl formatter and a brute-force scan for when local times start).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { promptFiles } from '../../src/compile/prompts.js';
import { validateRepoDir } from '../../src/config/validate.js';
import type { FeatureConfig, FeatureHoliday, FeatureHours, FeatureOverride, FeatureSchedule } from '../../src/daemon/config-types.js';
import { scheduleState, wallClock, zonedInstant, type ScheduleStateName } from '../../src/daemon/schedule.js';
import type { Weekday } from '../../src/model/types.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const ALL: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const WEEKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];

async function exampleConfig(name: string): Promise<FeatureConfig> {
  const dir = join(EXAMPLES, name);
  const state = (await validateRepoDir(dir, { strict: false, secretsFile: join(dir, '.secrets.example.yaml') })).state!;
  return compileFeatureConfig(state, { fileHashes: Object.fromEntries(promptFiles(state).map((f) => [f, '0'.repeat(64)])) });
}

function schedule(timezone: string, hours: FeatureHours[], extra: Partial<FeatureSchedule> = {}): FeatureSchedule {
  return { id: 's', timezone, hours, holidays: [], overrides: [], ...extra };
}
const daily = (open: string, close: string, days = ALL): FeatureHours => ({ days, open, close });

/** [state, until as ISO (or undefined), name] at `iso`. */
function at(s: FeatureSchedule, iso: string): [ScheduleStateName, string | undefined, string | undefined] {
  const r = scheduleState(s, new Date(iso));
  return [r.state, r.until?.toISOString().replace('.000Z', 'Z'), r.name];
}

describe('small-office business hours (America/New_York)', () => {
  let s: FeatureSchedule;
  beforeAll(async () => {
    s = (await exampleConfig('small-office')).schedules['business-hours']!;
  });

  it('is open mornings and afternoons on weekdays, closed over lunch and the weekend', () => {
    expect(at(s, '2026-07-07T12:59:00Z')).toEqual(['closed', '2026-07-07T13:00:00Z', undefined]); // Tue 08:59 EDT
    expect(at(s, '2026-07-07T13:00:00Z')).toEqual(['open', '2026-07-07T16:30:00Z', undefined]); // 09:00, until 12:30
    expect(at(s, '2026-07-07T17:00:00Z')).toEqual(['closed', '2026-07-07T17:30:00Z', undefined]); // lunch
    expect(at(s, '2026-07-10T21:00:00Z')).toEqual(['closed', '2026-07-13T13:00:00Z', undefined]); // Fri 17:00 -> Mon 09:00
    expect(at(s, '2026-01-13T14:00:00Z')).toEqual(['open', '2026-01-13T17:30:00Z', undefined]); // winter: 09:00 EST
  });

  it('keeps local hours across both DST changes (until crosses them)', () => {
    expect(at(s, '2026-03-06T22:00:00Z')).toEqual(['closed', '2026-03-09T13:00:00Z', undefined]); // Fri 17:00 EST -> Mon 09:00 EDT
    expect(at(s, '2026-10-30T21:00:00Z')).toEqual(['closed', '2026-11-02T14:00:00Z', undefined]); // Fri 17:00 EDT -> Mon 09:00 EST
  });

  it('knows yearly, single-date and range holidays, by name', () => {
    expect(at(s, '2026-07-04T15:00:00Z')).toEqual(['holiday', '2026-07-05T04:00:00Z', 'Independence Day']); // a Saturday: closed Sunday
    expect(at(s, '2026-11-26T15:00:00Z')).toEqual(['holiday', '2026-11-28T05:00:00Z', 'Thanksgiving']); // Thu+Fri
    expect(at(s, '2027-01-18T15:00:00Z')).toEqual(['holiday', '2027-01-19T05:00:00Z', 'Martin Luther King Jr. Day']); // closed from midnight
    // Year-end count (Dec 28-31) runs into New Year's Day: one holiday stretch, until Saturday Jan 2.
    expect(at(s, '2026-12-28T15:00:00Z')).toEqual(['holiday', '2027-01-02T05:00:00Z', 'Year-end inventory count']);
    expect(at(s, '2027-01-01T15:00:00Z')).toEqual(['holiday', '2027-01-02T05:00:00Z', "New Year's Day"]);
  });

  it('lets overrides win: special hours and a closed (not holiday) day', () => {
    expect(at(s, '2026-12-24T17:59:00Z')).toEqual(['open', '2026-12-24T18:00:00Z', 'Christmas Eve, closing early']);
    expect(at(s, '2026-12-24T18:00:00Z')).toEqual(['closed', '2026-12-25T05:00:00Z', 'Christmas Eve, closing early']);
    expect(at(s, '2026-12-25T15:00:00Z')).toEqual(['holiday', '2026-12-26T05:00:00Z', 'Christmas Day']);
    expect(at(s, '2027-03-05T15:00:00Z')).toEqual(['closed', '2027-03-08T14:00:00Z', 'All-staff offsite']);
  });
});

describe('call-center UK line (Europe/London) in the weeks US and UK DST disagree', () => {
  it('keeps London hours: 13:00 GMT before the UK change, 12:00Z after', async () => {
    const s = (await exampleConfig('call-center')).schedules['uk-hours']!;
    expect(at(s, '2026-03-10T13:00:00Z')[0]).toBe('open'); // US already on DST, UK not
    expect(at(s, '2026-03-10T12:59:00Z')[0]).toBe('closed');
    expect(at(s, '2026-03-30T12:00:00Z')[0]).toBe('open'); // BST: 13:00 local
    expect(at(s, '2026-11-26T14:00:00Z')).toEqual(['holiday', '2026-11-27T00:00:00Z', 'Thanksgiving (US)']);
  });
});

describe('America/New_York DST edges', () => {
  it('spring forward: an opening at 02:30 (skipped) opens when the gap ends, 03:00 EDT', () => {
    const s = schedule('America/New_York', [daily('02:30', '05:00')]);
    expect(at(s, '2026-03-07T07:29:00Z')).toEqual(['closed', '2026-03-07T07:30:00Z', undefined]); // the day before: 02:30 EST
    expect(at(s, '2026-03-08T06:59:00Z')).toEqual(['closed', '2026-03-08T07:00:00Z', undefined]); // 01:59 EST
    expect(at(s, '2026-03-08T07:00:00Z')).toEqual(['open', '2026-03-08T09:00:00Z', undefined]); // 03:00 EDT .. 05:00 EDT
  });

  it('spring forward: a close at 02:30 (skipped) closes at 03:00 EDT; hours wholly in the gap vanish', () => {
    const closing = schedule('America/New_York', [daily('00:00', '02:30')]);
    expect(at(closing, '2026-03-08T06:30:00Z')).toEqual(['open', '2026-03-08T07:00:00Z', undefined]);
    expect(at(closing, '2026-03-08T07:00:00Z')).toEqual(['closed', '2026-03-09T04:00:00Z', undefined]);
    const inGap = schedule('America/New_York', [daily('02:10', '02:50')]);
    expect(at(inGap, '2026-03-08T06:00:00Z')).toEqual(['closed', '2026-03-09T06:10:00Z', undefined]);
    expect(at(inGap, '2026-03-08T07:05:00Z')[0]).toBe('closed');
  });

  it('fall back: a close at 01:30 means the first 01:30 (EDT); the repeated hour does not reopen', () => {
    const s = schedule('America/New_York', [daily('00:00', '01:30')]);
    expect(at(s, '2026-11-01T05:29:00Z')).toEqual(['open', '2026-11-01T05:30:00Z', undefined]); // 01:29 EDT
    expect(at(s, '2026-11-01T05:30:00Z')).toEqual(['closed', '2026-11-02T05:00:00Z', undefined]); // 01:30 EDT
    expect(at(s, '2026-11-01T06:15:00Z')).toEqual(['closed', '2026-11-02T05:00:00Z', undefined]); // 01:15 EST, the repeat
  });

  it('fall back: an opening at 01:30 opens at the first 01:30 and stays open through the repeat', () => {
    const s = schedule('America/New_York', [daily('01:30', '03:00')]);
    expect(at(s, '2026-11-01T05:29:00Z')).toEqual(['closed', '2026-11-01T05:30:00Z', undefined]);
    expect(at(s, '2026-11-01T06:10:00Z')).toEqual(['open', '2026-11-01T08:00:00Z', undefined]); // 01:10 EST: still open
    expect(at(s, '2026-11-01T07:59:00Z')[0]).toBe('open'); // 02:59 EST
  });

  it('the 25-hour day runs from 00:00 EDT to 00:00 EST', () => {
    const s = schedule('America/New_York', [daily('00:00', '24:00', ['sun'])]);
    expect(at(s, '2026-11-01T04:00:00Z')).toEqual(['open', '2026-11-02T05:00:00Z', undefined]);
    expect(at(s, '2026-11-02T04:59:00Z')[0]).toBe('open');
    expect(at(s, '2026-11-02T05:00:00Z')[0]).toBe('closed');
  });
});

describe('Europe/Berlin', () => {
  const s = schedule('Europe/Berlin', [daily('08:00', '18:00', WEEKDAYS)]);

  it('opens at 08:00 local on both sides of the March change', () => {
    expect(at(s, '2026-03-27T07:00:00Z')).toEqual(['open', '2026-03-27T17:00:00Z', undefined]); // Fri, CET
    expect(at(s, '2026-03-27T17:00:00Z')).toEqual(['closed', '2026-03-30T06:00:00Z', undefined]); // -> Mon, CEST
    expect(at(s, '2026-03-30T05:59:00Z')[0]).toBe('closed');
  });

  it('and of the October change', () => {
    expect(at(s, '2026-10-23T16:00:00Z')).toEqual(['closed', '2026-10-26T07:00:00Z', undefined]); // Fri 18:00 CEST -> Mon 08:00 CET
  });

  it('handles a gap opening and a repeated-hour close the same way as New York', () => {
    const gap = schedule('Europe/Berlin', [daily('02:30', '03:30', ['sun'])]);
    expect(at(gap, '2026-03-29T00:59:00Z')).toEqual(['closed', '2026-03-29T01:00:00Z', undefined]);
    expect(at(gap, '2026-03-29T01:00:00Z')).toEqual(['open', '2026-03-29T01:30:00Z', undefined]);
    const repeat = schedule('Europe/Berlin', [daily('00:00', '02:30', ['sun'])]);
    expect(at(repeat, '2026-10-25T00:29:00Z')).toEqual(['open', '2026-10-25T00:30:00Z', undefined]); // 02:29 CEST
    expect(at(repeat, '2026-10-25T01:15:00Z')[0]).toBe('closed'); // 02:15 CET
  });
});

describe('Australia/Sydney (southern hemisphere DST)', () => {
  const s = schedule('Australia/Sydney', [daily('09:00', '17:00', WEEKDAYS)]);

  it('summer (AEDT, +11) and winter (AEST, +10) hours', () => {
    expect(at(s, '2026-01-13T21:59:00Z')).toEqual(['closed', '2026-01-13T22:00:00Z', undefined]); // Wed 08:59 AEDT
    expect(at(s, '2026-01-13T22:00:00Z')).toEqual(['open', '2026-01-14T06:00:00Z', undefined]);
    expect(at(s, '2026-07-14T23:00:00Z')).toEqual(['open', '2026-07-15T07:00:00Z', undefined]); // Wed 09:00 AEST
  });

  it('weekends spanning the April end and October start of DST', () => {
    expect(at(s, '2026-04-03T06:00:00Z')).toEqual(['closed', '2026-04-05T23:00:00Z', undefined]); // Fri 17:00 AEDT -> Mon 09:00 AEST
    expect(at(s, '2026-10-02T07:00:00Z')).toEqual(['closed', '2026-10-04T22:00:00Z', undefined]); // Fri 17:00 AEST -> Mon 09:00 AEDT
  });

  it('gap opening on 2026-10-04 and repeated-hour close on 2026-04-05', () => {
    const gap = schedule('Australia/Sydney', [daily('02:30', '04:00', ['sun'])]);
    expect(at(gap, '2026-10-03T15:59:00Z')).toEqual(['closed', '2026-10-03T16:00:00Z', undefined]);
    expect(at(gap, '2026-10-03T16:00:00Z')).toEqual(['open', '2026-10-03T17:00:00Z', undefined]); // 03:00 .. 04:00 AEDT
    const repeat = schedule('Australia/Sydney', [daily('00:00', '02:30', ['sun'])]);
    expect(at(repeat, '2026-04-04T15:29:00Z')).toEqual(['open', '2026-04-04T15:30:00Z', undefined]); // 02:29 AEDT
    expect(at(repeat, '2026-04-04T16:15:00Z')[0]).toBe('closed'); // 02:15 AEST
  });
});

describe('Asia/Kolkata (+05:30, no DST)', () => {
  const s = schedule('Asia/Kolkata', [daily('09:00', '17:30', ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'])], { holidays: [{ name: 'Independence Day', yearly: '08-15' }] });

  it('opens 03:30Z and closes 12:00Z', () => {
    expect(at(s, '2026-06-01T03:29:00Z')).toEqual(['closed', '2026-06-01T03:30:00Z', undefined]);
    expect(at(s, '2026-06-01T03:30:00Z')).toEqual(['open', '2026-06-01T12:00:00Z', undefined]);
  });

  it('changes weekday at 18:30Z', () => {
    expect(wallClock(new Date('2026-05-31T18:29:00Z'), 'Asia/Kolkata')).toEqual({ date: '2026-05-31', minute: 1439, weekday: 'sun', offsetMinutes: 330 });
    expect(wallClock(new Date('2026-05-31T18:30:00Z'), 'Asia/Kolkata')).toEqual({ date: '2026-06-01', minute: 0, weekday: 'mon', offsetMinutes: 330 });
    expect(at(s, '2026-05-31T18:29:00Z')).toEqual(['closed', '2026-06-01T03:30:00Z', undefined]);
  });

  it('starts a holiday at local midnight', () => {
    expect(at(s, '2026-08-14T18:29:00Z')).toEqual(['closed', '2026-08-14T18:30:00Z', undefined]);
    expect(at(s, '2026-08-14T18:30:00Z')).toEqual(['holiday', '2026-08-15T18:30:00Z', 'Independence Day']);
  });

  it('joins 20:00-24:00 with the next day from 00:00 (hours past midnight)', () => {
    const late = schedule('Asia/Kolkata', [daily('20:00', '24:00', ['fri']), daily('00:00', '02:00', ['sat'])]);
    expect(at(late, '2026-06-05T14:30:00Z')).toEqual(['open', '2026-06-05T20:30:00Z', undefined]); // Fri 20:00 -> Sat 02:00
  });
});

describe('rules', () => {
  it('a yearly 02-29 holiday happens in leap years only', () => {
    const s = schedule('UTC', [daily('00:00', '24:00')], { holidays: [{ name: 'Leap day', yearly: '02-29' }] });
    expect(at(s, '2028-02-29T12:00:00Z')).toEqual(['holiday', '2028-03-01T00:00:00Z', 'Leap day']);
    expect(at(s, '2027-02-28T12:00:00Z')).toEqual(['open', '2028-02-29T00:00:00Z', undefined]);
  });

  it('an override with special hours wins over a holiday', () => {
    const s = schedule('America/New_York', [daily('09:00', '17:00')], {
      holidays: [{ name: 'Christmas Day', yearly: '12-25' }],
      overrides: [{ date: '2026-12-25', name: 'Hotline', closed: false, open: '10:00', close: '12:00' }],
    });
    expect(at(s, '2026-12-25T15:30:00Z')).toEqual(['open', '2026-12-25T17:00:00Z', 'Hotline']);
    expect(at(s, '2026-12-25T14:00:00Z')).toEqual(['closed', '2026-12-25T15:00:00Z', 'Hotline']);
  });

  it('overlapping and touching hours merge', () => {
    const s = schedule('UTC', [daily('09:00', '12:00'), daily('11:00', '13:00'), daily('13:00', '14:00')]);
    expect(at(s, '2026-05-05T09:30:00Z')).toEqual(['open', '2026-05-05T14:00:00Z', undefined]);
  });

  it('has no until when nothing changes within 400 days', () => {
    expect(at(schedule('UTC', []), '2026-05-05T09:30:00Z')).toEqual(['closed', undefined, undefined]);
    expect(at(schedule('Europe/Berlin', [daily('00:00', '24:00')]), '2026-03-29T01:30:00Z')).toEqual(['open', undefined, undefined]);
    const far: FeatureHoliday = { name: 'Far', from: '2028-01-01', to: '2028-01-01' };
    expect(at(schedule('UTC', [], { holidays: [far] }), '2026-01-01T00:00:00Z')).toEqual(['closed', undefined, undefined]);
    expect(at(schedule('UTC', [], { holidays: [far] }), '2027-06-01T00:00:00Z')).toEqual(['closed', '2028-01-01T00:00:00Z', undefined]);
  });

  it('rejects an invalid Date', () => {
    expect(() => scheduleState(schedule('UTC', []), new Date(Number.NaN))).toThrow(RangeError);
  });

  it('maps local times to instants: gap -> its end, repeat -> first occurrence, 24:00 -> next day', () => {
    expect(zonedInstant('2026-03-08', 150, 'America/New_York').toISOString()).toBe('2026-03-08T07:00:00.000Z');
    expect(zonedInstant('2026-11-01', 90, 'America/New_York').toISOString()).toBe('2026-11-01T05:30:00.000Z');
    expect(zonedInstant('2026-06-05', 1440, 'Asia/Kolkata').toISOString()).toBe('2026-06-05T18:30:00.000Z');
    expect(zonedInstant('2026-09-06', 0, 'America/Santiago').toISOString()).toBe('2026-09-06T04:00:00.000Z'); // midnight skipped
  });
});

// ---- Properties -------------------------------------------------------------------------------

const ZONES = ['America/New_York', 'Europe/Berlin', 'Australia/Sydney', 'Asia/Kolkata', 'America/Santiago', 'Australia/Lord_Howe', 'Pacific/Chatham', 'Europe/London', 'UTC'];
const MIN = 60_000;
const DAY = 86_400_000;
const hhmm = (slot: number) => (slot === 96 ? '24:00' : `${String(Math.floor(slot / 4)).padStart(2, '0')}:${String((slot % 4) * 15).padStart(2, '0')}`);
const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Hours on a 15-minute grid (all offsets and DST changes of ZONES in 2000-2040 are on it too). */
const hoursArb = fc.array(
  fc.record({ days: fc.subarray(ALL, { minLength: 1 }), open: fc.integer({ min: 0, max: 95 }), len: fc.integer({ min: 1, max: 96 }) })
    .map(({ days, open, len }): FeatureHours => ({ days, open: hhmm(open), close: hhmm(Math.min(96, open + len)) })),
  { maxLength: 4 },
);
/** Holidays and overrides as day offsets from the tested instant, so they actually matter. */
const extrasArb = fc.record({
  holidays: fc.array(fc.record({ from: fc.integer({ min: -2, max: 2 }), len: fc.integer({ min: 0, max: 2 }), yearly: fc.boolean() }), { maxLength: 2 }),
  overrides: fc.array(fc.record({ day: fc.integer({ min: -2, max: 2 }), closed: fc.boolean(), open: fc.integer({ min: 0, max: 95 }), len: fc.integer({ min: 1, max: 40 }) }), { maxLength: 2 }),
});
function build(zone: string, hours: FeatureHours[], t: number, extras: typeof extrasArb extends fc.Arbitrary<infer E> ? E : never): FeatureSchedule {
  const holidays: FeatureHoliday[] = extras.holidays.map((h, i) => (h.yearly
    ? { name: `Y${i}`, yearly: isoDate(t + h.from * DAY).slice(5) }
    : { name: `H${i}`, from: isoDate(t + h.from * DAY), to: isoDate(t + (h.from + h.len) * DAY) }));
  const seen = new Set<string>();
  const overrides: FeatureOverride[] = [];
  for (const [i, o] of extras.overrides.entries()) {
    const date = isoDate(t + o.day * DAY);
    if (seen.has(date)) continue;
    seen.add(date);
    overrides.push(o.closed ? { date, name: `O${i}`, closed: true } : { date, name: `O${i}`, closed: false, open: hhmm(o.open), close: hhmm(Math.min(96, o.open + o.len)) });
  }
  return schedule(zone, hours, { holidays, overrides });
}

/** The oracle's own clock: the sv-SE format ("2026-03-08 03:00:00"), parsed to a UTC-based wall time. */
const svFormats = new Map<string, Intl.DateTimeFormat>();
function wallMs(t: number, zone: string): number {
  let f = svFormats.get(zone);
  if (!f) svFormats.set(zone, (f = new Intl.DateTimeFormat('sv-SE', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })));
  const s = f.format(new Date(t));
  return Date.UTC(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10), +s.slice(11, 13), +s.slice(14, 16), +s.slice(17, 19));
}
/** Brute force: the first 15-minute grid instant whose wall clock reads `local` or later. */
function firstAtOrAfter(local: number, zone: string): number {
  for (let t = Math.floor((local - 15 * 3_600_000) / (15 * MIN)) * 15 * MIN; ; t += 15 * MIN) if (wallMs(t, zone) >= local) return t;
}
/** The oracle: state at t from the day's rules and intervals of the days around it. */
function oracle(s: FeatureSchedule, t: number): ScheduleStateName {
  const toMin = (x: string) => Number(x.slice(0, 2)) * 60 + Number(x.slice(3));
  const plan = (dayStart: number): { holiday: boolean; intervals: [number, number][] } => {
    const date = isoDate(dayStart);
    const o = s.overrides.find((x) => x.date === date);
    if (o) return { holiday: false, intervals: o.closed ? [] : [[toMin(o.open!), toMin(o.close!)]] };
    if (s.holidays.some((h) => ('yearly' in h ? h.yearly === date.slice(5) : h.from <= date && date <= h.to))) return { holiday: true, intervals: [] };
    const wd = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][new Date(dayStart).getUTCDay()] as Weekday;
    return { holiday: false, intervals: s.hours.filter((h) => h.days.includes(wd)).map((h) => [toMin(h.open), toMin(h.close)]) };
  };
  const today = Math.floor(wallMs(t, s.timezone) / DAY) * DAY;
  if (plan(today).holiday) return 'holiday';
  for (const day of [today - DAY, today, today + DAY]) {
    const p = plan(day);
    if (p.holiday) continue;
    for (const [a, b] of p.intervals) if (firstAtOrAfter(day + a * MIN, s.timezone) <= t && t < firstAtOrAfter(day + b * MIN, s.timezone)) return 'open';
  }
  return 'closed';
}

describe('scheduleState properties', () => {
  const recent = fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) });

  it('never throws for any instant a Date can hold, in any of the zones', () => {
    fc.assert(fc.property(fc.date({ noInvalidDate: true }), fc.constantFrom(...ZONES), hoursArb, extrasArb, (d, zone, hours, extras) => {
      const s = build(zone, hours, Math.max(-8e15, Math.min(8e15, d.getTime())), extras);
      const r = scheduleState(s, d);
      expect(['open', 'closed', 'holiday']).toContain(r.state);
    }), { numRuns: 300 });
  });

  it('agrees with the independent oracle', () => {
    fc.assert(fc.property(recent, fc.constantFrom(...ZONES), hoursArb, extrasArb, (t, zone, hours, extras) => {
      const s = build(zone, hours, t, extras);
      expect(scheduleState(s, new Date(t)).state).toBe(oracle(s, t));
    }), { numRuns: 400 });
  });

  it('is near DST changes too (instants within a day of a transition)', () => {
    const transitions = ['2026-03-08T07:00:00Z', '2026-11-01T06:00:00Z', '2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z', '2026-04-04T16:00:00Z', '2026-10-03T16:00:00Z', '2026-04-05T03:00:00Z', '2026-09-06T04:00:00Z', '2026-04-04T15:00:00Z', '2026-10-03T15:30:00Z'].map(Date.parse);
    const near = fc.tuple(fc.constantFrom(...transitions), fc.integer({ min: -DAY, max: DAY })).map(([x, dt]) => x + dt);
    fc.assert(fc.property(near, fc.constantFrom(...ZONES), hoursArb, extrasArb, (t, zone, hours, extras) => {
      const s = build(zone, hours, t, extras);
      expect(scheduleState(s, new Date(t)).state).toBe(oracle(s, t));
    }), { numRuns: 400 });
  });

  it('holds its state until `until`, and changes exactly then', () => {
    fc.assert(fc.property(recent, fc.constantFrom(...ZONES), hoursArb, extrasArb, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (t, zone, hours, extras, frac) => {
      const s = build(zone, hours, t, extras);
      const r = scheduleState(s, new Date(t));
      if (!r.until) return;
      const u = r.until.getTime();
      expect(u).toBeGreaterThan(t);
      expect(scheduleState(s, r.until).state).not.toBe(r.state);
      expect(scheduleState(s, new Date(u - 1)).state).toBe(r.state);
      expect(scheduleState(s, new Date(t + Math.floor((u - t) * frac))).state).toBe(r.state);
    }), { numRuns: 300 });
  });
});
