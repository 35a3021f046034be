import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CdrBuilder, type BuilderResult } from '../../../src/daemon/cdr/cdr-builder.js';
import type { Cdr } from '../../../src/daemon/cdr/cdr-types.js';
import type { DaemonEvent, DaemonEventBody, DialogEventFields } from '../../../src/daemon/events.js';

let seq = 0;
const ev = (at: number, body: DaemonEventBody): DaemonEvent => ({ ...body, seq: ++seq, at }) as DaemonEvent;
const T0 = 1_700_000_000_000;

function dlg(type: 'dialog.started' | 'dialog.answered', at: number, f: Partial<DialogEventFields> = {}): DaemonEvent {
  return ev(at, { type, callId: 'c1', direction: 'internal', from: '1001', dialed: '1002', target: '1002', startedAt: T0, occurredAt: at, ...f });
}
function dlgEnd(at: number, status: number, reason: 'bye' | 'failed' | 'canceled' | 'timeout', f: Partial<DialogEventFields> = {}): DaemonEvent {
  return ev(at, { type: 'dialog.ended', callId: 'c1', direction: 'internal', from: '1001', dialed: '1002', target: '1002', startedAt: T0, occurredAt: at, status, reason, ...f });
}

/** Feeds events in order (each at its own time) and collects the CDRs. */
function run(b: CdrBuilder, events: DaemonEvent[]): { cdrs: Cdr[]; steps: BuilderResult[] } {
  const steps = events.map((e) => b.apply(e, e.at));
  return { cdrs: steps.flatMap((s) => s.cdrs), steps };
}

