/**
 * Bencode codec (BEP 3): known vectors, exact byte round-trips (SDP, BOM, non-UTF-8), strict
 * rejection of malformed input with byte offsets, hostile-input limits, and properties:
 * decode(encode(x)) == x for JSON-like values, and arbitrary bytes only ever throw BencodeError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BencodeEncodeError, BencodeError, decode, encode, type BencodeValue } from '../../src/rtpengine/bencode.js';

const enc = (v: unknown) => encode(v as BencodeValue).toString('latin1');
const bytes = (s: string) => Buffer.from(s, 'latin1');

describe('encode: BEP 3 vectors', () => {
  it.each<[string, unknown]>([
    ['4:spam', 'spam'],
    ['0:', ''],
    ['i3e', 3],
    ['i-3e', -3],
    ['i0e', 0],
    ['i0e', -0],
    ['l4:spam4:eggse', ['spam', 'eggs']],
    ['le', []],
    ['d3:cow3:moo4:spam4:eggse', { cow: 'moo', spam: 'eggs' }],
    ['d4:spaml1:a1:bee', { spam: ['a', 'b'] }],
    ['de', {}],
    ['d7:command4:pinge', { command: 'ping' }], // rtpengine ng_control_protocol.md example
    ['3:\x00\xff ', Buffer.from([0, 255, 32])],
    ['2:\x01\x02', new Uint8Array([1, 2])],
    ['i123456789012345678901234567890e', 123456789012345678901234567890n],
    ['2:\xc3\xa9', 'é'], // length counts UTF-8 bytes, not UTF-16 units
  ])('%s', (wire, value) => {
    expect(enc(value)).toBe(wire);
  });

  it('sorts keys by raw UTF-8 bytes, not by UTF-16 code units', () => {
    // UTF-16: U+10000 (D800 DC00) < U+E000; UTF-8: EE 80 80 < F0 90 80 80.
    const out = encode({ '\u{10000}': 1, '\uE000': 2, b: 3, a: 4, B: 5 });
    const keys = Object.keys(decode(out, { strictKeyOrder: true }) as object);
    expect(keys).toEqual(['B', 'a', 'b', '\uE000', '\u{10000}']);
  });

  it('leaves out undefined dictionary values (like JSON) but not other falsy values', () => {
    expect(enc({ a: undefined, b: 0, c: '' })).toBe('d1:bi0e1:c0:e');
  });

  it.each<[string, unknown, RegExp]>([
    ['a boolean', { ICE: true }, /\$\.ICE: booleans are not bencode/],
    ['a nested boolean', { flags: ['a', false] }, /\$\.flags\[1\]: booleans/],
    ['null', { a: null }, /\$\.a: null is not bencode/],
    ['undefined in a list', [undefined], /\$\[0\]: undefined is not bencode/],
    ['a fraction', 1.5, /1\.5 is not an integer/],
    ['NaN', Number.NaN, /NaN is not an integer/],
    ['Infinity', Infinity, /Infinity is not an integer/],
    ['an unsafe integer number', 2 ** 60, /beyond ±2\^53; pass a bigint/],
    ['a Map', new Map(), /Map is not a plain object/],
    ['a Date', new Date(0), /Date is not a plain object/],
    ['a class instance', new (class Foo {})(), /Foo is not a plain object/],
    ['a symbol', Symbol('x'), /symbol is not bencode/],
    ['a function', () => 1, /function is not bencode/],
    ['a lone surrogate', 'a\uD800b', /lone UTF-16 surrogate/],
    ['a lone surrogate key', { '\uDC00': 1 }, /key .*lone UTF-16 surrogate/],
  ])('rejects %s with BencodeEncodeError naming the path', (_name, value, message) => {
    const attempt = () => encode(value as BencodeValue);
    expect(attempt).toThrow(BencodeEncodeError);
    expect(attempt).toThrow(message);
  });

  it('rejects cycles', () => {
    const a: unknown[] = [];
    a.push(a);
    expect(() => encode(a as BencodeValue)).toThrow(/\$\[0\]: circular reference/);
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(enc([shared, shared])).toBe('ld1:xi1eed1:xi1eee');
  });

  it('carries code BENCODE_UNENCODABLE', () => {
    expect(() => encode(true as never)).toThrow(expect.objectContaining({ code: 'BENCODE_UNENCODABLE', path: '$' }));
  });
});

describe('decode', () => {
  it.each<[string, unknown]>([
    ['4:spam', 'spam'],
    ['0:', ''],
    ['i3e', 3],
    ['i-3e', -3],
    ['i0e', 0],
    ['l4:spam4:eggse', ['spam', 'eggs']],
    ['d3:cow3:moo4:spam4:eggse', { cow: 'moo', spam: 'eggs' }],
    ['d4:spaml1:a1:bee', { spam: ['a', 'b'] }],
    ['i9007199254740991e', Number.MAX_SAFE_INTEGER],
    ['i9007199254740992e', 9007199254740992n],
    ['i-123456789012345678901234567890e', -123456789012345678901234567890n],
  ])('%s', (wire, value) => {
    expect(decode(bytes(wire))).toEqual(value);
  });

  it('decodes rtpengine replies, whose keys are not sorted', () => {
    const wire = `d7:warning38:Call-ID not found or tags didn't match6:result2:oke`;
    expect(decode(wire)).toEqual({ warning: "Call-ID not found or tags didn't match", result: 'ok' });
    expect(() => decode(wire, { strictKeyOrder: true })).toThrow(/key "result" out of order at byte 51/);
  });

  it('round-trips an SDP body exactly, CRLFs included', () => {
    const sdp =
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
      'm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n' +
      'a=fmtp:101 0-15\r\na=sendrecv\r\n';
    const wire = encode({ sdp, 'call-id': 'ü@host' });
    const back = decode(wire) as { sdp: string };
    expect(back.sdp).toBe(sdp);
    expect(encode(back).equals(wire)).toBe(true);
  });

  it('keeps a leading byte-order mark', () => {
    expect(decode(encode('\uFEFFx'))).toBe('\uFEFFx');
  });

  it('returns bytes that are not UTF-8 as a Buffer, and they re-encode exactly', () => {
    const wire = bytes('d4:blob4:\xff\xfe\x00\x01e');
    const v = decode(wire) as { blob: Buffer };
    expect(Buffer.isBuffer(v.blob)).toBe(true);
    expect([...v.blob]).toEqual([0xff, 0xfe, 0, 1]);
    expect(encode(v).equals(wire)).toBe(true);
  });

  it("returns every byte string as a Buffer with strings: 'buffer'", () => {
    const v = decode('d1:a2:hi1:ll1:xee', { strings: 'buffer' }) as { a: Buffer; l: Buffer[] };
    expect(v.a).toEqual(Buffer.from('hi'));
    expect(v.l[0]).toEqual(Buffer.from('x'));
  });

  it('makes "__proto__" an own key without touching any prototype', () => {
    const v = decode('d9:__proto__d8:pollutedi1eee') as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(enc(v)).toBe('d9:__proto__d8:pollutedi1eee');
  });

  it('accepts a Uint8Array view into a larger buffer', () => {
    const big = bytes('xxi42eyy');
    expect(decode(big.subarray(2, 6))).toBe(42);
  });

  it.each<[string, string, number, string]>([
    ['empty input', '', 0, 'empty input'],
    ['a lone i', 'i', 1, 'unexpected end of input'],
    ['an empty integer', 'ie', 0, 'integer without digits'],
    ['a bare minus', 'i-e', 0, 'integer without digits'],
    ['negative zero', 'i-0e', 0, 'negative zero'],
    ['a leading zero', 'i03e', 0, 'leading zero'],
    ['a non-digit in an integer', 'i1xe', 2, 'non-digit in integer'],
    ['a plus sign', 'i+1e', 1, 'non-digit in integer'],
    ['an unterminated integer', 'i12', 3, 'unexpected end of input'],
    ['a truncated string', '5:ab', 0, 'string of 5 bytes runs past the end'],
    ['a string length with a leading zero', '01:a', 0, 'string length with a leading zero'],
    ['a negative string length', '-1:a', 0, 'unexpected byte 0x2d'],
    ['a missing colon', '3abc', 1, 'non-digit in string length'],
    ['an unterminated list', 'l', 1, 'unexpected end of input'],
    ['an unterminated dictionary', 'd1:a', 4, 'unexpected end of input'],
    ['a dictionary key without value', 'd1:ae', 4, 'unexpected byte 0x65'],
    ['an integer dictionary key', 'di1e1:ae', 1, 'dictionary key is not a byte string'],
    ['a list dictionary key', 'dle1:ae', 1, 'dictionary key is not a byte string'],
    ['a duplicate key', 'd1:a1:b1:a1:ce', 7, 'duplicate dictionary key "a"'],
    ['a key that is not UTF-8', 'd1:\xffi1ee', 1, 'dictionary key is not valid UTF-8'],
    ['an unknown type byte', 'x', 0, 'unexpected byte 0x78'],
    ['a stray end', 'e', 0, 'unexpected byte 0x65'],
    ['trailing data', '1:ab', 3, 'trailing data after the value'],
    ['two values', 'i1ei2e', 3, 'trailing data after the value'],
    ['a huge declared length', '99999999999999999999:x', 0, 'string longer than'],
  ])('rejects %s', (_name, wire, offset, message) => {
    let caught: unknown;
    try {
      decode(bytes(wire));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(BencodeError);
    expect((caught as BencodeError).offset).toBe(offset);
    expect((caught as BencodeError).message).toContain(message);
    expect((caught as BencodeError).message).toContain(`at byte ${offset}`);
    expect((caught as BencodeError).code).toBe('BENCODE_INVALID');
  });

  it('limits nesting depth (default 64) without overflowing the stack', () => {
    const nested = (n: number) => 'l'.repeat(n) + 'e'.repeat(n);
    expect(decode(nested(64))).toBeDefined();
    expect(() => decode(nested(65))).toThrow(/nesting deeper than 64 at byte 64/);
    expect(() => decode('l'.repeat(1_000_000))).toThrow(BencodeError);
    expect(() => decode(nested(5), { maxDepth: 4 })).toThrow(/nesting deeper than 4/);
  });

  it('limits string length and integer digits', () => {
    expect(() => decode('5:abcde', { maxStringLength: 4 })).toThrow(/string longer than 4 bytes at byte 0/);
    expect(decode('4:abcd', { maxStringLength: 4 })).toBe('abcd');
    expect(() => decode(`i${'1'.repeat(65)}e`)).toThrow(/integer longer than 64 digits/);
    expect(decode(`i${'1'.repeat(64)}e`)).toBe(BigInt('1'.repeat(64)));
    expect(() => decode(`i-${'1'.repeat(10)}e`, { maxIntegerDigits: 9 })).toThrow(/longer than 9 digits/);
  });

  it('stays fast on hostile input (a 1 MB run of list openers, a 1 MB integer)', () => {
    const t0 = performance.now();
    expect(() => decode('l'.repeat(1 << 20))).toThrow(BencodeError);
    expect(() => decode(`i${'9'.repeat(1 << 20)}e`)).toThrow(BencodeError);
    expect(() => decode(`${'9'.repeat(1 << 20)}:`)).toThrow(BencodeError);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

// ---- properties -------------------------------------------------------------------------------

/** JSON-like values without booleans/null/floats: what the NG protocol carries. */
const { value: jsonLike } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'binary' }),
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary' }), tie('value'), { maxKeys: 5 }),
  ),
}));

