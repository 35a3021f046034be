/**
 * The webhook worker: turns daemon events into outbox rows (outbox.ts) and sends due rows to their
 * endpoints, signed (signing.ts), with retries (backoff.ts) until delivered or dead.
 *
 * - Durable first: events are buffered for one event-loop turn and written to the outbox in one
 *   transaction (a burst of 1,000 events costs one fsync, not 1,000); nothing is sent before its
 *   row is committed, so a crash resumes every unconfirmed delivery with the same `webhook-id`.
 * - Order: each webhook's due rows are taken oldest event first; at most `concurrency` requests
 *   per webhook are in flight, so with concurrency 1 a receiver sees its events in order, and
 *   with more a later event overtakes an earlier one only inside that window. A failing delivery
 *   waits for its retry without holding up newer ones.
 * - Outcomes are committed in batches (one transaction per event-loop turn), and a row counts as
 *   in flight until its outcome is committed, so it is never sent twice by one run. A crash
 *   between a 2xx and that commit sends the delivery again after the restart: delivery is at
 *   least once, and receivers deduplicate on `webhook-id`.
 * - A request aborted by stop() records nothing: the row stays pending and is sent again after
 *   the restart.
 *
 * Times are ms since the epoch unless named otherwise.
 */
import { DEFAULT_BACKOFF, retryAfterMs, retryDelayMs, type BackoffPolicy } from './backoff.js';
import { subscribes, toWebhookMessage, type MappableEvent, type WebhookMessage } from './mapping.js';
import type { AttemptOutcome, DueDelivery, Outbox } from './outbox.js';
import { httpSender, type WebhookSender } from './senders.js';
import { signatureHeaders } from './signing.js';

export { fetchSender, httpSender, type WebhookRequest, type WebhookResponse, type WebhookSender } from './senders.js';

/** One subscription as the feature config has it (config-types.ts FeatureWebhook). */
export interface WebhookSubscription {
  id: string;
  url: string;
  events: readonly string[];
  enabled: boolean;
  /** Seconds per attempt. */
  timeout: number;
  maxAttempts: number;
}

/** The result of one attempt, for metrics and logs. */
export type AttemptResult = 'delivered' | 'failed' | 'dead';

/** Options of {@link WebhookDispatcher}. */
export interface DispatcherOptions {
  outbox: Outbox;
  /**
   * The subscriptions of the config in use (read at every pump, so a reload applies at once);
   * undefined while no config is loaded: then nothing is sent and nothing is given up on.
   */
  subscriptions: () => readonly WebhookSubscription[] | undefined;
  /** Signing secrets of a webhook, newest first (daemon/secrets.json); undefined or empty when it has none. */
  secrets: (webhook: string) => readonly string[] | undefined;
  send?: WebhookSender;
  now?: () => number;
  random?: () => number;
  backoff?: BackoffPolicy;
  /** Requests in flight per webhook (default 8). */
  concurrency?: number;
  /** Called after every attempt; `lagMs` (event time to confirmation) when delivered. */
  onAttempt?: (webhook: string, result: AttemptResult, lagMs?: number) => void;
  log?: { warn(msg: string, fields?: Record<string, unknown>): void };
}

/** The longest the timer sleeps before looking at the outbox again (clock jumps, missed wake-ups). */
const MAX_SLEEP_MS = 60_000;

/** See the module comment. */
export class WebhookDispatcher {
  private readonly buffer: { webhook: string; message: WebhookMessage }[] = [];
  private flushScheduled = false;
  private pumpScheduled = false;
  private pumpAll = false;
  private readonly dirty = new Set<string>();
  /** When the timer fires (Infinity: not armed). */
  private wakeAt = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Map<number, Promise<void>>();
  private readonly inflightByWebhook = new Map<string, number>();
  private readonly abort = new AbortController();
  private readonly outcomes: { id: number; webhook: string; outcome: AttemptOutcome; at: number }[] = [];
  private outcomesScheduled = false;
  private stopped = false;
  private readonly send: WebhookSender;
  private readonly now: () => number;
  private readonly concurrency: number;

  constructor(private readonly o: DispatcherOptions) {
    this.send = o.send ?? httpSender;
    this.now = o.now ?? Date.now;
    this.concurrency = Math.max(1, o.concurrency ?? 8);
  }

  /**
   * Takes one daemon event (an EventBus subscriber): the webhooks subscribed to its type get a
   * delivery, written to the outbox at the end of this event-loop turn.
   * @returns the message queued, or undefined when no enabled webhook takes it
   */
  accept(e: MappableEvent): WebhookMessage | undefined {
    if (this.stopped) return undefined;
    if (e.type === 'config.loaded') this.schedulePump();
    const message = toWebhookMessage(e);
    if (!message) return undefined;
    const targets = (this.o.subscriptions() ?? []).filter((s) => s.enabled && subscribes(s.events, message.type));
    if (targets.length === 0) return undefined;
    for (const s of targets) this.buffer.push({ webhook: s.id, message });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return message;
  }

