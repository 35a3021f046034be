/**
 * Plain-text output of a calls snapshot (`pbxctl calls list`, `calls tail --once` on a TTY): the
 * same columns as the live view, fitted to the terminal width.
 */
import type { CallView } from './model/live-model.js';
import { columnsFor, tableLine } from './model/view.js';

export type { CallView };

/** The table of `calls` as lines fitted to `width` cells; a single line when there are none. */
export function callsTable(calls: readonly CallView[], nowMs: number, width: number): string {
  if (calls.length === 0) return 'No calls in progress.';
  const cols = columnsFor(width);
  return [tableLine(cols, undefined, nowMs, width), ...calls.map((c) => tableLine(cols, c, nowMs, width))].join('\n');
}
