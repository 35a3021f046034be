import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { startKeepalive, type KeepaliveResult } from '../../src/daemon/keepalive.js';
import { ManualClock } from '../../src/sip/timers.js';

/** A Session stand-in: each OPTIONS waits until the test answers it (like a transaction). */
class FakeSession extends EventEmitter {
  state = 'confirmed';
  sent: { at: number; resolve: (status: number) => void; reject: (e: unknown) => void }[] = [];
  constructor(private readonly clock: ManualClock) {
    super();
  }
  request(method: 'OPTIONS'): Promise<{ status: number }> {
    expect(method).toBe('OPTIONS');
    return new Promise((resolve, reject) => {
      this.sent.push({ at: this.clock.now(), resolve: (status) => resolve({ status }), reject });
    });
  }
  /** What Session.end() does: terminated once. */
  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.emit('terminated', 'dialog-lost');
  }
}

const flush = () => new Promise<void>((r) => setImmediate(r));

function setup(intervalMs = 10_000) {
  const clock = new ManualClock();
  const session = new FakeSession(clock);
  const probes: [KeepaliveResult, number | undefined][] = [];
  const dead: (number | undefined)[] = [];
  const k = startKeepalive(session, { intervalMs, clock, onProbe: (r, s) => probes.push([r, s]), onDead: (s) => dead.push(s) });
  return { clock, session, probes, dead, k };
}

describe('startKeepalive (in-dialog OPTIONS, RFC 5057 §5.1)', () => {
  it('sends one OPTIONS per interval, each interval counted from the previous answer', async () => {
    const { clock, session, probes } = setup(10_000);
    clock.advance(9_999);
    expect(session.sent).toHaveLength(0);
    clock.advance(1);
    expect(session.sent.map((s) => s.at)).toEqual([10_000]);
    // No second probe while the first is unanswered.
    clock.advance(30_000);
    expect(session.sent).toHaveLength(1);
    session.sent[0]!.resolve(200);
    await flush();
    expect(probes).toEqual([['alive', 200]]);
    clock.advance(10_000);
    expect(session.sent.map((s) => s.at)).toEqual([10_000, 50_000]);
  });

  it('treats 405/501/404 as alive: only 408 and 481 mean the dialog is gone', async () => {
    const { clock, session, probes, dead } = setup(1_000);
    for (const status of [405, 501, 404]) {
      clock.advance(1_000);
      session.sent.at(-1)!.resolve(status);
      await flush();
    }
    expect(probes.map((p) => p[0])).toEqual(['alive', 'alive', 'alive']);
    expect(dead).toEqual([]);
    expect(clock.pending).toBe(1);
  });

  it.each([481, 408])('a %i ends probing and reports the leg dead', async (status) => {
    const { clock, session, probes, dead } = setup(1_000);
    clock.advance(1_000);
    session.sent[0]!.resolve(status);
    await flush();
    expect(probes).toEqual([['dead', status]]);
    expect(dead).toEqual([status]);
    expect(clock.pending).toBe(0);
    clock.advance(60_000);
    expect(session.sent).toHaveLength(1);
  });

  it('a transaction timeout (no answer at all) reports the leg dead', async () => {
    const { clock, session, dead } = setup(1_000);
    clock.advance(1_000);
    session.sent[0]!.reject(Object.assign(new Error('OPTIONS timed out'), { code: 'TIMEOUT', status: 408 }));
    await flush();
    expect(dead).toEqual([408]);
    expect(clock.pending).toBe(0);
  });

  it('stops quietly when the session ends (BYE either way) before or during a probe', async () => {
    const a = setup(1_000);
    a.session.terminate();
    expect(a.clock.pending).toBe(0);
    a.clock.advance(10_000);
    expect(a.session.sent).toHaveLength(0);

    const b = setup(1_000);
    b.clock.advance(1_000);
    b.session.terminate();
    b.session.sent[0]!.reject(Object.assign(new Error('session ended'), { code: 'TERMINATED' }));
    await flush();
    expect(b.dead).toEqual([]);
    expect(b.probes).toEqual([]);
    expect(b.clock.pending).toBe(0);
    expect(b.session.listenerCount('terminated')).toBe(0);
  });

  it('reports a 481/timeout even though the Session ended itself before the probe settled (§12.2.1.2 order)', async () => {
    const a = setup(1_000);
    a.clock.advance(1_000);
    a.session.terminate(); // Session.transact() ends the usage, then resolves with the 481
    a.session.sent[0]!.resolve(481);
    await flush();
    expect(a.dead).toEqual([481]);
    expect(a.probes).toEqual([['dead', 481]]);

    const b = setup(1_000);
    b.clock.advance(1_000);
    b.session.terminate();
    b.session.sent[0]!.reject(Object.assign(new Error('OPTIONS timed out'), { code: 'TIMEOUT', status: 408 }));
    await flush();
    expect(b.dead).toEqual([408]);
    expect(b.session.listenerCount('terminated')).toBe(0);
  });

  it('a BYE crossing an answered probe stops quietly (no dead report for a hung-up call)', async () => {
    const { clock, session, probes, dead } = setup(1_000);
    clock.advance(1_000);
    session.terminate();
    session.sent[0]!.resolve(200);
    await flush();
    expect(probes).toEqual([]);
    expect(dead).toEqual([]);
    expect(clock.pending).toBe(0);
    expect(session.listenerCount('terminated')).toBe(0);
  });

  it('stop() cancels the pending probe and ignores a late answer', async () => {
    const { clock, session, k, probes } = setup(1_000);
    clock.advance(1_000);
    k.stop();
    session.sent[0]!.resolve(481);
    await flush();
    expect(probes).toEqual([]);
    expect(clock.pending).toBe(0);
    k.stop();
  });

  it('refuses a non-positive interval', () => {
    expect(() => startKeepalive(new FakeSession(new ManualClock()), { intervalMs: 0, clock: new ManualClock() })).toThrow(RangeError);
  });
});
