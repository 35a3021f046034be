/**
 * Number-plan ranges from pbx.yaml (`"1000-1999"` or `"1000"`), compared as digit strings of equal
 * length so that "0100-0199" keeps its leading zero.
 */

/** A parsed inclusive range; `first` and `last` have the same number of digits. */
export interface NumberRange {
  text: string;
  first: string;
  last: string;
}

/**
 * Parses `FIRST-LAST` or a single number.
 * @returns the range, or an error message saying what is wrong with it.
 */
export function parseRange(text: string): NumberRange | { error: string } {
  const parts = text.split('-');
  // "1000-1999-2999" must not pass as 1000-1999 (the schema rejects it too, but this is public).
  if (parts.length > 2) return { error: `"${text}" is not FIRST-LAST` };
  const [first, last = first] = parts as [string, string?];
  if (!/^[0-9]+$/.test(first) || !/^[0-9]+$/.test(last)) return { error: `"${text}" is not FIRST-LAST` };
  if (first.length !== last.length) return { error: `"${text}": both ends must have the same number of digits` };
  if (first > last) return { error: `"${text}": ${first} is after ${last}` };
  return { text, first, last };
}

/** True when `number` (digits) lies in `r`. */
export function inRange(r: NumberRange, number: string): boolean {
  return number.length === r.first.length && number >= r.first && number <= r.last;
}

/** True when two ranges share a number. */
export function rangesOverlap(a: NumberRange, b: NumberRange): boolean {
  return a.first.length === b.first.length && a.first <= b.last && b.first <= a.last;
}
