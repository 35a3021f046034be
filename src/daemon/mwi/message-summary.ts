/**
 * The `application/simple-message-summary` body of the `message-summary` event package
 * (RFC 3842 §5): whether messages are waiting, the account they are in, and the voice message
 * counts a phone shows on its lamp and display. Pure.
 *
 *     Messages-Waiting: yes
 *     Message-Account: sip:1001@pbx.example.com
 *     Voice-Message: 2/8 (0/0)
 *
 * `Voice-Message: new/old (new-urgent/old-urgent)`; the daemon has no urgent messages, so the
 * parenthesised pair is always 0/0 (RFC 3842 §5.2 makes it optional; many phones expect it).
 */

/** The event package name (RFC 3842 §3.1), the value of `Event`. */
export const MESSAGE_SUMMARY_EVENT = 'message-summary';

/** The body's media type (RFC 3842 §3.5), the value of `Content-Type` and what `Accept` must allow. */
export const MESSAGE_SUMMARY_TYPE = 'application/simple-message-summary';

/** A mailbox's counts: non-negative integers. */
export interface MailboxSummary {
  /** Messages not yet listened to. */
  newCount: number;
  /** Messages listened to and kept (old + saved folders). */
  oldCount: number;
}

/**
 * The body for `account` (a SIP URI, e.g. `sip:1001@pbx.example.com`), lines ending CRLF
 * (RFC 3842 §5.1 uses SIP's line ending).
 * @throws Error when a count is negative or not an integer (a bug in the caller)
 */
export function formatMessageSummary(account: string, summary: MailboxSummary): string {
  for (const n of [summary.newCount, summary.oldCount]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`message counts must be non-negative integers, got ${n}`);
  }
  return [
    `Messages-Waiting: ${summary.newCount > 0 ? 'yes' : 'no'}`,
    `Message-Account: ${account}`,
    `Voice-Message: ${summary.newCount}/${summary.oldCount} (0/0)`,
    '',
  ].join('\r\n');
}

/** What {@link parseMessageSummary} reads back (tests and diagnostics). */
export interface ParsedMessageSummary {
  waiting: boolean;
  account?: string;
  /** Voice-Message counts, when the line is there. */
  voice?: { newCount: number; oldCount: number; newUrgent: number; oldUrgent: number };
}

/**
 * Parses a simple-message-summary body (RFC 3842 §5.2 grammar, header names case-insensitive).
 * @throws Error when `Messages-Waiting` is missing or not yes/no
 */
export function parseMessageSummary(body: string): ParsedMessageSummary {
  const fields = new Map<string, string>();
  for (const line of body.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const waiting = fields.get('messages-waiting')?.toLowerCase();
  if (waiting !== 'yes' && waiting !== 'no') throw new Error(`Messages-Waiting must be yes or no, got ${JSON.stringify(waiting)}`);
  const out: ParsedMessageSummary = { waiting: waiting === 'yes' };
  const account = fields.get('message-account');
  if (account !== undefined) out.account = account;
  const voice = /^(\d+)\/(\d+)(?:\s*\((\d+)\/(\d+)\))?$/.exec(fields.get('voice-message') ?? '');
  if (voice) out.voice = { newCount: Number(voice[1]), oldCount: Number(voice[2]), newUrgent: Number(voice[3] ?? 0), oldUrgent: Number(voice[4] ?? 0) };
  return out;
}