describe('CdrBuilder: calls Kamailio handles alone', () => {
  it('an answered extension call: one CDR at the BYE, billable rounded up, answered by the callee', () => {
    const b = new CdrBuilder();
    const { cdrs } = run(b, [dlg('dialog.started', T0 + 10), dlg('dialog.answered', T0 + 3000), dlgEnd(T0 + 13_400, 200, 'bye')]);
    expect(cdrs).toEqual([
      {
        callId: 'c1', direction: 'internal', from: '1001', to: '1002', answeredBy: '1002', startedAt: T0, answeredAt: T0 + 3000, endedAt: T0 + 13_400,
        durationS: 14, billableS: 11, disposition: 'answered', endReason: 'bye', path: [],
      },
    ]);
    expect(b.openCount).toBe(0);
  });

  it.each([
    [486, 'failed', 'busy'],
    [600, 'failed', 'busy'],
    [487, 'canceled', 'canceled'],
    [480, 'failed', 'no-answer'],
    [408, 'failed', 'no-answer'],
    [404, 'failed', 'failed'],
    [503, 'failed', 'failed'],
  ] as const)('an unanswered call ending %i (%s) is %s, with the status', (status, reason, disposition) => {
    const { cdrs } = run(new CdrBuilder(), [dlg('dialog.started', T0), dlgEnd(T0 + 2000, status, reason)]);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ disposition, sipStatus: status, billableS: 0, durationS: 2 });
    expect(cdrs[0]!.answeredAt).toBeUndefined();
  });

  it('an inbound call keeps DID and trunk; an outbound one names the dialled number as answering party', () => {
    const inbound = run(new CdrBuilder(), [dlg('dialog.started', T0, { direction: 'inbound', from: '+15551230000', dialed: '+15550100', did: '+15550100', target: '1001', trunk: 'carrier' }), dlgEnd(T0 + 5000, 486, 'failed', { direction: 'inbound', did: '+15550100', trunk: 'carrier', dialed: '+15550100', target: '1001' })]);
    expect(inbound.cdrs[0]).toMatchObject({ direction: 'inbound', to: '+15550100', did: '+15550100', target: '1001', trunk: 'carrier', disposition: 'busy' });
    const outbound = run(new CdrBuilder(), [
      dlg('dialog.started', T0, { direction: 'outbound', dialed: '+12125550143', target: '12125550143' }),
      dlg('dialog.answered', T0 + 1000, { direction: 'outbound', dialed: '+12125550143', target: '12125550143', trunk: 'carrier-b' }),
      dlgEnd(T0 + 61_000, 200, 'bye', { direction: 'outbound', dialed: '+12125550143', target: '12125550143', trunk: 'carrier-b' }),
    ]);
    expect(outbound.cdrs[0]).toMatchObject({ direction: 'outbound', answeredBy: '+12125550143', target: '12125550143', trunk: 'carrier-b', billableS: 60 });
  });

  it('takes the answer time Kamailio carries on later events: dialog.ended overtaking dialog.answered, or alone', () => {
    const b = new CdrBuilder();
    const { cdrs } = run(b, [dlg('dialog.started', T0), dlgEnd(T0 + 9000, 200, 'bye', { answeredAt: T0 + 1000 }), dlg('dialog.answered', T0 + 1000)]);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ disposition: 'answered', answeredAt: T0 + 1000, billableS: 8, answeredBy: '1002' });
    expect(b.openCount).toBe(0);
  });

  it('dialog.ended alone is enough (the daemon restarted during the call)', () => {
    const { cdrs } = run(new CdrBuilder(), [dlgEnd(T0 + 9000, 200, 'bye')]);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ startedAt: T0, endedAt: T0 + 9000, disposition: 'failed' });
  });

  it('lists the Kamailio dialogs in progress (not ended, not the daemon\'s legs), restored ones too', () => {
    const b = new CdrBuilder();
    run(b, [
      dlg('dialog.started', T0 + 10),
      dlg('dialog.answered', T0 + 900, { answeredAt: T0 + 900 }),
      dlg('dialog.started', T0 + 20, { callId: 'leg', direction: 'daemon', from: '+12125550143', target: '1003' }),
      dlg('dialog.started', T0 + 30, { callId: 'gone', from: '1004', target: '1005' }),
      dlgEnd(T0 + 40, 486, 'failed', { callId: 'gone', from: '1004', target: '1005' }),
    ]);
    expect(b.openDialogs()).toEqual([{ callId: 'c1', direction: 'internal', from: '1001', dialed: '1002', target: '1002', startedAt: T0, answeredAt: T0 + 900, occurredAt: T0 + 900 }]);
    // What a restarted daemon loads from the open-call table gives the same list.
    const restored = new CdrBuilder();
    restored.load([b.openCall('c1')!, b.openCall('leg')!]);
    expect(restored.openDialogs()).toEqual(b.openDialogs());
  });

  it('late events of a finished call do not open it again', () => {
    const b = new CdrBuilder();
    run(b, [dlg('dialog.started', T0), dlgEnd(T0 + 1000, 486, 'failed')]);
    const late = run(b, [dlgEnd(T0 + 1001, 486, 'failed')]);
    expect(late.cdrs).toEqual([]);
    expect(b.openCount).toBe(0);
  });
});

