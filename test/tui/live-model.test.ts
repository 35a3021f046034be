import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyEvent, emptyModel, queuedCount, type LiveModel } from '../../src/tui/model/live-model.js';
import { fromSnapshot, uriUser } from '../../src/tui/model/snapshot.js';
import { columnsFor, formatDuration, matchesFilter, mediaGrade, stateLabel, tableLine, visibleCalls } from '../../src/tui/model/view.js';

const dir = new Map([['1001', 'Alice'], ['1002', 'Bob'], ['1003', 'Carol']]);
let seq = 0;
const ev = (body: Record<string, unknown>, at = 1_000_000) => ({ ...body, seq: ++seq, at });

function run(events: Record<string, unknown>[], m: LiveModel = emptyModel('lab', dir)): LiveModel {
  return events.reduce((acc, e) => applyEvent(acc, e), m);
}

describe('live model', () => {
  it('follows a daemon IVR call: started, answered, IVR step, digits, ended', () => {
    const m = run([
      ev({ type: 'call.started', callId: 'c1', caller: { number: '+15551230000' }, dialed: '+15550001000', destination: 'ivr:main', configVersion: 'v1' }, 1000),
      ev({ type: 'call.state', callId: 'c1', state: 'answered', from: 'initiated' }, 1200),
      ev({ type: 'call.step', callId: 'c1', step: 'ivr:main', detail: { ivr: 'main' } }, 1300),
    ]);
    const c = m.calls.get('c1')!;
    expect(c.phase).toBe('ivr');
    expect(stateLabel(c)).toBe('in IVR main');
    expect(c.answeredAt).toBe(1200);
    expect(c.startedAt).toBe(1000);
    expect(c.timeline.map((t) => t.text)).toEqual(['INVITE from +15551230000 to +15550001000 (ivr:main)', 'answered', 'ivr:main ivr=main']);
    expect(m.lastSeq).toBe(seq);
    const ended = applyEvent(m, ev({ type: 'call.ended', callId: 'c1', state: 'completed', durationMs: 5, billableMs: 3 }));
    expect(ended.calls.size).toBe(0);
  });

  it('merges a Kamailio dialog and a daemon call with the same Call-ID, and names parties from the directory', () => {
    const m = run([
      ev({ type: 'dialog.started', callId: 'q1', direction: 'inbound', from: '+15551112222', dialed: '+15550002000', target: '+15550002000', did: '+15550002000', trunk: 'carrier', feature: 'queue:sales', startedAt: 500, occurredAt: 500 }),
      ev({ type: 'call.started', callId: 'q1', caller: { number: '+15551112222' }, dialed: '+15550002000', destination: 'queue:sales', configVersion: 'v1' }),
      ev({ type: 'call.state', callId: 'q1', state: 'answered', from: 'initiated' }),
      ev({ type: 'call.step', callId: 'q1', step: 'queue:sales', detail: { queue: 'sales', strategy: 'ring-all' } }),
      ev({ type: 'queue.joined', queue: 'sales', callId: 'q1', position: 2, caller: { number: '+15551112222' } }),
    ]);
    expect(m.calls.size).toBe(1);
    const c = m.calls.get('q1')!;
    expect(c.sources).toEqual({ daemon: true, kamailio: true });
    expect(c.did).toBe('+15550002000');
    expect(c.trunk).toBe('carrier');
    expect(stateLabel(c)).toBe('queued sales #2');
    expect(queuedCount(m)).toBe(1);
    const answered = run([ev({ type: 'call.step', callId: 'q1', step: 'bridged', detail: { to: '1003', callee: 'leg-9' } }), ev({ type: 'queue.answered', queue: 'sales', callId: 'q1', agent: '1003', waitMs: 4000 })], m);
    const a = answered.calls.get('q1')!;
    expect(stateLabel(a)).toBe('agent 1003');
    expect(a.position).toBeUndefined();
    expect(queuedCount(answered)).toBe(0);
  });

  it('folds the daemon\'s own legs into the caller\'s call and hides daemon-direction dialogs', () => {
    let m = run([
      ev({ type: 'call.started', callId: 'in1', caller: { number: '1001' }, dialed: '600', destination: 'ring-group:sales', configVersion: 'v1' }),
      ev({ type: 'dialog.started', callId: 'leg1', direction: 'daemon', from: '600', dialed: '1002', target: '1002', startedAt: 1, occurredAt: 1 }),
    ]);
    expect([...m.calls.keys()]).toEqual(['in1']);
    m = run([ev({ type: 'call.step', callId: 'in1', step: 'bridged', detail: { to: '1002', callee: 'leg1' } }), ev({ type: 'dialog.answered', callId: 'leg1', direction: 'daemon', from: '600', dialed: '1002', target: '1002', startedAt: 1, occurredAt: 2 })], m);
    expect([...m.calls.keys()]).toEqual(['in1']);
    const c = m.calls.get('in1')!;
    expect(c.callee).toEqual({ number: '1002', name: 'Bob' });
    expect(c.caller).toEqual({ number: '1001', name: 'Alice' });
    // The leg ending does not end the call; the call ending drops the leg mapping too.
    m = applyEvent(m, ev({ type: 'dialog.ended', callId: 'leg1', direction: 'daemon', status: 200, reason: 'bye' }));
    expect(m.calls.has('in1')).toBe(true);
    m = applyEvent(m, ev({ type: 'call.ended', callId: 'in1', state: 'completed', durationMs: 1, billableMs: 1 }));
    expect(m.calls.size).toBe(0);
    expect(m.legs.size).toBe(0);
  });

  it('shows Kamailio-only extension calls from dialog events', () => {
    const m = run([
      ev({ type: 'dialog.started', callId: 'x1', direction: 'internal', from: '1001', fromName: 'Alice Desk', dialed: '1002', target: '1002', startedAt: 100, occurredAt: 100 }),
      ev({ type: 'dialog.answered', callId: 'x1', direction: 'internal', from: '1001', dialed: '1002', target: '1002', startedAt: 100, answeredAt: 300, occurredAt: 300 }),
    ]);
    const c = m.calls.get('x1')!;
    expect(c.phase).toBe('answered');
    expect(c.caller).toEqual({ number: '1001', name: 'Alice Desk' });
    expect(c.callee.name).toBe('Bob');
    expect(c.answeredAt).toBe(300);
    expect(c.sources).toEqual({ daemon: false, kamailio: true });
  });

  it('builds from a snapshot of daemon calls and dlg.list, merged by Call-ID, skipping deleted dialogs', () => {
    const m = fromSnapshot(
      emptyModel('lab', dir),
      [{ callId: 'd1', caller: { number: '1001' }, dialed: '500', destination: 'ivr:main', state: 'answered', step: 'ivr:main', startedAt: 10, answeredAt: 20 }],
      [
        { h_entry: 1, h_id: 2, 'call-id': 'd1', from_uri: 'sip:1001@pbx', to_uri: 'sip:500@pbx', state: 4, start_ts: 1, init_ts: 1 },
        { h_entry: 3, h_id: 4, 'call-id': 'k1', from_uri: 'sip:1002@pbx.lab.test', to_uri: 'sip:1003@pbx.lab.test', state: 2, start_ts: 0, init_ts: 5 },
        { h_entry: 5, h_id: 6, 'call-id': 'gone', state: 5 },
      ],
      99_000,
    );
    expect([...m.calls.keys()].sort()).toEqual(['d1', 'k1']);
    expect(m.calls.get('d1')!.dialogKey).toEqual({ hEntry: 1, hId: 2 });
    expect(m.calls.get('d1')!.phase).toBe('ivr');
    const withQueue = fromSnapshot(emptyModel('lab'), [{ callId: 'w', caller: { number: '+4930', name: '+4930' }, dialed: '700', state: 'answered', step: 'queue:sales', startedAt: 1 }], [], 5, [{ queue: 'sales', callId: 'w', position: 3 }]);
    expect(stateLabel(withQueue.calls.get('w')!)).toBe('queued sales #3');
    expect(withQueue.calls.get('w')!.caller).toEqual({ number: '+4930' });
    const k = m.calls.get('k1')!;
    expect(k.phase).toBe('ringing');
    expect(k.startedAt).toBe(5000);
    expect(k.caller).toEqual({ number: '1002', name: 'Bob' });
  });

  it('keeps registration counts in the header', () => {
    let m = emptyModel('lab');
    m = { ...m, header: { ...m.header, registered: 0, configured: 2 } };
    m = run([ev({ type: 'registration.changed', aor: '1001', contact: 'sip:1001@1.2.3.4', expires: 60, change: 'registered' })], m);
    expect(m.header.registered).toBe(1);
    m = run([ev({ type: 'registration.changed', aor: '1001', contact: 'sip:1001@1.2.3.4', expires: 60, change: 'refreshed' })], m);
    expect(m.header.registered).toBe(1);
    m = run([ev({ type: 'registration.changed', aor: '1001', contact: '*', expires: 0, change: 'unregistered' })], m);
    expect(m.header.registered).toBe(0);
  });

  it('bounds a call\'s timeline', () => {
    let m = run([ev({ type: 'call.started', callId: 'loop', caller: { number: '1' }, dialed: '2', destination: 'ivr:x', configVersion: 'v' })]);
    for (let i = 0; i < 300; i++) m = applyEvent(m, ev({ type: 'call.step', callId: 'loop', step: 'ivr.timeout', detail: { attempt: i } }));
    expect(m.calls.get('loop')!.timeline.length).toBe(100);
    expect(m.calls.get('loop')!.timeline.at(-1)!.text).toBe('ivr.timeout attempt=299');
  });

  it('ignores unknown, malformed and unrelated events without changing the model', () => {
    const m = run([ev({ type: 'call.started', callId: 'c', caller: { number: '1' }, dialed: '2', destination: 'd', configVersion: 'v' })]);
    for (const junk of [null, 3, 'x', [], {}, { type: 'nope' }, { type: 'call.state', callId: 'other', state: 'answered' }, { type: 'queue.joined' }, { type: 'call.step', callId: 'c' }]) {
      const after = applyEvent(m, junk);
      expect(after.calls).toBe(m.calls);
    }
  });

  it('never throws and keeps every call consistent on any event sequence (property)', () => {
    const ids = fc.constantFrom('a', 'b', 'c', 'leg');
    const event = fc.oneof(
      fc.record({ type: fc.constantFrom('call.started', 'call.state', 'call.step', 'call.ended', 'dialog.started', 'dialog.answered', 'dialog.ended', 'queue.joined', 'queue.answered', 'queue.abandoned', 'queue.overflow', 'call.media', 'registration.changed', 'config.loaded', 'x.unknown'), callId: ids, seq: fc.nat(), at: fc.nat(), state: fc.constantFrom('ringing', 'answered', 'completed'), step: fc.constantFrom('ivr:main', 'queue:sales', 'bridged', 'queue.answered', 'voicemail', 'hold', 'dial'), detail: fc.record({ callee: ids, to: fc.constantFrom('1001', '1002'), queue: fc.string() }, { requiredKeys: [] }), direction: fc.constantFrom('internal', 'daemon', 'inbound'), position: fc.integer(), caller: fc.anything(), aor: fc.string(), change: fc.constantFrom('registered', 'expired'), mos: fc.double() }, { requiredKeys: ['type'] }),
      fc.anything(),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        const m = events.reduce((acc: LiveModel, e) => applyEvent(acc, e), emptyModel('lab', dir));
        for (const [id, c] of m.calls) {
          expect(c.callId).toBe(id);
          expect(m.legs.has(id)).toBe(false);
          stateLabel(c);
          mediaGrade(c);
        }
        visibleCalls(m, 'a', 'state');
      }),
      { numRuns: 300 },
    );
  });
});

