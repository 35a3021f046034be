/**
 * The notifier side of SIP-specific event notification (RFC 6665): SUBSCRIBE creates a
 * subscription dialog, the notifier answers 200 with the granted `Expires` and at once sends a
 * NOTIFY with the current state; the subscriber refreshes with in-dialog SUBSCRIBEs (each gets
 * 200 and a NOTIFY), ends it with `Expires: 0`, or lets it expire; every NOTIFY carries
 * `Subscription-State` (active;expires=N, or terminated;reason=R). The daemon uses it for
 * message-waiting indication (RFC 3842), and any other package can register the same way.
 *
 * - {@link EventPackages} is what the UserAgent delegates to: the packages it serves (`Allow-Events`),
 *   whether SUBSCRIBE is allowed at all (a UA without packages answers it 405 as before), and the
 *   checks on an out-of-dialog SUBSCRIBE (RFC 6665 §4.2.1: 489 unknown package, 400 no Event,
 *   423 Interval Too Brief with Min-Expires, 406 when `Accept` excludes the package's body type).
 * - {@link ServerSubscription} is one subscription: a {@link DialogUsage} the UA routes in-dialog
 *   requests to. One NOTIFY at a time (§4.2.2 forbids overlapping ones per dialog; a newer state
 *   waiting behind one in flight replaces any older waiting state), removed on a 481/408/timeout
 *   to a NOTIFY (§4.2.2), expiry timer from the clock (tests drive a ManualClock).
 */
import { EventEmitter } from 'node:events';
import type { NameAddr, SipRequest, SipResponse } from './message.js';
import { Dialog, DialogState } from './dialog.js';
import { getHeader, getHeaders, parseNameAddr, splitList } from './headers.js';
import { newTag, cseqOf } from './transaction.js';
import { TimerSet } from './timers.js';
import type { NonInviteServerTransaction, ServerTransaction } from './transaction-server.js';
import { ALLOWED_METHODS, type DialogUsage, type UaCore } from './ua-core.js';

/** Per-package subscription lifetimes, seconds. */
export interface EventPackageOptions {
  /** Granted when the SUBSCRIBE has no Expires (RFC 6665 §4.2.1.1: defined by the package). */
  defaultExpires: number;
  /** Shorter non-zero requests get 423 with Min-Expires. */
  minExpires: number;
  /** Longer requests are shortened to this (the 200's Expires says so). */
  maxExpires: number;
  /** The NOTIFY body type; a SUBSCRIBE whose Accept excludes it gets 406. */
  contentType: string;
}

/** Gets each new subscription; it must call `accept` or `reject` (soon: the subscriber's Timer F runs). */
export type SubscribeHandler = (subscription: ServerSubscription) => void;

/** Life of a subscription. */
export enum SubscriptionState {
  /** The SUBSCRIBE is not answered yet. */
  Pending = 'pending',
  Active = 'active',
  Terminated = 'terminated',
}

/**
 * Why a subscription ended. The first five are RFC 6665 §4.1.3 reason codes we send; `unsubscribed`
 * (Expires: 0, reason `timeout` on the wire), `dialog-lost` (a NOTIFY got 481/408 or timed out),
 * `refused` (rejected before acceptance) and `closed` (UA closed, `probation` on the wire) are ours.
 */
export type SubscriptionEndReason = 'timeout' | 'deactivated' | 'noresource' | 'rejected' | 'giveup' | 'unsubscribed' | 'dialog-lost' | 'refused' | 'closed';

/** Events of a {@link ServerSubscription}. */
export interface SubscriptionEvents {
  /** The subscriber refreshed; granted seconds. */
  refresh: [expires: number];
  /** Once; its timers are stopped and the UA forgot its dialog by then. */
  terminated: [reason: SubscriptionEndReason];
}

/** RFC 6665 §4.1.3 reason for each local end reason. */
const WIRE_REASON: Record<SubscriptionEndReason, string> = {
  timeout: 'timeout', deactivated: 'deactivated', noresource: 'noresource', rejected: 'rejected', giveup: 'giveup',
  unsubscribed: 'timeout', 'dialog-lost': 'noresource', refused: 'rejected', closed: 'probation',
};

/** Seconds a closed UA asks subscribers to wait before subscribing again (`retry-after`, §4.1.3). */
export const CLOSE_RETRY_AFTER_S = 30;

/** The event packages a UserAgent serves; see the module comment. */
export class EventPackages {
  private readonly packages = new Map<string, { handler: SubscribeHandler; options: EventPackageOptions }>();

  constructor(private readonly core: UaCore) {}

