import { describe, expect, it } from 'vitest';
import { CallRegistry } from '../../src/daemon/call-registry.js';
import { EventBus, type DaemonEvent } from '../../src/daemon/events.js';

describe('CallRegistry', () => {
  it('publishes started, state, step and ended (duration from the INVITE, billable from the answer) and forgets the call', () => {
    let t = 1000;
    const bus = new EventBus(100, () => t);
    const seen: DaemonEvent[] = [];
    bus.subscribe((e) => seen.push(e));
    const reg = new CallRegistry(bus, () => t);
    const r = reg.start({ callId: 'c1', caller: { number: '+15551230000' }, dialed: '+15550100', destination: 'ivr:main', trunk: 'carrier', configVersion: 'v1' });
    expect(reg.list()).toEqual([{ callId: 'c1', caller: { number: '+15551230000' }, dialed: '+15550100', destination: 'ivr:main', trunk: 'carrier', state: 'initiated', startedAt: 1000, configVersion: 'v1' }]);
    t = 1500;
    r.state.transition('answered');
    reg.step(r, 'ivr:main', { ivr: 'main' });
    expect(reg.list()[0]).toMatchObject({ state: 'answered', step: 'ivr:main', answeredAt: 1500 });
    t = 4000;
    r.state.finish('failed', 'BYE');
    expect(seen.map((e) => e.type)).toEqual(['call.started', 'call.state', 'call.step', 'call.state', 'call.ended']);
    expect(seen.at(-1)).toMatchObject({ type: 'call.ended', callId: 'c1', state: 'completed', durationMs: 3000, billableMs: 2500, reason: 'BYE' });
    expect(reg.size).toBe(0);
    expect(reg.get('c1')).toBeUndefined();
  });

  it('refuses a second live call with the same Call-ID, and bills nothing for an unanswered call', () => {
    const bus = new EventBus();
    const ended: DaemonEvent[] = [];
    bus.subscribe((e) => e.type === 'call.ended' && ended.push(e));
    const reg = new CallRegistry(bus);
    const r = reg.start({ callId: 'c1', caller: { number: '1001' }, dialed: '600', destination: 'ring-group:sales', configVersion: 'v1' });
    expect(() => reg.start({ callId: 'c1', caller: { number: '1001' }, dialed: '600', destination: 'ring-group:sales', configVersion: 'v1' })).toThrow(/already live/);
    r.state.transition('ringing');
    r.state.finish('canceled');
    expect(ended[0]).toMatchObject({ state: 'canceled', billableMs: 0 });
  });

  it('drain() tears every live call down through its teardown signal', async () => {
    const reg = new CallRegistry(new EventBus());
    const r = reg.start({ callId: 'c1', caller: { number: '1001' }, dialed: '700', destination: 'ivr:main', configVersion: 'v1' });
    r.teardown.signal.addEventListener('abort', () => r.state.finish('failed', 'shutdown'));
    await reg.drain(1000);
    expect(r.teardown.signal.aborted).toBe(true);
    expect(reg.size).toBe(0);
  });
});

describe('EventBus backlog', () => {
  it('replays the last backlogSize events after a seq, and reports a gap when older ones are gone', () => {
    const bus = new EventBus(4);
    for (let i = 0; i < 10; i++) bus.publish({ type: 'config.loaded', version: `v${i}` });
    const got: number[] = [];
    const { gap, unsubscribe } = bus.subscribe((e) => got.push(e.seq), 2);
    expect(gap).toBe(true);
    expect(got).toEqual([7, 8, 9, 10]);
    unsubscribe();
    const again: number[] = [];
    expect(bus.subscribe((e) => again.push(e.seq), 8).gap).toBe(false);
    expect(again).toEqual([9, 10]);
  });
});
