/**
 * Schedule evaluation: is a schedule open, closed or on holiday at an instant, and until when.
 * Evaluated in the schedule's IANA zone with Intl.DateTimeFormat (Kamailio's tmrec_match has no
 * per-call zone: NODE-FACTS.md), from the zone data of this Node's ICU. Pure.
 *
 * How wall-clock times become instants (the DST rules, decided once here):
 * - A local time T on date D starts at the FIRST INSTANT THE ZONE'S CLOCK READS T OR LATER on D.
 *   - Spring forward (the clock skips, e.g. New York 02:00 -> 03:00): a time inside the gap takes
 *     effect when the gap ends. An opening at 02:30 opens at 03:00 local; a close at 02:30 closes
 *     at 03:00; hours lying wholly inside the gap vanish that day.
 *   - Fall back (the clock repeats, e.g. New York 02:00 -> 01:00): a time in the repeated hour means
 *     its first occurrence. A close at 01:30 closes at 01:30 EDT and stays closed through the
 *     repeat (the clock reading 01:00-01:30 again does not reopen it); an opening at 01:30 opens at
 *     01:30 EDT and stays open through the repeat.
 * - A day runs from its 00:00 to the next day's 00:00 (both mapped the same way); `24:00` is the next
 *   day's 00:00. Hours are within one day (the schema has close after open; hours past midnight are
 *   written as a rule on the next day from 00:00, which joins seamlessly).
 * - Which rules apply to a day, in order: an override for the date (closed all day, or only its
 *   special hours; it wins over holidays), a holiday (one date, a from-to range inclusive, or a
 *   yearly MM-DD; a yearly 02-29 only in leap years), else the weekly hours of its weekday.
 *   Overlapping or touching hours of a day merge.
 * - `until` is the next instant the state (open/closed/holiday) changes, looked for up to 400 days
 *   ahead; undefined when it does not change in that time. A change of name alone (one holiday
 *   followed by another) is not a change.
 */
import type { FeatureSchedule } from './config-types.js';
import type { Weekday } from '../model/types.js';

/** A schedule's state. */
export type ScheduleStateName = 'open' | 'closed' | 'holiday';

/** The result of {@link scheduleState}. */
export interface ScheduleState {
  state: ScheduleStateName;
  /** The holiday's name, or the override's name on an overridden day. */
  name?: string;
  /** When the state next changes (see the module comment); undefined if not within 400 days. */
  until?: Date;
}

/** A local wall-clock reading in a zone. */
export interface WallClock {
  /** `YYYY-MM-DD`. */
  date: string;
  /** Minutes since local midnight, 0..1439. */
  minute: number;
  weekday: Weekday;
  /** The zone's UTC offset at that instant, minutes (east positive: +330 for Asia/Kolkata). */
  offsetMinutes: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
/** ECMAScript's time value range (±8.64e15 ms): Intl cannot format beyond it. */
const LIMIT = 8.64e15;
const CLAMP = LIMIT - 2 * 86_400_000;
const LOOKAHEAD_DAYS = 400;
const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    // h23 (not hour12:false, which gives "24" at midnight on some ICU versions); era for years <= 0.
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', era: 'short', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(zone, f);
  }
  return f;
}

/** The zone's offset at instant `t` (ms since the epoch), in ms: local wall time = t + offset. */
function offsetAt(t: number, zone: string): number {
  // Clamped two days inside the Date range, so the wall time stays representable; offsets at the
  // ends of time (±270,000 years) are the zone's proleptic LMT and matter to nobody.
  const at = Math.min(CLAMP, Math.max(-CLAMP, Math.floor(t / 1000) * 1000));
  const p: Record<string, string> = {};
  for (const { type, value } of formatter(zone).formatToParts(at)) p[type] = value;
  const year = p.era === 'BC' || p.era === 'B' ? 1 - Number(p.year) : Number(p.year);
  const wall = daysFromCivil(year, Number(p.month), Number(p.day)) * DAY + ((Number(p.hour) * 60 + Number(p.minute)) * 60 + Number(p.second)) * 1000;
  return wall - at;
}

