/** The RFC 3842 §5 body: format, parse back, property check over counts. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatMessageSummary, parseMessageSummary } from '../../../src/daemon/mwi/message-summary.js';

describe('simple-message-summary body', () => {
  it('says yes with new messages, CRLF lines, urgent pair 0/0', () => {
    expect(formatMessageSummary('sip:1001@pbx.example.com', { newCount: 2, oldCount: 8 })).toBe(
      'Messages-Waiting: yes\r\nMessage-Account: sip:1001@pbx.example.com\r\nVoice-Message: 2/8 (0/0)\r\n',
    );
  });

  it('says no when only old messages remain', () => {
    expect(formatMessageSummary('sip:1001@d', { newCount: 0, oldCount: 3 })).toMatch(/^Messages-Waiting: no\r\n/);
  });

  it('refuses negative or fractional counts', () => {
    expect(() => formatMessageSummary('sip:1@d', { newCount: -1, oldCount: 0 })).toThrow();
    expect(() => formatMessageSummary('sip:1@d', { newCount: 0, oldCount: 1.5 })).toThrow();
  });

  it('parses what it formats, for any counts', () => {
    fc.assert(
      fc.property(fc.nat(100000), fc.nat(100000), (n, o) => {
        const p = parseMessageSummary(formatMessageSummary('sip:1001@d', { newCount: n, oldCount: o }));
        expect(p).toEqual({ waiting: n > 0, account: 'sip:1001@d', voice: { newCount: n, oldCount: o, newUrgent: 0, oldUrgent: 0 } });
      }),
    );
  });

  it('parses other notifiers’ bodies: case-insensitive names, LF lines, no urgent pair', () => {
    expect(parseMessageSummary('messages-waiting: YES\nvoice-message: 1/0\n')).toEqual({ waiting: true, voice: { newCount: 1, oldCount: 0, newUrgent: 0, oldUrgent: 0 } });
    expect(() => parseMessageSummary('Voice-Message: 1/0\r\n')).toThrow(/Messages-Waiting/);
  });
});
