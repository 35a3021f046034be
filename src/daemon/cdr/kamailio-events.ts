/**
 * The events templates/kamailio/kamailio.cfg pushes through evapi (route[DLG_EVENT],
 * route[REG_EVENT], event_route[usrloc:contact-expired]), checked and turned into daemon events.
 * The script sends every value as a JSON string (jansson_xencode of an xavp; empty string for
 * "none") except `status` and `expires` (integers); times (`startTs`, `answerTs`, `ts`) are
 * Kamailio's `$TV(Sn)`, "seconds.microseconds".
 */
import type { DialogAnsweredEvent, DialogEndedEvent, DialogEventFields, DialogStartedEvent, RegistrationChangedEvent } from '../events.js';

/** An event the script sent that does not have the expected shape. */
export class BadKamailioEvent extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadKamailioEvent';
  }
}

export type KamailioEvent = DialogStartedEvent | DialogAnsweredEvent | DialogEndedEvent | RegistrationChangedEvent;

const DIRECTIONS = new Set(['internal', 'inbound', 'outbound', 'daemon']);
const REG_CHANGES = new Set(['registered', 'refreshed', 'unregistered', 'expired']);
const END_REASONS = new Set(['bye', 'timeout', 'failed', 'canceled']);

function str(o: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') {
    if (required) throw new BadKamailioEvent(`missing "${key}"`);
    return undefined;
  }
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw new BadKamailioEvent(`"${key}" is not a string`);
  if (v.length > 1024) throw new BadKamailioEvent(`"${key}" is longer than 1024 characters`);
  return v;
}

function int(o: Record<string, unknown>, key: string): number {
  const v = typeof o[key] === 'string' ? Number(o[key]) : o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new BadKamailioEvent(`"${key}" is not a non-negative integer`);
  return v;
}

/** `$TV(Sn)` ("1700000000.123456") or a number of seconds, to ms since the epoch. */
function time(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{9,11}(\.\d{1,9})?$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new BadKamailioEvent(`"${key}" is not a time ("seconds.micros")`);
  return Math.round(n * 1000);
}

function dialogFields(o: Record<string, unknown>): DialogEventFields {
  const direction = str(o, 'direction', true)!;
  if (!DIRECTIONS.has(direction)) throw new BadKamailioEvent(`unknown direction "${direction}"`);
  const f: DialogEventFields = {
    callId: str(o, 'callId', true)!,
    direction: direction as DialogEventFields['direction'],
    from: str(o, 'from') ?? '',
    dialed: str(o, 'dialed') ?? str(o, 'target') ?? '',
    target: str(o, 'target') ?? '',
    startedAt: time(o, 'startTs'),
    occurredAt: time(o, 'ts'),
  };
  // $fn keeps the quotes of a quoted display name (RFC 3261 25.1 quoted-string).
  const name = str(o, 'fromName')?.replace(/^"(.*)"$/s, '$1').replace(/\\(.)/g, '$1');
  if (o.answerTs !== undefined && o.answerTs !== '') f.answeredAt = time(o, 'answerTs');
  const optional = { fromName: name === '' ? undefined : name, did: str(o, 'did'), trunk: str(o, 'trunk'), feature: str(o, 'feature') };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (f as unknown as Record<string, string>)[k] = v;
  return f;
}

/**
 * Parses one evapi payload.
 * @returns the daemon event it stands for
 * @throws BadKamailioEvent when it is not JSON, not an object, has an unknown `event`, or a field
 *   of the wrong type (the caller logs and drops it)
 */
export function parseKamailioEvent(text: string): KamailioEvent {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new BadKamailioEvent('not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new BadKamailioEvent('not a JSON object');
  const r = o as Record<string, unknown>;
  const event = str(r, 'event', true);
  switch (event) {
    case 'dialog.started':
    case 'dialog.answered':
      return { type: event, ...dialogFields(r) };
    case 'dialog.ended': {
      const reason = str(r, 'reason', true)!;
      if (!END_REASONS.has(reason)) throw new BadKamailioEvent(`unknown end reason "${reason}"`);
      return { type: 'dialog.ended', ...dialogFields(r), status: int(r, 'status'), reason: reason as DialogEndedEvent['reason'] };
    }
    case 'registration.changed': {
      const change = str(r, 'change', true)!;
      if (!REG_CHANGES.has(change)) throw new BadKamailioEvent(`unknown registration change "${change}"`);
      const e: RegistrationChangedEvent = {
        type: 'registration.changed',
        aor: str(r, 'aor', true)!,
        contact: str(r, 'contact') ?? '',
        expires: int(r, 'expires'),
        change: change as RegistrationChangedEvent['change'],
      };
      const ua = str(r, 'userAgent');
      const received = str(r, 'received');
      if (ua !== undefined) e.userAgent = ua;
      if (received !== undefined) e.received = received;
      return e;
    }
    default:
      throw new BadKamailioEvent(`unknown event "${event}"`);
  }
}
