/**
 * The call flows on the small-office example's compiled feature config, with a fake channel:
 * DID -> schedule -> IVR -> ring groups -> bridge / fallback, on an injected clock.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { fileURLToPath } from 'node:url';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { promptFiles } from '../../src/compile/prompts.js';
import { validateRepoDir } from '../../src/config/validate.js';
import { CallStateMachine } from '../../src/daemon/call-state.js';
import type { FeatureConfig } from '../../src/daemon/config-types.js';
import { runCallFlow } from '../../src/daemon/flows/call-flow.js';
import type { FlowContext } from '../../src/daemon/flows/context.js';
import { MemoryRingStateStore, type RingStateStore } from '../../src/daemon/ring-state-store.js';
import { DigitQueue } from '../../src/daemon/tasks.js';
import { FakeChannel } from './fake-channel.js';

const SMALL_OFFICE = fileURLToPath(new URL('../../examples/small-office/', import.meta.url));
let config: FeatureConfig;

beforeAll(async () => {
  const r = await validateRepoDir(SMALL_OFFICE, { strict: false, secretsFile: `${SMALL_OFFICE}.secrets.example.yaml` });
  config = compileFeatureConfig(r.state!, { fileHashes: Object.fromEntries(promptFiles(r.state!).map((f) => [f, 'b'.repeat(64)])) });
});

// Tuesday 2026-11-24 10:00 in New York (business hours) and 22:00 (closed).
const OPEN = new Date('2026-11-24T15:00:00Z');
const CLOSED = new Date('2026-11-25T03:00:00Z');

function context(ch: FakeChannel, at: Date, ringState: RingStateStore = new MemoryRingStateStore()): FlowContext & { steps: string[] } {
  const steps: string[] = [];
  return {
    channel: ch,
    config,
    promptDir: '/r/prompts',
    digits: new DigitQueue(ch),
    signal: ch.hungUp,
    state: new CallStateMachine(),
    step: (s) => steps.push(s),
    now: () => at,
    ringState,
    steps,
  };
}

describe('call flows on small-office', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('DID in hours -> IVR; digit 1 -> the sales ring group rings both members at once; 321 answers and is bridged', async () => {
    const ch = new FakeChannel({ dialed: '+12125550100' });
    ch.callees = { '320': { answerAfterMs: 60_000 }, '321': { answerAfterMs: 3000 } };
    const ctx = context(ch, OPEN);
    const done = runCallFlow(ctx, { dialed: '+12125550100', dest: 'route:main-number' });
    await vi.advanceTimersByTimeAsync(500);
    ch.press('1');
    await vi.advanceTimersByTimeAsync(3000 + ch.bridgeMs);
    await done;
    expect(ch.log.filter((l) => !l.startsWith('stop:'))).toEqual(['answer', expect.stringMatching(/^play:\/r\/prompts\/file-/), 'dial:320,321', 'answered:321', 'bridge:321', 'bye']);
    expect(ch.dials[0]?.callerId).toEqual({ number: '+15551230000', name: 'Sales: +15551230000' });
    expect(ctx.steps).toEqual(['route', 'schedule', 'ivr:main', 'ivr.digits', 'ring-group:sales', 'dial', 'bridged', 'bridge.ended']);
    expect(ctx.state.state).toBe('completed');
  });

  it('sequential support group: 330 then 331 each for 15 s, then the fallback', async () => {
    const ch = new FakeChannel();
    const ctx = context(ch, OPEN);
    const done = runCallFlow(ctx, { dialed: '601', dest: 'ring-group:support' });
    await vi.advanceTimersByTimeAsync(36_000);
    await done;
    // The fallback is voicemail:330, which this slice does not serve yet: a clear 480.
    expect(ch.log).toEqual(['ring', 'dial:330', 'dial:331', 'reject:480']);
    expect(ch.dials.map((d) => d.timeoutMs)).toEqual([15_000, 15_000]);
    expect(ctx.steps.slice(-2)).toEqual(['ring-group.no-answer', 'unavailable']);
    expect(ctx.state.state).toBe('no-answer');
  });

  it('outside hours the DID takes the closed destination', async () => {
    const ch = new FakeChannel();
    const ctx = context(ch, CLOSED);
    await runCallFlow(ctx, { dialed: '+12125550100', dest: 'route:main-number' });
    expect(ctx.steps[1]).toBe('schedule');
    expect(ctx.steps).not.toContain('ivr:main');
  });

  it('a caller hanging up while members ring cancels the wave and ends canceled', async () => {
    const ch = new FakeChannel();
    ch.callees = { '320': { answerAfterMs: 60_000 }, '321': { answerAfterMs: 60_000 } };
    const ctx = context(ch, OPEN);
    const done = runCallFlow(ctx, { dialed: '600', dest: 'ring-group:sales' });
    await vi.advanceTimersByTimeAsync(2000);
    ch.callerHangsUp();
    await done;
    expect(ctx.state.state).toBe('canceled');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an unknown destination is refused with 404', async () => {
    const ch = new FakeChannel();
    const ctx = context(ch, OPEN);
    await runCallFlow(ctx, { dialed: '699', dest: 'ring-group:nope' });
    expect(ch.log).toEqual(['reject:404']);
    expect(ctx.state.state).toBe('failed');
  });
});