/** The same plus raw bytes and bigints. */
const { value: withBytes } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'binary' }),
    fc.bigInt({ min: -(10n ** 60n), max: 10n ** 60n }),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 5 }),
  ),
}));

/** Valid encodings damaged: truncated, a byte changed, a byte inserted. */
const damaged = fc
  .tuple(withBytes.map((v) => encode(v as BencodeValue)), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('cut', 'flip', 'insert'))
  .map(([b, i, byte, how]) => {
    const at = b.length === 0 ? 0 : i % b.length;
    if (how === 'cut') return b.subarray(0, at);
    const copy = Buffer.from(b);
    if (how === 'flip') {
      copy[at] = byte;
      return copy;
    }
    return Buffer.concat([copy.subarray(0, at), Buffer.from([byte]), copy.subarray(at)]);
  });

const bencodeAlphabet = fc
  .array(fc.constantFrom(...'ilde0123456789:-ab\xff'.split('')), { maxLength: 40 })
  .map((cs) => Buffer.from(cs.join(''), 'latin1'));

describe('properties', () => {
  it('decode(encode(x)) equals x for JSON-like values without booleans', () => {
    fc.assert(
      fc.property(jsonLike, (x) => {
        expect(decode(encode(x as BencodeValue))).toEqual(x);
      }),
      { numRuns: 500 },
    );
  });

  it('encode(decode(encode(x))) is byte-identical, bytes and bigints included', () => {
    fc.assert(
      fc.property(withBytes, (x) => {
        const wire = encode(x as BencodeValue);
        expect(encode(decode(wire)).equals(wire)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary bytes never throw anything but BencodeError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), damaged, bencodeAlphabet), (input) => {
        try {
          decode(input);
        } catch (err) {
          if (!(err instanceof BencodeError)) throw err;
          expect(err.offset).toBeGreaterThanOrEqual(0);
          expect(err.offset).toBeLessThanOrEqual(input.length);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('with strictKeyOrder, whatever decodes is canonical: it re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(fc.oneof(damaged, bencodeAlphabet), (input) => {
        let value: BencodeValue;
        try {
          value = decode(input, { strictKeyOrder: true });
        } catch (err) {
          if (err instanceof BencodeError) return;
          throw err;
        }
        expect(encode(value).equals(Buffer.from(input))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
