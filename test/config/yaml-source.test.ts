import { describe, expect, it } from 'vitest';
import { documentPosition, locate, parseYamlFile, type SourceDocument } from '../../src/config/yaml-source.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const parse = (text: string | Uint8Array) => parseYamlFile('x/f.yaml', typeof text === 'string' ? utf8(text) : text);

/** The only document of `text`. */
function one(text: string): SourceDocument {
  const r = parse(text);
  expect(r.diagnostics).toEqual([]);
  expect(r.documents).toHaveLength(1);
  return r.documents[0]!;
}

const at = (line: number, col: number) => ({ file: 'x/f.yaml', line, col });

describe('parseYamlFile', () => {
  it('returns plain values with file and document index', () => {
    const r = parse('kind: Extension\nnumber: "1001"\nlist: [1, two]\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.documents).toHaveLength(1);
    expect(r.documents[0]).toMatchObject({ file: 'x/f.yaml', index: 0, value: { kind: 'Extension', number: '1001', list: [1, 'two'] } });
  });

  it('splits multiple documents and keeps empty ones as null', () => {
    const r = parse('a: 1\n---\n# second\nb: 2\n---\n...\n---\nc: 3\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.documents.map((d) => [d.index, d.value])).toEqual([[0, { a: 1 }], [1, { b: 2 }], [2, null], [3, { c: 3 }]]);
    expect(r.documents.map(documentPosition)).toEqual([at(1, 1), at(4, 1), at(5, 4), at(8, 1)]);
  });

  it('returns no documents for an empty file or one with only comments', () => {
    for (const text of ['', '\n\n', '# just a comment\n']) expect(parse(text)).toEqual({ documents: [], diagnostics: [] });
  });

  it('reports syntax errors at their position and drops only the broken document', () => {
    const r = parse('a: 1\n---\nforward:\n  busy: x\n noAnswer: y\n---\nc: 3\n');
    expect(r.diagnostics).toMatchObject([{ severity: 'error', rule: 'yaml-syntax', file: 'x/f.yaml', line: 5, col: 1 }]);
    expect(r.diagnostics[0]!.message).not.toMatch(/\n|at line/);
    expect(r.documents.map((d) => d.value)).toEqual([{ a: 1 }, { c: 3 }]);
  });

  it('reports duplicate keys at the second key with a hint', () => {
    const r = parse('kind: Extension\nname: A\nnumber: "1"\nname: B\n');
    expect(r.diagnostics).toMatchObject([{ rule: 'yaml-syntax', line: 4, col: 1, message: 'Map keys must be unique' }]);
    expect(r.diagnostics[0]!.hint).toMatch(/once per mapping/);
    expect(r.documents).toEqual([]);
  });

  it('reports tabs used as indentation', () => {
    const r = parse('a:\n\tb: 1\n');
    expect(r.diagnostics).toMatchObject([{ rule: 'yaml-syntax', line: 2, col: 1 }]);
    expect(r.diagnostics[0]!.hint).toMatch(/spaces, not tabs/);
  });

  it('reports parser warnings as warnings and keeps the document', () => {
    const r = parse('a: !custom 1\n');
    expect(r.diagnostics).toMatchObject([{ severity: 'warning', rule: 'yaml-syntax', line: 1, col: 4 }]);
    expect(r.documents.map((d) => d.value)).toEqual([{ a: '1' }]);
  });

  it('points an alias without anchor at the alias', () => {
    const r = parse('a: &x [1]\nb: *y\n');
    expect(r.diagnostics).toMatchObject([{ severity: 'error', rule: 'yaml-syntax', line: 2, col: 4 }]);
    expect(r.diagnostics[0]!.message).toMatch(/Unresolved alias/);
  });

  it('refuses alias bombs instead of expanding them', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    const r = parse(`${lines.join('\n')}\n`);
    expect(r.documents).toEqual([]);
    expect(r.diagnostics).toMatchObject([{ severity: 'error', rule: 'yaml-syntax', line: 1, col: 1 }]);
  });

  it('counts lines of CRLF files like LF files', () => {
    const sd = one('a: 1\r\nb:\r\n  - x\r\n  - y\r\n');
    expect(locate(sd, ['b', 1])).toEqual(at(4, 5));
  });
});

describe('encodings', () => {
  it('reports files with NUL bytes as binary', () => {
    const r = parse(new Uint8Array([0x6b, 0x69, 0x6e, 0x64, 0x00, 0x01]));
    expect(r).toMatchObject({ documents: [], diagnostics: [{ severity: 'error', rule: 'binary-file', line: 1, col: 1 }] });
  });

  it('points invalid UTF-8 at the first bad byte', () => {
    const bytes = new Uint8Array([...utf8('kind: Extension\nname: Jos'), 0xe9, ...utf8('\n')]);
    expect(parse(bytes)).toMatchObject({ documents: [], diagnostics: [{ severity: 'error', rule: 'invalid-encoding', line: 2, col: 10 }] });
  });

  it('counts columns in characters after multi-byte characters', () => {
    const bytes = new Uint8Array([...utf8('name: Zoë '), 0xc3, 0x28]);
    expect(parse(bytes).diagnostics).toMatchObject([{ rule: 'invalid-encoding', line: 1, col: 11 }]);
  });

  it('skips correctly encoded U+FFFD characters before the bad byte', () => {
    const bytes = new Uint8Array([...utf8('a: "\uFFFD"\nb: "\uFFFD'), 0xff, ...utf8('"\n')]);
    expect(parse(bytes).diagnostics).toMatchObject([{ rule: 'invalid-encoding', line: 2, col: 6 }]);
  });

  it('accounts for a UTF-8 byte order mark', () => {
    expect(one('\uFEFFa: 1\n').value).toEqual({ a: 1 });
    const bytes = new Uint8Array([...utf8('\uFEFFa: \uFFFD '), 0x80]);
    expect(parse(bytes).diagnostics).toMatchObject([{ rule: 'invalid-encoding', line: 1, col: 6 }]);
  });

  it('reports a truncated multi-byte character at the end of the file', () => {
    const bytes = new Uint8Array([...utf8('a: 1\nb: x'), 0xe2, 0x82]);
    expect(parse(bytes).diagnostics).toMatchObject([{ rule: 'invalid-encoding', line: 2, col: 5 }]);
  });

  it('reports UTF-16 files as a wrong encoding, not as binary', () => {
    const le = new Uint8Array([0xff, 0xfe, ...[...'a: 1\n'].flatMap((ch) => [ch.charCodeAt(0), 0])]);
    const be = new Uint8Array([0xfe, 0xff, ...[...'a: 1\n'].flatMap((ch) => [0, ch.charCodeAt(0)])]);
    for (const bytes of [le, be]) {
      const r = parse(bytes);
      expect(r.diagnostics).toMatchObject([{ severity: 'error', rule: 'invalid-encoding', line: 1, col: 1 }]);
      expect(r.diagnostics[0]!.message).toMatch(/UTF-16/);
    }
  });
});

describe('locate', () => {
  const sd = one([
    '# an IVR',          // 1
    'kind: IVR',          // 2
    'options:',           // 3
    '  1: hangup',        // 4
    '  "#": ivr:main',    // 5
    'hosts:',             // 6
    '  - host: a',        // 7
    '    port: 5060',     // 8
    '  - {host: b}',      // 9
    'list: [a, {b: c}]',  // 10
    'empty:',             // 11
    '',
  ].join('\n'));

  it('finds values of mapping keys', () => {
    expect(locate(sd, ['kind'])).toEqual(at(2, 7));
    expect(locate(sd, ['options', '#'])).toEqual(at(5, 8));
  });

  it('matches numeric keys by their text', () => {
    expect(locate(sd, ['options', '1'])).toEqual(at(4, 6));
    expect(locate(sd, ['options', 1])).toEqual(at(4, 6));
  });

  it('finds the key itself with key: true', () => {
    expect(locate(sd, ['options'], { key: true })).toEqual(at(3, 1));
    expect(locate(sd, ['options', '#'], { key: true })).toEqual(at(5, 3));
    expect(locate(sd, ['hosts', 0, 'port'], { key: true })).toEqual(at(8, 5));
  });

  it('finds sequence items, block and flow', () => {
    expect(locate(sd, ['hosts', 0])).toEqual(at(7, 5));
    expect(locate(sd, ['hosts', 1])).toEqual(at(9, 5));
    expect(locate(sd, ['hosts', '1', 'host'])).toEqual(at(9, 12));
    expect(locate(sd, ['list', 1, 'b'])).toEqual(at(10, 15));
  });

  it('falls back to the closest existing ancestor', () => {
    expect(locate(sd, ['hosts', 5, 'host'])).toEqual(at(7, 3));
    expect(locate(sd, ['list', 7])).toEqual(at(10, 7));
    expect(locate(sd, ['nope', 'deeper'])).toEqual(documentPosition(sd));
    expect(locate(sd, ['kind', 'x'])).toEqual(at(2, 7));
    expect(locate(sd, ['nope'], { key: true })).toEqual(at(2, 1));
  });

  it('points at the document for the empty path, past leading comments', () => {
    expect(locate(sd, [])).toEqual(at(2, 1));
    expect(documentPosition(sd)).toEqual(at(2, 1));
  });

  it('handles keys with null values', () => {
    expect(locate(sd, ['empty'], { key: true })).toEqual(at(11, 1));
    expect(locate(sd, ['empty']).line).toBeGreaterThanOrEqual(11);
  });
});
