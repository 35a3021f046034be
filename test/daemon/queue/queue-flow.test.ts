/**
 * The caller's side of a queue (flows/queue.ts) and the agent feature codes, on the fake channel
 * and fake timers: music on hold, periodic announcements on schedule, answer -> bridge -> wrap-up,
 * overflow, abandon, and login / pause / logout by feature code through runCallFlow.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallStateMachine } from '../../../src/daemon/call-state.js';
import type { FeatureConfig, FeatureQueue, SystemPrompts } from '../../../src/daemon/config-types.js';
import { runCallFlow } from '../../../src/daemon/flows/call-flow.js';
import type { FlowContext } from '../../../src/daemon/flows/context.js';
import { announcementPrompts, digitPrompts, runQueue } from '../../../src/daemon/flows/queue.js';
import { MemoryAgentStore } from '../../../src/daemon/queue/agent-store.js';
import { QueueManager } from '../../../src/daemon/queue/manager.js';
import { MemoryRingStateStore } from '../../../src/daemon/ring-state-store.js';
import { DigitQueue } from '../../../src/daemon/tasks.js';
import { FakeChannel } from '../fake-channel.js';
import { queueDef } from './support.js';

const PROMPTS = new Proxy({} as SystemPrompts, { get: (_t, k) => `sys-${String(k)}.wav` });

function config(queue: FeatureQueue): FeatureConfig {
  return {
    formatVersion: 1,
    version: '0000000000000000',
    pbx: 'test',
    domain: 'pbx.test',
    defaults: { ringTimeout: 20, timezone: 'UTC', voicemail: true, musicOnHold: 'default' },
    systemPrompts: PROMPTS,
    extensions: {},
    ringGroups: {},
    ivrs: {},
    schedules: {},
    inbound: {},
    dial: { '700': { type: 'queue', id: queue.id }, '*72': { type: 'feature', feature: 'agentLogin' }, '*73': { type: 'feature', feature: 'agentLogout' }, '*74': { type: 'feature', feature: 'agentPause' } },
    queues: { [queue.id]: queue },
    conferences: {},
    voicemail: { maxMessageLength: 180, minMessageLength: 2, maxMessages: 100, maxSilence: 5, pinAttempts: 3, retentionDays: 0, greeting: 'sys-vm.wav' },
    musicOnHold: { default: { id: 'default', order: 'sequential', files: ['moh-1.wav', 'moh-2.wav'] } },
  };
}

function context(ch: FakeChannel, queue: FeatureQueue, manager: QueueManager): FlowContext & { steps: { step: string; detail?: Record<string, string | number | boolean> }[] } {
  const steps: { step: string; detail?: Record<string, string | number | boolean> }[] = [];
  return {
    channel: ch,
    config: config(queue),
    promptDir: '/r/prompts',
    digits: new DigitQueue(ch),
    signal: ch.hungUp,
    state: new CallStateMachine(),
    step: (step, detail) => steps.push({ step, ...(detail ? { detail } : {}) }),
    now: () => new Date(),
    ringState: new MemoryRingStateStore(),
    queues: manager,
    steps,
  };
}

let manager: QueueManager;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(new Date('2026-11-24T15:00:00Z'));
});
afterEach(() => {
  manager?.close();
  vi.useRealTimers();
});

function setup(q: FeatureQueue) {
  manager = new QueueManager({ store: new MemoryAgentStore() });
  manager.configure({ [q.id]: q });
  return manager;
}

describe('announcements', () => {
  it('speak numbers digit by digit, and the estimated wait in minutes', () => {
    expect(digitPrompts(12)).toEqual(['digit1', 'digit2']);
    const q = { announcements: { position: true, holdTime: true, interval: 30 } };
    expect(announcementPrompts(q, 3, undefined)).toEqual(['queuePosition', 'digit3']);
    expect(announcementPrompts(q, 1, 30_000)).toEqual(['queuePosition', 'digit1', 'queueHoldTime', 'queueUnderMinute']);
    expect(announcementPrompts(q, 2, 121_000)).toEqual(['queuePosition', 'digit2', 'queueHoldTime', 'digit3', 'queueMinutes']);
    expect(announcementPrompts({ announcements: { position: false, holdTime: false, interval: 30 } }, 2, 1000)).toEqual([]);
  });
});

describe('runQueue', () => {
  it('plays the join prompt, music on hold, and the position every interval; an agent answers and is bridged', async () => {
    const q = queueDef({ agents: [{ extension: '1001', penalty: 0 }], announcements: { position: true, holdTime: false, interval: 20, join: 'join.wav' } });
    const m = setup(q);
    const ch = new FakeChannel({ callId: 'c1' });
    ch.promptMs = 500;
    ch.callees = { '1001': { answerAfterMs: 2000 } };
    const ctx = context(ch, q, m);
    const done = runQueue(ctx, q, m);
    await vi.advanceTimersByTimeAsync(45_000);
    // Announcements at join + 20 s and join + 40 s, on schedule (the prompts do not shift them).
    const announces = ctx.steps.filter((s) => s.step === 'queue.announce');
    expect(announces.map((s) => s.detail?.lateMs)).toEqual([0, 0]);
    expect(ch.log).toEqual([
      'answer', 'play:/r/prompts/join.wav', 'moh:/r/prompts/moh-1.wav,/r/prompts/moh-2.wav', 'moh-stop',
      'play:/r/prompts/sys-queuePosition.wav', 'play:/r/prompts/sys-digit1.wav', 'moh:/r/prompts/moh-1.wav,/r/prompts/moh-2.wav', 'moh-stop',
      'play:/r/prompts/sys-queuePosition.wav', 'play:/r/prompts/sys-digit1.wav', 'moh:/r/prompts/moh-1.wav,/r/prompts/moh-2.wav',
    ]);
    m.login('1001');
    await vi.advanceTimersByTimeAsync(2000);
    expect(ch.log.slice(-4)).toEqual(['dial:1001', 'answered:1001', 'moh-stop', 'bridge:1001']);
    await vi.advanceTimersByTimeAsync(ch.bridgeMs);
    await expect(done).resolves.toBeUndefined();
    expect(ctx.steps.map((s) => s.step)).toEqual(expect.arrayContaining(['queue:support', 'dial', 'queue.answered', 'bridged', 'bridge.ended']));
    expect(m.agentViews()[0]).toMatchObject({ activity: 'available', callsAnswered: 1 });
  });

  it('starts the music again after an offer failed (RTPengine ends play media when the callee leg is released)', async () => {
    const q = queueDef({ agents: [{ extension: '1001', penalty: 0 }], maxWait: 20 });
    const m = setup(q);
    m.login('1001');
    const ch = new FakeChannel({ callId: 'c1' });
    ch.callees = { '1001': { failAfterMs: 1000, status: 486 } };
    const ctx = context(ch, q, m);
    const done = runQueue(ctx, q, m);
    await vi.advanceTimersByTimeAsync(1500);
    const moh = 'moh:/r/prompts/moh-1.wav,/r/prompts/moh-2.wav';
    expect(ch.log).toEqual(['answer', moh, 'dial:1001', 'moh-stop', moh]);
    await vi.advanceTimersByTimeAsync(20_000);
    await expect(done).resolves.toEqual(q.overflow);
  });

  it('goes to the overflow destination after max wait', async () => {
    const q = queueDef({ maxWait: 30 });
    const m = setup(q);
    const ch = new FakeChannel({ callId: 'c1' });
    const ctx = context(ch, q, m);
    const done = runQueue(ctx, q, m);
    await vi.advanceTimersByTimeAsync(30_000);
    await expect(done).resolves.toEqual(q.overflow);
    expect(ch.log.at(-1)).toBe('moh-stop');
    expect(ctx.steps.at(-1)).toEqual({ step: 'queue.overflow', detail: { queue: 'support', reason: 'max-wait', waitMs: 30_000 } });
  });

  it('a caller hanging up is an abandon, and the ringing agent is cancelled', async () => {
    const q = queueDef({ agents: [{ extension: '1001', penalty: 0 }] });
    const m = setup(q);
    m.login('1001');
    const ch = new FakeChannel({ callId: 'c1' });
    ch.callees = { '1001': { answerAfterMs: 10_000 } };
    const ctx = context(ch, q, m);
    const done = runQueue(ctx, q, m);
    const failed = expect(done).rejects.toThrow('caller hung up');
    await vi.advanceTimersByTimeAsync(3000);
    ch.callerHangsUp();
    await failed;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ch.log).not.toContain('answered:1001');
    expect(m.queueStats('support')).toMatchObject({ abandoned: 1, waiting: 0 });
    expect(m.agentViews()[0]?.activity).toBe('available');
  });
});

describe('agent feature codes through runCallFlow', () => {
  it('*72 logs in, *74 pauses and unpauses, *73 logs out, each confirmed by a prompt; a non-agent hears so', async () => {
    const q = queueDef();
    const m = setup(q);
    const run = async (dialed: string, caller = '1001') => {
      const ch = new FakeChannel({ callId: `c-${dialed}-${Math.random()}`, caller: { number: caller }, dialed });
      const ctx = context(ch, q, m);
      const done = runCallFlow(ctx, { dialed });
      await vi.advanceTimersByTimeAsync(2000);
      await done;
      return ch.log.filter((l) => l.startsWith('play:')).map((l) => l.slice('play:/r/prompts/'.length));
    };
    expect(await run('*72')).toEqual(['sys-agentLoggedIn.wav']);
    expect(m.loggedInQueues('1001')).toEqual(['support']);
    expect(await run('*74')).toEqual(['sys-agentPaused.wav']);
    expect(await run('*74')).toEqual(['sys-agentUnpaused.wav']);
    expect(await run('*73')).toEqual(['sys-agentLoggedOut.wav']);
    expect(await run('*74')).toEqual(['sys-agentLoggedOut.wav']);
    expect(await run('*72', '1005')).toEqual(['sys-agentNotMember.wav']);
    expect(m.loggedInQueues('1001')).toEqual([]);
  });

  it('dialling the queue number runs the queue', async () => {
    const q = queueDef({ maxCallers: 1 });
    const m = setup(q);
    m.join(q, { callId: 'other', caller: { number: '1' }, offer: async () => ({ failed: {} }) });
    const ch = new FakeChannel({ callId: 'c1', dialed: '700' });
    const ctx = context(ch, q, m);
    // Full: the caller goes straight to the overflow (voicemail, not served by this test's flows: 480).
    await runCallFlow(ctx, { dialed: '700' });
    expect(ctx.steps.map((s) => s.step)).toEqual(expect.arrayContaining(['queue:support', 'queue.overflow']));
  });
});
