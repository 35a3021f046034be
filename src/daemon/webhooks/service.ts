/**
 * The webhook module of the feature daemon (docs/webhooks.md): the outbox on the daemon database,
 * the dispatcher subscribed to the event bus, its metrics and its API routes.
 *
 *   GET  /v1/webhooks/deliveries?status=pending|dead|delivered&webhook=ID&limit=N
 *        {deliveries: Delivery[]} newest first (limit 1..1000, default 100)
 *   POST /v1/webhooks/deliveries/:id/retry
 *        200 {delivery} (back to pending, attempt budget reset, same webhook-id); 404; 409 when delivered
 *
 * Metrics: pbx_webhook_deliveries_total{webhook,result} (delivered | failed | dead per attempt),
 * pbx_webhook_delivery_lag_seconds{webhook} (event time to a 2xx answer), pbx_webhook_outbox{status}.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PbxError } from '../../lib/errors.js';
import type { ApiRoute } from '../api.js';
import type { DaemonEvent, EventBus } from '../events.js';
import type { Db } from '../store/database.js';
import type { BackoffPolicy } from './backoff.js';
import { WebhookDispatcher, type WebhookSender, type WebhookSubscription } from './dispatcher.js';
import type { MappableEvent } from './mapping.js';
import { Outbox, type DeliveryStatus } from './outbox.js';

/** Options of {@link startWebhooks}. */
export interface WebhookModuleOptions {
  db: Db;
  events: EventBus;
  /** The subscriptions of the feature config in use (FeatureConfig.webhooks); undefined before one is loaded. */
  subscriptions: () => readonly WebhookSubscription[] | undefined;
  /** Signing secrets of a webhook, newest first (LoadedConfig.secrets.webhooks). */
  secrets: (webhook: string) => readonly string[] | undefined;
  /** The daemon's metric registry. */
  registry: Registry;
  send?: WebhookSender;
  backoff?: BackoffPolicy;
  concurrency?: number;
  /** Delivered rows are deleted after this many ms (default 7 days); dead ones after 4 times as long. */
  keepDeliveredMs?: number;
  log?: { warn(msg: string, fields?: Record<string, unknown>): void };
}

/** The running module. */
export interface WebhookModule {
  outbox: Outbox;
  dispatcher: WebhookDispatcher;
  routes: ApiRoute[];
  /** Writes what is buffered, aborts requests in flight (they stay pending), unsubscribes. */
  stop(): Promise<void>;
}

const STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'dead'];
const DAY_MS = 86_400_000;

/**
 * Starts the module: migrates its tables, subscribes to `events`, resumes pending deliveries.
 * @throws PbxError DAEMON_DB_MIGRATION
 */
export function startWebhooks(o: WebhookModuleOptions): WebhookModule {
  const outbox = new Outbox(o.db);
  const deliveries = new Counter({ name: 'pbx_webhook_deliveries_total', help: 'Webhook delivery attempts by webhook and result (delivered, failed: will retry, dead: gave up).', labelNames: ['webhook', 'result'] as const, registers: [o.registry] });
  const lag = new Histogram({
    name: 'pbx_webhook_delivery_lag_seconds',
    help: 'Time from the event to its webhook delivery being confirmed (2xx), by webhook.',
    labelNames: ['webhook'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
    registers: [o.registry],
  });
  new Gauge({
    name: 'pbx_webhook_outbox',
    help: 'Webhook deliveries in the outbox by status (dead = the dead-letter list).',
    labelNames: ['status'] as const,
    registers: [o.registry],
    collect() {
      for (const [status, n] of Object.entries(outbox.counts())) this.labels({ status }).set(n);
    },
  });
  const dispatcher = new WebhookDispatcher({
    outbox,
    subscriptions: o.subscriptions,
    secrets: o.secrets,
    ...(o.send ? { send: o.send } : {}),
    ...(o.backoff ? { backoff: o.backoff } : {}),
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
    ...(o.log ? { log: o.log } : {}),
    onAttempt(webhook, result, lagMs) {
      deliveries.inc({ webhook, result });
      if (lagMs !== undefined) lag.observe({ webhook }, Math.max(0, lagMs) / 1000);
    },
  });
  const { unsubscribe } = o.events.subscribe((e: DaemonEvent) => dispatcher.accept(e as unknown as MappableEvent));
  const keep = o.keepDeliveredMs ?? 7 * DAY_MS;
  const prune = () => {
    const now = Date.now();
    outbox.prune(now - keep, now - 4 * keep);
  };
  prune();
  const pruneTimer = setInterval(prune, Math.min(keep, DAY_MS) / 4);
  pruneTimer.unref();
  dispatcher.start();

  const routes: ApiRoute[] = [
    {
      method: 'GET',
      path: /^\/v1\/webhooks\/deliveries$/,
      handle({ query }) {
        const status = query.get('status') ?? undefined;
        if (status !== undefined && !STATUSES.includes(status as DeliveryStatus)) {
          throw new PbxError('BAD_REQUEST', `status must be one of ${STATUSES.join(', ')}`, { hint: 'GET /v1/webhooks/deliveries?status=dead lists the dead-letter list.' });
        }
        const limit = query.has('limit') ? Number(query.get('limit')) : 100;
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new PbxError('BAD_REQUEST', 'limit must be an integer 1..1000', { hint: 'Page with a smaller limit.' });
        const webhook = query.get('webhook') ?? undefined;
        return { status: 200, body: { deliveries: outbox.list({ ...(status ? { status: status as DeliveryStatus } : {}), ...(webhook ? { webhook } : {}), limit }) } };
      },
    },
    {
      method: 'POST',
      path: /^\/v1\/webhooks\/deliveries\/([0-9]{1,15})\/retry$/,
      handle({ params }) {
        const d = outbox.retry(Number(params[0]), Date.now());
        if (!d) return { status: 404, body: { error: `no webhook delivery ${params[0]}` } };
        if (d.status === 'delivered') return { status: 409, body: { error: `delivery ${d.id} was already delivered`, delivery: d } };
        dispatcher.flush();
        return { status: 200, body: { delivery: d } };
      },
    },
  ];

  return {
    outbox,
    dispatcher,
    routes,
    async stop() {
      clearInterval(pruneTimer);
      unsubscribe();
      await dispatcher.stop();
    },
  };
}