/** Local wall time of `t` as a UTC-based number: day number * DAY + time of day. */
const localOf = (t: number, zone: string) => t + offsetAt(t, zone);

/**
 * The first instant at which the zone's clock reads local time `local` (a UTC-based wall-time
 * number) or later: an exact reading's first occurrence, or the end of a gap that skips it.
 */
function firstInstantAt(local: number, zone: string): number {
  // Any instant reading `local` lies within [local - 14 h, local + 12 h] (the extreme UTC offsets);
  // a zone changes its offset at most once in such a window, so the two ends give the candidates.
  const before = offsetAt(local - 15 * 3_600_000, zone);
  const after = offsetAt(local + 13 * 3_600_000, zone);
  let best = Infinity;
  for (const o of new Set([before, after])) if (offsetAt(local - o, zone) === o) best = Math.min(best, local - o);
  if (best !== Infinity) return best;
  // In a gap: binary search (to the second) for the first instant whose clock reads past `local`.
  let lo = Math.min(local - before, local - after);
  let hi = Math.max(local - before, local - after);
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (localOf(mid, zone) >= local) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The wall clock of `at` in `zone`. @throws RangeError for an invalid Date or unknown zone */
export function wallClock(at: Date, zone: string): WallClock {
  const t = at.getTime();
  if (Number.isNaN(t)) throw new RangeError('wallClock: invalid Date');
  const offset = offsetAt(t, zone);
  const local = t + offset;
  const day = Math.floor(local / DAY);
  return { date: dateOf(day), minute: Math.floor((local - day * DAY) / MINUTE), weekday: weekdayOf(day), offsetMinutes: Math.round(offset / MINUTE) };
}

/**
 * The instant local `date` (`YYYY-MM-DD`) at `minute` (0..1440) starts in `zone`, by the rule in the
 * module comment (gap: when it ends; repeated hour: first occurrence).
 * @throws RangeError for an unknown zone
 */
export function zonedInstant(date: string, minute: number, zone: string): Date {
  return new Date(firstInstantAt(dayNumber(date) * DAY + minute * MINUTE, zone));
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil): arithmetic,
 * so it works for every year, where Date.UTC maps years 0-99 to 19xx and stops at ±275,760.
 */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The inverse of {@link daysFromCivil}. */
function civilFromDays(days: number): { y: number; m: number; d: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const m = mp < 10 ? mp + 3 : mp - 9;
  return { y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d: doy - Math.floor((153 * mp + 2) / 5) + 1 };
}

const dayNumber = (date: string) => daysFromCivil(Number(date.slice(0, 4)), Number(date.slice(5, 7)), Number(date.slice(8, 10)));
function dateOf(day: number): string {
  const { y, m, d } = civilFromDays(day);
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}
const weekdayOf = (day: number): Weekday => WEEKDAYS[(((day + 4) % 7) + 7) % 7]!; // 1970-01-01 was a Thursday
const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** What applies to one local day: holiday, or open minute intervals (merged, sorted) and the override's name. */
interface DayPlan {
  holiday: boolean;
  name?: string;
  intervals: [number, number][];
}

function dayPlan(s: FeatureSchedule, day: number): DayPlan {
  const date = dateOf(day);
  const override = s.overrides.find((o) => o.date === date);
  if (override) {
    const intervals: [number, number][] = override.closed || !override.open || !override.close ? [] : [[minutesOf(override.open), minutesOf(override.close)]];
    return { holiday: false, name: override.name, intervals: merge(intervals) };
  }
  const monthDay = date.slice(5);
  const holiday = s.holidays.find((h) => ('yearly' in h ? h.yearly === monthDay : h.from <= date && date <= h.to));
  if (holiday) return { holiday: true, name: holiday.name, intervals: [] };
  const weekday = weekdayOf(day);
  return { holiday: false, intervals: merge(s.hours.filter((h) => h.days.includes(weekday)).map((h): [number, number] => [minutesOf(h.open), minutesOf(h.close)])) };
}

/** Union of minute intervals: sorted, overlapping or touching ones joined, empty ones dropped. */
function merge(intervals: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** A point from which a state holds (until the next point). */
interface Change {
  at: number;
  state: ScheduleStateName;
}

/** Evaluation of one schedule, memoizing day starts and plans (one call may scan many days). */
class Evaluator {
  private readonly starts = new Map<string, number>();
  private readonly plans = new Map<number, DayPlan>();
  constructor(private readonly s: FeatureSchedule) {}

  /** The instant local `minute` of `day` starts. */
  start(day: number, minute: number): number {
    const key = `${day}/${minute}`;
    let t = this.starts.get(key);
    if (t === undefined) this.starts.set(key, (t = firstInstantAt(day * DAY + minute * MINUTE, this.s.timezone)));
    return t;
  }

  plan(day: number): DayPlan {
    let p = this.plans.get(day);
    if (!p) this.plans.set(day, (p = dayPlan(this.s, day)));
    return p;
  }

  /** The local day whose span [start(day, 0), start(day + 1, 0)) holds instant `t`. */
  dayOf(t: number): number {
    const day = Math.floor(localOf(t, this.s.timezone) / DAY);
    if (t < this.start(day, 0)) return day - 1;
    if (t >= this.start(day + 1, 0)) return day + 1;
    return day;
  }

  /**
   * The day's state changes in time order, the first at the day's start; none share an instant.
   * A close at the day's end (24:00) is left out: the next day's first change says what holds from
   * that instant (open again when its hours start at 00:00).
   */
  changes(day: number): Change[] {
    const plan = this.plan(day);
    const end = this.start(day + 1, 0);
    const out: Change[] = [{ at: this.start(day, 0), state: plan.holiday ? 'holiday' : 'closed' }];
    const push = (at: number, state: ScheduleStateName) => {
      const last = out[out.length - 1]!;
      if (at === last.at) last.state = state; // a closed spell inside a DST gap vanishes
      else out.push({ at, state });
    };
    for (const [a, b] of plan.intervals) {
      const open = this.start(day, a);
      const close = this.start(day, b);
      if (close <= open) continue; // wholly inside a gap
      push(open, 'open');
      if (close < end) push(close, 'closed');
    }
    return out;
  }
}

/**
 * The state of `schedule` at `at`, with the holiday/override name and when it next changes (rules
 * in the module comment). Never throws for a valid Date and a schedule that parseFeatureConfig
 * accepted (known zone).
 * @throws RangeError for an invalid Date or a zone this ICU does not know
 */
export function scheduleState(schedule: FeatureSchedule, at: Date): ScheduleState {
  const t = at.getTime();
  if (Number.isNaN(t)) throw new RangeError('scheduleState: invalid Date');
  const ev = new Evaluator(schedule);
  const day = ev.dayOf(t);
  const plan = ev.plan(day);
  const today = ev.changes(day);
  let state: ScheduleStateName = today[0]!.state;
  for (const c of today) if (c.at <= t) state = c.state;
  const result: ScheduleState = { state };
  if (plan.name !== undefined) result.name = plan.name;

  for (let d = day, n = 0; n <= LOOKAHEAD_DAYS; d++, n++) {
    if ((d + 1) * DAY > CLAMP) break; // past what a Date can hold
    if (d !== day) {
      // A day without open hours is one state from its start: skip it without mapping any
      // instants when that is the current state (a year of closed days costs no Intl calls).
      const p = ev.plan(d);
      if (p.intervals.length === 0 && (p.holiday ? 'holiday' : 'closed') === state) continue;
    }
    for (const c of d === day ? today : ev.changes(d)) {
      if (c.at > t && c.state !== state) {
        result.until = new Date(c.at);
        return result;
      }
    }
  }
  return result;
}
