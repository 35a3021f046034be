/**
 * The notification email of one voicemail message, as nodemailer message options. Pure: the
 * caller says whether the WAV still exists (a message deleted before a late retry is mailed
 * without its audio, and the text says so).
 *
 * The Message-ID is derived from the voicemail message id, so a retry after an ambiguous failure
 * (the server took the message but the reply was lost) carries the same id and mail systems can
 * drop the duplicate (RFC 5322 §3.6.4: a Message-ID names one message).
 */
import type { FeatureVoicemailEmail } from '../config-types.js';
import type { EmailJob } from './email-outbox.js';

/** The parts of nodemailer's `Mail.Options` we produce (kept structural: no dependency on its types here). */
export interface VoicemailMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  messageId: string;
  date: Date;
  attachments: { filename: string; path: string; contentType: string }[];
  headers: Record<string, string>;
}

/** Context the email needs besides the job. */
export interface MailContext {
  /** SIP domain (Message-ID right-hand side). */
  domain: string;
  /** IANA zone the time is written in (the PBX default zone). */
  timezone: string;
  /** Box owner's name, for the greeting line. */
  mailboxName?: string;
  /** Whether the WAV file is still there. */
  audioExists: boolean;
  /** The retrieval code to mention (e.g. `*97`). */
  retrievalCode?: string;
}

/**
 * Fills a subject template: {callerId}, {callerName} (the number when there is no name),
 * {mailbox}, {duration} (whole seconds), {time}; unknown placeholders stay as written. CR/LF are
 * removed (a caller name must not inject headers).
 */
export function renderSubject(template: string, job: EmailJob, timezone: string): string {
  const values: Record<string, string> = {
    callerId: job.callerNumber,
    callerName: job.callerName ?? job.callerNumber,
    mailbox: job.mailbox,
    duration: String(Math.round(job.durationS)),
    time: formatTime(job.receivedAt, timezone),
  };
  return template.replace(/\{(\w+)\}/g, (all, key: string) => values[key] ?? all).replace(/[\r\n]+/g, ' ');
}

/** `2026-11-21 14:05 (America/New_York)`: the time in the PBX's zone, minute precision. */
export function formatTime(ms: number, timezone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} (${timezone})`;
}

/** The email for `job` with `settings`; see the module comment. */
export function buildVoicemailMail(job: EmailJob, settings: FeatureVoicemailEmail, ctx: MailContext): VoicemailMail {
  const caller = job.callerName ? `${job.callerName} <${job.callerNumber}>` : job.callerNumber;
  const attach = job.attachAudio && ctx.audioExists;
  const lines = [
    `${ctx.mailboxName ? `${ctx.mailboxName}, you` : 'You'} have a new voicemail in mailbox ${job.mailbox}.`,
    '',
    `From:     ${caller}`,
    `Received: ${formatTime(job.receivedAt, ctx.timezone)}`,
    `Length:   ${job.durationS.toFixed(1)} s`,
    '',
    attach
      ? 'The recording is attached (WAV).'
      : job.attachAudio
        ? 'The recording was deleted before this email could be sent.'
        : `Listen to it from your phone${ctx.retrievalCode ? ` by dialling ${ctx.retrievalCode}` : ''}.`,
    '',
  ];
  return {
    from: settings.from,
    to: job.to,
    subject: renderSubject(settings.subject, job, ctx.timezone),
    text: lines.join('\n'),
    messageId: `<vm-${job.messageId}.${job.mailbox}@${ctx.domain}>`,
    date: new Date(job.receivedAt),
    attachments: attach ? [{ filename: `voicemail-${job.mailbox}-${job.messageId}.wav`, path: job.file, contentType: 'audio/wav' }] : [],
    headers: { 'X-PBX-Mailbox': job.mailbox, 'X-PBX-Voicemail-Id': job.messageId },
  };
}
