/**
 * Message-waiting indication (RFC 3842) for the extensions' voicemail boxes, both ways phones use:
 *
 * - **Subscriptions**: a phone SUBSCRIBEs to `message-summary` for its own AOR. Kamailio
 *   authenticates it, checks the box is the subscriber's own and relays it here
 *   (templates/kamailio/kamailio.cfg route[MWI_SUBSCRIBE]); the UA's RFC 6665 notifier
 *   (src/sip/ua-subscription.ts) keeps the dialog. We refuse a box that is not an extension with
 *   voicemail (404) or not the subscriber's (403: Kamailio checks too, this is defence in depth).
 * - **Unsolicited NOTIFY**: what many phones expect without subscribing. An out-of-dialog NOTIFY
 *   to `sip:BOX@domain` goes to Kamailio, which forks it to every registered contact of the box
 *   (route[FROM_DAEMON], `lookup("location")`). Sent on every count change, and when a phone
 *   registers (`registration.changed` with change `registered`), so a rebooted phone's lamp is right.
 *
 * Counts come from the voicemail store (`counts(mailbox)`), and `voicemail.changed` events say
 * when they change. One unsolicited NOTIFY per box at a time: changes that arrive meanwhile
 * collapse into one more NOTIFY with the latest counts.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { parseUri } from '../../sip/uri.js';
import type { SipLogger } from '../../sip/transport.js';
import type { RequestOptions, ServerSubscription, UserAgent } from '../../sip/user-agent.js';
import type { FeatureConfig } from '../config-types.js';
import type { DaemonEvent, EventBus } from '../events.js';
import { MESSAGE_SUMMARY_EVENT, MESSAGE_SUMMARY_TYPE, formatMessageSummary, type MailboxSummary } from './message-summary.js';

/** Where counts come from: the voicemail store (daemon/voicemail/store.ts) satisfies it. */
export interface MailboxCounts {
  counts(mailbox: string): MailboxSummary;
}

/** Subscription lifetimes for `message-summary`, seconds: an hour by default, 60 s at least, two hours at most. */
export const MWI_EXPIRES = { defaultExpires: 3600, minExpires: 60, maxExpires: 7200 } as const;

/** Options of {@link MwiService}. */
export interface MwiOptions {
  ua: Pick<UserAgent, 'onSubscribe' | 'request' | 'contact'>;
  events: EventBus;
  /** The feature config in use (the daemon's ConfigStore.current?.config). */
  config: () => FeatureConfig | undefined;
  counts: MailboxCounts;
  logger?: SipLogger;
  registry?: Registry;
}

/** See the module comment. */
export class MwiService {
  private readonly subscriptions = new Map<string, Set<ServerSubscription>>();
  /** Boxes with an unsolicited NOTIFY in flight, and whether another must follow it. */
  private readonly unsolicited = new Map<string, { again: boolean }>();
  private readonly inflight = new Set<Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  private readonly sent: Counter<'kind' | 'result'> | undefined;

  constructor(private readonly o: MwiOptions) {
    if (o.registry) {
      this.sent = new Counter({ name: 'pbx_mwi_notify_total', help: 'Unsolicited message-waiting NOTIFYs, by result (ok, failed = no phone took it).', labelNames: ['kind', 'result'] as const, registers: [o.registry] });
      const subs = this.subscriptions;
      new Gauge({
        name: 'pbx_mwi_subscriptions',
        help: 'Active message-summary subscriptions.',
        registers: [o.registry],
        collect() {
          let n = 0;
          for (const s of subs.values()) n += s.size;
          this.set(n);
        },
      });
    }
  }

  /** Serves SUBSCRIBE for message-summary and follows count changes and registrations. */
  start(): void {
    this.o.ua.onSubscribe(MESSAGE_SUMMARY_EVENT, { ...MWI_EXPIRES, contentType: MESSAGE_SUMMARY_TYPE }, (s) => this.subscribe(s));
    this.unsubscribe = this.o.events.subscribe((e) => this.onEvent(e)).unsubscribe;
  }

  /** Stops sending (subscriptions end with the UA's close); waits for NOTIFYs in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await Promise.allSettled([...this.inflight]);
  }

  /** Active subscriptions of a box (API, tests). */
  subscriptionCount(mailbox: string): number {
    return this.subscriptions.get(mailbox)?.size ?? 0;
  }

  /** Sends the box's state to its subscribers and, unsolicited, to its registered phones. */
  refresh(mailbox: string): void {
    const config = this.o.config();
    if (!config || !hasBox(config, mailbox) || this.stopped) return;
    const body = this.body(config, mailbox);
    for (const s of this.subscriptions.get(mailbox) ?? []) s.notify(body);
    this.sendUnsolicited(mailbox);
  }

