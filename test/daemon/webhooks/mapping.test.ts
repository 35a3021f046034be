import { describe, expect, it } from 'vitest';
import { subscribes, toWebhookMessage, webhookTypeOf, WEBHOOK_EVENT_TYPES, type MappableEvent } from '../../../src/daemon/webhooks/mapping.js';

const at = Date.parse('2026-11-21T10:00:00.250Z');
const ev = (type: string, fields: Record<string, unknown> = {}): MappableEvent => ({ type, at, seq: 7, ...fields });

describe('daemon events -> webhook events', () => {
  it('maps call, dialog, voicemail, queue, agent, registration, CDR and config events', () => {
    const cases: [MappableEvent, string | undefined][] = [
      [ev('call.started', { callId: 'c1' }), 'call.started'],
      [ev('call.state', { callId: 'c1', state: 'ringing', from: 'initiated' }), 'call.ringing'],
      [ev('call.state', { callId: 'c1', state: 'answered', from: 'ringing' }), 'call.answered'],
      [ev('call.state', { callId: 'c1', state: 'completed', from: 'answered' }), undefined],
      [ev('call.ended', { callId: 'c1' }), 'call.ended'],
      [ev('call.step', { callId: 'c1', step: 'ivr' }), undefined],
      [ev('dialog.started', { callId: 'k1' }), 'call.started'],
      [ev('dialog.answered', { callId: 'k1' }), 'call.answered'],
      [ev('dialog.ended', { callId: 'k1' }), 'call.ended'],
      // Calls the daemon reports itself: Kamailio's view of them is left out.
      [ev('dialog.started', { callId: 'k2', feature: 'ivr:main', direction: 'inbound' }), undefined],
      [ev('dialog.answered', { callId: 'k3', direction: 'daemon' }), undefined],
      [ev('voicemail.new', { mailbox: '1001' }), 'voicemail.new'],
      [ev('voicemail.changed', { mailbox: '1001' }), undefined],
      [ev('queue.joined'), 'queue.joined'],
      [ev('queue.abandoned'), 'queue.abandoned'],
      [ev('queue.answered'), 'queue.answered'],
      [ev('queue.overflow'), undefined],
      [ev('agent.state'), 'agent.state'],
      [ev('registration.changed'), 'registration.changed'],
      [ev('cdr.written'), 'cdr.created'],
      [ev('config.loaded'), 'deployment.completed'],
    ];
    for (const [e, type] of cases) expect(webhookTypeOf(e), e.type).toBe(type);
    // Every type a subscription may name is produced by some daemon event.
    const produced = new Set(cases.map(([, t]) => t).filter(Boolean));
    for (const t of WEBHOOK_EVENT_TYPES) expect(produced.has(t), t).toBe(true);
  });

  it('the body is {type, timestamp, data} with the event fields but the bookkeeping', () => {
    const m = toWebhookMessage(ev('voicemail.new', { mailbox: '1001', messageId: 'm1', durationS: 12 }), () => 'msg_fixed')!;
    expect(m.id).toBe('msg_fixed');
    expect(m.at).toBe(at);
    expect(JSON.parse(m.body)).toEqual({ type: 'voicemail.new', timestamp: '2026-11-21T10:00:00.250Z', data: { mailbox: '1001', messageId: 'm1', durationS: 12 } });
    const vm = toWebhookMessage(ev('voicemail.new', { mailbox: '1001', file: '/var/lib/pbx/vm/1001/m1.wav' }))!;
    expect(JSON.parse(vm.body).data).toEqual({ mailbox: '1001' });
    const s = toWebhookMessage(ev('call.state', { callId: 'c1', state: 'answered', from: 'ringing' }))!;
    expect(JSON.parse(s.body).data).toEqual({ callId: 'c1', state: 'answered' });
  });

  it('call messages have one id per (type, Call-ID): the daemon and Kamailio reporting the same call give one delivery', () => {
    const a = toWebhookMessage(ev('call.started', { callId: 'c1', caller: { number: '+1' } }))!;
    const b = toWebhookMessage(ev('dialog.started', { callId: 'c1', from: 'x' }))!;
    expect(a.id).toBe(b.id);
    expect(a.id).toMatch(/^msg_[A-Za-z0-9_-]{26}$/);
    expect(toWebhookMessage(ev('call.ended', { callId: 'c1' }))!.id).not.toBe(a.id);
    expect(toWebhookMessage(ev('call.started', { callId: 'c2' }))!.id).not.toBe(a.id);
    // Other events: a fresh id each.
    expect(toWebhookMessage(ev('agent.state'))!.id).not.toBe(toWebhookMessage(ev('agent.state'))!.id);
  });

  it('subscriptions take their types or everything with *', () => {
    expect(subscribes(['call.ended'], 'call.ended')).toBe(true);
    expect(subscribes(['call.ended'], 'call.started')).toBe(false);
    expect(subscribes(['*'], 'agent.state')).toBe(true);
  });
});