  /**
   * Writes buffered deliveries to the outbox now and starts what is due: for the webhooks that got
   * new deliveries, or for all when nothing was buffered (a retry through the API).
   */
  flush(): void {
    this.flushScheduled = false;
    if (this.stopped) return;
    if (this.buffer.length === 0) {
      this.pump();
      return;
    }
    const items = this.buffer.splice(0);
    const now = this.now();
    this.o.outbox.enqueue(items, now);
    const subs = new Map((this.o.subscriptions() ?? []).map((x) => [x.id, x]));
    for (const id of new Set(items.map((i) => i.webhook))) {
      const sub = subs.get(id);
      if (sub?.enabled) this.pumpOne(sub, now);
    }
  }

  /** Starts sending: pending rows left by a previous run first. */
  start(): void {
    this.pump();
  }

  /** Deliveries in flight right now. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /**
   * Pumps at the end of this event-loop turn: one webhook (after one of its attempts finished:
   * no scan of the whole outbox per delivery) or, without `webhook`, all of them.
   */
  private schedulePump(webhook?: string): void {
    if (this.stopped) return;
    if (webhook === undefined) this.pumpAll = true;
    else this.dirty.add(webhook);
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      if (this.stopped) return;
      if (this.pumpAll) {
        this.pumpAll = false;
        this.dirty.clear();
        this.pump();
        return;
      }
      const list = this.o.subscriptions();
      const subs = new Map((list ?? []).map((x) => [x.id, x]));
      const now = this.now();
      for (const w of this.dirty) {
        const sub = subs.get(w);
        if (sub?.enabled) this.pumpOne(sub, now);
      }
      this.dirty.clear();
    });
  }

  /** Starts every due delivery the concurrency limits allow, then sleeps until the next one is due. */
  private pump(): void {
    if (this.stopped) return;
    const now = this.now();
    const list = this.o.subscriptions();
    if (!list) return; // no config yet: a config.loaded event pumps
    const subs = new Map(list.map((s) => [s.id, s]));
    for (const { webhook, nextAttemptAt } of this.o.outbox.pendingWebhooks()) {
      const sub = subs.get(webhook);
      if (!sub) {
        const n = this.o.outbox.abandon(webhook, 'webhook removed from the feature config', now);
        if (n > 0) this.o.log?.warn('webhook removed: its pending deliveries are dead letters now', { webhook, deliveries: n });
        continue;
      }
      if (!sub.enabled) continue; // paused: kept pending until it is enabled again (a reload pumps)
      if (nextAttemptAt <= now) this.pumpOne(sub, now);
    }
    // Wake for the earliest retry waiting anywhere (a webhook with rows due now can also have rows
    // waiting for a retry later), and look again at least every MAX_SLEEP_MS.
    const wake = Math.min(this.o.outbox.nextAttemptAfter(now) ?? Infinity, now + MAX_SLEEP_MS);
    this.wakeAt = Infinity;
    this.armAt(wake, now);
  }

  /** Starts `sub`'s due deliveries, oldest event first, up to its free slots. */
  private pumpOne(sub: WebhookSubscription, now: number): void {
    const busy = this.inflightByWebhook.get(sub.id) ?? 0;
    const free = this.concurrency - busy;
    if (free <= 0) return; // a completion pumps again
    let started = 0;
    for (const d of this.o.outbox.due(sub.id, now, free + busy)) {
      if (started >= free) break;
      if (this.inflight.has(d.id)) continue;
      this.startAttempt(d, sub);
      started++;
    }
  }

  /** Makes the timer fire at `wake` at the latest (a retry's due time). */
  private armAt(wake: number, now: number): void {
    if (wake === Infinity || wake >= this.wakeAt || this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.wakeAt = wake;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wakeAt = Infinity;
      this.pump();
    }, Math.min(MAX_SLEEP_MS, Math.max(0, wake - now)));
    this.timer.unref();
  }

  private startAttempt(d: DueDelivery, sub: WebhookSubscription): void {
    this.inflightByWebhook.set(sub.id, (this.inflightByWebhook.get(sub.id) ?? 0) + 1);
    const p = this.attempt(d, sub)
      .then((queued) => {
        // With an outcome queued, the row stays in flight until flushOutcomes() committed it.
        if (!queued) this.release(d.id, sub.id);
      })
      .catch((e: unknown) => {
        this.o.log?.warn('webhook attempt failed unexpectedly', { webhook: sub.id, delivery: d.id, error: e instanceof Error ? e.message : String(e) });
        this.release(d.id, sub.id);
      });
    this.inflight.set(d.id, p);
  }

  private release(id: number, webhook: string): void {
    this.inflight.delete(id);
    this.inflightByWebhook.set(webhook, (this.inflightByWebhook.get(webhook) ?? 1) - 1);
    this.schedulePump(webhook);
  }

  /** Queues an attempt's outcome for the next batch commit. */
  private record(id: number, webhook: string, outcome: AttemptOutcome, at: number): void {
    this.outcomes.push({ id, webhook, outcome, at });
    if (this.outcomesScheduled) return;
    this.outcomesScheduled = true;
    setImmediate(() => this.flushOutcomes());
  }

  /** Commits the queued outcomes in one transaction, then frees their rows' in-flight slots. */
  private flushOutcomes(): void {
    this.outcomesScheduled = false;
    const batch = this.outcomes.splice(0);
    if (batch.length === 0) return;
    try {
      this.o.outbox.recordAttempts(batch);
    } catch (e) {
      // The rows stay pending as they were: sent again later (at least once), never lost.
      this.o.log?.warn('cannot record webhook attempts', { error: e instanceof Error ? e.message : String(e), deliveries: batch.length });
    }
    const now = this.now();
    for (const b of batch) {
      if (b.outcome.result === 'retry') this.armAt(b.outcome.nextAttemptAt, now);
      this.release(b.id, b.webhook);
    }
  }

  /** One attempt; true when its outcome was queued (false: stopped, nothing to record). */
  private async attempt(d: DueDelivery, sub: WebhookSubscription): Promise<boolean> {
    const started = this.now();
    const secrets = this.o.secrets(sub.id);
    let status: number | undefined;
    let error: string | undefined;
    let retryAfter: string | undefined;
    if (!secrets || secrets.length === 0) {
      error = 'no signing secret for this webhook in the release (daemon/secrets.json)';
    } else {
      try {
        const headers = { 'content-type': 'application/json', 'user-agent': 'pbxctl-daemon', ...signatureHeaders(secrets, d.messageId, Math.floor(started / 1000), d.body) };
        const res = await this.send({ url: sub.url, headers, body: d.body, timeoutMs: sub.timeout * 1000, signal: this.abort.signal });
        status = res.status;
        retryAfter = res.retryAfter;
        if (status < 200 || status > 299) error = `HTTP ${status}`;
      } catch (e) {
        if (this.stopped) return false; // outcome unknown: stays pending, sent again after the restart
        error = describeError(e, sub.timeout);
      }
    }
    const now = this.now();
    if (error === undefined) {
      this.record(d.id, sub.id, { result: 'delivered', status: status! }, now);
      this.o.onAttempt?.(sub.id, 'delivered', now - d.eventAt);
      return true;
    }
    const attempts = d.attempts + 1;
    const withStatus = status === undefined ? {} : { status };
    if (attempts >= sub.maxAttempts) {
      this.record(d.id, sub.id, { result: 'dead', error, ...withStatus }, now);
      this.o.log?.warn('webhook delivery failed for good: dead letter', { webhook: sub.id, delivery: d.id, messageId: d.messageId, attempts, error });
      this.o.onAttempt?.(sub.id, 'dead');
      return true;
    }
    const backoff = retryDelayMs(attempts, this.o.backoff ?? DEFAULT_BACKOFF, this.o.random);
    const asked = status === 429 || status === 503 ? retryAfterMs(retryAfter, now, (this.o.backoff ?? DEFAULT_BACKOFF).capMs) : undefined;
    this.record(d.id, sub.id, { result: 'retry', error, nextAttemptAt: now + Math.max(backoff, asked ?? 0), ...withStatus }, now);
    this.o.onAttempt?.(sub.id, 'failed');
    return true;
  }

  /**
   * Stops: writes buffered deliveries, aborts requests in flight (their rows stay pending) and
   * waits for them to settle.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.buffer.length > 0) this.o.outbox.enqueue(this.buffer.splice(0), this.now());
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort(new Error('daemon stopping'));
    await Promise.allSettled([...this.inflight.values()]);
    this.flushOutcomes(); // what completed before the abort is recorded, not sent again
  }
}

function describeError(e: unknown, timeoutS: number): string {
  if (e instanceof Error) {
    if (e.name === 'TimeoutError') return `no answer within ${timeoutS} s`;
    const code = (e as { code?: string }).code;
    if (code && !e.message.includes(code)) return `${e.message}: ${code}`;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ? `${e.message}: ${cause.code}` : cause?.message ? `${e.message}: ${cause.message}` : e.message;
  }
  return String(e);
}
