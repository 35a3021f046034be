/**
 * Properties of the SIP codec (fast-check):
 * - round trips: parseUri(formatUri(u)) == u, parseNameAddr(formatNameAddr(n)) == n,
 *   parseVia(formatVia(v)) == [v], and parseMessage(serializeMessage(m)) == m (plus the
 *   Content-Length serialization writes) for generated well-formed messages;
 * - hostile input: arbitrary bytes and mutated RFC 4475 messages only ever throw SipParseError, and
 *   whatever parses re-serializes to an equal message; header-value parsers likewise;
 * - the stream framer cuts concatenated messages back exactly, whatever the chunking, never throws,
 *   and never yields more bytes than it was given.
 */
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NameAddr, SipMessage, SipUri, Via } from '../../src/sip/message.js';
import {
  canonicalHeaderName, formatNameAddr, formatVia, parseCSeq, parseNameAddr, parseVia, quoteString,
} from '../../src/sip/headers.js';
import { parseMessage, SipParseError } from '../../src/sip/parse.js';
import { serializeMessage } from '../../src/sip/serialize.js';
import { SipStreamFramer } from '../../src/sip/stream-framer.js';
import { formatUri, parseUri } from '../../src/sip/uri.js';

const RUNS = { numRuns: Number(process.env.SIP_FUZZ_RUNS ?? 300) };
const chars = (set: string, minLength = 1, maxLength = 10) => fc.string({ unit: fc.constantFrom(...set), minLength, maxLength });
const pieces = (parts: fc.Arbitrary<string>, maxLength = 8) => fc.array(parts, { minLength: 1, maxLength }).map((a) => a.join(''));
const escaped = fc.integer({ min: 0, max: 255 }).map((n) => `%${n.toString(16).padStart(2, '0').toUpperCase()}`);

// §25.1 character classes (parameter names lower-case: the parser lower-cases them).
const TOKEN = "abcXYZ019-.!%*_+`'~";
const token = chars(TOKEN, 1, 12);
const lowerToken = chars("abcxyz019-.!%*_+`'~", 1, 8);
const label = chars('abcxyz0189-', 1, 8);
const hostname = fc.array(label, { minLength: 1, maxLength: 4 }).map((a) => a.join('.'));
const host = fc.oneof(hostname, fc.ipV4(), fc.ipV6().map((ip) => `[${ip}]`));
const port = fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined });
const user = pieces(fc.oneof(chars("abcXYZ09-_.!~*'()&=+$,;?/"), escaped));
const password = fc.option(chars("abc09-_.!~*'()&=+$,", 0, 8), { nil: undefined });
const paramValue = pieces(fc.oneof(chars("abcXYZ09-_.!~*'()[]/:&+$"), escaped), 4);
const uriParams = fc
  .uniqueArray(fc.tuple(chars("abcxyz09-_.!~*'()[]/:&+$", 1, 8), fc.option(paramValue, { nil: null })), { selector: (t) => t[0], maxLength: 4 })
  .map((entries) => new Map(entries));
const uriHeaders = fc
  .uniqueArray(fc.tuple(chars("abcXYZ09-_.!~*'()[]/?:+$", 1, 8), fc.oneof(fc.constant(''), pieces(fc.oneof(chars("abc09[]/?:+$"), escaped), 3))), { selector: (t) => t[0], maxLength: 3 })
  .map((entries) => new Map(entries));

/** A SIP(S) URI object as parseUri returns it (optional fields absent, not undefined). */
const sipUri = (withHeaders: boolean): fc.Arbitrary<SipUri> =>
  fc
    .record({
      scheme: fc.constantFrom('sip', 'sips'),
      user: fc.option(user, { nil: undefined }),
      password,
      host,
      port,
      params: uriParams,
      headers: withHeaders ? uriHeaders : fc.constant(new Map<string, string>()),
    })
    .map(({ user: u, password: pw, port: p, ...rest }) => ({
      ...rest,
      ...(u === undefined ? {} : { user: u, ...(pw === undefined ? {} : { password: pw }) }),
      ...(p === undefined ? {} : { port: p }),
    }));
const telUri: fc.Arbitrary<SipUri> = chars('0123456789-+;=abc', 1, 16).map((opaque) => ({ scheme: 'tel', host: '', params: new Map(), headers: new Map(), opaque }));

/** Free text without line breaks: ASCII, controls, quotes, backslashes, non-ASCII, emoji. */
const text = fc
  .string({ unit: fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }), fc.constantFrom('"', '\\', '\x00', '\x07', '\x7f', '\t', ' ', ',', ';', '<', 'é', '😀')), maxLength: 20 })
  .filter((s) => !/[\r\n]/.test(s));
const genValue = fc.oneof(chars("abcXYZ019-.!%*_+`'~:[]", 1, 10), text.map(quoteString));
const headerParams = fc
  .uniqueArray(fc.tuple(lowerToken, fc.option(genValue, { nil: null })), { selector: (t) => t[0], maxLength: 4 })
  .map((entries) => new Map(entries));

