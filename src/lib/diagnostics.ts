/**
 * Diagnostics: the problems validation finds in a repo, reported to users as values
 * (never thrown). Shape follows DESIGN.md: {severity, rule, file, line, col, message, hint}.
 */

/** How bad a diagnostic is: `error` fails validation; `warning` fails only with `--strict`. */
export type Severity = 'error' | 'warning';

/** A position in a repo file: `file` is repo-relative with `/` separators; line and col are 1-based. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

/** One problem in the repo, with where it is and how to fix it. */
export interface Diagnostic extends SourcePosition {
  severity: Severity;
  /** Stable rule id, e.g. `duplicate-number`; documented in README and used by `--format json` consumers. */
  rule: string;
  message: string;
  /** How to fix it, when we can say. */
  hint?: string;
  /** Other places involved (the first definition of a duplicate, the members of a loop). */
  related?: SourcePosition[];
}

/** Counts per severity. */
export interface DiagnosticSummary {
  errors: number;
  warnings: number;
}

/** Sorts diagnostics by file, line, column, then rule, so output is stable across runs. */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.col - b.col ||
      (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0) ||
      (a.message < b.message ? -1 : a.message > b.message ? 1 : 0),
  );
}

/** Counts errors and warnings. */
export function summarize(list: readonly Diagnostic[]): DiagnosticSummary {
  let errors = 0;
  let warnings = 0;
  for (const d of list) {
    if (d.severity === 'error') errors++;
    else warnings++;
  }
  return { errors, warnings };
}

/** True when the diagnostics should fail the run: any error, or any warning under `--strict`. */
export function isFailing(list: readonly Diagnostic[], strict: boolean): boolean {
  return list.some((d) => d.severity === 'error' || strict);
}

/** Formats a position as `file:line:col`. */
export function formatPosition(p: SourcePosition): string {
  return `${p.file}:${p.line}:${p.col}`;
}