  private onEvent(e: DaemonEvent): void {
    if (e.type === 'voicemail.changed') this.refresh(e.mailbox);
    else if (e.type === 'config.loaded') this.dropRemovedBoxes();
    else if (e.type === 'registration.changed' && e.change === 'registered') {
      const config = this.o.config();
      if (config && hasBox(config, e.aor)) this.sendUnsolicited(e.aor);
    }
  }

  /** A new config without a box (extension or its voicemail removed): its subscriptions end (`noresource`). */
  private dropRemovedBoxes(): void {
    const config = this.o.config();
    if (!config) return;
    for (const [box, subs] of [...this.subscriptions]) {
      if (hasBox(config, box)) continue;
      for (const s of [...subs]) s.terminate('noresource');
      this.o.logger?.info('MWI subscriptions ended: the box is gone from the configuration', { mailbox: box });
    }
  }

  private subscribe(s: ServerSubscription): void {
    const config = this.o.config();
    if (!config) return s.reject(503, 'No Configuration');
    let box: string | undefined;
    let subscriber: string | undefined;
    try {
      box = parseUri(s.resource).user;
      subscriber = s.subscriber.uri.user;
    } catch {
      return s.reject(400, 'Bad Request-URI');
    }
    if (box === undefined || !hasBox(config, box)) return s.reject(404, 'No Such Mailbox');
    if (subscriber !== box) return s.reject(403, 'Not Your Mailbox');
    const set = this.subscriptions.get(box) ?? new Set();
    this.subscriptions.set(box, set);
    set.add(s);
    s.once('terminated', (reason) => {
      set.delete(s);
      if (set.size === 0 && this.subscriptions.get(box) === set) this.subscriptions.delete(box);
      this.o.logger?.debug('MWI subscription ended', { mailbox: box, reason });
    });
    const granted = s.accept(this.body(config, box));
    this.o.logger?.info('MWI subscription', { mailbox: box, expires: granted });
  }

  private body(config: FeatureConfig, mailbox: string): { body: string; contentType: string } {
    return { body: formatMessageSummary(accountOf(config, mailbox), this.o.counts.counts(mailbox)), contentType: MESSAGE_SUMMARY_TYPE };
  }

  /** One NOTIFY per box at a time; a change meanwhile sends once more with the latest counts. */
  private sendUnsolicited(mailbox: string): void {
    const busy = this.unsolicited.get(mailbox);
    if (busy) {
      busy.again = true;
      return;
    }
    const state = { again: false };
    this.unsolicited.set(mailbox, state);
    const run = (async () => {
      do {
        state.again = false;
        const config = this.o.config();
        if (!config || this.stopped || !hasBox(config, mailbox)) break;
        await this.notifyOnce(config, mailbox);
      } while (state.again);
      this.unsolicited.delete(mailbox);
    })();
    this.inflight.add(run);
    void run.finally(() => this.inflight.delete(run));
  }

  private async notifyOnce(config: FeatureConfig, mailbox: string): Promise<void> {
    const account = accountOf(config, mailbox);
    const { body, contentType } = this.body(config, mailbox);
    const request: RequestOptions = {
      method: 'NOTIFY',
      requestUri: account,
      from: `<sip:voicemail@${config.domain}>`,
      to: `<${account}>`,
      // No subscription exists: `active` is what phones accepting unsolicited MWI expect.
      headers: [
        { name: 'Event', value: MESSAGE_SUMMARY_EVENT },
        { name: 'Subscription-State', value: 'active' },
        { name: 'Contact', value: this.o.ua.contact },
      ],
      body,
      contentType,
    };
    try {
      const r = await this.o.ua.request(request);
      const ok = r.status >= 200 && r.status < 300;
      this.sent?.inc({ kind: 'unsolicited', result: ok ? 'ok' : 'failed' });
      // 404/480: no phone of that box is registered (or none takes NOTIFY): normal, not an error.
      this.o.logger?.debug('unsolicited MWI NOTIFY', { mailbox, status: r.status });
    } catch (e) {
      this.sent?.inc({ kind: 'unsolicited', result: 'failed' });
      this.o.logger?.warn('unsolicited MWI NOTIFY failed', { mailbox, error: e instanceof Error ? e.message : String(e) });
    }
  }
}

/** Whether `mailbox` is an extension with a voicemail box in `config`. */
function hasBox(config: FeatureConfig, mailbox: string): boolean {
  return config.extensions[mailbox]?.voicemail === true;
}

/** The Message-Account of a box: its AOR. */
function accountOf(config: FeatureConfig, mailbox: string): string {
  return `sip:${mailbox}@${config.domain}`;
}
