/**
 * The daemon's side of Kamailio's evapi (evapi module docs): a TCP client to evapi's server on
 * 127.0.0.1, netstring framed (`netstring_format` 1), reconnecting with exponential backoff when
 * Kamailio restarts or is not up yet. Each payload goes to `onMessage`; a payload that throws or a
 * connection that breaks never takes the daemon down.
 *
 * evapi drops events while no client is connected, so a daemon restart loses the dialog events
 * of that window (docs/cdr.md "What can be lost").
 */
import { Socket } from 'node:net';
import type { SipLogger } from '../../sip/transport.js';
import { NetstringDecoder, NetstringError } from './netstring.js';

/** Options of {@link EvapiClient}. */
export interface EvapiClientOptions {
  host: string;
  port: number;
  /** Called with each event's text (JSON from the Kamailio script), in order. */
  onMessage(text: string): void;
  /** First reconnect delay, ms (default 200); doubled per failure up to `maxBackoffMs` (default 5000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: SipLogger;
}

/** A connection to evapi that keeps itself up until `close()`. */
export class EvapiClient {
  private socket: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failures = 0;
  private isConnected = false;
  /** Events received since start (for tests and metrics). */
  received = 0;
  /** Payloads `onMessage` threw on. */
  rejected = 0;

  constructor(private readonly o: EvapiClientOptions) {}

  /** Whether a connection to evapi is up right now. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** Starts connecting (returns at once; connection failures are retried, never thrown). */
  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const socket = new Socket();
    this.socket = socket;
    const decoder = new NetstringDecoder();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('connect', () => {
      this.isConnected = true;
      this.failures = 0;
      this.o.logger?.info('connected to Kamailio evapi', { address: `${this.o.host}:${this.o.port}` });
    });
    socket.on('data', (chunk: Buffer) => {
      let messages: string[];
      try {
        messages = decoder.push(chunk);
      } catch (e) {
        // A broken stream cannot be resynchronised: reconnect and start clean.
        this.o.logger?.warn('evapi stream is not netstrings; reconnecting', { error: e instanceof NetstringError ? e.message : String(e) });
        socket.destroy();
        return;
      }
      for (const m of messages) {
        this.received++;
        try {
          this.o.onMessage(m);
        } catch (e) {
          this.rejected++;
          this.o.logger?.warn('evapi event dropped', { error: e instanceof Error ? e.message : String(e), event: m.slice(0, 300) });
        }
      }
    });
    socket.on('error', (e) => {
      // 'close' follows; connection refused while Kamailio starts is routine.
      if (this.failures === 0) this.o.logger?.warn('evapi connection error', { error: e.message });
    });
    socket.on('close', () => {
      const was = this.isConnected;
      this.isConnected = false;
      if (this.socket === socket) this.socket = undefined;
      if (this.closed) return;
      if (was) this.o.logger?.warn('evapi connection lost; reconnecting', { address: `${this.o.host}:${this.o.port}` });
      this.scheduleReconnect();
    });
    socket.connect({ host: this.o.host, port: this.o.port });
  }

  private scheduleReconnect(): void {
    const min = this.o.minBackoffMs ?? 200;
    const max = this.o.maxBackoffMs ?? 5000;
    const delay = Math.min(max, min * 2 ** Math.min(this.failures, 16));
    this.failures++;
    // Jitter (50-100 %) so that several daemons do not hammer a restarting Kamailio in step.
    this.timer = setTimeout(() => this.connect(), Math.round(delay * (0.5 + Math.random() / 2)));
    this.timer.unref();
  }

  /** Stops reconnecting and closes the connection. */
  close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const s = this.socket;
    if (!s || s.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    });
  }
}
