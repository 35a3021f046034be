/**
 * Voicemail-to-email: on `voicemail.new`, when the box's extension has an email target
 * (FeatureExtension.voicemailEmail) and the PBX has email settings (FeatureVoicemail.email), the
 * message is queued in the durable outbox (email-outbox.ts) and a worker sends it over SMTP with
 * nodemailer (password: the release's daemon/secrets.json `smtpPassword`). Failures are retried
 * with exponential back-off from the outbox, so a restart resumes where the last run stopped;
 * an SMTP 5xx answer (other than an authentication failure, which a corrected password fixes)
 * gives up at once. Counters `pbx_voicemail_emails_total{result}` and the gauge
 * `pbx_voicemail_email_outbox{state}` show it; every give-up is logged as an error.
 *
 * The SMTP settings and password are read when a mail is sent, not when it is queued: fixing the
 * settings with `pbxctl apply` lets the waiting retries succeed.
 */
import { existsSync } from 'node:fs';
import nodemailer from 'nodemailer';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SipLogger } from '../../sip/transport.js';
import { systemClock, type Clock, type TimerHandle } from '../../sip/timers.js';
import type { FeatureConfig, FeatureVoicemailEmail } from '../config-types.js';
import type { DaemonEvent, EventBus } from '../events.js';
import type { DaemonSecrets } from '../secrets-types.js';
import type { Db } from '../store/database.js';
import type { VoicemailStore } from '../voicemail/store.js';
import { buildVoicemailMail, type VoicemailMail } from './email-message.js';
import { DEFAULT_RETRY, EmailOutbox, type OutboxState, type RetryPolicy } from './email-outbox.js';
import type { ApiRoute } from '../api.js';
import { PbxError } from '../../lib/errors.js';

/** What sends mail: nodemailer's transport, or a fake in tests. */
export interface MailTransport {
  /** Resolves once the server accepted the message; rejects with nodemailer's error (`responseCode`, `code`). */
  sendMail(mail: VoicemailMail): Promise<unknown>;
  close(): void;
}

/** Makes a transport for the current settings (called again when they change). */
export type TransportFactory = (smtp: FeatureVoicemailEmail['smtp'], password: string | undefined) => MailTransport;

/**
 * nodemailer SMTP transport: `tls` = implicit TLS, `starttls` = STARTTLS required, `none` = plain
 * (no upgrade even when offered: loopback relays only). Timeouts keep a dead server from holding
 * the worker: 10 s to connect and greet, 60 s of socket inactivity.
 */
export const smtpTransport: TransportFactory = (smtp, password) => {
  const t = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure === 'tls',
    requireTLS: smtp.secure === 'starttls',
    ignoreTLS: smtp.secure === 'none',
    ...(smtp.username ? { auth: { user: smtp.username, pass: password ?? '' } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 60_000,
  });
  return { sendMail: (mail) => t.sendMail(mail), close: () => t.close() };
};

/** The configuration the service reads at each step (the daemon's ConfigStore.current). */
export interface EmailConfigSource {
  (): { config: FeatureConfig; secrets: DaemonSecrets } | undefined;
}

/** Options of {@link VoicemailEmailService}. */
export interface VoicemailEmailOptions {
  db: Db;
  events: EventBus;
  config: EmailConfigSource;
  transport?: TransportFactory;
  retry?: Partial<RetryPolicy>;
  clock?: Clock;
  logger?: SipLogger;
  /** Where the metrics go (the daemon's registry); none in tests that do not look. */
  registry?: Registry;
  /**
   * Messages received at or after a time (ms), from the voicemail store: what start() catches up
   * on. Without it a crash between storing a message and queueing its email loses that email.
   */
  recent?: (sinceMs: number) => RecentMessage[];
}

/** A stored voicemail message, as the `voicemail.new` event describes it. */
export type RecentMessage = Pick<Extract<DaemonEvent, { type: 'voicemail.new' }>, 'mailbox' | 'messageId' | 'caller' | 'durationS' | 'receivedAt' | 'file'>;

/** Result of one send attempt, for the counter. */
type Outcome = 'sent' | 'retry' | 'failed';

/** See the module comment. `start()` once; `stop()` waits for a send in progress. */
export class VoicemailEmailService {
  readonly outbox: EmailOutbox;
  private readonly clock: Clock;
  private readonly log: SipLogger | undefined;
  private readonly factory: TransportFactory;
  private transport: { key: string; t: MailTransport } | undefined;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;
  private readonly counter: Counter<'result'> | undefined;

