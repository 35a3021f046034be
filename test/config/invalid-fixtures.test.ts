/**
 * Every broken repo under test/fixtures/invalid/<case>/ produces exactly the diagnostics its
 * expected.json lists (rule, file, line, severity; col, message and hint text where given).
 * With `"exclusive": true` nothing else may be reported; otherwise the listed ones must be among
 * the reported. The example repos under examples/ must validate without errors.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../src/lib/diagnostics.js';
import { validateRepoDir } from '../../src/config/validate.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/invalid');
const EXAMPLES = join(ROOT, 'examples');

/** Every fixture uses `${secret:pw}`; the unresolved-secret case adds a name this env lacks. */
const ENV: NodeJS.ProcessEnv = { PBXCTL_SECRET_PW: 'fixture-password' };

interface Expected {
  rule: string;
  file: string;
  line: number;
  col?: number;
  severity: 'error' | 'warning';
  /** Substring the message must contain (e.g. the other file:line:col of a duplicate). */
  messageIncludes?: string;
  /** Substring the hint must contain (e.g. a did-you-mean suggestion). */
  hintIncludes?: string;
}

interface ExpectedFile {
  diagnostics: Expected[];
  exclusive?: boolean;
}

const subdirs = (dir: string) => readdirSync(dir).filter((n) => statSync(join(dir, n)).isDirectory()).sort();
const cases = subdirs(FIXTURES);

function matches(d: Diagnostic, e: Expected): boolean {
  return d.rule === e.rule && d.file === e.file && d.line === e.line && d.severity === e.severity &&
    (e.col === undefined || d.col === e.col) &&
    (e.messageIncludes === undefined || d.message.includes(e.messageIncludes)) &&
    (e.hintIncludes === undefined || (d.hint ?? '').includes(e.hintIncludes));
}

const show = (d: Diagnostic) => `${d.severity} ${d.rule} ${d.file}:${d.line}:${d.col} ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`;
const showExpected = (e: Expected) => `${e.severity} ${e.rule} ${e.file}:${e.line}${e.col ? `:${e.col}` : ''}`;

/**
 * Pairs each expected diagnostic with a distinct actual one (a multiset match).
 * @returns the expected entries nobody matched and the actual diagnostics left over.
 */
function pairUp(actual: Diagnostic[], expected: Expected[]): { missing: Expected[]; extra: Diagnostic[] } {
  const left = [...actual];
  const missing: Expected[] = [];
  for (const e of expected) {
    const i = left.findIndex((d) => matches(d, e));
    if (i < 0) missing.push(e);
    else left.splice(i, 1);
  }
  return { missing, extra: left };
}

describe('invalid repo fixtures', () => {
  it('has at least 20 cases, each with an expected.json', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
    for (const c of cases) expect(existsSync(join(FIXTURES, c, 'expected.json')), `${c}/expected.json`).toBe(true);
  });

  it('covers every rule the validator is documented to report', () => {
    const rules = new Set(cases.flatMap((c) => (JSON.parse(readFileSync(join(FIXTURES, c, 'expected.json'), 'utf8')) as ExpectedFile).diagnostics.map((d) => d.rule)));
    const required = [
      'yaml-syntax', 'binary-file', 'invalid-encoding', 'empty-file', 'missing-root', 'missing-kind', 'unknown-kind',
      'invalid-document', 'missing-property', 'unknown-property', 'invalid-type', 'invalid-value', 'conflicting-properties',
      'duplicate-number', 'duplicate-id', 'number-outside-plan', 'invalid-number-plan', 'unresolved-reference', 'duplicate-did',
      'routing-loop', 'empty-ring-group', 'queue-without-agents', 'unreachable', 'ivr-option-ambiguous', 'invalid-timezone',
      'invalid-hours', 'schedule-overlap', 'invalid-date', 'invalid-dial-pattern', 'dial-pattern-shadowed',
      'dial-pattern-ambiguous', 'no-emergency-route', 'missing-file', 'invalid-audio', 'unresolved-secret',
    ];
    expect(required.filter((r) => !rules.has(r))).toEqual([]);
  });

  it.each(cases)('%s', async (name) => {
    const dir = join(FIXTURES, name);
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as ExpectedFile;
    expect(expected.diagnostics.length, 'expected.json lists no diagnostics').toBeGreaterThan(0);
    const result = await validateRepoDir(dir, { strict: false }, ENV);
    for (const d of result.diagnostics) {
      expect(d.line, show(d)).toBeGreaterThanOrEqual(1);
      expect(d.col, show(d)).toBeGreaterThanOrEqual(1);
    }
    const { missing, extra } = pairUp(result.diagnostics, expected.diagnostics);
    const report = [
      ...missing.map((e) => `missing:    ${showExpected(e)}${e.messageIncludes ? ` /${e.messageIncludes}/` : ''}${e.hintIncludes ? ` hint /${e.hintIncludes}/` : ''}`),
      ...(expected.exclusive ? extra.map((d) => `unexpected: ${show(d)}`) : []),
    ];
    expect(report, `actual:\n${result.diagnostics.map(show).join('\n')}`).toEqual([]);
  });
});

const examples = existsSync(EXAMPLES) ? subdirs(EXAMPLES) : [];

describe.skipIf(examples.length === 0)('example repos', () => {
  it.each(examples)('%s validates without errors', async (name) => {
    // No secrets in the environment: unresolved secrets are warnings, which examples may have.
    const result = await validateRepoDir(join(EXAMPLES, name), { strict: false }, {});
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    expect(errors.map(show)).toEqual([]);
  });
});
