import { describe, expect, it } from 'vitest';
import { BadKamailioEvent, parseKamailioEvent } from '../../../src/daemon/cdr/kamailio-events.js';

const dialog = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ event: 'dialog.started', callId: 'c1@h', direction: 'inbound', from: '+15551230000', fromName: '"Ann \\"A\\" Smith"', dialed: '+15550100', target: '1001', did: '+15550100', trunk: 'carrier', feature: '', startTs: '1700000000.123456', ts: '1700000001.5', ...over });

describe('parseKamailioEvent', () => {
  it('turns the script\'s dialog event into a daemon event (times in ms, empty strings dropped)', () => {
    expect(parseKamailioEvent(dialog())).toEqual({
      type: 'dialog.started', callId: 'c1@h', direction: 'inbound', from: '+15551230000', fromName: 'Ann "A" Smith', dialed: '+15550100', target: '1001', did: '+15550100', trunk: 'carrier', startedAt: 1700000000123, occurredAt: 1700000001500,
    });
  });

  it('reads the status and reason of dialog.ended, and the answer time when there is one', () => {
    expect(parseKamailioEvent(dialog({ event: 'dialog.ended', status: 487, reason: 'canceled', answerTs: '' }))).toMatchObject({ type: 'dialog.ended', status: 487, reason: 'canceled' });
    expect(parseKamailioEvent(dialog({ event: 'dialog.ended', status: 487, reason: 'canceled', answerTs: '' }))).not.toHaveProperty('answeredAt');
    expect(parseKamailioEvent(dialog({ event: 'dialog.ended', status: 200, reason: 'bye', answerTs: '1700000003.25' }))).toMatchObject({ answeredAt: 1700000003250 });
  });

  it('reads registration changes', () => {
    const e = parseKamailioEvent(JSON.stringify({ event: 'registration.changed', change: 'refreshed', aor: '1001', contact: 'sip:1001@127.0.0.2:5070', expires: 3600, userAgent: 'sipp', received: '127.0.0.2:5070', ts: '1700000000.1' }));
    expect(e).toEqual({ type: 'registration.changed', change: 'refreshed', aor: '1001', contact: 'sip:1001@127.0.0.2:5070', expires: 3600, userAgent: 'sipp', received: '127.0.0.2:5070' });
  });

  it.each([
    ['not json', 'not JSON'],
    ['[1]', 'not a JSON object'],
    [JSON.stringify({ event: 'dialog.exploded' }), 'unknown event'],
    [dialog({ callId: '' }), 'missing "callId"'],
    [dialog({ direction: 'sideways' }), 'unknown direction'],
    [dialog({ startTs: 'yesterday' }), 'not a time'],
    [dialog({ from: { a: 1 } }), 'not a string'],
    [dialog({ event: 'dialog.ended', status: -1, reason: 'bye' }), 'non-negative integer'],
    [dialog({ event: 'dialog.ended', status: 200, reason: 'why' }), 'unknown end reason'],
    [JSON.stringify({ event: 'registration.changed', change: 'moved', aor: '1001', expires: 1 }), 'unknown registration change'],
  ])('refuses %s', (text, message) => {
    expect(() => parseKamailioEvent(text)).toThrow(BadKamailioEvent);
    expect(() => parseKamailioEvent(text)).toThrow(message);
  });
});
