/**
 * A resilient client of the daemon's GET /v1/events (server-sent events, HTML Living Standard
 * §9.2 "Server-sent events"): parses the stream, and when the connection drops (daemon restart,
 * SSH tunnel drop) reconnects with backoff and `Last-Event-ID`, so no event in the daemon's
 * backlog is missed.
 */
import { request, type ClientRequest } from 'node:http';
import type { DaemonEndpoint } from '../daemon/daemon-client.js';

/** One dispatched SSE message. */
export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Incremental SSE parser: feed it chunks, it calls `onMessage` per complete message. Comment lines
 * (`:`) are skipped; `data` lines are joined with `\n`; CRLF, CR and LF all end lines.
 */
export class SseParser {
  private buf = '';
  private id: string | undefined;
  private event = '';
  private data: string[] = [];

  constructor(private readonly onMessage: (m: SseMessage) => void) {}

  feed(chunk: string): void {
    this.buf += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone CR at the end of a chunk may be the first half of CRLF: wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onMessage({ ...(this.id !== undefined ? { id: this.id } : {}), event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }
}

/** Callbacks and knobs of {@link followEvents}. */
export interface FollowOptions {
  endpoint: DaemonEndpoint;
  /** Resume after this seq (Last-Event-ID); undefined: from now. */
  afterSeq?: number;
  /** Each event as parsed JSON (unparseable data lines are skipped). */
  onEvent(event: unknown): void;
  /** `live` once connected, `reconnecting` (with the reason) after a drop. */
  onState(state: 'live' | 'reconnecting', reason?: string): void;
  /** The daemon dropped events after our last seq from its backlog: the caller should re-read a snapshot. */
  onGap?(): void;
  /** First retry delay, ms (doubles up to `maxRetryMs`). */
  retryMs?: number;
  maxRetryMs?: number;
}

/**
 * Follows the event stream until the returned `stop()` is called. Never rejects: every failure is
 * reported through `onState('reconnecting', reason)` and retried.
 */
export function followEvents(o: FollowOptions): { stop(): void; lastSeq(): number | undefined } {
  let last = o.afterSeq;
  let stopped = false;
  let req: ClientRequest | undefined;
  let timer: NodeJS.Timeout | undefined;
  let delay = o.retryMs ?? 500;
  const maxDelay = o.maxRetryMs ?? 5000;

  const retry = (reason: string) => {
    req = undefined;
    if (stopped) return;
    o.onState('reconnecting', reason);
    timer = setTimeout(connect, delay);
    delay = Math.min(maxDelay, delay * 2);
  };

  function connect(): void {
    if (stopped) return;
    const headers: Record<string, string> = { authorization: `Bearer ${o.endpoint.token}`, accept: 'text/event-stream' };
    if (last !== undefined) headers['last-event-id'] = String(last);
    let failed = false;
    const fail = (reason: string) => {
      if (failed) return;
      failed = true;
      retry(reason);
    };
    req = request({ host: o.endpoint.host, port: o.endpoint.port, path: '/v1/events', headers }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail(`HTTP ${res.statusCode}`);
        return;
      }
      delay = o.retryMs ?? 500;
      o.onState('live');
      const parser = new SseParser((m) => {
        if (m.event === 'gap') {
          o.onGap?.();
          return;
        }
        if (m.id !== undefined && /^\d+$/.test(m.id)) last = Number(m.id);
        let parsed: unknown;
        try {
          parsed = JSON.parse(m.data);
        } catch {
          return;
        }
        o.onEvent(parsed);
      });
      res.setEncoding('utf8');
      res.on('data', (c: string) => parser.feed(c));
      res.on('end', () => fail('the daemon closed the stream'));
      res.on('error', (e) => fail(e.message));
      res.on('close', () => fail('connection closed'));
    });
    req.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    req.end();
  }

  connect();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      req?.destroy();
    },
    lastSeq: () => last,
  };
}
