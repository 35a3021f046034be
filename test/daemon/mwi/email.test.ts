/**
 * Voicemail-to-email with a fake transport on a ManualClock: the outbox (queue, back-off, give-up,
 * dedup, survives a new service on the same database), the service (who gets mail, what it
 * carries, retries, permanent 5xx, settings read at send time), and the mail builder.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { FeatureConfig, FeatureVoicemailEmail } from '../../../src/daemon/config-types.js';
import { EventBus } from '../../../src/daemon/events.js';
import { recentMessages, VoicemailEmailService, type MailTransport } from '../../../src/daemon/mwi/email.js';
import { buildVoicemailMail, renderSubject } from '../../../src/daemon/mwi/email-message.js';
import { backoffMs, EmailOutbox, type EmailJob } from '../../../src/daemon/mwi/email-outbox.js';
import { openDaemonDb, type Db } from '../../../src/daemon/store/database.js';
import type { VoicemailMail } from '../../../src/daemon/mwi/email-message.js';
import { ManualClock } from '../../../src/sip/timers.js';

const SETTINGS: FeatureVoicemailEmail = { from: 'vm@example.com', subject: 'VM {mailbox} from {callerName} <{callerId}> {duration}s {time}', smtp: { host: '127.0.0.1', port: 2525, secure: 'none', username: 'pbx' } };

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'vm-email-'));
  dirs.push(d);
  return d;
}

function makeConfig(email: FeatureVoicemailEmail | null = SETTINGS): FeatureConfig {
  return {
    domain: 'pbx.example.com',
    defaults: { timezone: 'America/New_York' },
    dial: { '*97': { type: 'feature', feature: 'voicemail' } },
    voicemail: { ...(email ? { email } : {}) },
    extensions: {
      '1001': { number: '1001', name: 'Ann', voicemail: true, voicemailEmail: { address: 'ann@example.com', attachAudio: true } },
      '1002': { number: '1002', name: 'Bob', voicemail: true },
      '1003': { number: '1003', name: 'Cy', voicemail: true, voicemailEmail: { address: 'cy@example.com', attachAudio: false } },
    },
  } as unknown as FeatureConfig;
}

class FakeTransport implements MailTransport {
  readonly sent: VoicemailMail[] = [];
  /** Errors to throw on the next attempts, in order. */
  readonly failures: unknown[] = [];
  closed = 0;
  constructor(readonly password?: string) {}
  async sendMail(mail: VoicemailMail): Promise<unknown> {
    const f = this.failures.shift();
    if (f) throw f;
    this.sent.push(mail);
    return { messageId: mail.messageId };
  }
  close(): void {
    this.closed++;
  }
}

function job(over: Partial<EmailJob> = {}): EmailJob {
  return { messageId: 'm1', mailbox: '1001', to: 'ann@example.com', attachAudio: true, callerNumber: '+15551234567', callerName: 'Zed', durationS: 12.4, receivedAt: Date.UTC(2026, 10, 21, 19, 5), file: '/nonexistent.wav', ...over };
}

describe('EmailOutbox', () => {
  it('backs off exponentially up to the cap, then gives up after maxAttempts', () => {
    const policy = { baseMs: 1000, maxMs: 5000, maxAttempts: 4 };
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, policy))).toEqual([1000, 2000, 4000, 5000, 5000]);
    let now = 0;
    const outbox = new EmailOutbox(openDaemonDb(':memory:'), policy, () => now);
    expect(outbox.enqueue(job())).toBe(true);
    expect(outbox.enqueue(job())).toBe(false); // the same message and recipient: once
    const id = outbox.due()[0]!.id;
    expect(outbox.failed(id, '421 busy')).toBe('pending');
    expect(outbox.nextDue()).toBe(1000);
    expect(outbox.due()).toHaveLength(0);
    now = 1000;
    expect(outbox.failed(id, '421 busy')).toBe('pending');
    expect(outbox.nextDue()).toBe(3000);
    outbox.failed(id, 'x');
    expect(outbox.failed(id, 'last')).toBe('failed');
    expect(outbox.list({ state: 'failed' })[0]).toMatchObject({ attempts: 4, lastError: 'last' });
    expect(outbox.nextDue()).toBeUndefined();
    expect(outbox.counts()).toEqual({ pending: 0, sent: 0, failed: 1 });
  });

  it('gives up at once on a permanent failure', () => {
    const outbox = new EmailOutbox(openDaemonDb(':memory:'));
    outbox.enqueue(job());
    expect(outbox.failed(outbox.due()[0]!.id, '550 no such user', true)).toBe('failed');
  });
});

