/**
 * Rendering CDRs (src/daemon/cdr/cdr-types.ts) for people and spreadsheets: the CSV export (the
 * daemon's GET /v1/cdrs.csv and `pbxctl cdr --format csv` produce the same bytes), a table, and
 * the time arguments of `pbxctl cdr`.
 */
import { PbxError } from '../lib/errors.js';
import type { Cdr } from '../daemon/cdr/cdr-types.js';

/** CSV columns, in order. Times are ISO 8601 UTC; `path` is the steps joined with ` > `. */
export const CDR_CSV_COLUMNS = [
  'call_id', 'direction', 'from', 'from_name', 'to', 'did', 'target', 'answered_by', 'feature', 'trunk',
  'started_at', 'answered_at', 'ended_at', 'duration_s', 'billable_s', 'disposition', 'sip_status', 'end_reason', 'path',
] as const;

const iso = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString());

/** One step as text: `ivr:main`, `ivr.digits(2)`, `bridged(1002)`. */
function stepText(s: Cdr['path'][number]): string {
  const key = s.step === 'ivr.digits' ? s.detail.digits : s.step === 'bridged' || s.step === 'dial' ? (s.detail.to ?? s.detail.targets) : s.step.startsWith('queue.') ? s.detail.queue : undefined;
  return key === undefined ? s.step : `${s.step}(${String(key)})`;
}

/** The path as one line. */
export function pathText(cdr: Cdr): string {
  return cdr.path.map(stepText).join(' > ');
}

/**
 * RFC 4180 field: quoted when it holds a comma, quote, CR or LF; a text starting with `=`, `+`,
 * `-`, `@`, tab or CR is prefixed with `'` so a spreadsheet never runs a caller-controlled value as
 * a formula (OWASP "CSV Injection"), except a plain number such as an E.164 `+15550100`.
 */
export function csvField(v: string | number | undefined): string {
  if (v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s) && !/^[+-]?\d+$/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV row of one CDR (no line end). */
export function cdrCsvRow(c: Cdr): string {
  return [
    c.callId, c.direction, c.from, c.fromName, c.to, c.did, c.target, c.answeredBy, c.feature, c.trunk,
    iso(c.startedAt), iso(c.answeredAt), iso(c.endedAt), c.durationS, c.billableS, c.disposition, c.sipStatus, c.endReason, pathText(c),
  ].map(csvField).join(',');
}

/** A CSV document: header line and one line per CDR, CRLF line ends (RFC 4180). */
export function cdrCsv(cdrs: readonly Cdr[]): string {
  return [CDR_CSV_COLUMNS.join(','), ...cdrs.map(cdrCsvRow)].map((l) => `${l}\r\n`).join('');
}

/** A fixed-width table for the terminal, newest first as given. */
export function cdrTable(cdrs: readonly Cdr[]): string {
  const head = ['STARTED (UTC)', 'DIR', 'FROM', 'TO', 'ANSWERED BY', 'DUR', 'BILL', 'DISPOSITION', 'PATH'];
  const rows = cdrs.map((c) => [
    new Date(c.startedAt).toISOString().replace('T', ' ').slice(0, 19),
    c.direction,
    c.from,
    c.target ? `${c.to} -> ${c.target}` : c.to,
    c.answeredBy ?? '-',
    `${c.durationS}s`,
    `${c.billableS}s`,
    c.sipStatus === undefined ? c.disposition : `${c.disposition} (${c.sipStatus})`,
    pathText(c) || '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * `24h`, `30m`, `7d`, `2w`, `90s` to ms.
 * @throws PbxError BAD_FLAG
 */
export function parseDuration(text: string, flag = 'since'): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!m) throw new PbxError('BAD_FLAG', `--${flag} ${text} is not a duration`, { hint: 'Use a number and a unit: 90s, 30m, 24h, 7d, 2w.' });
  return Number(m[1]) * UNITS[m[2]!]!;
}

/**
 * A point in time: ISO 8601 (`2026-11-21`, `2026-11-21T09:00:00Z`; without a zone it is UTC) or
 * ms since the epoch.
 * @throws PbxError BAD_FLAG
 */
export function parseTime(text: string, flag: string): number {
  const t = text.trim();
  if (/^\d{10,15}$/.test(t)) return Number(t);
  const withZone = /^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(t) ? `${t}Z` : t;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(withZone) : NaN;
  if (!Number.isFinite(ms)) throw new PbxError('BAD_FLAG', `--${flag} ${text} is not a time`, { hint: 'Use ISO 8601 (2026-11-21 or 2026-11-21T09:00:00Z) or ms since the epoch.' });
  return ms;
}
