/** ExtensionActivity: which extensions are on a call, from the daemon's own events and Kamailio's dialog events. */
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../src/daemon/events.js';
import { ExtensionActivity, KAMAILIO_DIALOG_TIMEOUT_MS } from '../../../src/daemon/queue/activity.js';
import type { DialogEventFields } from '../../../src/daemon/events.js';

describe('ExtensionActivity', () => {
  it('marks the caller and the bridged callee busy until the bridge or the call ends', () => {
    const bus = new EventBus();
    let freed = 0;
    const a = new ExtensionActivity(bus, () => freed++);
    bus.publish({ type: 'call.started', callId: 'c1', caller: { number: '1001' }, dialed: '6000', destination: 'ring-group:sales', configVersion: 'v' });
    expect(a.isBusy('1001')).toBe(true);
    expect(a.isBusy('1001', 'c1')).toBe(false);
    expect(a.isBusy('1002')).toBe(false);
    bus.publish({ type: 'call.step', callId: 'c1', step: 'bridged', detail: { to: '1002', callee: 'x' } });
    expect(a.isBusy('1002')).toBe(true);
    bus.publish({ type: 'call.step', callId: 'c1', step: 'bridge.ended', detail: { endedBy: 'callee' } });
    expect(a.isBusy('1002')).toBe(false);
    expect(a.isBusy('1001')).toBe(true);
    expect(freed).toBe(1);
    bus.publish({ type: 'call.ended', callId: 'c1', state: 'completed', durationMs: 1, billableMs: 1 });
    expect(a.isBusy('1001')).toBe(false);
    expect(freed).toBe(2);
    a.close();
    bus.publish({ type: 'call.started', callId: 'c2', caller: { number: '1003' }, dialed: '1', destination: '', configVersion: 'v' });
    expect(a.isBusy('1003')).toBe(false);
  });

  const dialog = (o: Partial<DialogEventFields> & { callId: string }): DialogEventFields => ({ direction: 'internal', from: '1001', dialed: '1002', target: '1002', startedAt: 1_000, occurredAt: 1_000, ...o });

  it('counts both ends of a Kamailio dialog from the first INVITE until it ends', () => {
    const bus = new EventBus();
    let freed = 0;
    const a = new ExtensionActivity(bus, () => freed++, () => 5_000);
    bus.publish({ type: 'dialog.started', ...dialog({ callId: 'k1' }) });
    // Ringing counts: an agent whose phone rings for a direct call is not offered a queue caller.
    expect([a.isBusy('1001'), a.isBusy('1002'), a.isBusy('1003')]).toEqual([true, true, false]);
    bus.publish({ type: 'dialog.answered', ...dialog({ callId: 'k1', answeredAt: 2_000 }) });
    expect(a.isBusy('1002')).toBe(true);
    expect(a.isBusy('1002', 'k1')).toBe(false);
    bus.publish({ type: 'dialog.ended', ...dialog({ callId: 'k1' }), status: 200, reason: 'bye' });
    expect([a.isBusy('1001'), a.isBusy('1002')]).toEqual([false, false]);
    expect(freed).toBe(1);
    // An outside call of an agent (outbound) and a DID call to an agent (inbound) count the extension.
    bus.publish({ type: 'dialog.started', ...dialog({ callId: 'k2', direction: 'outbound', from: '1003', dialed: '+12125550143', target: '+12125550143' }) });
    bus.publish({ type: 'dialog.started', ...dialog({ callId: 'k3', direction: 'inbound', from: '+12125550143', dialed: '+15550100', target: '1004' }) });
    expect([a.isBusy('1003'), a.isBusy('1004')]).toEqual([true, true]);
    a.close();
  });

  it('ignores the daemon\'s own legs, stops counting a target forwarded to the daemon, and forgets dialogs past the dialog timeout', () => {
    const bus = new EventBus();
    let now = 10_000;
    let freed = 0;
    const a = new ExtensionActivity(bus, () => freed++, () => now);
    bus.publish({ type: 'dialog.started', ...dialog({ callId: 'd1', direction: 'daemon', from: '+12125550143', target: '1001' }) });
    expect(a.isBusy('1001')).toBe(false);
    // 1001 -> 1002 rings out, Kamailio forwards to voicemail (feature): 1002 is free again, 1001 still talks.
    bus.publish({ type: 'dialog.started', ...dialog({ callId: 'k1', startedAt: 9_000 }) });
    expect(a.isBusy('1002')).toBe(true);
    bus.publish({ type: 'dialog.answered', ...dialog({ callId: 'k1', startedAt: 9_000, feature: 'extension:1002', answeredAt: 9_500 }) });
    expect([a.isBusy('1001'), a.isBusy('1002')]).toEqual([true, false]);
    expect(freed).toBe(1);
    // The end was lost (Kamailio restarted): past its 12 h timeout the dialog no longer counts.
    now = 9_000 + KAMAILIO_DIALOG_TIMEOUT_MS + 1;
    expect(a.isBusy('1001')).toBe(false);
    a.close();
  });

  it('starts from the dialogs in progress it is given (a daemon restart), and follows their events', () => {
    const bus = new EventBus();
    let freed = 0;
    const a = new ExtensionActivity(bus, () => freed++, () => 5_000);
    a.seed([dialog({ callId: 'k1', answeredAt: 2_000 }), dialog({ callId: 'k2', direction: 'daemon', target: '1003' })]);
    expect([a.isBusy('1001'), a.isBusy('1002'), a.isBusy('1003')]).toEqual([true, true, false]);
    bus.publish({ type: 'dialog.ended', ...dialog({ callId: 'k1' }), status: 200, reason: 'bye' });
    expect(a.isBusy('1002')).toBe(false);
    expect(freed).toBe(1);
    a.close();
  });
});