/** The events of a call Kamailio hands to the daemon's IVR, which bridges extension 1002 over a leg `leg1`. */
function daemonCall(): { kamailio: DaemonEvent[]; daemon: DaemonEvent[]; leg: DaemonEvent[] } {
  const f = { direction: 'inbound' as const, from: '+15551230000', dialed: '+15550100', target: '+15550100', did: '+15550100', trunk: 'carrier', feature: 'ivr:main' };
  const legF = { callId: 'leg1', direction: 'daemon' as const, from: '+15551230000', dialed: '1002', target: '1002', startedAt: T0 + 4000 };
  return {
    kamailio: [dlg('dialog.started', T0, f), dlg('dialog.answered', T0 + 500, f), dlgEnd(T0 + 20_000, 200, 'bye', f)],
    daemon: [
      ev(T0 + 5, { type: 'call.started', callId: 'c1', caller: { number: '+15551230000', name: 'Ann' }, dialed: '+15550100', destination: 'ivr:main', trunk: 'carrier', configVersion: 'v1' }),
      ev(T0 + 6, { type: 'call.step', callId: 'c1', step: 'ivr:main', detail: { ivr: 'main' } }),
      ev(T0 + 490, { type: 'call.state', callId: 'c1', state: 'answered', from: 'initiated' }),
      ev(T0 + 3000, { type: 'call.step', callId: 'c1', step: 'ivr.digits', detail: { ivr: 'main', digits: '2', valid: true } }),
      ev(T0 + 3001, { type: 'call.step', callId: 'c1', step: 'dial', detail: { targets: '1002', timeoutMs: 20000 } }),
      ev(T0 + 6000, { type: 'call.step', callId: 'c1', step: 'bridged', detail: { to: '1002', callee: 'leg1' } }),
      ev(T0 + 20_001, { type: 'call.ended', callId: 'c1', state: 'completed', durationMs: 20_000, billableMs: 19_500 }),
    ],
    leg: [
      ev(T0 + 4000, { type: 'dialog.started', ...legF, occurredAt: T0 + 4000 }),
      ev(T0 + 5990, { type: 'dialog.answered', ...legF, occurredAt: T0 + 5990 }),
      ev(T0 + 20_000, { type: 'dialog.ended', ...legF, occurredAt: T0 + 20_000, status: 200, reason: 'bye' }),
    ],
  };
}

