/**
 * RTPengine NG control protocol client over UDP (rtpengine docs/ng_control_protocol.md,
 * https://rtpengine.readthedocs.io/en/latest/ng_control_protocol.html).
 *
 * Each request is one datagram `COOKIE SP bencode(dict)` with `command` in the dictionary; the
 * reply carries the same cookie. rtpengine caches replies by cookie alone (whatever the source
 * address or body: observed on 10.5, a new body under a used cookie gets the old reply), so:
 * - a retry resends the identical datagram, and is answered from the cache, never executed twice;
 * - every request gets a fresh cookie, unique across clients (random prefix + counter).
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { BencodeError, decode, encode, type BencodeDict } from './bencode.js';
import { NgClosedError, NgError, NgMalformedReplyError, NgProtocolError, NgTimeoutError } from './ng-errors.js';
import {
  ngDict,
  ngNumber,
  ngScalars,
  ngString,
  ngStrings,
  parseQuery,
  participantRequest,
  sdpRequest,
  warningOf,
  type AnswerOptions,
  type BlockDtmfOptions,
  type DeleteOptions,
  type DeleteResult,
  type NgOk,
  type NgParticipant,
  type OfferOptions,
  type PlayDtmfOptions,
  type PlayMediaOptions,
  type PlayMediaResult,
  type QueryOptions,
  type QueryResult,
  type SdpResult,
  type StatisticsResult,
  type StopMediaResult,
} from './ng-types.js';

/** Where and how to talk to rtpengine's `--listen-ng` UDP socket. */
export interface NgClientOptions {
  /** IP address (or host name, resolved once) of `--listen-ng`. */
  host: string;
  port: number;
  /** Wait per attempt before resending, in ms; default 1000. */
  timeoutMs?: number;
  /** Resends after the first attempt; default 2 (3 attempts in all). */
  retries?: number;
  /** Requests awaiting a reply at once; more wait in a FIFO queue. Default 32. */
  maxInFlight?: number;
  /** Requests allowed to wait for a slot; beyond it `request` fails with code `NG_BUSY`. Default 1024. */
  maxQueued?: number;
}

/** Per-request overrides of {@link NgClientOptions.timeoutMs} (ms) and `retries`. */
export interface NgRequestOptions {
  timeoutMs?: number;
  retries?: number;
}

/** Counters for diagnostics and tests. */
export interface NgClientStats {
  /** Datagrams sent, retries included. */
  sent: number;
  retransmits: number;
  /** Datagrams dropped: no cookie, unknown or late cookie (e.g. a reply to an earlier attempt). */
  ignored: number;
}

interface Pending {
  command: string;
  datagram: Buffer;
  attemptsLeft: number;
  attempts: number;
  timeoutMs: number;
  timer?: NodeJS.Timeout;
  resolve: (reply: BencodeDict) => void;
  reject: (err: Error) => void;
}

/** Largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65_507;
const SPACE = 0x20;

/**
 * A cookie-correlated NG client. `new NgClient({host, port})` opens a connected UDP socket (it
 * does not keep the process alive while idle); `close()` when done. Methods reject with
 * {@link NgError} subclasses, or TypeError/BencodeEncodeError for caller bugs.
 * @throws TypeError from the constructor on a non-positive timeoutMs/maxInFlight or negative retries/maxQueued
 */
export class NgClient {
  readonly target: string;
  private readonly socket: dgram.Socket;
  private readonly ready: Promise<void>;
  /** Settles when close() starts, so nothing waits forever on a socket that never connects. */
  private readonly closing: Promise<void>;
  private markClosing: () => void = () => undefined;
  private readonly prefix = randomBytes(6).toString('hex');
  private counter = 0;
  private readonly pending = new Map<string, Pending>();
  private readonly queue: Array<() => void> = [];
  private inFlight = 0;
  private closed = false;
  private lastSocketError: string | undefined;
  private readonly counters: NgClientStats = { sent: 0, retransmits: 0, ignored: 0 };
  private readonly opts: Required<Omit<NgClientOptions, 'host' | 'port'>>;

