/**
 * Netstring framing (D. J. Bernstein, "Netstrings", 1997: `LENGTH ":" DATA ","`, LENGTH in ASCII
 * decimal bytes without leading zeros), as Kamailio's evapi sends events with `netstring_format` 1.
 * A stream decoder: feed it TCP chunks, get whole payloads back, whatever the chunk boundaries.
 */

/** A stream that is not netstrings: the connection must be dropped (nothing after it can be trusted). */
export class NetstringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetstringError';
  }
}

/** Largest payload accepted (bytes). Kamailio's events are a few hundred bytes. */
export const MAX_NETSTRING = 1 << 20;

/** Encodes one payload (tests, and clients writing back to evapi). */
export function encodeNetstring(payload: string | Buffer): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.from(`${data.length}:`), data, Buffer.from(',')]);
}

/** Incremental decoder; keeps at most one partial netstring buffered. */
export class NetstringDecoder {
  private buf: Buffer = Buffer.alloc(0);

  /**
   * Adds a chunk and returns the payloads it completed (UTF-8 text), in order.
   * @throws NetstringError on a bad length prefix, a missing `,` terminator or a payload above
   *   {@link MAX_NETSTRING}; the decoder is then unusable (drop the connection)
   */
  push(chunk: Buffer): string[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: string[] = [];
    let pos = 0;
    for (;;) {
      const colon = this.buf.indexOf(0x3a, pos);
      if (colon < 0) {
        // No complete prefix yet; a prefix longer than the digits of MAX_NETSTRING is garbage.
        if (this.buf.length - pos > 8) throw new NetstringError('netstring length prefix too long');
        checkDigits(this.buf.subarray(pos));
        break;
      }
      const prefix = this.buf.subarray(pos, colon);
      checkDigits(prefix);
      if (prefix.length === 0 || (prefix.length > 1 && prefix[0] === 0x30)) throw new NetstringError(`bad netstring length "${prefix.toString('latin1')}"`);
      const len = Number(prefix.toString('latin1'));
      if (len > MAX_NETSTRING) throw new NetstringError(`netstring of ${len} bytes exceeds ${MAX_NETSTRING}`);
      const end = colon + 1 + len;
      if (this.buf.length < end + 1) break;
      if (this.buf[end] !== 0x2c) throw new NetstringError('netstring not terminated by ","');
      out.push(this.buf.toString('utf8', colon + 1, end));
      pos = end + 1;
    }
    this.buf = pos === 0 ? this.buf : this.buf.subarray(pos);
    return out;
  }
}

function checkDigits(b: Buffer): void {
  for (const c of b) if (c < 0x30 || c > 0x39) throw new NetstringError(`bad netstring length byte 0x${c.toString(16)}`);
}