describe('CdrBuilder: calls through the daemon', () => {
  it('merges Kamailio\'s dialog and the daemon\'s flow into one CDR with the path; the bridged leg is no CDR', () => {
    const { kamailio, daemon, leg } = daemonCall();
    const all = [...kamailio, ...daemon, ...leg].sort((a, b) => a.at - b.at);
    const b = new CdrBuilder();
    const { cdrs } = run(b, all);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({
      callId: 'c1', direction: 'inbound', from: '+15551230000', fromName: 'Ann', to: '+15550100', did: '+15550100', trunk: 'carrier', feature: 'ivr:main',
      answeredBy: '1002', answeredAt: T0 + 500, endedAt: T0 + 20_000, billableS: 20, disposition: 'answered',
    });
    expect(cdrs[0]!.path.map((s) => s.step)).toEqual(['ivr:main', 'ivr.digits', 'dial', 'bridged']);
    expect(b.openCount).toBe(0);
  });

  it('any interleaving of the three streams gives the same single CDR', () => {
    const { kamailio, daemon, leg } = daemonCall();
    const reference = run(new CdrBuilder(), [...kamailio, ...daemon, ...leg].sort((a, b) => a.at - b.at)).cdrs[0];
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 13, maxLength: 13 }), (picks) => {
        // Merge the streams keeping each one's own order (events of one source never overtake each other).
        const queues = [[...kamailio], [...daemon], [...leg]];
        const order: DaemonEvent[] = [];
        for (const p of picks) {
          const q = queues[p]!.length ? queues[p]! : queues.find((x) => x.length)!;
          order.push(q.shift()!);
        }
        const b = new CdrBuilder({ graceMs: 5000 });
        const cdrs = order.flatMap((e) => b.apply(e, T0 + 21_000).cdrs);
        cdrs.push(...b.tick(T0 + 30_000).cdrs);
        expect(cdrs).toHaveLength(1);
        expect(cdrs[0]).toEqual(reference);
      }),
    );
  });

  it('a call that ends in voicemail has disposition voicemail', () => {
    const { kamailio, daemon } = daemonCall();
    const vm = ev(T0 + 7000, { type: 'call.step', callId: 'c1', step: 'voicemail', detail: { mailbox: '1002' } });
    const { cdrs } = run(new CdrBuilder(), [...kamailio, ...daemon.filter((e) => !(e.type === 'call.step' && e.step === 'bridged')), vm].sort((a, b) => a.at - b.at));
    expect(cdrs[0]).toMatchObject({ disposition: 'voicemail' });
  });

  it('the daemon\'s final state decides an unanswered daemon call (no-answer though Kamailio saw 480)', () => {
    const f = { feature: 'ring-group:sales' };
    const b = new CdrBuilder();
    const { cdrs } = run(b, [
      dlg('dialog.started', T0, f),
      ev(T0 + 1, { type: 'call.started', callId: 'c1', caller: { number: '1001' }, dialed: '600', destination: 'ring-group:sales', configVersion: 'v1' }),
      ev(T0 + 30_000, { type: 'call.ended', callId: 'c1', state: 'no-answer', durationMs: 30_000, billableMs: 0, reason: '480 No Answer' }),
      dlgEnd(T0 + 30_001, 480, 'failed', f),
    ]);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ disposition: 'no-answer', sipStatus: 480, feature: 'ring-group:sales' });
  });

  it('queue events with the call\'s id join the path', () => {
    const { kamailio, daemon } = daemonCall();
    const q = { type: 'queue.answered', callId: 'c1', queue: 'support', agent: '1002', waitMs: 4200, seq: 999, at: T0 + 5000 } as unknown as DaemonEvent;
    const { cdrs } = run(new CdrBuilder(), [...kamailio, ...daemon, q].sort((a, b) => a.at - b.at));
    expect(cdrs[0]!.path).toContainEqual({ at: T0 + 5000, step: 'queue.answered', detail: { queue: 'support', agent: '1002', waitMs: 4200 } });
  });

  it('waits graceMs for the daemon\'s end after Kamailio\'s, then writes what it has', () => {
    const { kamailio, daemon } = daemonCall();
    const b = new CdrBuilder({ graceMs: 5000 });
    const events = [...kamailio, ...daemon.slice(0, 3)].sort((a, b) => a.at - b.at);
    expect(run(b, events).cdrs).toEqual([]);
    expect(b.tick(T0 + 24_999).cdrs).toEqual([]);
    const late = b.tick(T0 + 25_000).cdrs;
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ disposition: 'answered', endedAt: T0 + 20_000 });
  });

  it('a daemon call without Kamailio events (evapi down) still gets its CDR after the grace time', () => {
    const { daemon } = daemonCall();
    const b = new CdrBuilder({ graceMs: 5000 });
    expect(run(b, daemon).cdrs).toEqual([]);
    const cdrs = b.tick(T0 + 25_001).cdrs;
    expect(cdrs[0]).toMatchObject({ direction: 'inbound', from: '+15551230000', fromName: 'Ann', to: '+15550100', did: '+15550100', answeredAt: T0 + 490, endedAt: T0 + 20_001, answeredBy: '1002' });
  });

  it('open calls survive a restart as JSON', () => {
    const { kamailio, daemon } = daemonCall();
    const first = new CdrBuilder();
    const steps = run(first, [...kamailio.slice(0, 2), ...daemon.slice(0, 4)].sort((a, b) => a.at - b.at)).steps;
    const persisted = new Map<string, string>();
    for (const s of steps) {
      for (const c of s.upsert) persisted.set(c.callId, JSON.stringify(c));
      for (const id of s.remove) persisted.delete(id);
    }
    const second = new CdrBuilder();
    second.load([...persisted.values()].map((j) => JSON.parse(j)));
    const { cdrs } = run(second, [...kamailio.slice(2), ...daemon.slice(4)].sort((a, b) => a.at - b.at));
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]!.path.map((s) => s.step)).toEqual(['ivr:main', 'ivr.digits', 'dial', 'bridged']);
  });

  it('a call silent for staleMs is closed as lost; an unbridged leg never becomes a CDR', () => {
    const b = new CdrBuilder({ staleMs: 60_000 });
    run(b, [dlg('dialog.started', T0), ev(T0, { type: 'dialog.started', callId: 'leg9', direction: 'daemon', from: '1001', dialed: '1003', target: '1003', startedAt: T0, occurredAt: T0 })]);
    const cdrs = b.tick(T0 + 60_000).cdrs;
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ callId: 'c1', endReason: 'lost: no end event', disposition: 'failed' });
    expect(b.openCount).toBe(0);
  });
});