const nameAddr: fc.Arbitrary<NameAddr> = fc
  .record({ displayName: fc.option(text, { nil: undefined }), uri: fc.oneof(sipUri(true), telUri), params: headerParams })
  .map(({ displayName, ...rest }) => (displayName === undefined ? rest : { displayName, ...rest }));

const via: fc.Arbitrary<Via> = fc
  .record({ transport: token.map((t) => t.toUpperCase()), host: fc.oneof(hostname, fc.ipV4(), fc.ipV6().map((ip) => `[${ip}]`)), port, params: headerParams })
  .map(({ port: p, ...rest }) => ({ protocol: 'SIP/2.0', ...rest, ...(p === undefined ? {} : { port: p }) }));

const WORD = "abcXYZ019-.!%*_+`'~()<>:\\\"/[]?{}";
const callId = fc.tuple(chars(WORD, 1, 20), fc.option(chars(WORD, 1, 10), { nil: undefined })).map(([a, b]) => (b === undefined ? a : `${a}@${b}`));
/** Fields parseMessage checks itself; extension headers avoid them (a second From is an error). */
const CHECKED = new Set(['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Length', 'Contact', 'Route', 'Record-Route']);
const extraHeader = fc
  .record({ name: token.map(canonicalHeaderName).filter((n) => !CHECKED.has(n)), value: text.map((s) => s.replace(/^[ \t]+|[ \t]+$/g, '')) });

const message: fc.Arbitrary<SipMessage> = fc
  .record({
    kind: fc.constantFrom('request' as const, 'response' as const),
    method: token,
    uri: fc.oneof(sipUri(false), telUri).map(formatUri),
    status: fc.integer({ min: 100, max: 699 }),
    reason: text,
    vias: fc.array(fc.array(via, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 3 }),
    from: nameAddr,
    to: nameAddr,
    callId,
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    maxForwards: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    contacts: fc.array(nameAddr, { maxLength: 2 }),
    extra: fc.array(extraHeader, { maxLength: 5 }),
    body: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  })
  .map((g) => {
    const headers = [
      ...g.vias.map((line) => ({ name: 'Via', value: line.map(formatVia).join(', ') })),
      { name: 'From', value: formatNameAddr(g.from) },
      { name: 'To', value: formatNameAddr(g.to) },
      { name: 'Call-ID', value: g.callId },
      { name: 'CSeq', value: `${g.seq} ${g.method}` },
      ...(g.maxForwards === undefined ? [] : [{ name: 'Max-Forwards', value: String(g.maxForwards) }]),
      ...(g.contacts.length === 0 ? [] : [{ name: 'Contact', value: g.contacts.map(formatNameAddr).join(', ') }]),
      ...g.extra,
    ];
    const base = { version: 'SIP/2.0', headers, body: g.body };
    return g.kind === 'request'
      ? { kind: 'request' as const, method: g.method, uri: g.uri, ...base }
      : { kind: 'response' as const, status: g.status, reason: g.reason, ...base };
  });

/** m as parseMessage(serializeMessage(m)) returns it: Content-Length equal to the body. */
function withExactLength(m: SipMessage): SipMessage {
  const headers = m.headers.filter((h) => h.name !== 'Content-Length');
  const at = m.headers.findIndex((h) => h.name === 'Content-Length');
  headers.splice(at < 0 ? headers.length : at, 0, { name: 'Content-Length', value: String(m.body.length) });
  return { ...m, headers };
}

/** parseMessage either returns a message that re-serializes to an equal one, or throws SipParseError. */
function parsesSafely(data: Buffer): void {
  let m: SipMessage;
  try {
    m = parseMessage(data);
  } catch (err) {
    if (!(err instanceof SipParseError)) throw err;
    return;
  }
  expect(parseMessage(serializeMessage(m))).toEqual(withExactLength(m));
}

const DIR = new URL('../fixtures/rfc4475/', import.meta.url);
const torture = readdirSync(DIR).filter((f) => f.endsWith('.dat')).map((f) => readFileSync(new URL(f, DIR)));
const INTERESTING = [...' \t\r\n:;,"<>@%\\/=?[]0'].map((c) => c.charCodeAt(0)).concat([0x00, 0xff, 0xc3]);
const mutation = fc.record({
  op: fc.constantFrom('flip', 'delete', 'insert', 'duplicate'),
  at: fc.nat(),
  byte: fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 })),
  length: fc.integer({ min: 1, max: 40 }),
});
function mutate(data: Buffer, ops: { op: string; at: number; byte: number; length: number }[]): Buffer {
  let out = data;
  for (const { op, at, byte, length } of ops) {
    const i = at % (out.length + 1);
    const b = Buffer.from([byte]);
    if (op === 'flip') out = Buffer.concat([out.subarray(0, i), b, out.subarray(i + 1)]);
    else if (op === 'delete') out = Buffer.concat([out.subarray(0, i), out.subarray(i + length)]);
    else if (op === 'insert') out = Buffer.concat([out.subarray(0, i), b, out.subarray(i)]);
    else out = Buffer.concat([out.subarray(0, i + length), out.subarray(i)]);
  }
  return out;
}