describe('view helpers', () => {
  const base = run([
    ev({ type: 'call.started', callId: 'c1', caller: { number: '1001' }, dialed: '1002', destination: 'ext', configVersion: 'v' }, 1000),
    ev({ type: 'call.started', callId: 'c2', caller: { number: '+4930123' }, dialed: '500', destination: 'queue:support', configVersion: 'v' }, 2000),
    ev({ type: 'call.step', callId: 'c2', step: 'queue:support', detail: { queue: 'support' } }, 2100),
  ]);

  it('filters by number, name, queue and state', () => {
    expect(visibleCalls(base, 'alice', 'longest').map((c) => c.callId)).toEqual(['c1']);
    expect(visibleCalls(base, 'support', 'longest').map((c) => c.callId)).toEqual(['c2']);
    expect(visibleCalls(base, 'QUEUED', 'longest').map((c) => c.callId)).toEqual(['c2']);
    expect(visibleCalls(base, '', 'newest').map((c) => c.callId)).toEqual(['c2', 'c1']);
    expect(matchesFilter(base.calls.get('c1')!, 'zzz')).toBe(false);
  });

  it('formats durations and grades media', () => {
    expect(formatDuration(65_000)).toBe('1:05');
    expect(formatDuration(3_725_000)).toBe('1:02:05');
    expect(formatDuration(-5)).toBe('0:00');
    const c = base.calls.get('c1')!;
    expect(mediaGrade(c)).toBe('unknown');
    expect(mediaGrade({ ...c, media: { lossPct: 0.1, jitterMs: 3, mos: 4.4 } })).toBe('good');
    expect(mediaGrade({ ...c, media: { lossPct: 2 } })).toBe('fair');
    expect(mediaGrade({ ...c, media: { mos: 2.5 } })).toBe('bad');
  });

  it('drops columns on narrow terminals and never exceeds the width', () => {
    expect(columnsFor(200).map((c) => c.key)).toContain('codec');
    expect(columnsFor(80).map((c) => c.key)).toEqual(['caller', 'callee', 'state', 'duration']);
    for (const w of [20, 40, 63, 80, 120, 200]) {
      for (const c of [undefined, ...base.calls.values()]) expect([...tableLine(columnsFor(w), c, 5000, w)].length).toBeLessThanOrEqual(w);
    }
  });

  it('parses URI users', () => {
    expect(uriUser('sip:1001@pbx.lab.test;transport=udp')).toBe('1001');
    expect(uriUser('<sips:+4930@x>')).toBe('+4930');
    expect(uriUser(undefined)).toBe('');
  });
});
