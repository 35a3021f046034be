import { describe, expect, it } from 'vitest';
import { compileDialPattern, covers, DialPatternError, matchesDialPattern, overlaps } from '../../src/model/dial-pattern.js';

const c = compileDialPattern;

/** The error compileDialPattern throws for `source`. */
function errorOf(source: string): DialPatternError {
  try {
    c(source);
  } catch (e) {
    if (e instanceof DialPatternError) return e;
    throw e;
  }
  throw new Error(`"${source}" compiled`);
}

describe('compileDialPattern', () => {
  it('compiles Asterisk letters, sets and tails to per-position atoms', () => {
    expect(c('_NXXNXXXXXX')).toMatchObject({ form: 'asterisk', atoms: ['23456789', '0123456789', '0123456789', '23456789', ...Array(6).fill('0123456789')] });
    expect(c('_Z')).toMatchObject({ atoms: ['123456789'], tail: undefined });
    expect(c('_011.')).toMatchObject({ atoms: ['0', '1', '1'], tail: 'one' });
    expect(c('_9!')).toMatchObject({ atoms: ['9'], tail: 'zero' });
    expect(c('_[15-7]')).toMatchObject({ atoms: ['1567'] });
    expect(c('_[31]X')).toMatchObject({ atoms: ['13', '0123456789'] });
    expect(c('_[33]').atoms).toEqual(['3']);
    expect(c('_+1NXX')).toMatchObject({ atoms: ['+', '1', '23456789', '0123456789', '0123456789'] });
    expect(c('_*7X').atoms).toEqual(['*', '7', '0123456789']);
    expect(c('_xzn').atoms).toEqual(['0123456789', '123456789', '23456789']);
  });

  it('treats a pattern without "_" as a literal number', () => {
    expect(c('911')).toMatchObject({ form: 'literal', atoms: ['9', '1', '1'] });
    expect(c('911').tail).toBeUndefined();
    expect(c('+15551234567').form).toBe('literal');
    expect(c('*97').atoms).toEqual(['*', '9', '7']);
  });

  it('keeps regex patterns as regular expressions without atoms', () => {
    const p = c('/^\\+1[2-9]\\d{9}$/');
    expect(p.form).toBe('regex');
    expect(p.atoms).toBeUndefined();
    expect(matchesDialPattern(p, '+12125551234')).toBe(true);
    expect(matchesDialPattern(p, '+11125551234')).toBe(false);
  });

  it('matches dialled strings', () => {
    const nanp = c('_NXXNXXXXXX');
    expect(matchesDialPattern(nanp, '2125551234')).toBe(true);
    expect(matchesDialPattern(nanp, '1125551234')).toBe(false);
    expect(matchesDialPattern(nanp, '212555123')).toBe(false);
    expect(matchesDialPattern(nanp, '21255512345')).toBe(false);
    expect(matchesDialPattern(c('_011.'), '011')).toBe(false);
    expect(matchesDialPattern(c('_011.'), '01149301234')).toBe(true);
    expect(matchesDialPattern(c('_9!'), '9')).toBe(true);
    expect(matchesDialPattern(c('_9.'), '9')).toBe(false);
    expect(matchesDialPattern(c('_+X.'), '+4930')).toBe(true);
    expect(matchesDialPattern(c('_*7X'), '*72')).toBe(true);
    expect(matchesDialPattern(c('_*7X'), 'a72')).toBe(false);
    expect(matchesDialPattern(c('911'), '911')).toBe(true);
    expect(matchesDialPattern(c('911'), '9111')).toBe(false);
    expect(matchesDialPattern(c('_[1-3]'), '4')).toBe(false);
  });

  it.each([
    ['_', 0, /empty after "_"/],
    ['_9.X', 2, /"\." must be the last character/],
    ['_9!1', 2, /"!" must be the last character/],
    ['_1NXX[2-9XXXXXX', 5, /"\[" has no closing "\]"/],
    ['_1A', 2, /"A" is not a pattern character/],
    ['_[]', 1, /empty set/],
    ['_[9-1]', 2, /bad range "9-1"/],
    ['_[a]', 2, /"a" is not allowed in a set/],
    ['_1[2-x]', 3, /bad range "2-x"/],
    ['9a1', 1, /"a" is not allowed in a literal number/],
    ['ABC', 0, /"A" is not allowed/],
    ['', 0, /literal number/],
    ['/(/', 1, /invalid regular expression/],
  ])('rejects %j at offset %i', (source, offset, message) => {
    const e = errorOf(source);
    expect(e.offset).toBe(offset);
    expect(e.message).toMatch(message);
    // The offset points into the source (at the offending character where there is one).
    expect(e.offset).toBeLessThanOrEqual(Math.max(source.length - 1, 0));
  });
});

