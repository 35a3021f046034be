/**
 * Which daemon events become which webhook events (docs/webhooks.md "Event types"), and the
 * payload each carries. Pure.
 *
 * Payloads follow the Standard Webhooks recommendation `{type, timestamp, data}`: `timestamp` is
 * when the event happened (ISO 8601, UTC), `data` the event's fields as the daemon published
 * them, minus its bookkeeping (`type`, `seq`, `at`).
 *
 * Calls: the daemon's own calls (`call.started`, `call.state`, `call.ended`) and plain calls that
 * Kamailio handles alone (the CDR module's `dialog.*` events, from evapi) map to the same
 * `call.*` types. A call that reaches the daemon passes Kamailio too: its dialog events (with
 * `feature` set) and those of the legs the daemon dials (`direction: daemon`) are left out, and as
 * a safety net call messages have a deterministic id per (event type, Call-ID), so the outbox
 * keeps one delivery per call and type whoever reports it.
 */
import { createHash, randomUUID } from 'node:crypto';

/** The webhook event types a subscription may name (schemas/webhook.schema.json), besides `*`. */
export const WEBHOOK_EVENT_TYPES = [
  'call.started', 'call.ringing', 'call.answered', 'call.ended',
  'cdr.created', 'voicemail.new',
  'queue.joined', 'queue.abandoned', 'queue.answered',
  'agent.state', 'registration.changed', 'deployment.completed',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** A daemon event as the mapper reads it: structurally, so events other modules add map without a type dependency. */
export interface MappableEvent {
  type: string;
  /** ms since the epoch. */
  at: number;
  seq: number;
  [field: string]: unknown;
}

/** One webhook message: what every subscribed endpoint receives (with its own signature). */
export interface WebhookMessage {
  /** The `webhook-id`: `msg_` + 26 base32/base64url characters; stable across retries. */
  id: string;
  type: WebhookEventType;
  /** When the event happened, ms since the epoch (delivery order and the lag metric use it). */
  at: number;
  /** The exact JSON body sent (stored once, so every retry sends the same bytes). */
  body: string;
}

/** Daemon event type -> webhook event type for events that map one to one. */
const DIRECT: Readonly<Record<string, WebhookEventType>> = {
  'call.started': 'call.started',
  'call.ended': 'call.ended',
  'dialog.started': 'call.started',
  'dialog.answered': 'call.answered',
  'dialog.ended': 'call.ended',
  'voicemail.new': 'voicemail.new',
  'queue.joined': 'queue.joined',
  'queue.abandoned': 'queue.abandoned',
  'queue.answered': 'queue.answered',
  'agent.state': 'agent.state',
  'registration.changed': 'registration.changed',
  'cdr.written': 'cdr.created',
  'config.loaded': 'deployment.completed',
};

/** The webhook event type of a daemon event, or undefined when it is not one webhooks carry. */
export function webhookTypeOf(e: MappableEvent): WebhookEventType | undefined {
  // Kamailio's view of a call the daemon handles (`feature` set) or of a leg the daemon dialled
  // (`direction: daemon`): the daemon reports the call itself, with its flow's details.
  if (e.type.startsWith('dialog.') && (e.feature !== undefined || e.direction === 'daemon')) return undefined;
  if (e.type === 'call.state') {
    if (e.state === 'ringing') return 'call.ringing';
    if (e.state === 'answered') return 'call.answered';
    return undefined;
  }
  return DIRECT[e.type];
}

/** A message id derived from `key`: the same key always gives the same id (deduplication). */
export function deterministicMessageId(key: string): string {
  return `msg_${createHash('sha256').update(key).digest('base64url').slice(0, 26)}`;
}

/**
 * The webhook message of a daemon event, or undefined when no webhook event corresponds.
 * @param newId id source for events without a natural key (random by default)
 */
export function toWebhookMessage(e: MappableEvent, newId: () => string = () => `msg_${randomUUID().replace(/-/g, '')}`): WebhookMessage | undefined {
  const type = webhookTypeOf(e);
  if (!type) return undefined;
  const { type: _t, seq: _s, at: _a, ...data } = e;
  // call.state's own `state`/`from` fields are the transition; the webhook type already says which.
  if (e.type === 'call.state') delete data.from;
  // A path on the node is of no use to a receiver (and says how the node is laid out).
  if (e.type === 'voicemail.new') delete data.file;
  const callId = typeof e.callId === 'string' ? e.callId : undefined;
  const id = type.startsWith('call.') && callId ? deterministicMessageId(`${type}\n${callId}`) : newId();
  const body = JSON.stringify({ type, timestamp: new Date(e.at).toISOString(), data });
  return { id, type, at: e.at, body };
}

/** Whether a subscription's event list takes `type` (`*` takes all). */
export function subscribes(events: readonly string[], type: WebhookEventType): boolean {
  return events.includes('*') || events.includes(type);
}
