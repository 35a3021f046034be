/**
 * Schedules: a real IANA time zone, real dates, opening before closing, and no two rules open
 * the same day at overlapping times (which would make "open" ambiguous to edit).
 */
import { closest } from 'fastest-levenshtein';
import type { Schedule } from '../../model/types.js';
import type { CheckContext } from './context.js';

const zoneCache = new Map<string, boolean>();

/** True when `zone` is an IANA time zone this Node.js (ICU) knows, aliases included. */
export function isValidTimeZone(zone: string): boolean {
  let ok = zoneCache.get(zone);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      ok = true;
    } catch {
      ok = false;
    }
    zoneCache.set(zone, ok);
  }
  return ok;
}

/** True for a real calendar date YYYY-MM-DD (leap years included). */
export function isValidDate(text: string): boolean {
  const [y, m, d] = text.split('-').map(Number) as [number, number, number];
  const dt = new Date(Date.UTC(y, m - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
}

/** Minutes since midnight of HH:MM (24:00 = 1440). */
export function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

function zoneHint(zone: string): string {
  const zones = Intl.supportedValuesOf('timeZone');
  return `Use an IANA zone name such as America/New_York or Europe/Berlin; did you mean ${closest(zone, zones)}?`;
}

export function checkSchedules(ctx: CheckContext): void {
  const tz = ctx.state.pbx.defaults?.timezone;
  if (tz !== undefined && !isValidTimeZone(tz)) ctx.error('invalid-timezone', ctx.at('pbx', ['defaults', 'timezone']), `defaults.timezone "${tz}" is not an IANA time zone`, zoneHint(tz));
  for (const { resource: r } of ctx.resources) if (r.kind === 'Schedule') checkSchedule(ctx, r);
}

function checkSchedule(ctx: CheckContext, s: Schedule): void {
  if (!isValidTimeZone(s.timezone)) ctx.error('invalid-timezone', ctx.at(s, ['timezone']), `schedule ${s.id}: "${s.timezone}" is not an IANA time zone`, zoneHint(s.timezone));
  const perDay = new Map<string, { from: number; to: number; rule: number }[]>();
  s.hours.forEach((h, i) => {
    const from = minutesOf(h.open);
    const to = minutesOf(h.close);
    if (from >= to) {
      ctx.error('invalid-hours', ctx.at(s, ['hours', i, 'close']), `schedule ${s.id}: hours[${i}] closes at ${h.close}, not after it opens at ${h.open}`, 'close must be later than open on the same day; for hours past midnight add a rule on the next day from 00:00.');
      return;
    }
    for (const day of h.days) {
      const list = perDay.get(day) ?? [];
      const clash = list.find((x) => from < x.to && x.from < to);
      if (clash) {
        ctx.error('schedule-overlap', ctx.at(s, ['hours', i]), `schedule ${s.id}: hours[${i}] (${day} ${h.open}-${h.close}) overlaps hours[${clash.rule}]`, 'Each day\'s open periods must not overlap; merge or shorten them.', [ctx.at(s, ['hours', clash.rule])]);
      }
      list.push({ from, to, rule: i });
      perDay.set(day, list);
    }
  });
  (s.holidays ?? []).forEach((h, i) => {
    for (const f of ['date', 'from', 'to'] as const) {
      const v = h[f];
      if (v !== undefined && !isValidDate(v)) ctx.error('invalid-date', ctx.at(s, ['holidays', i, f]), `schedule ${s.id}: holiday "${h.name}" ${f} ${v} is not a calendar date`, 'Dates are YYYY-MM-DD.');
    }
    if (h.from && h.to && isValidDate(h.from) && isValidDate(h.to) && h.from > h.to) {
      ctx.error('invalid-date', ctx.at(s, ['holidays', i, 'to']), `schedule ${s.id}: holiday "${h.name}" ends (${h.to}) before it starts (${h.from})`, 'Swap from and to.');
    }
    if (h.yearly !== undefined && !isValidDate(`2024-${h.yearly}`)) {
      ctx.error('invalid-date', ctx.at(s, ['holidays', i, 'yearly']), `schedule ${s.id}: yearly holiday "${h.name}" ${h.yearly} is not a day of the year`, 'Write MM-DD, e.g. 12-25.');
    }
  });
  const overrideDates = new Map<string, number>();
  (s.overrides ?? []).forEach((o, i) => {
    if (!isValidDate(o.date)) ctx.error('invalid-date', ctx.at(s, ['overrides', i, 'date']), `schedule ${s.id}: override date ${o.date} is not a calendar date`, 'Dates are YYYY-MM-DD.');
    const prev = overrideDates.get(o.date);
    if (prev !== undefined) ctx.error('schedule-overlap', ctx.at(s, ['overrides', i, 'date']), `schedule ${s.id}: ${o.date} is overridden twice (overrides[${prev}] and overrides[${i}])`, 'Keep one override per date.');
    overrideDates.set(o.date, i);
    if (o.closed && o.open) ctx.error('conflicting-properties', ctx.at(s, ['overrides', i, 'open'], true), `schedule ${s.id}: override ${o.date} is both closed and open ${o.open}-${o.close}`, 'Use closed: true, or open/close for special hours.');
    if (!o.closed && !o.open) ctx.error('missing-property', ctx.at(s, ['overrides', i]), `schedule ${s.id}: override ${o.date} says neither closed nor open/close`, 'Add closed: true, or open: and close: times.');
    if (o.open && o.close && minutesOf(o.open) >= minutesOf(o.close)) ctx.error('invalid-hours', ctx.at(s, ['overrides', i, 'close']), `schedule ${s.id}: override ${o.date} closes at ${o.close}, not after it opens at ${o.open}`, 'close must be later than open.');
  });
}