describe('covers', () => {
  // [earlier, later, earlier covers later]
  it.each([
    ['_X.', '_011.', true],
    ['_011.', '_X.', false],
    ['_NXXNXXXXXX', '_1NXXNXXXXXX', false],
    ['_1NXXNXXXXXX', '_NXXNXXXXXX', false],
    ['_NXXNXXXXXX', '_NXXNXXXXXX', true],
    ['_XXXXXXXXXX', '_NXXNXXXXXX', true],
    ['_NXXNXXXXXX', '_XXXXXXXXXX', false],
    ['_NXXNXXXXXX', '2125551234', true],
    ['_NXXNXXXXXX', '1125551234', false],
    ['911', '911', true],
    ['911', '_911', true],
    ['911', '_91X', false],
    ['_91X', '911', true],
    // "!" is zero or more, "." one or more.
    ['_9!', '_9.', true],
    ['_9.', '_9!', false],
    ['_9!', '_9', true],
    ['_9.', '_9', false],
    ['_9.', '_9X', true],
    ['_9.', '_9X.', true],
    ['_9!', '_9X!', true],
    ['_9X!', '_9!', false],
    ['_9X.', '_9.', false],
    ['_9X!', '_9.', false],
    ['_X!', '911', true],
    ['_!', '_X.', true],
    ['_.', '_!', false],
    // A fixed-length pattern never covers a variable one, whatever its atoms.
    ['_XXX', '_X.', false],
    ['_XXX', '_XX!', false],
    // Sets and ranges.
    ['_[1-5]', '_[2-4]', true],
    ['_[2-4]', '_[1-5]', false],
    ['_[1-5]', '_3', true],
    ['_[13579]', '_[1-3]', false],
    ['_Z', '_[1-9]', true],
    ['_[1-9]', '_Z', true],
    ['_N', '_Z', false],
    ['_Z', '_N', true],
    ['_[0-9]XX', '_XXX', true],
    ['_+1NXX.', '_+1212.', true],
    ['_+1NXX.', '_+1112.', false],
  ])('%s covers %s: %s', (p, q, want) => {
    expect(covers(c(p), c(q))).toBe(want);
  });

  it('is undefined when either side is a regex', () => {
    expect(covers(c('/^9/'), c('_9.'))).toBeUndefined();
    expect(covers(c('_X.'), c('/^9\\d+$/'))).toBeUndefined();
    expect(overlaps(c('/^9/'), c('911'))).toBeUndefined();
  });
});

describe('overlaps', () => {
  it.each([
    ['_NXXNXXXXXX', '_2XXXXXXXXX', true],
    ['_NXXNXXXXXX', '_1NXXNXXXXXX', false],
    ['_NXXNXXXXXX', '_1XXXXXXXXX', false],
    ['_X.', '_011.', true],
    ['_011.', '_X.', true],
    ['_9.', '_9', false],
    ['_9!', '_9', true],
    ['_9X', '_9.', true],
    ['_9X', '_8.', false],
    ['_XXX', '_XXXX', false],
    ['_XXX', '_X!', true],
    ['_XXX', '_XXX.', false],
    ['_[1-3]', '_[4-6]', false],
    ['_[1-4]', '_[4-6]', true],
    ['_N', '_[01]', false],
    ['911', '_9XX', true],
    ['911', '912', false],
    ['_+1.', '_+4.', false],
  ])('%s / %s: %s', (p, q, want) => {
    expect(overlaps(c(p), c(q))).toBe(want);
    expect(overlaps(c(q), c(p))).toBe(want);
  });

  it('is implied by covers between patterns that match something', () => {
    const all = ['_X.', '_011.', '_NXXNXXXXXX', '_1NXXNXXXXXX', '_9!', '_9.', '_9', '911', '_[1-5]', '_Z', '_N', '_X!', '_XX'];
    for (const p of all) {
      for (const q of all) {
        if (covers(c(p), c(q))) expect(overlaps(c(p), c(q)), `${p} covers ${q}`).toBe(true);
      }
    }
  });
});

describe('covers agrees with matching', () => {
  // Brute force over short strings: p covers q exactly when every string q matches, p matches.
  const alphabet = ['0', '1', '2', '9', '+'];
  const strings: string[] = [''];
  for (let len = 1; len <= 4; len++) {
    for (const s of strings.filter((x) => x.length === len - 1)) for (const ch of alphabet) strings.push(s + ch);
  }
  const patterns = ['_X', '_XX', '_X.', '_X!', '_9!', '_9.', '_[12]X', '_N.', '_Z!', '_1X', '91', '_+X!', '_.', '_!', '_9[0-2].'];
  it.each(patterns.flatMap((p) => patterns.map((q) => [p, q] as const)))('%s vs %s', (p, q) => {
    const cp = c(p);
    const cq = c(q);
    const qs = strings.filter((s) => matchesDialPattern(cq, s));
    const coveredOnSample = qs.every((s) => matchesDialPattern(cp, s));
    // covers() may only claim coverage when the sample agrees (no false positives); with strings
    // up to 4 characters and patterns up to 3 positions the sample decides every case here.
    expect(covers(cp, cq)).toBe(coveredOnSample);
    expect(overlaps(cp, cq)).toBe(strings.some((s) => matchesDialPattern(cp, s) && matchesDialPattern(cq, s)));
  });
});

describe('regex patterns match the whole dialled string', () => {
  it('anchors /911/ so that 19115 does not match', () => {
    const p = compileDialPattern('/911/');
    expect(matchesDialPattern(p, '911')).toBe(true);
    expect(matchesDialPattern(p, '19115')).toBe(false);
    expect(matchesDialPattern(compileDialPattern('/^\\+1\\d{3}$|^911$/'), '911')).toBe(true);
  });
});
