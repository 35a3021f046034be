import { describe, expect, it } from 'vitest';
import { inRange, parseRange, rangesOverlap, type NumberRange } from '../../src/model/number-plan.js';

function range(text: string): NumberRange {
  const r = parseRange(text);
  if ('error' in r) throw new Error(r.error);
  return r;
}

describe('parseRange', () => {
  it('parses FIRST-LAST and single numbers', () => {
    expect(parseRange('1000-1999')).toEqual({ text: '1000-1999', first: '1000', last: '1999' });
    expect(parseRange('6000')).toEqual({ text: '6000', first: '6000', last: '6000' });
    expect(parseRange('0100-0199')).toEqual({ text: '0100-0199', first: '0100', last: '0199' });
    expect(parseRange('1000-1000')).toMatchObject({ first: '1000', last: '1000' });
  });

  it.each([
    ['', /is not FIRST-LAST/],
    ['-', /is not FIRST-LAST/],
    ['1000-', /is not FIRST-LAST/],
    ['-1999', /is not FIRST-LAST/],
    ['10a0-1999', /is not FIRST-LAST/],
    ['1000 - 1999', /is not FIRST-LAST/],
    ['1000-1999-2999', /is not FIRST-LAST/],
    ['100-1999', /same number of digits/],
    ['1999-1000', /1999 is after 1000/],
    ['2999-2000', /2999 is after 2000/],
  ])('rejects %j', (text, message) => {
    const r = parseRange(text);
    expect('error' in r && r.error).toMatch(message);
  });
});

describe('inRange', () => {
  const r = range('1000-1999');
  it.each([
    ['1000', true],
    ['1500', true],
    ['1999', true],
    ['0999', false],
    ['2000', false],
    ['999', false],
    ['10000', false],
    ['100', false],
  ])('%s in 1000-1999: %s', (n, want) => {
    expect(inRange(r, n)).toBe(want);
  });

  it('compares digit strings, keeping leading zeros significant', () => {
    const z = range('0100-0199');
    expect(inRange(z, '0150')).toBe(true);
    expect(inRange(z, '150')).toBe(false);
    expect(inRange(range('6000'), '6000')).toBe(true);
    expect(inRange(range('6000'), '6001')).toBe(false);
  });
});

describe('rangesOverlap', () => {
  it.each([
    ['1000-1999', '1500-2500', true],
    ['1000-1999', '1999-2999', true],
    ['1000-1999', '2000-2999', false],
    ['1000-1999', '1200', true],
    ['1000-1999', '100-199', false],
    ['6000-6099', '6050-6059', true],
    ['0100-0199', '1000-1999', false],
  ])('%s / %s: %s', (a, b, want) => {
    expect(rangesOverlap(range(a), range(b))).toBe(want);
    expect(rangesOverlap(range(b), range(a))).toBe(want);
  });
});