  /** Serves `name` (case-insensitive, e.g. `message-summary`); replaces an earlier handler. */
  on(name: string, options: EventPackageOptions, handler: SubscribeHandler): void {
    if (options.minExpires < 1 || options.minExpires > options.defaultExpires || options.defaultExpires > options.maxExpires) {
      throw new Error(`event package ${name}: need 1 <= minExpires <= defaultExpires <= maxExpires`);
    }
    this.packages.set(name.toLowerCase(), { handler, options });
  }

  /** Methods the UA allows: its own, plus SUBSCRIBE once a package is served. */
  get methods(): readonly string[] {
    return this.packages.size === 0 ? ALLOWED_METHODS : [...ALLOWED_METHODS, 'SUBSCRIBE'];
  }

  /** The Allow header value. */
  get allow(): string {
    return this.methods.join(', ');
  }

  /**
   * An out-of-dialog SUBSCRIBE that passed the §8.2 checks: checks it against the package
   * (RFC 6665 §4.2.1) and hands a {@link ServerSubscription} to the package's handler.
   */
  receive(request: SipRequest, tx: NonInviteServerTransaction): void {
    const reply = (status: number, reason?: string, headers: { name: string; value: string }[] = []): void => {
      tx.respond(this.core.response(request, status, { toTag: newTag(), headers, ...(reason ? { reason } : {}) }));
    };
    const event = eventPackageOf(request);
    if (event === undefined) return reply(400, 'Missing Event header');
    const served = this.packages.get(event);
    if (served === undefined) return reply(489, 'Bad Event', [{ name: 'Allow-Events', value: [...this.packages.keys()].join(', ') }]);
    const contact = getHeaders(request, 'Contact')[0];
    if (getHeader(request, 'From') === undefined || !hasFromTag(request) || contact === undefined || !parses(contact)) {
      return reply(400, 'Missing From tag or Contact');
    }
    const requested = expiresOf(request);
    if (requested === null) return reply(400, 'Bad Expires');
    if (requested !== undefined && requested > 0 && requested < served.options.minExpires) {
      return reply(423, 'Interval Too Brief', [{ name: 'Min-Expires', value: String(served.options.minExpires) }]);
    }
    if (!accepts(request, served.options.contentType)) return reply(406, 'Not Acceptable', [{ name: 'Accept', value: served.options.contentType }]);
    const subscription = new ServerSubscription(this.core, request, tx, event, served.options);
    try {
      served.handler(subscription);
    } catch (err) {
      this.core.logger.error('SUBSCRIBE handler threw', { event, error: err instanceof Error ? err.stack : String(err) });
      if (subscription.state === SubscriptionState.Pending) subscription.reject(500);
    }
  }
}

/** A body and its type, as sent in NOTIFY. */
export interface NotifyBody {
  body: string;
  contentType: string;
}

/** One subscription, notifier side; see the module comment. Created by {@link EventPackages}. */
export class ServerSubscription extends EventEmitter<SubscriptionEvents> implements DialogUsage {
  /** The package, lower case. */
  readonly event: string;
  /** The initial SUBSCRIBE. */
  readonly request: SipRequest;
  /** The subscriber (From, tag removed). */
  readonly subscriber: NameAddr;
  /** Seconds asked for; undefined when the SUBSCRIBE had no Expires. */
  readonly requestedExpires: number | undefined;
  private current = SubscriptionState.Pending;
  private endReason: SubscriptionEndReason | undefined;
  private dialog: Dialog | undefined;
  private readonly timers: TimerSet;
  private expiresAt = 0;
  /** The latest state sent (repeated on refresh, §4.2.1.2). */
  private latest: NotifyBody | undefined;
  /** A NOTIFY transaction is running: the next state waits (§4.2.2). */
  private sending = false;
  /** What to send when the running NOTIFY completes; `final` marks the terminated one. */
  private queued: { notify: NotifyBody | undefined; final?: SubscriptionEndReason } | undefined;

  /** @internal */
  constructor(
    private readonly core: UaCore,
    request: SipRequest,
    private readonly tx: NonInviteServerTransaction,
    event: string,
    private readonly options: EventPackageOptions,
  ) {
    super();
    this.request = request;
    this.event = event;
    const from = parseNameAddr(getHeader(request, 'From') ?? '');
    const params = new Map(from.params);
    params.delete('tag');
    this.subscriber = { ...from, params };
    this.requestedExpires = expiresOf(request) ?? undefined;
    this.timers = new TimerSet(core.clock);
  }

  /** pending, active or terminated. */
  get state(): SubscriptionState {
    return this.current;
  }

  /** Why it ended, once terminated. */
  get reason(): SubscriptionEndReason | undefined {
    return this.endReason;
  }

