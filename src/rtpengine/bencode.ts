/**
 * Bencode codec (BitTorrent BEP 3, https://www.bittorrent.org/beps/bep_0003.html, "Bencoding"),
 * the wire format of RTPengine's NG control protocol (rtpengine docs/ng_control_protocol.md).
 *
 * Four kinds of values: integers `i<digits>e`, byte strings `<len>:<bytes>`, lists `l...e`,
 * dictionaries `d<key><value>...e` whose keys are byte strings sorted as raw bytes.
 *
 * Strings are byte strings. Decoding turns a string into a JS `string` when its bytes are valid
 * UTF-8 (so an SDP body arrives as text) and into a `Buffer` otherwise, so nothing is lost:
 * `encode(decode(x))` reproduces `x` byte for byte for any canonical `x`. The decoder is strict and
 * bounded (depth, length, integer digits) and throws only {@link BencodeError}, never hangs.
 */
import { PbxError } from '../lib/errors.js';

/** A bencode value as JS sees it; integers beyond ±2^53 decode as `bigint`. */
export type BencodeValue = string | number | bigint | Uint8Array | BencodeValue[] | BencodeDict;

/** A bencode dictionary: string keys; on encode, `undefined` values are left out (like JSON). */
export interface BencodeDict {
  [key: string]: BencodeValue | undefined;
}

/**
 * Malformed, truncated or over-limit bencode input.
 * `offset` is the byte offset (0-based) in the input where decoding failed.
 * Code `BENCODE_INVALID`.
 */
export class BencodeError extends PbxError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super('BENCODE_INVALID', `${message} at byte ${offset}`);
    this.name = 'BencodeError';
  }
}

/**
 * A JS value that bencode cannot represent (boolean, null, float, Map, cycle, lone surrogate...).
 * `path` names the offending value, e.g. `$.flags[2]`. Code `BENCODE_UNENCODABLE`.
 */
export class BencodeEncodeError extends PbxError {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super('BENCODE_UNENCODABLE', `cannot bencode ${path}: ${message}`);
    this.name = 'BencodeEncodeError';
  }
}

/** Limits and string handling for {@link decode}. */
export interface DecodeOptions {
  /**
   * `'auto'` (default): valid UTF-8 strings become `string`, other byte strings `Buffer`.
   * `'buffer'`: every byte string value becomes a `Buffer` (dictionary keys stay `string`).
   */
  strings?: 'auto' | 'buffer';
  /** Maximum nesting of lists/dictionaries; default 64. */
  maxDepth?: number;
  /** Maximum length of one byte string, in bytes; default 16 MiB (the input bounds it anyway). */
  maxStringLength?: number;
  /** Maximum digits of one integer (BigInt parsing is superlinear); default 64. */
  maxIntegerDigits?: number;
  /**
   * Require dictionary keys in strictly ascending byte order, as BEP 3 does. Default `false`:
   * rtpengine does not sort the keys of its replies (observed: `d7:warning...6:result2:oke`), and
   * its doc says "the requirement ... that dictionary keys must be present in lexicographical order
   * is not currently honoured". Duplicate keys are always rejected.
   */
  strictKeyOrder?: boolean;
}

const enc = new TextEncoder();
// fatal: reject invalid UTF-8 (we then keep the bytes); ignoreBOM: keep a leading U+FEFF (exactness).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const C_0 = 0x30;
const C_9 = 0x39;
const C_COLON = 0x3a;
const C_MINUS = 0x2d;
const C_I = 0x69;
const C_L = 0x6c;
const C_D = 0x64;
const C_E = 0x65;

/**
 * Encode a value as bencode (BEP 3).
 * Accepts `string` (written as UTF-8), safe integers (`number`) and `bigint`, `Uint8Array`/`Buffer`
 * (raw bytes), arrays, and plain objects (keys sorted by their UTF-8 bytes; `undefined` values skipped).
 * @throws BencodeEncodeError for booleans, null/undefined (outside an object), non-integers,
 *   unsafe integers as `number`, strings with lone surrogates, non-plain objects, and cycles.
 */
