/**
 * QueueManager on fake timers with scripted agents: order, priority across queues, every strategy,
 * wrap-up, pause, busy elsewhere, unreachable agents, max wait, max callers, join-empty,
 * leave-when-empty, abandon, statistics and the events it publishes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DaemonEventBody } from '../../../src/daemon/events.js';
import { MemoryAgentStore } from '../../../src/daemon/queue/agent-store.js';
import { QueueManager, type QueueOutcome, type QueueTicket } from '../../../src/daemon/queue/manager.js';
import type { FeatureQueue } from '../../../src/daemon/config-types.js';
import { Agents, queueDef } from './support.js';

let events: DaemonEventBody[];
let busy: Set<string>;

function manager(queues: FeatureQueue[], o: { random?: () => number; retryMs?: number } = {}): QueueManager {
  const m = new QueueManager({ store: new MemoryAgentStore(), publish: (e) => events.push(e), isBusyElsewhere: (x) => busy.has(x), ...o });
  m.configure(Object.fromEntries(queues.map((q) => [q.id, q])));
  return m;
}

/** Joins callers c1..cn one second apart (arrival order). */
async function joinAll(m: QueueManager, q: FeatureQueue, agents: Agents, ids: string[]): Promise<QueueTicket[]> {
  const out: QueueTicket[] = [];
  for (const id of ids) {
    out.push(m.join(q, { callId: id, caller: { number: `+1555000${id.slice(1)}` }, offer: agents.offerFor(id) }));
    await vi.advanceTimersByTimeAsync(1000);
  }
  return out;
}

/** Settled outcome, or 'waiting'. */
async function peek(t: QueueTicket): Promise<QueueOutcome | 'waiting'> {
  return Promise.race([t.outcome, new Promise<'waiting'>((r) => queueMicrotask(() => queueMicrotask(() => r('waiting'))))]);
}

