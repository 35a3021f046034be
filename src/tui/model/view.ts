/**
 * Pure view helpers shared by the ink UI and the plain `calls list` table: the state label, the
 * filter, the sort orders, durations, media quality grades and which columns fit a terminal width.
 */
import type { CallView, LiveModel } from './live-model.js';

/** The state column text: `queued sales #2`, `agent 1003`, `in IVR main`... */
export function stateLabel(c: CallView): string {
  switch (c.phase) {
    case 'queued':
      return `queued ${c.queue ?? ''}${c.position !== undefined ? ` #${c.position}` : ''}`.trim();
    case 'agent':
      return `agent ${c.agent ?? ''}`.trim();
    case 'ivr':
      return `in IVR ${c.step?.startsWith('ivr:') ? c.step.slice(4) : ''}`.trim();
    case 'voicemail':
      return 'in voicemail';
    case 'hold':
      return 'on hold';
    default:
      return c.phase;
  }
}

/** `m:ss`, or `h:mm:ss` from one hour, of `ms`; negative durations (clock skew) show as 0:00. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** Media quality grade: `bad` from 5% loss, 60 ms jitter or MOS < 3.1; `fair` from 1% / 30 ms / 3.6. */
export function mediaGrade(c: CallView): 'good' | 'fair' | 'bad' | 'unknown' {
  const m = c.media;
  if (!m || (m.lossPct === undefined && m.jitterMs === undefined && m.mos === undefined)) return 'unknown';
  if ((m.lossPct ?? 0) >= 5 || (m.jitterMs ?? 0) >= 60 || (m.mos !== undefined && m.mos < 3.1)) return 'bad';
  if ((m.lossPct ?? 0) >= 1 || (m.jitterMs ?? 0) >= 30 || (m.mos !== undefined && m.mos < 3.6)) return 'fair';
  return 'good';
}

/** The media column: `MOS 4.3 0.1% 4ms`, or `-`. */
export function mediaLabel(c: CallView): string {
  const m = c.media;
  if (!m) return '-';
  const parts: string[] = [];
  if (m.mos !== undefined) parts.push(`MOS ${m.mos.toFixed(1)}`);
  if (m.lossPct !== undefined) parts.push(`${m.lossPct.toFixed(1)}%`);
  if (m.jitterMs !== undefined) parts.push(`${Math.round(m.jitterMs)}ms`);
  return parts.join(' ') || (m.packets !== undefined ? `${m.packets} pkts` : '-');
}

/** A party as a cell: `1001 Alice`. */
export function partyLabel(p: { number: string; name?: string }): string {
  return p.name ? `${p.number} ${p.name}` : p.number || '?';
}

/**
 * True when the call matches the filter text (case-insensitive substring of caller, callee,
 * names, DID, queue, agent, state, step, trunk or Call-ID). Empty filter: everything.
 */
export function matchesFilter(c: CallView, filter: string): boolean {
  const f = filter.trim().toLowerCase();
  if (!f) return true;
  const hay = [c.callId, c.caller.number, c.caller.name, c.callee.number, c.callee.name, c.did, c.queue, c.agent, c.step, c.trunk, c.phase, stateLabel(c)];
  return hay.some((h) => h !== undefined && h.toLowerCase().includes(f));
}

/** Sort orders `s` cycles through. */
export const SORTS = ['longest', 'newest', 'state', 'caller'] as const;
export type SortOrder = (typeof SORTS)[number];

const PHASE_ORDER = ['queued', 'ringing', 'dialing', 'ivr', 'voicemail', 'hold', 'agent', 'answered'];

/** The calls to show: filtered and sorted (ties by Call-ID, so rows never jump between renders). */
export function visibleCalls(m: LiveModel, filter: string, sort: SortOrder): CallView[] {
  const rows = [...m.calls.values()].filter((c) => matchesFilter(c, filter));
  const cmp: Record<SortOrder, (a: CallView, b: CallView) => number> = {
    longest: (a, b) => a.startedAt - b.startedAt,
    newest: (a, b) => b.startedAt - a.startedAt,
    state: (a, b) => PHASE_ORDER.indexOf(a.phase) - PHASE_ORDER.indexOf(b.phase) || (a.position ?? 0) - (b.position ?? 0),
    caller: (a, b) => a.caller.number.localeCompare(b.caller.number),
  };
  return rows.sort((a, b) => cmp[sort](a, b) || a.callId.localeCompare(b.callId));
}

/** A table column: its header, width (cells) and how it reads a call. `priority` 1 is dropped last. */
export interface Column {
  key: string;
  title: string;
  width: number;
  priority: number;
  cell(c: CallView, nowMs: number): string;
}

/** Every column, in display order. */
export const COLUMNS: readonly Column[] = [
  { key: 'caller', title: 'CALLER', width: 18, priority: 1, cell: (c) => partyLabel(c.caller) },
  { key: 'callee', title: 'CALLEE', width: 18, priority: 1, cell: (c) => partyLabel(c.callee) },
  { key: 'state', title: 'STATE', width: 20, priority: 1, cell: (c) => stateLabel(c) },
  { key: 'duration', title: 'TIME', width: 8, priority: 1, cell: (c, now) => formatDuration(now - c.startedAt) },
  { key: 'did', title: 'DID', width: 14, priority: 3, cell: (c) => c.did ?? '' },
  { key: 'step', title: 'STEP', width: 16, priority: 2, cell: (c) => c.step ?? c.destination ?? '' },
  { key: 'trunk', title: 'TRUNK', width: 10, priority: 4, cell: (c) => c.trunk ?? '' },
  { key: 'codec', title: 'CODEC', width: 6, priority: 5, cell: (c) => c.codec ?? '' },
  { key: 'media', title: 'MEDIA', width: 18, priority: 3, cell: (c) => mediaLabel(c) },
];

/**
 * The columns that fit `width` cells (one space between columns), dropping the lowest-priority
 * ones first so a line never wraps. The essential four always stay; their cells are truncated by
 * {@link fit} if even they do not fit.
 */
export function columnsFor(width: number): Column[] {
  const cols = [...COLUMNS];
  const total = (cs: readonly Column[]) => cs.reduce((s, c) => s + c.width + 1, 0);
  while (total(cols) > width) {
    const worst = cols.reduce((w, c) => (c.priority > w.priority ? c : w), cols[0]!);
    if (worst.priority <= 1) break;
    cols.splice(cols.indexOf(worst), 1);
  }
  return cols;
}

/** `text` cut or padded to exactly `width` cells (a cut ends in `…`). */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  const chars = [...text.replace(/[\r\n\t]/g, ' ')];
  if (chars.length > width) return `${chars.slice(0, width - 1).join('')}…`;
  return chars.join('').padEnd(width);
}

/** One table line for `c` (or the header line when `c` is undefined), exactly `width` cells or less. */
export function tableLine(cols: readonly Column[], c: CallView | undefined, nowMs: number, width: number): string {
  const line = cols.map((col) => fit(c ? col.cell(c, nowMs) : col.title, col.width)).join(' ');
  return fit(line, width).trimEnd();
}