export function encode(value: BencodeValue | BencodeDict): Buffer {
  const out: Uint8Array[] = [];
  encodeInto(value, out, '$', new Set());
  return Buffer.concat(out);
}

function ascii(s: string): Uint8Array {
  return Buffer.from(s, 'latin1');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function stringBytes(s: string, path: string): Uint8Array {
  if (LONE_SURROGATE.test(s)) throw new BencodeEncodeError('string has a lone UTF-16 surrogate (not valid UTF-8)', path);
  return enc.encode(s);
}

function encodeInto(v: unknown, out: Uint8Array[], path: string, stack: Set<object>): void {
  if (typeof v === 'string') {
    const b = stringBytes(v, path);
    out.push(ascii(`${b.length}:`), b);
  } else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new BencodeEncodeError(`${v} is not an integer (bencode has integers only)`, path);
    if (!Number.isSafeInteger(v)) throw new BencodeEncodeError(`${v} is beyond ±2^53; pass a bigint`, path);
    out.push(ascii(`i${Object.is(v, -0) ? 0 : v}e`));
  } else if (typeof v === 'bigint') {
    out.push(ascii(`i${v}e`));
  } else if (v instanceof Uint8Array) {
    out.push(ascii(`${v.length}:`), v);
  } else if (typeof v === 'boolean') {
    throw new BencodeEncodeError('booleans are not bencode; use 1/0, "yes"/"no" or a flag string as the protocol wants', path);
  } else if (typeof v === 'object' && v !== null) {
    if (stack.has(v)) throw new BencodeEncodeError('circular reference', path);
    stack.add(v);
    if (Array.isArray(v)) {
      out.push(ascii('l'));
      v.forEach((item, i) => encodeInto(item, out, `${path}[${i}]`, stack));
      out.push(ascii('e'));
    } else if (isPlainObject(v)) {
      const entries = Object.keys(v)
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .map((k) => ({ k, bytes: stringBytes(k, `${path}{key ${JSON.stringify(k)}}`) }))
        .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
      out.push(ascii('d'));
      for (const { k, bytes } of entries) {
        out.push(ascii(`${bytes.length}:`), bytes);
        encodeInto((v as Record<string, unknown>)[k], out, `${path}.${k}`, stack);
      }
      out.push(ascii('e'));
    } else {
      throw new BencodeEncodeError(`${describe(v)} is not a plain object, array or Uint8Array`, path);
    }
    stack.delete(v);
  } else {
    throw new BencodeEncodeError(`${describe(v)} is not bencode`, path);
  }
}

/**
 * Decode exactly one bencode value filling the whole input (BEP 3), strictly:
 * no leading zeros, no `-0`, no empty integers, no trailing bytes, no duplicate keys.
 * @param input the bytes (a `string` is taken as UTF-8)
 * @returns the value; dictionaries are plain objects with own enumerable keys (even `__proto__`)
 * @throws BencodeError (with the byte offset) on malformed, truncated or over-limit input; nothing else
 */
export function decode(input: Uint8Array | string, options: DecodeOptions = {}): BencodeValue {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const d = new Decoder(buf, {
    strings: options.strings ?? 'auto',
    maxDepth: options.maxDepth ?? 64,
    maxStringLength: options.maxStringLength ?? 16 * 1024 * 1024,
    maxIntegerDigits: options.maxIntegerDigits ?? 64,
    strictKeyOrder: options.strictKeyOrder ?? false,
  });
  if (buf.length === 0) throw new BencodeError('empty input', 0);
  const value = d.value(0);
  if (d.pos !== buf.length) throw new BencodeError('trailing data after the value', d.pos);
  return value;
}

