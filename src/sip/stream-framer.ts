/**
 * Cut SIP messages out of a byte stream (TCP, TLS) by Content-Length (RFC 3261 §18.3, §20.14).
 *
 * On a stream the end of a message is known only from Content-Length, which is therefore
 * mandatory; a message without it, with a malformed one, or with two that disagree
 * (RFC 4475 §3.3.9 `mcl01`, §3.1.2.3 `ncl`) cannot be framed, and neither can anything after it:
 * the framer stops and the transport must close the connection. CRLFs between messages are
 * skipped (§7.5); a double CRLF is an RFC 5626 §3.5.1 keep-alive "ping", counted so the transport
 * can answer it with a single-CRLF "pong".
 *
 * The framer only frames: each message it yields is then parsed by parseMessage, which applies
 * every other rule.
 */
import { canonicalHeaderName, parseContentLength, trimLws } from './headers.js';
import { findHeaderEnd, unfoldLines, SipParseError } from './parse.js';

const CR = 0x0d;
const LF = 0x0a;
/** `\r\n\r\n`, the keep-alive ping, matched byte by byte across chunks. */
const PING = [CR, LF, CR, LF];

/** Options of {@link SipStreamFramer}. */
export interface SipStreamFramerOptions {
  /** Largest message (header section and body) accepted, in bytes; default 65536 (64 KiB). */
  maxMessageSize?: number;
}

/**
 * Incremental framer for one stream connection: `push()` each chunk as it arrives and get the
 * complete messages (each a Buffer holding exactly one message) it completes.
 *
 * Never throws. On a framing error (missing, malformed or conflicting Content-Length; a message
 * larger than `maxMessageSize`) it returns what was complete before the error, sets `error` (a
 * SipParseError whose `reason` says why) and discards everything pushed afterwards: a stream that
 * lost its framing cannot be resynchronised, so the transport should close the connection.
 */
export class SipStreamFramer {
  /** Set once framing failed; the connection should be closed. */
  error: SipParseError | undefined;
  /** Keep-alive pings (CRLFCRLF between messages, RFC 5626 §3.5.1) seen so far. */
  pings = 0;

  private readonly maxMessageSize: number;
  private buffer: Buffer = Buffer.alloc(0);
  /** Where to resume looking for the end of the header section (no rescans of a growing head). */
  private scanFrom = 0;
  /** Total size of the message being received, once its header section is complete. */
  private expected: number | undefined;
  /** How much of PING the bytes skipped between messages have matched so far. */
  private pingState = 0;

  constructor(options: SipStreamFramerOptions = {}) {
    this.maxMessageSize = options.maxMessageSize ?? 65536;
  }

  /** Bytes held for a message not yet complete. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Feed one chunk; returns the messages it completed (possibly none), in order. Never throws. */
  push(chunk: Buffer): Buffer[] {
    if (this.error !== undefined) return [];
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      if (this.expected === undefined) {
        this.skipKeepalives();
        if (this.buffer.length === 0) break;
        const end = findHeaderEnd(this.buffer, this.scanFrom);
        if (end === undefined) {
          if (this.buffer.length > this.maxMessageSize) this.fail('Message Too Large', `no end of headers in ${this.buffer.length} bytes`);
          // The empty line may straddle chunks: resume a few bytes back.
          this.scanFrom = Math.max(0, this.buffer.length - 3);
          break;
        }
        const length = this.contentLength(end.headEnd);
        if (length === undefined) break;
        if (end.bodyStart + length > this.maxMessageSize) {
          this.fail('Message Too Large', `${end.bodyStart + length} bytes, limit ${this.maxMessageSize}`);
          break;
        }
        this.expected = end.bodyStart + length;
      }
      if (this.buffer.length < this.expected) break;
      out.push(Buffer.from(this.buffer.subarray(0, this.expected)));
      this.buffer = this.buffer.subarray(this.expected);
      this.expected = undefined;
      this.scanFrom = 0;
    }
    if (this.error !== undefined) this.buffer = Buffer.alloc(0);
    return out;
  }

  /** Drop CR/LF before a message (§7.5), counting CRLFCRLF pings (RFC 5626 §3.5.1). */
  private skipKeepalives(): void {
    let i = 0;
    while (i < this.buffer.length && (this.buffer[i] === CR || this.buffer[i] === LF)) {
      const byte = this.buffer[i];
      if (byte === PING[this.pingState]) this.pingState++;
      else this.pingState = byte === CR ? 1 : 0;
      if (this.pingState === PING.length) {
        this.pings++;
        this.pingState = 0;
      }
      i++;
    }
    if (i < this.buffer.length) this.pingState = 0; // a message starts: the next gap starts afresh
    if (i === 0) return;
    this.buffer = this.buffer.subarray(i);
    this.scanFrom = 0;
  }

  /** The Content-Length of the header section `buffer[0, headEnd)`, or undefined after fail(). */
  private contentLength(headEnd: number): number | undefined {
    // latin1 maps bytes 1:1, and the names and digits we look for are ASCII.
    const lines = unfoldLines(this.buffer.toString('latin1', 0, headEnd)).slice(1);
    const values = new Set<number>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon < 0 || canonicalHeaderName(trimLws(line.slice(0, colon))) !== 'Content-Length') continue;
      try {
        values.add(parseContentLength(line.slice(colon + 1)));
      } catch {
        this.fail('Bad Request - Malformed Content-Length', line.slice(0, 80));
        return undefined;
      }
    }
    if (values.size === 1) return [...values][0];
    this.fail(values.size === 0 ? 'Bad Request - Missing Content-Length' : 'Bad Request - Conflicting Content-Length values');
    return undefined;
  }

  private fail(reason: string, detail?: string): void {
    this.error = new SipParseError(reason, detail === undefined ? {} : { detail });
  }
}
