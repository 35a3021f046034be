import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallStateMachine } from '../../src/daemon/call-state.js';
import type { FeatureConfig, FeatureIvr } from '../../src/daemon/config-types.js';
import type { FlowContext } from '../../src/daemon/flows/context.js';
import { isCompleteEntry, runIvr } from '../../src/daemon/flows/ivr.js';
import { MemoryRingStateStore } from '../../src/daemon/ring-state-store.js';
import { CallAborted, DigitQueue } from '../../src/daemon/tasks.js';
import { FakeChannel } from './fake-channel.js';

const IVR: FeatureIvr = {
  id: 'main',
  greeting: 'greeting.wav',
  invalidPrompt: 'invalid.wav',
  timeoutPrompt: 'timeout.wav',
  options: { '1': { type: 'ring-group', id: 'sales' }, '2': { type: 'queue', id: 'support' }, '0': { type: 'extension', number: '100' } },
  timeout: 5,
  retries: 2,
  invalidDestination: { type: 'hangup' },
  timeoutDestination: { type: 'extension', number: '100' },
  directDial: true,
  directDialNumbers: ['201', '202', '300'],
};

function context(ch: FakeChannel, steps: string[] = []): FlowContext {
  return {
    channel: ch,
    config: {} as FeatureConfig,
    promptDir: '/r/prompts',
    digits: new DigitQueue(ch),
    signal: ch.hungUp,
    state: new CallStateMachine(),
    step: (s, d) => steps.push(d && 'digits' in d ? `${s}=${String(d.digits)}` : s),
    now: () => new Date(),
    ringState: new MemoryRingStateStore(),
  };
}

describe('IVR flow', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers, stops the greeting at the first digit and goes to the option at once', async () => {
    const ch = new FakeChannel();
    const steps: string[] = [];
    const ctx = context(ch, steps);
    const p = runIvr(ctx, IVR);
    await vi.advanceTimersByTimeAsync(400);
    ch.press('1');
    await expect(p).resolves.toEqual({ type: 'ring-group', id: 'sales' });
    expect(ch.log).toEqual(['answer', 'play:/r/prompts/greeting.wav', 'stop:/r/prompts/greeting.wav']);
    expect(ctx.state.state).toBe('answered');
    expect(steps).toEqual(['ivr:main', 'ivr.digits=1']);
  });

  it('waits the inter-digit timeout when a digit starts a direct-dial number, then takes the option', async () => {
    const ch = new FakeChannel();
    const p = runIvr(context(ch), IVR);
    ch.press('2');
    // `2` is option 2 and also starts 201/202: the menu waits up to 3 s for more digits.
    await vi.advanceTimersByTimeAsync(2999);
    ch.press('0');
    ch.press('2');
    await expect(p).resolves.toEqual({ type: 'extension', number: '202' });
    const ch2 = new FakeChannel();
    const r = runIvr(context(ch2), IVR);
    ch2.press('2');
    await vi.advanceTimersByTimeAsync(3000);
    await expect(r).resolves.toEqual({ type: 'queue', id: 'support' });
  });

  it('replays timeout prompt + greeting after a timeout and gives up to the timeout destination after the retries', async () => {
    const ch = new FakeChannel();
    ch.promptMs = 1000;
    const steps: string[] = [];
    const p = runIvr(context(ch, steps), IVR);
    // greeting (1 s) + 5 s, then 3 x (2 prompts + 5 s) ... retries = 2 -> 3 attempts in all.
    await vi.advanceTimersByTimeAsync(1000 + 5000 + 2000 + 5000 + 2000 + 5000);
    await expect(p).resolves.toEqual({ type: 'extension', number: '100' });
    expect(ch.log.filter((l) => l.startsWith('play:'))).toEqual([
      'play:/r/prompts/greeting.wav',
      'play:/r/prompts/timeout.wav',
      'play:/r/prompts/greeting.wav',
      'play:/r/prompts/timeout.wav',
      'play:/r/prompts/greeting.wav',
    ]);
    expect(steps.filter((s) => s === 'ivr.timeout')).toHaveLength(3);
  });

  it('plays the invalid prompt on an unknown entry and goes to the invalid destination after the retries', async () => {
    const ch = new FakeChannel();
    const steps: string[] = [];
    const p = runIvr(context(ch, steps), IVR);
    for (let i = 0; i < 3; i++) {
      ch.press('9');
      await vi.advanceTimersByTimeAsync(3000);
    }
    await expect(p).resolves.toEqual({ type: 'hangup' });
    expect(steps).toEqual(['ivr:main', 'ivr.digits=9', 'ivr.digits=9', 'ivr.digits=9']);
    expect(ch.log).toContain('play:/r/prompts/invalid.wav');
  });

  it('stops everything when the caller hangs up mid-greeting', async () => {
    const ch = new FakeChannel();
    const p = runIvr(context(ch), IVR);
    const assertion = expect(p).rejects.toBeInstanceOf(CallAborted);
    await vi.advanceTimersByTimeAsync(100);
    ch.callerHangsUp();
    await assertion;
    expect(ch.log.at(-1)).toBe('stop:/r/prompts/greeting.wav');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('isCompleteEntry: an option or number that no longer number continues', () => {
    expect(isCompleteEntry(IVR, '1')).toBe(true);
    expect(isCompleteEntry(IVR, '2')).toBe(false);
    expect(isCompleteEntry(IVR, '20')).toBe(false);
    expect(isCompleteEntry(IVR, '201')).toBe(true);
    expect(isCompleteEntry(IVR, '9')).toBe(false);
  });
});