class Decoder {
  pos = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly opt: Required<DecodeOptions>,
  ) {}

  private peek(): number {
    const c = this.buf[this.pos];
    if (c === undefined) throw new BencodeError('unexpected end of input', this.pos);
    return c;
  }

  value(depth: number): BencodeValue {
    const c = this.peek();
    if (c === C_I) return this.integer();
    if (c >= C_0 && c <= C_9) return this.stringValue();
    if (c === C_L || c === C_D) {
      if (depth >= this.opt.maxDepth) throw new BencodeError(`nesting deeper than ${this.opt.maxDepth}`, this.pos);
      return c === C_L ? this.list(depth + 1) : this.dict(depth + 1);
    }
    throw new BencodeError(`unexpected byte 0x${c.toString(16).padStart(2, '0')}`, this.pos);
  }

  private integer(): number | bigint {
    const start = this.pos;
    this.pos++; // 'i'
    const digitsStart = this.pos;
    if (this.peek() === C_MINUS) this.pos++;
    const first = this.pos;
    while (this.peek() !== C_E) {
      const c = this.peek();
      if (c < C_0 || c > C_9) throw new BencodeError('non-digit in integer', this.pos);
      if (this.pos - first >= this.opt.maxIntegerDigits) throw new BencodeError(`integer longer than ${this.opt.maxIntegerDigits} digits`, start);
      this.pos++;
    }
    const text = this.buf.toString('latin1', digitsStart, this.pos);
    if (this.pos === first) throw new BencodeError('integer without digits', start);
    if (this.buf[first] === C_0 && this.pos - first > 1) throw new BencodeError('integer with a leading zero', start);
    if (text === '-0') throw new BencodeError('negative zero', start);
    this.pos++; // 'e'
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : BigInt(text);
  }

  private bytes(): Buffer {
    const start = this.pos;
    let len = 0;
    while (this.peek() !== C_COLON) {
      const c = this.peek();
      if (c < C_0 || c > C_9) throw new BencodeError('non-digit in string length', this.pos);
      if (this.pos > start && this.buf[start] === C_0) throw new BencodeError('string length with a leading zero', start);
      len = len * 10 + (c - C_0);
      if (len > this.opt.maxStringLength) throw new BencodeError(`string longer than ${this.opt.maxStringLength} bytes`, start);
      this.pos++;
    }
    this.pos++; // ':'
    if (len > this.buf.length - this.pos) throw new BencodeError(`string of ${len} bytes runs past the end of input`, start);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  private stringValue(): string | Buffer {
    const b = this.bytes();
    if (this.opt.strings === 'auto') {
      try {
        return utf8.decode(b);
      } catch {
        /* not UTF-8: keep the bytes */
      }
    }
    return Buffer.from(b); // a copy, so it does not pin the datagram
  }

  private list(depth: number): BencodeValue[] {
    this.pos++; // 'l'
    const items: BencodeValue[] = [];
    while (this.peek() !== C_E) items.push(this.value(depth));
    this.pos++;
    return items;
  }

  private dict(depth: number): BencodeDict {
    this.pos++; // 'd'
    const obj: BencodeDict = {};
    let prev: Buffer | undefined;
    while (this.peek() !== C_E) {
      const at = this.pos;
      const c = this.peek();
      if (c < C_0 || c > C_9) throw new BencodeError('dictionary key is not a byte string', at);
      const kb = this.bytes();
      let key: string;
      try {
        key = utf8.decode(kb);
      } catch {
        throw new BencodeError('dictionary key is not valid UTF-8', at);
      }
      if (Object.prototype.hasOwnProperty.call(obj, key)) throw new BencodeError(`duplicate dictionary key ${JSON.stringify(key)}`, at);
      if (this.opt.strictKeyOrder && prev !== undefined && Buffer.compare(prev, kb) >= 0) {
        throw new BencodeError(`dictionary key ${JSON.stringify(key)} out of order`, at);
      }
      prev = kb;
      // defineProperty: a key named "__proto__" becomes an own property, not the prototype.
      Object.defineProperty(obj, key, { value: this.value(depth), enumerable: true, writable: true, configurable: true });
    }
    this.pos++;
    return obj;
  }
}