  constructor(private readonly o: VoicemailEmailOptions) {
    this.clock = o.clock ?? systemClock;
    this.log = o.logger;
    this.factory = o.transport ?? smtpTransport;
    this.outbox = new EmailOutbox(o.db, { ...DEFAULT_RETRY, ...o.retry }, () => this.clock.now());
    if (o.registry) {
      this.counter = new Counter({ name: 'pbx_voicemail_emails_total', help: 'Voicemail notification email attempts, by result (sent, retry, failed = given up).', labelNames: ['result'] as const, registers: [o.registry] });
      const outbox = this.outbox;
      new Gauge({
        name: 'pbx_voicemail_email_outbox',
        help: 'Voicemail notification emails in the durable outbox, by state.',
        labelNames: ['state'] as const,
        registers: [o.registry],
        collect() {
          for (const [state, n] of Object.entries(outbox.counts())) this.labels({ state }).set(n);
        },
      });
    }
  }

  /** Listens for `voicemail.new`, catches up on messages it missed, and sends what the outbox holds. */
  start(): void {
    this.unsubscribe = this.o.events.subscribe((e) => this.onEvent(e)).unsubscribe;
    this.catchUp();
    this.kick();
  }

  /** Stops listening and scheduling; waits for the send in progress; closes the SMTP connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    this.transport?.t.close();
    this.transport = undefined;
  }

  /**
   * API routes: `GET /v1/voicemail-emails[?state=pending|sent|failed&limit=N]` lists the outbox,
   * newest first; `POST /v1/voicemail-emails/ID/retry` queues a failed email again (422 unless failed).
   */
  routes(): ApiRoute[] {
    return [
      {
        method: 'GET',
        path: /^\/v1\/voicemail-emails$/,
        handle: ({ query }) => {
          const state = query.get('state');
          if (state !== null && !['pending', 'sent', 'failed'].includes(state)) {
            throw new PbxError('BAD_REQUEST', `state must be pending, sent or failed, not ${JSON.stringify(state)}`);
          }
          const limit = Math.min(Math.max(1, Number(query.get('limit') ?? 100) || 100), 1000);
          return { status: 200, body: { emails: this.outbox.list({ ...(state ? { state: state as OutboxState } : {}), limit }), counts: this.outbox.counts() } };
        },
      },
      {
        method: 'POST',
        path: /^\/v1\/voicemail-emails\/([0-9]+)\/retry$/,
        handle: ({ params }) => {
          if (!this.outbox.retry(Number(params[0]))) throw new PbxError('NOT_FAILED', `voicemail email ${params[0]} is not a failed one`, { hint: 'List them with GET /v1/voicemail-emails?state=failed.' });
          this.kick();
          return { status: 202, body: { id: Number(params[0]), state: 'pending' } };
        },
      },
    ];
  }

  /** Resolves when no send is running (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private onEvent(e: DaemonEvent): void {
    if (e.type !== 'voicemail.new' || this.stopped) return;
    this.accept(e);
  }

  /** Queues the email of one message when its box has one, and moves the watermark past it. */
  private accept(m: RecentMessage): void {
    const loaded = this.o.config();
    const target = loaded?.config.extensions[m.mailbox]?.voicemailEmail;
    const job = loaded?.config.voicemail.email && target
      ? {
          messageId: m.messageId, mailbox: m.mailbox, to: target.address, attachAudio: target.attachAudio,
          callerNumber: m.caller.number, ...(m.caller.name ? { callerName: m.caller.name } : {}),
          durationS: m.durationS, receivedAt: m.receivedAt, file: m.file,
        }
      : undefined;
    if (this.outbox.record(m.receivedAt, job) && job) {
      this.log?.info('voicemail email queued', { mailbox: m.mailbox, messageId: m.messageId, to: job.to });
      this.kick();
    }
  }

  /**
   * Messages stored after the last one this outbox saw, whose `voicemail.new` it missed (the
   * daemon died between storing a message and queueing its email): queued now. A database that
   * never saw a message starts its watermark now instead of mailing the whole history.
   */
  private catchUp(): void {
    const since = this.outbox.watermark();
    if (since === undefined) {
      this.outbox.record(this.clock.now(), undefined);
      return;
    }
    for (const m of this.o.recent?.(since) ?? []) this.accept(m);
  }