/** Answers the agent's call and ends it after `talkMs` (the flow calls agentCallEnded when the bridge ends). */
function talk(m: QueueManager, t: QueueTicket, talkMs: number): void {
  void t.outcome.then((o) => {
    if (o.type === 'answered') setTimeout(() => m.agentCallEnded(o.agent, t.queue), talkMs);
  });
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(new Date('2026-11-24T15:00:00Z'));
  events = [];
  busy = new Set();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('QueueManager: order and priority', () => {
  it('serves callers of one queue in arrival order with one agent', async () => {
    const q = queueDef({ agents: [{ extension: '1001', penalty: 0 }] });
    const m = manager([q]);
    const agents = new Agents({ '1001': { answerAfterMs: 2000 } });
    const tickets = await joinAll(m, q, agents, ['c1', 'c2', 'c3']);
    // Nobody logged in yet: callers wait (joinEmpty), in order.
    expect(tickets.map((t) => t.position())).toEqual([1, 2, 3]);
    expect(agents.offers).toEqual([]);
    m.login('1001');
    const answered: string[] = [];
    for (const t of tickets) {
      talk(m, t, 5000);
      void t.outcome.then((o) => o.type === 'answered' && answered.push(t.callId));
    }
    await vi.advanceTimersByTimeAsync(30_000);
    expect(answered).toEqual(['c1', 'c2', 'c3']);
    expect(agents.offers).toEqual(['c1>1001', 'c2>1001', 'c3>1001']);
    expect(events.filter((e) => e.type === 'queue.joined').map((e) => 'position' in e && e.position)).toEqual([1, 2, 3]);
    const answeredEvents = events.filter((e) => e.type === 'queue.answered');
    expect(answeredEvents.map((e) => e.type === 'queue.answered' && [e.callId, e.agent])).toEqual([['c1', '1001'], ['c2', '1001'], ['c3', '1001']]);
    // c1 waited 3 s for the login, then 2 s ringing.
    expect(answeredEvents[0]).toMatchObject({ waitMs: 5000 });
  });

  it('offers a shared agent the caller of the higher-priority queue first, even if it came later', async () => {
    const low = queueDef({ id: 'low', priority: 0, agents: [{ extension: '1001', penalty: 0 }] });
    const high = queueDef({ id: 'high', priority: 5, agents: [{ extension: '1001', penalty: 0 }] });
    const m = manager([low, high]);
    const agents = new Agents({ '1001': { answerAfterMs: 1000 } });
    const [l1] = await joinAll(m, low, agents, ['l1']);
    const [h1] = await joinAll(m, high, agents, ['h1']);
    m.login('1001');
    await vi.advanceTimersByTimeAsync(1500);
    expect(await peek(h1!)).toMatchObject({ type: 'answered', agent: '1001' });
    expect(await peek(l1!)).toBe('waiting');
    m.agentCallEnded('1001', 'high');
    await vi.advanceTimersByTimeAsync(1500);
    expect(await peek(l1!)).toMatchObject({ type: 'answered', agent: '1001' });
    expect(agents.offers).toEqual(['h1>1001', 'l1>1001']);
  });

  it('offers several callers at once when several agents are free', async () => {
    const q = queueDef({ strategy: 'round-robin' });
    const m = manager([q]);
    m.login('1001');
    m.login('1002');
    const agents = new Agents({ '1001': { answerAfterMs: 1000 }, '1002': { answerAfterMs: 1000 } });
    const tickets = await joinAll(m, q, agents, ['c1', 'c2', 'c3']);
    expect(await peek(tickets[0]!)).toMatchObject({ type: 'answered', agent: '1001' });
    expect(await peek(tickets[1]!)).toMatchObject({ type: 'answered', agent: '1002' });
    expect(await peek(tickets[2]!)).toBe('waiting');
    expect(tickets[2]!.position()).toBe(1);
  });
});

describe('QueueManager: strategies', () => {
  /** Runs `n` callers one after the other (each answered and hung up before the next) and returns who answered. */
  async function sequence(q: FeatureQueue, scripts: Agents['scripts'], n: number, o: { random?: () => number; before?: (m: QueueManager) => void } = {}) {
    const m = manager([q], o);
    for (const a of q.agents) m.login(a.extension);
    o.before?.(m);
    const agents = new Agents(scripts);
    const who: string[] = [];
    for (let i = 1; i <= n; i++) {
      const t = m.join(q, { callId: `c${i}`, caller: { number: '+15550001' }, offer: agents.offerFor(`c${i}`) });
      await vi.advanceTimersByTimeAsync(60_000);
      const o2 = await peek(t);
      who.push(o2 !== 'waiting' && o2.type === 'answered' ? o2.agent : 'none');
      if (o2 !== 'waiting' && o2.type === 'answered') m.agentCallEnded(o2.agent, q.id);
      await vi.advanceTimersByTimeAsync(1000);
    }
    return { who, offers: agents.offers, m };
  }
  const three = [
    { extension: '1001', penalty: 2 },
    { extension: '1002', penalty: 0 },
    { extension: '1003', penalty: 1 },
  ];
  const answerAll = { '1001': { answerAfterMs: 500 }, '1002': { answerAfterMs: 500 }, '1003': { answerAfterMs: 500 } };

  it('ring-all rings every free agent at once; the first to answer wins', async () => {
    const r = await sequence(queueDef({ strategy: 'ring-all', agents: three }), { '1001': { answerAfterMs: 900 }, '1002': 'ring', '1003': { answerAfterMs: 300 } }, 1);
    expect(r.offers).toEqual(['c1>1001,1002,1003']);
    expect(r.who).toEqual(['1003']);
  });

  it('round-robin rotates through the agents in list order', async () => {
    const r = await sequence(queueDef({ strategy: 'round-robin', agents: three }), answerAll, 4);
    expect(r.who).toEqual(['1001', '1002', '1003', '1001']);
  });

  it('least-recent offers the agent whose last call ended longest ago', async () => {
    const r = await sequence(queueDef({ strategy: 'least-recent', agents: three }), answerAll, 5);
    expect(r.who).toEqual(['1001', '1002', '1003', '1001', '1002']);
  });

  it('fewest-calls offers the agent with the fewest answered calls (a no-answer does not count)', async () => {
    const r = await sequence(queueDef({ strategy: 'fewest-calls', agents: three, agentRingTimeout: 5 }), { '1001': 'ring', '1002': { answerAfterMs: 500 }, '1003': { answerAfterMs: 500 } }, 3);
    // c1: 1001 rings out, then 1002; c2: 1001 (0 calls) rings out, then 1003 (0 calls); c3: 1001 again, then 1002.
    expect(r.who).toEqual(['1002', '1003', '1002']);
    expect(r.offers).toEqual(['c1>1001', 'c1>1002', 'c2>1001', 'c2>1003', 'c3>1001', 'c3>1002']);
  });

  it('random uses the injected random source', async () => {
    const rolls = [0.9, 0.1, 0.5];
    const r = await sequence(queueDef({ strategy: 'random', agents: three }), answerAll, 3, { random: () => rolls.shift() ?? 0 });
    expect(r.who).toEqual(['1003', '1001', '1002']);
  });

  it('priority rings the lowest penalty tier (all of it) and higher penalties only when it is not free', async () => {
    const r = await sequence(queueDef({ strategy: 'priority', agents: three }), answerAll, 2, { before: (m) => m.setPaused('1002', true) });
    // 1002 (penalty 0) is paused: 1003 (penalty 1) answers both.
    expect(r.who).toEqual(['1003', '1003']);
    const tiers = [...three, { extension: '1004', penalty: 0 }];
    const r2 = await sequence(queueDef({ strategy: 'priority', agents: tiers }), { ...answerAll, '1002': { answerAfterMs: 800 }, '1004': { answerAfterMs: 200 } }, 1);
    expect(r2.offers).toEqual(['c1>1002,1004']);
    expect(r2.who).toEqual(['1004']);
  });
});

describe('QueueManager: agent state', () => {
  it('waits out wrap-up before offering the agent the next caller', async () => {
    const q = queueDef({ agents: [{ extension: '1001', penalty: 0 }], wrapUp: 10 });
    const m = manager([q]);
    m.login('1001');
    const agents = new Agents({ '1001': { answerAfterMs: 1000 } });
    const [c1, c2] = await joinAll(m, q, agents, ['c1', 'c2']);
    expect(await peek(c1!)).toMatchObject({ type: 'answered' });
    m.agentCallEnded('1001', 'support');
    await vi.advanceTimersByTimeAsync(9000);
    expect(agents.offers).toEqual(['c1>1001']);
    expect(m.agentViews()[0]).toMatchObject({ extension: '1001', activity: 'wrap-up', callsAnswered: 1 });
    await vi.advanceTimersByTimeAsync(2500);
    expect(agents.offers).toEqual(['c1>1001', 'c2>1001']);
    expect(await peek(c2!)).toMatchObject({ type: 'answered' });
    const states = events.filter((e) => e.type === 'agent.state' && e.queue === undefined).map((e) => e.type === 'agent.state' && e.state);
    expect(states).toEqual(['ringing', 'busy', 'wrap-up', 'available', 'ringing', 'busy']);
  });

  it('skips paused agents, agents on another daemon call, and logged-out agents', async () => {
    const q = queueDef({ agents: [{ extension: '1001', penalty: 0 }, { extension: '1002', penalty: 0 }, { extension: '1003', penalty: 0 }] });
    const m = manager([q]);
    m.login('1001');
    m.login('1002');
    m.setPaused('1001', true, undefined, 'lunch');
    busy.add('1002');
    const agents = new Agents({ '1001': { answerAfterMs: 500 }, '1002': { answerAfterMs: 500 } });
    const [c1] = await joinAll(m, q, agents, ['c1']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(agents.offers).toEqual([]);
    busy.delete('1002');
    m.kick(); // the daemon kicks when a call ends
    await vi.advanceTimersByTimeAsync(1000);
    expect(await peek(c1!)).toMatchObject({ type: 'answered', agent: '1002' });
    expect(events).toContainEqual({ type: 'agent.state', extension: '1001', queue: 'support', state: 'paused', reason: 'lunch' });
  });

  it('backs off from an unreachable agent (480: not registered) and offers the next one', async () => {
    const q = queueDef({ strategy: 'round-robin' });
    const m = manager([q]);
    m.login('1001');
    m.login('1002');
    const agents = new Agents({ '1001': { failAfterMs: 50, status: 480 }, '1002': { answerAfterMs: 1000 } });
    const [c1] = await joinAll(m, q, agents, ['c1']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await peek(c1!)).toMatchObject({ type: 'answered', agent: '1002' });
    m.agentCallEnded('1002', 'support');
    const [c2] = await joinAll(m, q, agents, ['c2']);
    // 1001 is still in its back-off: 1002 gets c2 too, 1001 is not rung.
    expect(await peek(c2!)).toMatchObject({ type: 'answered', agent: '1002' });
    expect(agents.offers).toEqual(['c1>1001', 'c1>1002', 'c2>1002']);
  });

  it('ends the back-off of an unreachable agent when its phone registers', async () => {
    const q = queueDef({ agents: [{ extension: '1001', penalty: 0 }] });
    const m = manager([q]);
    m.login('1001');
    const agents = new Agents({ '1001': { failAfterMs: 50, status: 404 } });
    const [c1] = await joinAll(m, q, agents, ['c1']);
    expect(agents.offers).toEqual(['c1>1001']);
    agents.scripts['1001'] = { answerAfterMs: 500 };
    m.agentRegistered('1001');
    await vi.advanceTimersByTimeAsync(600);
    expect(await peek(c1!)).toMatchObject({ type: 'answered', agent: '1001' });
    expect(agents.offers).toEqual(['c1>1001', 'c1>1001']);
  });

  it('logs in only to queues the extension is an agent of', () => {
    const m = manager([queueDef(), queueDef({ id: 'sales', agents: [{ extension: '1003', penalty: 0 }] })]);
    expect(m.login('1001')).toEqual(['support']);
    expect(() => m.login('1003', 'support')).toThrow(expect.objectContaining({ code: 'QUEUE_NOT_AGENT' }));
    expect(() => m.login('1001', 'nope')).toThrow(expect.objectContaining({ code: 'QUEUE_UNKNOWN' }));
    expect(() => m.setPaused('1002', true)).toThrow(expect.objectContaining({ code: 'QUEUE_NOT_LOGGED_IN' }));
    expect(() => m.setPaused('1009', true)).toThrow(expect.objectContaining({ code: 'QUEUE_NOT_AGENT' }));
    expect(() => m.logout('1009')).toThrow(expect.objectContaining({ code: 'QUEUE_NOT_AGENT' }));
    expect(m.logout('1002')).toEqual([]);
    expect(m.togglePause('1001')).toEqual({ paused: true, queues: ['support'] });
    expect(m.togglePause('1001')).toEqual({ paused: false, queues: ['support'] });
    expect(m.logout('1001')).toEqual(['support']);
    expect(m.loggedInQueues('1001')).toEqual([]);
  });
});

describe('QueueManager: overflow and abandon', () => {
  it('sends a caller to overflow after maxWait, cancelling the ringing offer', async () => {
    const q = queueDef({ maxWait: 20, agentRingTimeout: 30, agents: [{ extension: '1001', penalty: 0 }] });
    const m = manager([q]);
    m.login('1001');
    const agents = new Agents({ '1001': 'ring' });
    const [c1] = await joinAll(m, q, agents, ['c1']);
    await vi.advanceTimersByTimeAsync(18_000);
    expect(await peek(c1!)).toBe('waiting');
    await vi.advanceTimersByTimeAsync(1500);
    expect(await peek(c1!)).toEqual({ type: 'overflow', reason: 'max-wait', waitMs: 20_000 });
    expect(m.agentViews()[0]?.activity).toBe('available');
    expect(m.queueStats('support')).toMatchObject({ waiting: 0, overflow: { 'max-wait': 1 } });
  });

  it('refuses callers beyond maxCallers', async () => {
    const q = queueDef({ maxCallers: 2 });
    const m = manager([q]);
    const agents = new Agents();
    const [, , c3] = await joinAll(m, q, agents, ['c1', 'c2', 'c3']);
    expect(await peek(c3!)).toEqual({ type: 'overflow', reason: 'max-callers', waitMs: 0 });
    expect(m.queueStats('support')).toMatchObject({ waiting: 2, joined: 2, overflow: { 'max-callers': 1 } });
  });

  it('join-empty: refuses callers when no agent is logged in and unpaused, unless the queue allows it', async () => {
    const strict = queueDef({ id: 'strict', joinEmpty: false });
    const open = queueDef({ id: 'open', joinEmpty: true });
    const m = manager([strict, open]);
    const agents = new Agents();
    const [s1] = await joinAll(m, strict, agents, ['s1']);
    const [o1] = await joinAll(m, open, agents, ['o1']);
    expect(await peek(s1!)).toEqual({ type: 'overflow', reason: 'join-empty', waitMs: 0 });
    expect(await peek(o1!)).toBe('waiting');
    m.login('1001');
    m.setPaused('1001', true);
    const [s2] = await joinAll(m, strict, agents, ['s2']);
    expect(await peek(s2!)).toMatchObject({ type: 'overflow', reason: 'join-empty' });
    m.setPaused('1001', false);
    const [s3] = await joinAll(m, strict, agents, ['s3']);
    expect(await peek(s3!)).toBe('waiting');
  });

  it('leave-when-empty: the last agent logging out sends waiting callers to overflow', async () => {
    const q = queueDef({ leaveWhenEmpty: true });
    const m = manager([q]);
    m.login('1001');
    m.login('1002');
    const agents = new Agents({ '1001': 'ring', '1002': 'ring' });
    const [c1, c2] = await joinAll(m, q, agents, ['c1', 'c2']);
    m.logout('1001');
    await vi.advanceTimersByTimeAsync(100);
    expect(await peek(c1!)).toBe('waiting');
    m.setPaused('1002', true);
    await vi.advanceTimersByTimeAsync(100);
    expect(await peek(c1!)).toMatchObject({ type: 'overflow', reason: 'leave-empty' });
    expect(await peek(c2!)).toMatchObject({ type: 'overflow', reason: 'leave-empty' });
  });

  it('records a caller hanging up while waiting as abandoned, and moves the others up', async () => {
    const q = queueDef();
    const m = manager([q]);
    const agents = new Agents();
    const [c1, c2] = await joinAll(m, q, agents, ['c1', 'c2']);
    c1!.abandon();
    expect(await peek(c1!)).toEqual({ type: 'abandoned', waitMs: 2000 });
    expect(c2!.position()).toBe(1);
    expect(events).toContainEqual({ type: 'queue.abandoned', queue: 'support', callId: 'c1', waitMs: 2000, position: 1 });
    c1!.abandon(); // idempotent
    expect(m.queueStats('support')).toMatchObject({ abandoned: 1, averageAbandonMs: 2000 });
  });
});

describe('QueueManager: statistics', () => {
  it('counts answered, abandoned, service level and waits', async () => {
    const q = queueDef({ agents: [{ extension: '1001', penalty: 0 }] });
    const m = manager([q]);
    const agents = new Agents({ '1001': { answerAfterMs: 1000 } });
    const [c1, c2, c3] = await joinAll(m, q, agents, ['c1', 'c2', 'c3']);
    c3!.abandon();
    await vi.advanceTimersByTimeAsync(25_000);
    m.login('1001');
    await vi.advanceTimersByTimeAsync(1000);
    // c1 waited 28 s + 1 s: outside the 20 s service level.
    expect(await peek(c1!)).toMatchObject({ type: 'answered', waitMs: 29_000 });
    m.agentCallEnded('1001', 'support');
    await vi.advanceTimersByTimeAsync(1000);
    expect(await peek(c2!)).toMatchObject({ type: 'answered', waitMs: 29_000 });
    const s = m.queueStats('support')!;
    expect(s).toMatchObject({ joined: 3, answered: 2, abandoned: 1, answeredWithinServiceLevel: 0, serviceLevel: 0, averageWaitMs: 29_000, waiting: 0, agentsLoggedIn: 1 });
    expect(m.estimatedWaitMs('support', 2)).toBe(58_000);
    expect(m.queueStats('nope')).toBeUndefined();
  });
});