describe('VoicemailEmailService', () => {
  let db: Db;
  const start = (o: { config?: FeatureConfig | undefined; secrets?: { smtpPassword?: string }; clock?: ManualClock; transports?: FakeTransport[]; registry?: Registry; database?: Db } = {}) => {
    db = o.database ?? openDaemonDb(join(tmp(), 'daemon.db'));
    const events = new EventBus();
    const transports = o.transports ?? [];
    const clock = o.clock ?? new ManualClock();
    const cfg = 'config' in o ? o.config : makeConfig();
    const svc = new VoicemailEmailService({
      db, events, clock,
      config: () => (cfg ? { config: cfg, secrets: { formatVersion: 1, webhooks: {}, voicemailPins: {}, ...o.secrets } } : undefined),
      transport: (_smtp, password) => {
        const t = transports.find((x) => x.closed === 0 && x.password === password) ?? new FakeTransport(password);
        if (!transports.includes(t)) transports.push(t);
        return t;
      },
      retry: { baseMs: 1000, maxMs: 8000, maxAttempts: 3 },
      ...(o.registry ? { registry: o.registry } : {}),
    });
    svc.start();
    return { svc, events, transports, clock };
  };
  const deposit = (events: EventBus, mailbox: string, file: string, messageId = 'm1') =>
    events.publish({ type: 'voicemail.new', mailbox, messageId, caller: { number: '+15551234567', name: 'Zed' }, durationS: 12.4, receivedAt: Date.UTC(2026, 10, 21, 19, 5), file });

  it('mails the box owner with the WAV attached, using the secret password', async () => {
    const wav = join(tmp(), 'm1.wav');
    writeFileSync(wav, 'RIFF');
    const { svc, events, transports } = start({ secrets: { smtpPassword: 's3cret' } });
    deposit(events, '1001', wav);
    await svc.idle();
    const mail = transports[0]!.sent[0]!;
    expect(transports[0]!.password).toBe('s3cret');
    expect(mail).toMatchObject({ from: 'vm@example.com', to: 'ann@example.com', messageId: '<vm-m1.1001@pbx.example.com>' });
    expect(mail.subject).toBe('VM 1001 from Zed <+15551234567> 12s 2026-11-21 14:05 (America/New_York)');
    expect(mail.attachments).toEqual([{ filename: 'voicemail-1001-m1.wav', path: wav, contentType: 'audio/wav' }]);
    expect(mail.text).toContain('Ann, you have a new voicemail in mailbox 1001.');
    expect(mail.text).toContain('Zed <+15551234567>');
    expect(svc.outbox.counts()).toEqual({ pending: 0, sent: 1, failed: 0 });
    await svc.stop();
    expect(transports[0]!.closed).toBe(1);
  });

  it('sends nothing for a box without an address, or when the PBX has no email settings', async () => {
    const a = start();
    deposit(a.events, '1002', '/x.wav');
    await a.svc.idle();
    expect(a.svc.outbox.counts().pending + a.svc.outbox.counts().sent).toBe(0);
    const b = start({ config: makeConfig(null) });
    deposit(b.events, '1001', '/x.wav');
    await b.svc.idle();
    expect(b.svc.outbox.list()).toEqual([]);
  });

  it('leaves the audio out when attachAudio is false, and says where to listen', async () => {
    const { svc, events, transports } = start();
    deposit(events, '1003', '/x.wav');
    await svc.idle();
    expect(transports[0]!.sent[0]!.attachments).toEqual([]);
    expect(transports[0]!.sent[0]!.text).toContain('by dialling *97');
  });

  it('retries a temporary failure on the back-off schedule, then sends', async () => {
    const clock = new ManualClock();
    const t = new FakeTransport(undefined);
    t.failures.push(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ESOCKET' }));
    const registry = new Registry();
    const { svc, events } = start({ clock, transports: [t], registry });
    deposit(events, '1001', '/x.wav');
    await svc.idle();
    expect(svc.outbox.list()[0]).toMatchObject({ state: 'pending', attempts: 1, lastError: 'connect ECONNREFUSED' });
    // The failed transport was closed; a new one is made for the retry.
    clock.advance(999);
    await svc.idle();
    expect(svc.outbox.counts().sent).toBe(0);
    clock.advance(1);
    await svc.idle();
    expect(svc.outbox.counts()).toEqual({ pending: 0, sent: 1, failed: 0 });
    const metrics = await registry.metrics();
    expect(metrics).toContain('pbx_voicemail_emails_total{result="retry"} 1');
    expect(metrics).toContain('pbx_voicemail_emails_total{result="sent"} 1');
    expect(metrics).toContain('pbx_voicemail_email_outbox{state="sent"} 1');
  });

  it('gives up after maxAttempts, and at once on an SMTP 5xx (but not on an authentication failure)', async () => {
    const clock = new ManualClock();
    const transports: FakeTransport[] = [];
    const { svc, events } = start({ clock, transports });
    const fail = (e: unknown) => {
      // Every new transport fails once with e.
      const orig = transports.push.bind(transports);
      transports.push = (...ts: FakeTransport[]) => {
        for (const t of ts) t.failures.push(e);
        return orig(...ts);
      };
    };
    fail(Object.assign(new Error('Invalid login'), { code: 'EAUTH', responseCode: 535 }));
    deposit(events, '1001', '/x.wav', 'a');
    await svc.idle();
    expect(svc.outbox.list()[0]).toMatchObject({ state: 'pending', attempts: 1 });
    clock.advance(1000);
    await svc.idle();
    clock.advance(2000);
    await svc.idle();
    expect(svc.outbox.list()[0]).toMatchObject({ state: 'failed', attempts: 3 });
    fail(Object.assign(new Error('Mailbox unavailable'), { code: 'EENVELOPE', responseCode: 550 }));
    deposit(events, '1001', '/x.wav', 'b');
    await svc.idle();
    expect(svc.outbox.list()[0]).toMatchObject({ state: 'failed', attempts: 1, lastError: '550 Mailbox unavailable' });
  });

  it('resumes pending mail after a restart (a new service on the same database)', async () => {
    const clock = new ManualClock();
    const down = new FakeTransport(undefined);
    down.failures.push(new Error('ECONNREFUSED'));
    const first = start({ clock, transports: [down] });
    deposit(first.events, '1001', '/x.wav');
    await first.svc.idle();
    await first.svc.stop();
    const database = db;
    clock.advance(5000);
    const second = start({ clock, database });
    await second.svc.idle();
    expect(second.transports[0]!.sent.map((m) => m.messageId)).toEqual(['<vm-m1.1001@pbx.example.com>']);
    expect(second.svc.outbox.counts()).toEqual({ pending: 0, sent: 1, failed: 0 });
  });

  it('waits for a config before sending (not a give-up), and reads the settings at send time', async () => {
    const clock = new ManualClock();
    let cfg: FeatureConfig | undefined;
    const events = new EventBus();
    const transports: { host: string }[] = [];
    const svc = new VoicemailEmailService({
      db: openDaemonDb(':memory:'), events, clock, config: () => (cfg ? { config: cfg, secrets: { formatVersion: 1, webhooks: {}, voicemailPins: {} } } : undefined),
      transport: (smtp) => ({ sendMail: async () => void transports.push({ host: smtp.host }), close: () => undefined }),
      retry: { baseMs: 1000, maxMs: 1000, maxAttempts: 5 },
    });
    cfg = makeConfig();
    svc.start();
    deposit(events, '1001', '/x.wav');
    cfg = undefined;
    await svc.idle();
    expect(svc.outbox.list()[0]).toMatchObject({ state: 'pending', lastError: 'no feature config is loaded yet' });
    cfg = makeConfig({ ...SETTINGS, smtp: { ...SETTINGS.smtp, host: 'fixed.example.com' } });
    clock.advance(1000);
    await svc.idle();
    expect(transports).toEqual([{ host: 'fixed.example.com' }]);
    await svc.stop();
  });
});

describe('mail builder', () => {
  it('keeps unknown placeholders and strips line breaks from caller names', () => {
    expect(renderSubject('{mailbox} {nope} {callerName}', job({ callerName: 'Evil\r\nBcc: x@y' }), 'UTC')).toBe('1001 {nope} Evil Bcc: x@y');
    expect(renderSubject('{callerName}', job({ callerName: undefined }), 'UTC')).toBe('+15551234567');
  });

  it('says the audio is gone when the file was deleted before sending', () => {
    const mail = buildVoicemailMail(job(), SETTINGS, { domain: 'd', timezone: 'UTC', audioExists: false });
    expect(mail.attachments).toEqual([]);
    expect(mail.text).toContain('deleted before this email');
  });
});

describe('voicemail email API routes', () => {
  it('lists the outbox by state and queues a failed email again', async () => {
    const clock = new ManualClock();
    const events = new EventBus();
    let fail = true;
    const sent: string[] = [];
    const svc = new VoicemailEmailService({
      db: openDaemonDb(':memory:'), events, clock,
      config: () => ({ config: makeConfig(), secrets: { formatVersion: 1, webhooks: {}, voicemailPins: {} } }),
      transport: () => ({
        sendMail: async (m) => {
          if (fail) throw Object.assign(new Error('No such user'), { responseCode: 550 });
          sent.push(m.messageId);
        },
        close: () => undefined,
      }),
    });
    svc.start();
    events.publish({ type: 'voicemail.new', mailbox: '1001', messageId: 'm9', caller: { number: '1002' }, durationS: 3, receivedAt: 0, file: '/x.wav' });
    await svc.idle();
    const [list, retry] = svc.routes();
    const failed = (await list!.handle({ params: [], query: new URLSearchParams('state=failed'), body: undefined })) as { status: number; body: { emails: { id: number; lastError: string }[]; counts: Record<string, number> } };
    expect(failed.status).toBe(200);
    expect(failed.body.emails).toHaveLength(1);
    expect(failed.body.emails[0]!.lastError).toBe('550 No such user');
    expect(failed.body.counts).toEqual({ pending: 0, sent: 0, failed: 1 });
    expect(() => list!.handle({ params: [], query: new URLSearchParams('state=lost'), body: undefined })).toThrow(/state must be/);
    fail = false;
    expect(retry!.path.test(`/v1/voicemail-emails/${failed.body.emails[0]!.id}/retry`)).toBe(true);
    expect(await retry!.handle({ params: [String(failed.body.emails[0]!.id)], query: new URLSearchParams(), body: undefined })).toMatchObject({ status: 202 });
    await svc.idle();
    expect(sent).toEqual(['<vm-m9.1001@pbx.example.com>']);
    expect(() => retry!.handle({ params: [String(failed.body.emails[0]!.id)], query: new URLSearchParams(), body: undefined })).toThrow(/not a failed one/);
    await svc.stop();
  });
});

describe('catching up after a crash', () => {
  const msg = (id: string, receivedAt: number) => ({ mailbox: '1001', messageId: id, caller: { number: '1002' }, durationS: 4.2, receivedAt, file: '/x.wav' });
  const service = (db: Db, clock: ManualClock, recent: (since: number) => ReturnType<typeof msg>[], sent: string[]) => {
    const events = new EventBus();
    const svc = new VoicemailEmailService({
      db, events, clock, recent,
      config: () => ({ config: makeConfig(), secrets: { formatVersion: 1, webhooks: {}, voicemailPins: {} } }),
      transport: () => ({ sendMail: async (m) => void sent.push(m.messageId), close: () => undefined }),
    });
    return { svc, events };
  };

  it('mails messages stored after the last one it saw, once; a new database does not mail the history', async () => {
    const db = openDaemonDb(':memory:');
    const clock = new ManualClock();
    clock.advance(1_000_000);
    const sent: string[] = [];
    // First run: a database that never saw a message starts its watermark now, history stays unmailed.
    const a = service(db, clock, () => [msg('old', 5)], sent);
    a.svc.start();
    await a.svc.idle();
    expect(sent).toEqual([]);
    a.events.publish({ type: 'voicemail.new', ...msg('m1', 1_000_100) });
    await a.svc.idle();
    await a.svc.stop();
    expect(sent).toEqual(['<vm-m1.1001@pbx.example.com>']);
    // m2 was stored but its event died with the process; the next start finds it (m1 is not mailed again).
    let asked: number | undefined;
    const b = service(db, clock, (since) => ((asked = since), [msg('m1', 1_000_100), msg('m2', 1_000_200)]), sent);
    b.svc.start();
    await b.svc.idle();
    expect(asked).toBe(1_000_100);
    expect(sent).toEqual(['<vm-m1.1001@pbx.example.com>', '<vm-m2.1001@pbx.example.com>']);
    await b.svc.stop();
  });

  it('reads recent messages from the voicemail store', () => {
    const store = {
      allMailboxes: () => ['1001', '1002'],
      list: (mailbox: string) => [
        { mailbox, id: `${mailbox}-a`, caller: { number: '1' }, receivedAt: 10, durationMs: 4249, folder: 'new' as const, file: '/a.wav' },
        { mailbox, id: `${mailbox}-b`, caller: { number: '2' }, receivedAt: 30, durationMs: 1000, folder: 'old' as const, file: '/b.wav' },
      ],
    };
    expect(recentMessages(store)(20)).toEqual([
      { mailbox: '1001', messageId: '1001-b', caller: { number: '2' }, receivedAt: 30, file: '/b.wav', durationS: 1 },
      { mailbox: '1002', messageId: '1002-b', caller: { number: '2' }, receivedAt: 30, file: '/b.wav', durationS: 1 },
    ]);
    expect(recentMessages(store)(0)[0]!.durationS).toBe(4.2);
  });
});