  constructor(options: NgClientOptions) {
    this.opts = {
      timeoutMs: options.timeoutMs ?? 1000,
      retries: options.retries ?? 2,
      maxInFlight: options.maxInFlight ?? 32,
      maxQueued: options.maxQueued ?? 1024,
    };
    const { timeoutMs, retries, maxInFlight, maxQueued } = this.opts;
    if (!(timeoutMs > 0) || !(maxInFlight >= 1) || !(retries >= 0) || !(maxQueued >= 0)) {
      throw new TypeError(`invalid NgClient options ${JSON.stringify(this.opts)}`);
    }
    this.target = isIPv6(options.host) ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`;
    this.socket = dgram.createSocket(isIPv6(options.host) ? 'udp6' : 'udp4');
    // A connected socket: the kernel drops datagrams from any other source address/port.
    this.ready = new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.ready.catch(() => undefined); // surfaced through request()
    this.closing = new Promise<void>((resolve) => (this.markClosing = resolve));
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      // Connected UDP reports ICMP port-unreachable as ECONNREFUSED; keep it for the timeout message.
      this.lastSocketError = err.code ?? err.message;
    });
    this.socket.on('message', (msg) => this.onMessage(msg));
    this.socket.connect(options.port, options.host);
    this.socket.unref(); // pending requests keep the process alive through their timers
  }

  /** Counters since construction. */
  get stats(): Readonly<NgClientStats> {
    return { ...this.counters };
  }

  /**
   * Send one NG command and resolve with the reply dictionary when `result` is `ok` or `pong`.
   * @param command NG command, e.g. `ping`, `offer`, `play media`
   * @param args further request keys (`undefined` values are left out)
   * @throws NgTimeoutError after all attempts; NgProtocolError on `result: error` (with its
   *   `error-reason`); NgMalformedReplyError; NgClosedError; NgError `NG_BUSY` (queue full),
   *   `NG_TOO_LARGE` (request over 65507 bytes), `NG_SOCKET` (socket could not connect);
   *   BencodeEncodeError (a caller bug) if `args` holds a non-bencode value
   */
  async request(command: string, args: BencodeDict = {}, options: NgRequestOptions = {}): Promise<BencodeDict> {
    if (this.closed) throw new NgClosedError(command);
    const cookie = `${this.prefix}_${(this.counter++).toString(36)}`;
    const body = encode({ ...args, command });
    const datagram = Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), body]);
    if (datagram.length > MAX_DATAGRAM) {
      throw new NgError('NG_TOO_LARGE', command, `'${command}' request is ${datagram.length} bytes; UDP allows ${MAX_DATAGRAM}`);
    }
    await this.acquire(command);
    try {
      try {
        await Promise.race([this.ready, this.closing]);
      } catch (err) {
        throw new NgError('NG_SOCKET', command, `cannot open a UDP socket to ${this.target}: ${(err as Error).message}`, { cause: err });
      }
      if (this.closed) throw new NgClosedError(command);
      const reply = await new Promise<BencodeDict>((resolve, reject) => {
        const retries = options.retries ?? this.opts.retries;
        const p: Pending = {
          command,
          datagram,
          attemptsLeft: retries + 1,
          attempts: 0,
          timeoutMs: options.timeoutMs ?? this.opts.timeoutMs,
          resolve,
          reject,
        };
        this.pending.set(cookie, p);
        this.attempt(cookie, p);
      });
      return checkResult(command, reply);
    } finally {
      this.release();
    }
  }

  /** `ping` → `pong` ("`ping` Message"). @throws as {@link request}; NgMalformedReplyError if not `pong`. */
  async ping(options?: NgRequestOptions): Promise<void> {
    const reply = await this.request('ping', {}, options);
    if (reply.result !== 'pong') throw new NgMalformedReplyError('ping', `result ${JSON.stringify(reply.result)}, expected "pong"`);
  }

  /** `offer` ("`offer` Message"): register the caller's SDP; returns the SDP for the callee. */
  async offer(o: OfferOptions, options?: NgRequestOptions): Promise<SdpResult> {
    return sdpResult('offer', await this.request('offer', sdpRequest(o), options));
  }

  /** `answer` ("`answer` Message"): register the callee's SDP; returns the SDP for the caller. */
  async answer(o: AnswerOptions, options?: NgRequestOptions): Promise<SdpResult> {
    return sdpResult('answer', await this.request('answer', sdpRequest(o), options));
  }

  /**
   * `delete` ("`delete` Message"). An unknown call is a `warning` (not an error) unless `fatal`.
   * The reply of rtpengine 10.5 carries the call's final `query`-style statistics.
   */
  async delete(o: DeleteOptions, options?: NgRequestOptions): Promise<DeleteResult> {
    const reply = await this.request(
      'delete',
      {
        'call-id': o.callId,
        'from-tag': o.fromTag,
        'to-tag': o.toTag,
        'via-branch': o.viaBranch,
        flags: o.fatal ? ['fatal'] : undefined,
        'delete-delay': o.deleteDelaySec,
      },
      options,
    );
    return { ...warningOf(reply), ...('tags' in reply || 'totals' in reply ? { stats: parseQuery(reply) } : {}) };
  }

  /** `query` ("`query` Message"): per-tag, per-media, per-stream counters. @throws NgProtocolError `Unknown call-ID`. */
  async query(o: QueryOptions, options?: NgRequestOptions): Promise<QueryResult> {
    return parseQuery(await this.request('query', { 'call-id': o.callId, 'from-tag': o.fromTag, 'to-tag': o.toTag }, options));
  }

  /** `list` ("`list` Message"): active call-ids, at most `limit` (rtpengine's default 32). */
  async list(o: { limit?: number } = {}, options?: NgRequestOptions): Promise<string[]> {
    return ngStrings((await this.request('list', { limit: o.limit }, options)).calls);
  }

  /**
   * `play media` ("`play media` Message"): play a file/blob to the selected party; `durationMs` in ms.
   * @throws TypeError unless exactly one of file/blob/dbId is given; otherwise as {@link request}
   */
  async playMedia(o: PlayMediaOptions, options?: NgRequestOptions): Promise<PlayMediaResult> {
    const sources = [o.file, o.blob, o.dbId].filter((s) => s !== undefined).length;
    if (sources !== 1) throw new TypeError('playMedia needs exactly one of file, blob, dbId');
    const reply = await this.request(
      'play media',
      { ...participantRequest(o), file: o.file, blob: o.blob, 'db-id': o.dbId, 'repeat-times': o.repeatTimes, 'start-pos': o.startPos },
      options,
    );
    const durationMs = ngNumber(reply.duration);
    return { ...warningOf(reply), ...(durationMs === undefined ? {} : { durationMs }) };
  }

  /** `stop media` ("`stop media` Message"): stop playback early; stopping twice is not an error (10.5). */
  async stopMedia(p: NgParticipant, options?: NgRequestOptions): Promise<StopMediaResult> {
    const reply = await this.request('stop media', participantRequest(p), options);
    const lastFramePos = ngNumber(reply['last-frame-pos']);
    return { ...warningOf(reply), ...(lastFramePos === undefined ? {} : { lastFramePos }) };
  }

  /** `block media` ("`block media` and `unblock media` Messages"): drop media from the selected party. */
  async blockMedia(p: NgParticipant, options?: NgRequestOptions): Promise<NgOk> {
    return warningOf(await this.request('block media', participantRequest(p), options));
  }

  /** `unblock media`: undo {@link blockMedia}. */
  async unblockMedia(p: NgParticipant, options?: NgRequestOptions): Promise<NgOk> {
    return warningOf(await this.request('unblock media', participantRequest(p), options));
  }

  /**
   * `block DTMF` ("`block DTMF` and `unblock DTMF` Messages"): stop forwarding RFC 4733 events from
   * the selected party (the whole call with only `callId`); `mode` is `DTMF-security`. rtpengine
   * still logs blocked digits to `--dtmf-log-dest` (observed on 10.5).
   */
  async blockDtmf(o: BlockDtmfOptions, options?: NgRequestOptions): Promise<NgOk> {
    return warningOf(await this.request('block DTMF', { ...participantRequest(o), 'DTMF-security': o.mode }, options));
  }

  /** `unblock DTMF`: undo {@link blockDtmf} (`all: true` also lifts per-party blocks of a whole-call unblock). */
  async unblockDtmf(p: NgParticipant, options?: NgRequestOptions): Promise<NgOk> {
    return warningOf(await this.request('unblock DTMF', participantRequest(p), options));
  }

  /**
   * `play DTMF` ("`play DTMF` Message"): inject one event into the selected party's outgoing stream
   * (see {@link PlayDtmfOptions} for what rtpengine 10.5 requires). Consecutive calls queue up.
   */
  async playDtmf(o: PlayDtmfOptions, options?: NgRequestOptions): Promise<NgOk> {
    const reply = await this.request(
      'play DTMF',
      { ...participantRequest(o), code: o.code, duration: o.durationMs, volume: o.volume, pause: o.pauseMs },
      options,
    );
    return warningOf(reply);
  }

  /** `statistics` ("`statistics` Message"): rtpengine-wide counters (not per call). */
  async statistics(options?: NgRequestOptions): Promise<StatisticsResult> {
    const reply = await this.request('statistics', {}, options);
    const s = ngDict(reply.statistics) ?? {};
    return { current: ngScalars(s.currentstatistics), total: ngScalars(s.totalstatistics), raw: reply };
  }

  /** Reject every pending and queued request with NgClosedError and close the socket. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.markClosing();
    for (const [cookie, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(cookie);
      p.reject(new NgClosedError(p.command));
    }
    for (const wake of this.queue.splice(0)) wake();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private acquire(command: string): Promise<void> {
    if (this.inFlight < this.opts.maxInFlight) {
      this.inFlight++;
      return Promise.resolve();
    }
    if (this.queue.length >= this.opts.maxQueued) {
      return Promise.reject(new NgError('NG_BUSY', command, `more than ${this.opts.maxQueued} NG requests queued for ${this.target}`));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push(() => (this.closed ? reject(new NgClosedError(command)) : resolve()));
    });
  }

  /** Hand the slot straight to the next queued request, or free it. */
  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.inFlight--;
  }

  private attempt(cookie: string, p: Pending): void {
    p.attemptsLeft--;
    p.attempts++;
    this.counters.sent++;
    if (p.attempts > 1) this.counters.retransmits++;
    this.socket.send(p.datagram, (err) => {
      if (err) this.lastSocketError = (err as NodeJS.ErrnoException).code ?? err.message;
    });
    p.timer = setTimeout(() => {
      if (this.pending.get(cookie) !== p) return;
      if (p.attemptsLeft > 0) return this.attempt(cookie, p);
      this.pending.delete(cookie);
      p.reject(new NgTimeoutError(p.command, this.target, p.attempts, p.timeoutMs, this.lastSocketError));
    }, p.timeoutMs);
  }

  private onMessage(msg: Buffer): void {
    const sp = msg.indexOf(SPACE);
    const cookie = sp > 0 ? msg.toString('latin1', 0, sp) : '';
    const p = this.pending.get(cookie);
    if (!p) {
      this.counters.ignored++;
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(cookie);
    try {
      const value = decode(msg.subarray(sp + 1));
      if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
        throw new NgMalformedReplyError(p.command, 'not a dictionary');
      }
      p.resolve(value);
    } catch (err) {
      p.reject(err instanceof BencodeError ? new NgMalformedReplyError(p.command, err.message, err) : (err as Error));
    }
  }
}

function checkResult(command: string, reply: BencodeDict): BencodeDict {
  const result = reply.result;
  if (typeof result !== 'string') throw new NgMalformedReplyError(command, 'no string "result" key');
  if (result === 'ok' || result === 'pong') return reply;
  const reason = ngString(reply['error-reason']) ?? ngString(reply.message) ?? `result "${result}"`;
  throw new NgProtocolError(command, reason, result);
}

function sdpResult(command: string, reply: BencodeDict): SdpResult {
  const sdp = ngString(reply.sdp);
  if (sdp === undefined) throw new NgMalformedReplyError(command, 'no "sdp" string in the reply');
  return { sdp, ...warningOf(reply) };
}
