/** ExtensionActivity: which extensions are on a daemon call, from the daemon's own events. */
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../src/daemon/events.js';
import { ExtensionActivity } from '../../../src/daemon/queue/activity.js';

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
});