  /** The Request-URI of the SUBSCRIBE: the resource (e.g. `sip:1001@pbx.example.com`). */
  get resource(): string {
    return this.request.uri;
  }

  /** Seconds left until expiry (0 once terminated). */
  get remaining(): number {
    if (this.current !== SubscriptionState.Active) return 0;
    return Math.max(0, Math.ceil((this.expiresAt - this.core.clock.now()) / 1000));
  }

  /**
   * Accepts: 200 with the granted Expires (requested, else the package default, capped at its
   * maximum), our Contact and the Record-Route set, then the first NOTIFY with `initial`.
   * A SUBSCRIBE with `Expires: 0` is a fetch (§4.2.1.1): 200, one NOTIFY `terminated;reason=timeout`, done.
   * @returns the granted seconds
   * @throws Error when already answered (a bug)
   */
  accept(initial: NotifyBody): number {
    if (this.current !== SubscriptionState.Pending) throw new Error(`subscription already ${this.current}`);
    const granted = Math.min(this.requestedExpires ?? this.options.defaultExpires, this.options.maxExpires);
    const tag = newTag();
    this.dialog = Dialog.fromUasRequest(this.request, tag, DialogState.Confirmed, this.core.contact);
    this.tx.respond(this.core.response(this.request, 200, { toTag: tag, contact: true, recordRoute: true, headers: [{ name: 'Expires', value: String(granted) }] }));
    this.current = SubscriptionState.Active;
    this.latest = initial;
    if (granted === 0) {
      // A fetch: never registered as a dialog usage, so a stray refresh gets 481.
      this.finish('unsubscribed', initial);
      return 0;
    }
    this.core.addDialog(this.dialog.id, this);
    this.arm(granted);
    this.send(initial);
    return granted;
  }

  /**
   * Refuses the SUBSCRIBE (e.g. 403 not your mailbox, 404 no such resource).
   * @throws Error when already answered (a bug)
   */
  reject(status: number, reason?: string): void {
    if (this.current !== SubscriptionState.Pending) throw new Error(`subscription already ${this.current}`);
    this.tx.respond(this.core.response(this.request, status, { toTag: newTag(), ...(reason ? { reason } : {}) }));
    this.current = SubscriptionState.Terminated;
    this.endReason = 'refused';
    this.emit('terminated', 'refused');
  }

  /** Sends the new state (NOTIFY, Subscription-State active); ignored once terminated. */
  notify(state: NotifyBody): void {
    if (this.current !== SubscriptionState.Active) return;
    this.latest = state;
    this.send(state);
  }

  /**
   * Ends it from our side: a last NOTIFY `terminated;reason=R` (with `final` as its body when given,
   * else none), the dialog forgotten. Idempotent.
   */
  terminate(reason: Exclude<SubscriptionEndReason, 'refused' | 'unsubscribed'> = 'noresource', final?: NotifyBody): void {
    if (this.current !== SubscriptionState.Active) return;
    this.finish(reason, final);
  }

  /** @internal In-dialog request routed by the UA: a refresh or un-SUBSCRIBE (§4.2.1.2, §4.2.1.4). */
  handleRequest(request: SipRequest, tx: ServerTransaction): void {
    const dialog = this.dialog!;
    const reply = (status: number, headers: { name: string; value: string }[] = [], reason?: string): void => {
      tx.respond(this.core.response(request, status, { headers, ...(reason ? { reason } : {}) }));
    };
    if (request.method !== 'SUBSCRIBE') return reply(405, [{ name: 'Allow', value: 'SUBSCRIBE' }]);
    if (!dialog.acceptRemoteSeq(cseqOf(request)?.seq ?? 0)) return reply(500, [], 'CSeq Out of Order');
    if (eventPackageOf(request) !== this.event) return reply(489, [{ name: 'Allow-Events', value: this.event }], 'Bad Event');
    const requested = expiresOf(request);
    if (requested === null) return reply(400, [], 'Bad Expires');
    if (requested !== undefined && requested > 0 && requested < this.options.minExpires) {
      return reply(423, [{ name: 'Min-Expires', value: String(this.options.minExpires) }], 'Interval Too Brief');
    }
    if (this.current !== SubscriptionState.Active) return reply(481);
    dialog.refreshTarget(request);
    const granted = Math.min(requested ?? this.options.defaultExpires, this.options.maxExpires);
    reply(200, [{ name: 'Contact', value: this.core.contact }, { name: 'Expires', value: String(granted) }]);
    if (granted === 0) return this.finish('unsubscribed', this.latest);
    this.arm(granted);
    this.emit('refresh', granted);
    if (this.latest) this.send(this.latest);
  }

