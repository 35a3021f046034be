/**
 * Outbound dial patterns. Three forms:
 * - Asterisk style, starting with `_`: `X` = 0-9, `Z` = 1-9, `N` = 2-9, `[15-7]` = a set,
 *   `.` = one or more of anything, `!` = zero or more (both only at the end); other characters
 *   (digits, `+`, `*`, `#`) match themselves. (Asterisk "Pattern Matching" in extensions.conf.)
 * - A literal number: `911`.
 * - A regular expression between slashes, matched against the whole dialled string: `/^\+1\d{10}$/`.
 * Asterisk and literal patterns compile to position sets, so coverage between them is decidable
 * (used to warn about shadowed routes); regex patterns only match.
 */

const DIGITS = '0123456789';
const ALPHABET = `${DIGITS}*#+`;

/** A compiled pattern: `atoms` (per-position character sets) and an optional variable tail. */
export interface DialPattern {
  source: string;
  form: 'asterisk' | 'literal' | 'regex';
  /** Per position, the characters allowed; undefined for regex patterns. */
  atoms?: string[];
  /** `one`: one or more further characters (`.`); `zero`: zero or more (`!`). */
  tail?: 'one' | 'zero';
  regex: RegExp;
}

/** Thrown by compileDialPattern for malformed patterns; `offset` is 0-based in the source. */
export class DialPatternError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/**
 * Compiles a pattern.
 * @throws DialPatternError naming the offending character and its offset.
 */
export function compileDialPattern(source: string): DialPattern {
  if (source.length >= 2 && source.startsWith('/') && source.endsWith('/')) {
    const body = source.slice(1, -1);
    try {
      // Anchored: the README promises the regex matches the whole dialled string, so /911/ must not match 19115.
      return { source, form: 'regex', regex: new RegExp(`^(?:${body})$`, 'u') };
    } catch (e) {
      throw new DialPatternError(`invalid regular expression: ${(e as Error).message}`, 1);
    }
  }
  if (!source.startsWith('_')) {
    const bad = [...source].findIndex((c) => !ALPHABET.includes(c));
    if (bad >= 0 || source.length === 0) {
      throw new DialPatternError(
        `"${source[bad] ?? ''}" is not allowed in a literal number; Asterisk-style patterns start with "_"`,
        Math.max(bad, 0),
      );
    }
    const atoms = [...source];
    return { source, form: 'literal', atoms, regex: toRegex(atoms) };
  }
  const atoms: string[] = [];
  let tail: DialPattern['tail'];
  for (let i = 1; i < source.length; i++) {
    const c = source[i]!;
    if (tail) throw new DialPatternError(`"${source[i - 1]}" must be the last character of a pattern`, i - 1);
    if (c === 'X' || c === 'x') atoms.push(DIGITS);
    else if (c === 'Z' || c === 'z') atoms.push(DIGITS.slice(1));
    else if (c === 'N' || c === 'n') atoms.push(DIGITS.slice(2));
    else if (c === '.') tail = 'one';
    else if (c === '!') tail = 'zero';
    else if (c === '[') {
      const end = source.indexOf(']', i);
      if (end < 0) throw new DialPatternError('"[" has no closing "]"', i);
      atoms.push(parseSet(source, i + 1, end));
      i = end;
    } else if (ALPHABET.includes(c)) atoms.push(c);
    else throw new DialPatternError(`"${c}" is not a pattern character (X Z N [..] . ! digits + * #)`, i);
  }
  if (atoms.length === 0 && !tail) throw new DialPatternError('pattern is empty after "_"', 0);
  return { source, form: 'asterisk', atoms, tail, regex: toRegex(atoms, tail) };
}

function parseSet(source: string, from: number, to: number): string {
  let set = '';
  for (let i = from; i < to; i++) {
    const c = source[i]!;
    if (source[i + 1] === '-' && i + 2 < to) {
      const hi = source[i + 2]!;
      if (!DIGITS.includes(c) || !DIGITS.includes(hi) || hi < c) throw new DialPatternError(`bad range "${c}-${hi}" in set`, i);
      for (let d = c.charCodeAt(0); d <= hi.charCodeAt(0); d++) set += String.fromCharCode(d);
      i += 2;
    } else if (ALPHABET.includes(c)) set += c;
    else throw new DialPatternError(`"${c}" is not allowed in a set`, i);
  }
  if (!set) throw new DialPatternError('empty set "[]"', from - 1);
  return [...new Set(set)].sort().join('');
}

function toRegex(atoms: string[], tail?: DialPattern['tail']): RegExp {
  const esc = (s: string) => s.replace(/[*+#]/g, (c) => `\\${c}`);
  const body = atoms.map((a) => (a.length === 1 ? esc(a) : `[${esc(a)}]`)).join('');
  const t = tail === 'one' ? '.+' : tail === 'zero' ? '.*' : '';
  return new RegExp(`^${body}${t}$`, 'u');
}

/** True when `p` matches the dialled string `dialled`. */
export function matchesDialPattern(p: DialPattern, dialled: string): boolean {
  return p.regex.test(dialled);
}

const subset = (a: string, b: string) => [...a].every((c) => b.includes(c));
const intersects = (a: string, b: string) => [...a].some((c) => b.includes(c));

/**
 * True when every string `q` matches is also matched by `p` (so a route with `p` tried first
 * leaves `q` unreachable). Undefined when either is a regex (not decidable here).
 */
export function covers(p: DialPattern, q: DialPattern): boolean | undefined {
  if (!p.atoms || !q.atoms) return undefined;
  const m = p.atoms.length;
  const n = q.atoms.length;
  const minQ = n + (q.tail === 'one' ? 1 : 0);
  if (!p.tail) {
    if (q.tail || n !== m) return false;
  } else if (p.tail === 'zero') {
    if (minQ < m) return false;
  } else if (minQ < m + 1) return false;
  for (let i = 0; i < m; i++) {
    // Q's positions past its atoms are "anything" (its tail); P's fixed atom there can't cover that.
    if (i >= n) return false;
    if (!subset(q.atoms[i]!, p.atoms[i]!)) return false;
  }
  return true;
}

/** True when some dialled string matches both. Undefined when either is a regex. */
export function overlaps(p: DialPattern, q: DialPattern): boolean | undefined {
  if (!p.atoms || !q.atoms) return undefined;
  const range = (x: DialPattern): [number, number] => {
    const n = x.atoms!.length;
    return x.tail ? [n + (x.tail === 'one' ? 1 : 0), Infinity] : [n, n];
  };
  const [pl, ph] = range(p);
  const [ql, qh] = range(q);
  if (Math.max(pl, ql) > Math.min(ph, qh)) return false;
  const k = Math.min(p.atoms.length, q.atoms.length);
  for (let i = 0; i < k; i++) if (!intersects(p.atoms[i]!, q.atoms[i]!)) return false;
  return true;
}
