/**
 * Renderers for validation diagnostics: compiler-style text, JSON, and GitHub Actions workflow
 * commands (`::error file=...,line=...,col=...::message`). Pure: they return strings.
 */
import { posix } from 'node:path';
import { styleText } from 'node:util';
import { summarize, type Diagnostic } from '../lib/diagnostics.js';

/** `--format` values of validate. */
export type DiagnosticFormat = 'text' | 'json' | 'github';

/** The `--json`/`--format json` shape of validate (schemas/output/validate.schema.json). */
export interface ValidateOutput {
  valid: boolean;
  strict: boolean;
  summary: { errors: number; warnings: number; files: number; resources: number };
  diagnostics: Diagnostic[];
}

type Style = (format: Parameters<typeof styleText>[0], text: string) => string;
const plain: Style = (_f, t) => t;

/**
 * Text like a compiler: `file:line:col severity rule message`, then an indented hint.
 * @param opts.color apply ANSI styles (caller decides from TTY and NO_COLOR)
 * @param opts.prefix directory to prefix file paths with (the DIR argument as given)
 */
export function renderDiagnosticsText(list: readonly Diagnostic[], opts: { color: boolean; prefix: string }): string {
  const s: Style = opts.color ? styleText : plain;
  return list
    .map((d) => {
      const sev = d.severity === 'error' ? s(['bold', 'red'], 'error') : s(['bold', 'yellow'], 'warning');
      const head = `${s('bold', `${joinPath(opts.prefix, d.file)}:${d.line}:${d.col}`)} ${sev} ${s('dim', d.rule)} ${d.message}`;
      return d.hint ? `${head}\n    ${s('cyan', 'hint:')} ${d.hint}` : head;
    })
    .join('\n');
}

/** One summary line, e.g. `2 errors, 1 warning in 14 files (52 resources)`. */
export function renderSummary(list: readonly Diagnostic[], stats: { files: number; resources: number }, opts: { color: boolean; strict: boolean }): string {
  const s: Style = opts.color ? styleText : plain;
  const { errors, warnings } = summarize(list);
  const where = `${stats.files} file${stats.files === 1 ? '' : 's'}, ${stats.resources} resource${stats.resources === 1 ? '' : 's'}`;
  if (errors === 0 && (warnings === 0 || !opts.strict)) {
    const w = warnings ? ` with ${warnings} warning${warnings === 1 ? '' : 's'}` : '';
    return s('green', `✓ valid${w} (${where})`);
  }
  const parts = [`${errors} error${errors === 1 ? '' : 's'}`, `${warnings} warning${warnings === 1 ? '' : 's'}`];
  return s('red', `✗ ${parts.join(', ')} (${where})${opts.strict && warnings ? '; --strict fails on warnings' : ''}`);
}

/**
 * GitHub Actions annotations. Escaping follows @actions/core's command encoding:
 * data escapes % CR LF; property values also escape : and ,.
 */
export function renderDiagnosticsGithub(list: readonly Diagnostic[], prefix: string): string {
  const data = (v: string) => v.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const prop = (v: string) => data(v).replace(/:/g, '%3A').replace(/,/g, '%2C');
  return list
    .map((d) => {
      const msg = d.hint ? `${d.message}\n${d.hint}` : d.message;
      return `::${d.severity} file=${prop(joinPath(prefix, d.file))},line=${d.line},col=${d.col},title=${prop(d.rule)}::${data(msg)}`;
    })
    .join('\n');
}

function joinPath(prefix: string, file: string): string {
  return prefix === '' || prefix === '.' ? file : posix.join(prefix.split('\\').join('/'), file);
}
