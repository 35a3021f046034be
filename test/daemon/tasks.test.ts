import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallStateMachine, IllegalCallTransition } from '../../src/daemon/call-state.js';
import { CallAborted, DigitQueue, dialWaves, gather } from '../../src/daemon/tasks.js';
import { FakeChannel } from './fake-channel.js';

describe('CallStateMachine', () => {
  it('walks initiated -> ringing -> answered -> completed with a timestamped history', () => {
    let t = 1000;
    const m = new CallStateMachine(() => t);
    const seen: string[] = [];
    m.onChange((c, from) => seen.push(`${from}->${c.state}`));
    m.transition('ringing');
    t = 2000;
    m.transition('answered');
    t = 5000;
    m.finish('no-answer', 'BYE');
    expect(m.state).toBe('completed');
    expect(m.answeredAt).toBe(2000);
    expect(seen).toEqual(['initiated->ringing', 'ringing->answered', 'answered->completed']);
    expect(m.history.at(-1)).toEqual({ state: 'completed', at: 5000, reason: 'BYE' });
  });

  it('refuses transitions out of final states and backwards ones', () => {
    const m = new CallStateMachine();
    m.transition('canceled');
    expect(() => m.transition('answered')).toThrow(IllegalCallTransition);
    const n = new CallStateMachine();
    n.transition('answered');
    expect(() => n.transition('ringing')).toThrow(/answered -> ringing/);
    expect(n.can('busy')).toBe(false);
  });

  it('finish() picks the unanswered state before an answer and is a no-op afterwards', () => {
    const m = new CallStateMachine();
    m.transition('ringing');
    m.finish('busy');
    expect(m.state).toBe('busy');
    m.finish('failed');
    expect(m.state).toBe('busy');
  });

  it('a throwing listener does not undo or block the transition', () => {
    const m = new CallStateMachine();
    m.onChange(() => {
      throw new Error('broken listener');
    });
    expect(() => m.transition('ringing')).not.toThrow();
    expect(m.state).toBe('ringing');
  });
});

describe('gather', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const opts = { prompts: ['greeting.wav'], maxDigits: 4, firstDigitTimeoutMs: 3000, interDigitTimeoutMs: 2000, terminator: '#' };

  it('stops the prompt at the first digit (barge-in) and collects until the terminator', async () => {
    const ch = new FakeChannel();
    const q = new DigitQueue(ch);
    const p = gather(ch, q, opts, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(300);
    ch.press('1');
    await vi.advanceTimersByTimeAsync(500);
    ch.press('2#');
    await expect(p).resolves.toEqual({ digits: '12', reason: 'terminator' });
    expect(ch.log).toEqual(['play:greeting.wav', 'stop:greeting.wav']);
  });

  it('times out after the first-digit timeout, counted from the end of the prompt', async () => {
    const ch = new FakeChannel();
    ch.promptMs = 4000;
    const q = new DigitQueue(ch);
    let done = false;
    const p = gather(ch, q, opts, new AbortController().signal).then((r) => {
      done = true;
      return r;
    });
    await vi.advanceTimersByTimeAsync(4000 + 2999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(p).resolves.toEqual({ digits: '', reason: 'timeout' });
  });

  it('ends at the inter-digit timeout with what was collected, or at max digits, or when complete', async () => {
    const ch = new FakeChannel();
    const q = new DigitQueue(ch);
    const inter = gather(ch, q, { ...opts, prompts: [] }, new AbortController().signal);
    ch.press('10');
    await vi.advanceTimersByTimeAsync(2000);
    await expect(inter).resolves.toEqual({ digits: '10', reason: 'timeout' });
    ch.press('123456');
    await expect(gather(ch, q, { ...opts, prompts: [] }, new AbortController().signal)).resolves.toEqual({ digits: '1234', reason: 'max-digits' });
    q.clear();
    ch.press('3');
    await expect(gather(ch, q, { ...opts, prompts: [], isComplete: (d) => d === '3' }, new AbortController().signal)).resolves.toEqual({ digits: '3', reason: 'complete' });
  });

  it('skips the prompt when the caller typed ahead', async () => {
    const ch = new FakeChannel();
    const q = new DigitQueue(ch);
    ch.press('2');
    await expect(gather(ch, q, { ...opts, isComplete: () => true }, new AbortController().signal)).resolves.toEqual({ digits: '2', reason: 'complete' });
    expect(ch.log).toEqual([]);
  });

  it('rejects and stops the prompt when the caller hangs up mid-prompt', async () => {
    const ch = new FakeChannel();
    const q = new DigitQueue(ch);
    const p = gather(ch, q, opts, ch.hungUp);
    const assertion = expect(p).rejects.toBeInstanceOf(CallAborted);
    await vi.advanceTimersByTimeAsync(200);
    ch.callerHangsUp();
    await assertion;
    expect(ch.log).toEqual(['play:greeting.wav', 'caller-bye', 'stop:greeting.wav']);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('dialWaves', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const wave = (n: string, ms = 10_000) => ({ targets: [{ number: n, ringTimeoutMs: ms }], timeoutMs: ms, callerId: { number: '+15551230000' } });

  it('rings waves in order until one answers', async () => {
    const ch = new FakeChannel();
    ch.callees = { '1001': { failAfterMs: 100, status: 486 }, '1002': { answerAfterMs: 2000 } };
    const p = dialWaves(ch.dial.bind(ch), [wave('1001'), wave('1002'), wave('1003')], 60_000, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(2100);
    const o = await p;
    expect(o.answered?.target.number).toBe('1002');
    expect(ch.log).toEqual(['dial:1001', 'dial:1002', 'answered:1002']);
  });

  it('stops at the total timeout, shortening the last wave', async () => {
    const ch = new FakeChannel();
    const never = { answerAfterMs: Number.POSITIVE_INFINITY };
    ch.callees = { '1001': never, '1002': never, '1003': never };
    const p = dialWaves(ch.dial.bind(ch), [wave('1001', 20_000), wave('1002', 20_000), wave('1003', 20_000)], 30_000, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(30_000);
    await expect(p).resolves.toEqual({ result: 'no-answer', statuses: { '1001': 408, '1002': 408 } });
    expect(ch.dials.map((d) => d.timeoutMs)).toEqual([20_000, 10_000]);
  });

  it('is busy only when every wave was busy', async () => {
    const ch = new FakeChannel();
    ch.callees = { '1001': { failAfterMs: 10, status: 486 }, '1002': { failAfterMs: 10, status: 600 }, '1003': { failAfterMs: 10, status: 503 } };
    const busy = dialWaves(ch.dial.bind(ch), [wave('1001'), wave('1002')], 60_000, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(100);
    await expect(busy).resolves.toMatchObject({ result: 'busy' });
    const failed = dialWaves(ch.dial.bind(ch), [wave('1001'), wave('1003')], 60_000, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(100);
    await expect(failed).resolves.toMatchObject({ result: 'failed' });
  });
});