  /** @internal No ACK exists in a subscription dialog. */
  handleAck(): void {}

  /** @internal Only INVITE 2xx are stray-routed; nothing to do. */
  handleStrayResponse(_response: SipResponse): void {}

  /** @internal UA close: `terminated;reason=probation;retry-after=30`, sent before the transport closes. */
  close(): void {
    if (this.current !== SubscriptionState.Active) return;
    this.sending = false; // the transaction in flight is being aborted with the UA
    this.finish('closed', undefined);
  }

  private arm(seconds: number): void {
    this.expiresAt = this.core.clock.now() + seconds * 1000;
    this.timers.set('expiry', seconds * 1000, () => this.finish('timeout', this.latest));
  }

  /** Active → terminated: forget the dialog, stop timers, send the final NOTIFY, emit. */
  private finish(reason: SubscriptionEndReason, final: NotifyBody | undefined): void {
    this.current = SubscriptionState.Terminated;
    this.endReason = reason;
    this.timers.clearAll();
    if (this.dialog) this.core.removeDialog(this.dialog.id, this);
    if (reason !== 'dialog-lost') this.send(final, reason);
    this.emit('terminated', reason);
  }

  /** Sends a NOTIFY now, or queues it behind the one in flight (keeping only the newest). */
  private send(notify: NotifyBody | undefined, final?: SubscriptionEndReason): void {
    if (this.sending) {
      if (this.queued?.final === undefined) this.queued = final === undefined ? { notify } : { notify, final };
      return;
    }
    const dialog = this.dialog;
    if (dialog === undefined) return;
    const state = final === undefined
      ? `active;expires=${this.remaining}`
      : `terminated;reason=${WIRE_REASON[final]}${final === 'closed' ? `;retry-after=${CLOSE_RETRY_AFTER_S}` : ''}`;
    const headers = [
      { name: 'Event', value: this.event },
      { name: 'Subscription-State', value: state },
      // NOTIFY is a target refresh request in RFC 6665: it carries our Contact.
      { name: 'Contact', value: this.core.contact },
    ];
    const request = dialog.createRequest('NOTIFY', notify ? { headers, body: notify.body, contentType: notify.contentType } : { headers });
    this.sending = true;
    const tx = this.core.sendRequest(request);
    const done = (lost: boolean, why: string): void => {
      if (!this.sending) return;
      this.sending = false;
      if (lost) {
        this.core.logger.info('subscription removed: NOTIFY failed', { event: this.event, callId: dialog.callId, why });
        this.queued = undefined;
        if (this.current === SubscriptionState.Active) this.finish('dialog-lost', undefined);
        return;
      }
      const next = this.queued;
      this.queued = undefined;
      if (next) this.send(next.notify, next.final);
    };
    tx.on('response', (r) => {
      if (r.status < 200) return;
      done(r.status === 481 || r.status === 408, `${r.status} ${r.reason}`);
    });
    tx.once('timeout', () => done(true, 'timeout'));
    tx.once('transportError', (e) => done(true, e.message));
    tx.once('terminated', (why) => why === 'aborted' && done(false, 'aborted'));
  }
}

/** The package of a request's Event header (lower case, parameters such as `id` dropped). */
export function eventPackageOf(request: SipRequest): string | undefined {
  const value = getHeader(request, 'Event');
  if (value === undefined) return undefined;
  const name = value.split(';')[0]!.trim().toLowerCase();
  return name === '' ? undefined : name;
}

/** Expires as seconds; undefined when absent, null when malformed. */
function expiresOf(request: SipRequest): number | undefined | null {
  const value = getHeader(request, 'Expires');
  if (value === undefined) return undefined;
  return /^\s*\d{1,10}\s*$/.test(value) ? Math.min(Number(value), 2 ** 32 - 1) : null;
}

/** No Accept means the package default is fine (RFC 6665 §4.2.1.1); else it must list it or a wildcard. */
function accepts(request: SipRequest, type: string): boolean {
  const values = getHeaders(request, 'Accept').flatMap((v) => splitList(v));
  if (values.length === 0) return true;
  const [major] = type.split('/');
  return values.some((v) => {
    const t = v.split(';')[0]!.trim().toLowerCase();
    return t === type || t === '*/*' || t === `${major}/*`;
  });
}

function hasFromTag(request: SipRequest): boolean {
  try {
    return Boolean(parseNameAddr(getHeader(request, 'From') ?? '').params.get('tag'));
  } catch {
    return false;
  }
}

function parses(nameAddr: string): boolean {
  try {
    parseNameAddr(nameAddr);
    return true;
  } catch {
    return false;
  }
}