describe('codec round trips (generated well-formed values)', () => {
  it('parseUri(formatUri(u)) == u', () => {
    fc.assert(fc.property(fc.oneof(sipUri(true), telUri), (u) => {
      expect(parseUri(formatUri(u))).toEqual(u);
    }), RUNS);
  });

  it('parseNameAddr(formatNameAddr(n)) == n', () => {
    fc.assert(fc.property(nameAddr, (n) => {
      expect(parseNameAddr(formatNameAddr(n))).toEqual(n);
    }), RUNS);
  });

  it('parseVia(formatVia(v)) == [v]', () => {
    fc.assert(fc.property(via, (v) => {
      expect(parseVia(formatVia(v))).toEqual([v]);
    }), RUNS);
  });

  it('parseMessage(serializeMessage(m)) == m with its Content-Length', () => {
    fc.assert(fc.property(message, (m) => {
      expect(parseMessage(serializeMessage(m))).toEqual(withExactLength(m));
    }), RUNS);
  });
});

describe('hostile input only ever throws SipParseError', () => {
  it('arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => parsesSafely(Buffer.from(bytes))), { numRuns: RUNS.numRuns * 3 });
  });

  it('arbitrary text shaped like a message (start line, header lines, body)', () => {
    const line = fc.string({ unit: fc.oneof(fc.constantFrom(...' :;,"<>@%\\/=?[]\t'), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 })), maxLength: 40 });
    const start = fc.constantFrom('INVITE sip:a@b SIP/2.0', 'ACK sip:a@b SIP/2.0', 'SIP/2.0 200 OK', 'OPTIONS sip:x SIP/7.0');
    const shaped = fc.tuple(start, fc.array(fc.tuple(fc.constantFrom('Via', 'v', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Route', 'l', 'Max-Forwards', 'X'), line), { maxLength: 10 }), line);
    fc.assert(
      fc.property(shaped, ([s, hs, body]) => parsesSafely(Buffer.from(`${s}\r\n${hs.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n${body}`))),
      { numRuns: RUNS.numRuns * 3 },
    );
  });

  it('mutated RFC 4475 torture messages', () => {
    fc.assert(
      fc.property(fc.constantFrom(...torture), fc.array(mutation, { minLength: 1, maxLength: 5 }), (data, ops) => parsesSafely(mutate(data, ops))),
      { numRuns: RUNS.numRuns * 6 },
    );
  });

  it('header value parsers on arbitrary strings', () => {
    const anyText = fc.string({ unit: fc.oneof(fc.constantFrom(...' \t:;,"<>@%\\/=?[]*'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 60 });
    fc.assert(
      fc.property(anyText, (s) => {
        for (const parse of [parseUri, parseVia, parseNameAddr, parseCSeq]) {
          try {
            parse(s);
          } catch (err) {
            expect(err).toBeInstanceOf(SipParseError);
          }
        }
      }),
      { numRuns: RUNS.numRuns * 3 },
    );
  });

  it('stays linear on huge runs of whitespace and separators (no regex backtracking)', () => {
    const big = (s: string) => s.repeat(60_000);
    const started = performance.now();
    for (const value of [`${big(' ')}x`, big(';'), big(','), `"${big('\\"')}`, big('%'), `<${big(' ')}`, `1${big(' ')}x y`]) {
      for (const name of ['Via', 'From', 'CSeq', 'Subject', 'Content-Length']) {
        parsesSafely(Buffer.from(`INVITE sip:a@b SIP/2.0\r\n${name}: ${value}\r\n\r\n`));
      }
      parsesSafely(Buffer.from(`INVITE sip:${value} SIP/2.0\r\n\r\n`));
    }
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe('SipStreamFramer properties', () => {
  const framed = message.map(serializeMessage);
  const stream = fc.array(fc.tuple(fc.constantFrom('', '\r\n', '\r\n\r\n'), framed), { minLength: 1, maxLength: 5 });

  it('cuts concatenated messages (with keep-alives between) back exactly, however chunked', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 10 }), (items, cuts) => {
        const all = Buffer.concat(items.flatMap(([gap, m]) => [Buffer.from(gap), m]));
        const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
        const framer = new SipStreamFramer();
        const out: Buffer[] = [];
        let from = 0;
        for (const to of [...points, all.length]) {
          out.push(...framer.push(all.subarray(from, to)));
          from = to;
        }
        expect(framer.error).toBeUndefined();
        expect(out).toEqual(items.map(([, m]) => m));
        expect(framer.pings).toBe(items.filter(([gap]) => gap === '\r\n\r\n').length);
      }),
      RUNS,
    );
  });

  it('never throws and never yields more bytes than it was given', () => {
    const chunk = fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), fc.constantFrom(...torture), framed);
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 8 }), fc.integer({ min: 50, max: 2000 }), (chunks, max) => {
        const framer = new SipStreamFramer({ maxMessageSize: max });
        let given = 0;
        let yielded = 0;
        for (const c of chunks) {
          given += c.length;
          for (const m of framer.push(c)) {
            yielded += m.length;
            parsesSafely(m);
          }
          expect(yielded + framer.buffered).toBeLessThanOrEqual(given);
        }
      }),
      RUNS,
    );
  });
});