  /** Runs the worker now (or right after the current run). */
  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      } else this.schedule();
    });
  }

  /** Wakes up when the next pending row is due. */
  private schedule(): void {
    if (this.stopped) return;
    const next = this.outbox.nextDue();
    if (next === undefined) return;
    // Node timers overflow past 2^31-1 ms; a wake-up every ~24 days at most is harmless.
    const wait = Math.min(Math.max(0, next - this.clock.now()), 2 ** 31 - 1);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, wait);
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const rows = this.outbox.due(10);
      if (rows.length === 0) return;
      for (const row of rows) {
        if (this.stopped) return;
        this.count(await this.attempt(row.id, row.job, row.attempts));
      }
    }
  }

  private async attempt(id: number, job: Parameters<typeof buildVoicemailMail>[0], attempts: number): Promise<Outcome> {
    const loaded = this.o.config();
    if (!loaded) return this.fail(id, job, 'no feature config is loaded yet', false);
    const settings = loaded.config.voicemail.email;
    if (!settings) return this.fail(id, job, 'voicemail email settings were removed from the configuration', true);
    const mail = buildVoicemailMail(job, settings, {
      domain: loaded.config.domain,
      timezone: loaded.config.defaults.timezone,
      ...(loaded.config.extensions[job.mailbox]?.name ? { mailboxName: loaded.config.extensions[job.mailbox]!.name } : {}),
      audioExists: existsSync(job.file),
      ...retrievalCode(loaded.config),
    });
    try {
      await this.transportFor(settings.smtp, loaded.secrets.smtpPassword).sendMail(mail);
    } catch (e) {
      const err = e as { message?: string; responseCode?: number; code?: string };
      const permanent = typeof err.responseCode === 'number' && err.responseCode >= 500 && err.code !== 'EAUTH';
      // A broken connection may leave the pooled transport unusable: start afresh next time.
      this.transport?.t.close();
      this.transport = undefined;
      return this.fail(id, job, `${err.responseCode ? `${err.responseCode} ` : ''}${err.message ?? String(e)}`, permanent);
    }
    this.outbox.sent(id);
    this.log?.info('voicemail email sent', { mailbox: job.mailbox, messageId: job.messageId, to: job.to, attempt: attempts + 1 });
    return 'sent';
  }

  private fail(id: number, job: { mailbox: string; messageId: string; to: string }, error: string, permanent: boolean): Outcome {
    const state = this.outbox.failed(id, error, permanent);
    if (state === 'failed') {
      this.log?.error('voicemail email given up', { mailbox: job.mailbox, messageId: job.messageId, to: job.to, error });
      return 'failed';
    }
    this.log?.warn('voicemail email failed, will retry', { mailbox: job.mailbox, messageId: job.messageId, to: job.to, error });
    return 'retry';
  }

  private transportFor(smtp: FeatureVoicemailEmail['smtp'], password: string | undefined): MailTransport {
    const key = JSON.stringify([smtp.host, smtp.port, smtp.secure, smtp.username ?? '', password ?? '']);
    if (this.transport?.key !== key) {
      this.transport?.t.close();
      this.transport = { key, t: this.factory(smtp, password) };
    }
    return this.transport.t;
  }

  private count(outcome: Outcome): void {
    this.counter?.inc({ result: outcome });
  }
}

/**
 * {@link VoicemailEmailOptions.recent} over the voicemail store (daemon/voicemail/store.ts): every
 * box's messages received at or after `sinceMs`. Runs once per start; boxes are bounded by
 * maxMessages and retention.
 */
export function recentMessages(store: Pick<VoicemailStore, 'allMailboxes' | 'list'>): (sinceMs: number) => RecentMessage[] {
  return (sinceMs) =>
    store.allMailboxes().flatMap((mailbox) =>
      store.list(mailbox).filter((m) => m.receivedAt >= sinceMs).map((m) => ({
        mailbox, messageId: m.id, caller: m.caller, receivedAt: m.receivedAt, file: m.file,
        // As the store's voicemail.new says it: seconds with one decimal.
        durationS: Math.round(m.durationMs / 100) / 10,
      })),
    );
}

/** The own-box retrieval code (`voicemail` feature), to mention in mails without audio. */
function retrievalCode(config: FeatureConfig): { retrievalCode?: string } {
  for (const [code, entry] of Object.entries(config.dial)) if (entry.type === 'feature' && entry.feature === 'voicemail') return { retrievalCode: code };
  return {};
}
