import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';

// chalk decides its color level when ink loads: force colors so `color: true` shows in frames.
vi.hoisted(() => {
  process.env.FORCE_COLOR = '1';
});
import { CallsApp, type ModelStore } from '../../src/tui/CallsApp.js';
import { applyEvent, emptyModel, type CallView, type LiveModel } from '../../src/tui/model/live-model.js';

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const dir = new Map([['1001', 'Alice'], ['1002', 'Bob'], ['1003', 'Carol']]);

function model(): LiveModel {
  let seq = 0;
  const events = [
    { type: 'dialog.started', callId: 'ext-1', direction: 'internal', from: '1001', dialed: '1002', target: '1002', startedAt: T0 - 65_000, occurredAt: T0 - 65_000 },
    { type: 'dialog.answered', callId: 'ext-1', direction: 'internal', from: '1001', dialed: '1002', target: '1002', startedAt: T0 - 65_000, answeredAt: T0 - 60_000, occurredAt: T0 - 60_000 },
    { type: 'call.started', callId: 'ivr-1', caller: { number: '+15550100' }, dialed: '+15550999', destination: 'ivr:main', configVersion: 'v1', at: T0 - 20_000 },
    { type: 'call.state', callId: 'ivr-1', state: 'answered', from: 'initiated', at: T0 - 19_000 },
    { type: 'call.step', callId: 'ivr-1', step: 'ivr:main', detail: { ivr: 'main' }, at: T0 - 19_000 },
    { type: 'call.started', callId: 'q-1', caller: { number: '1003' }, dialed: '700', destination: 'queue:sales', configVersion: 'v1', at: T0 - 10_000 },
    { type: 'call.state', callId: 'q-1', state: 'answered', from: 'initiated', at: T0 - 9_000 },
    { type: 'call.step', callId: 'q-1', step: 'queue:sales', detail: { queue: 'sales' }, at: T0 - 9_000 },
    { type: 'queue.joined', queue: 'sales', callId: 'q-1', position: 1, caller: { number: '1003' }, at: T0 - 9_000 },
    { type: 'call.media', callId: 'q-1', lossPct: 7, jitterMs: 12, mos: 2.9, codec: 'PCMA', at: T0 - 1000 },
  ];
  let m: LiveModel = { ...emptyModel('lab', dir), connection: 'live' };
  m = { ...m, header: { node: 'lab', release: 'r-20261121-1', commit: '0123456789abcdef', registered: 2, configured: 3, trunks: { carrier: 'active' }, contacts: {} } };
  for (const e of events) m = applyEvent(m, { at: T0, ...e, seq: ++seq });
  return m;
}

function fixedStore(initial: LiveModel): ModelStore & { set(m: LiveModel): void } {
  let m = initial;
  const ls = new Set<() => void>();
  return {
    get: () => m,
    subscribe: (l) => {
      ls.add(l);
      return () => ls.delete(l);
    },
    set(next) {
      m = next;
      for (const l of ls) l();
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 80));
const ESC = '\u001b';
// Foreground colors only: bold and inverse are not colors, NO_COLOR allows them.
const ANSI = new RegExp(`${ESC}\\[(?:3[0-7]|9[0-7])m`);
const SGR = new RegExp(`${ESC}\\[[0-9;]*m`, 'g');

let unmount: (() => void) | undefined;
afterEach(() => unmount?.());

function start(o: { width?: number; color?: boolean; hangup?: (c: CallView) => Promise<string>; store?: ModelStore } = {}) {
  const store = o.store ?? fixedStore(model());
  const r = render(createElement(CallsApp, { store, hangup: o.hangup ?? (async () => 'ok'), color: o.color ?? false, width: o.width ?? 140, height: 30, now: () => T0, tickMs: 0 }));
  unmount = r.unmount;
  return r;
}

describe('CallsApp', () => {
  it('renders the header and the three calls with their states and durations', () => {
    const frame = start().lastFrame()!;
    expect(frame).toContain('lab');
    expect(frame).toContain('r-20261121-1 @01234567');
    expect(frame).toContain('phones 2/3');
    expect(frame).toContain('calls 3  queued 1');
    expect(frame).toContain('carrier:active');
    expect(frame).toMatch(/1001 Alice\s+1002 Bob\s+answered\s+1:05/);
    expect(frame).toMatch(/\+15550100\s+\+15550999\s+in IVR main\s+0:20/);
    expect(frame).toMatch(/1003 Carol\s+700\s+queued sales #1\s+0:10/);
    expect(frame).toContain('MOS 2.9 7.0%');
    expect(frame).not.toMatch(ANSI);
  });

  it('drops columns on a narrow terminal and never wraps a line', () => {
    const frame = start({ width: 60 }).lastFrame()!;
    expect(frame).not.toContain('MEDIA');
    expect(frame).not.toContain('TRUNK');
    expect(frame).toContain('STATE');
    for (const line of frame.replace(SGR, '').split('\n')) expect([...line].length).toBeLessThanOrEqual(60);
    expect(frame.split('\n').length).toBeLessThanOrEqual(30);
  });

  it('colors rows by state unless NO_COLOR (color: false)', () => {
    const colored = start({ color: true }).lastFrame()!;
    expect(colored).toMatch(ANSI);
  });

  it('moves the selection with j/k and arrows and opens the detail pane with Enter', async () => {
    const r = start();
    expect(r.lastFrame()).toMatch(/> 1001 Alice/);
    r.stdin.write('j');
    await tick();
    expect(r.lastFrame()).toMatch(/> \+15550100/);
    r.stdin.write('\u001b[B'); // down arrow
    await tick();
    expect(r.lastFrame()).toMatch(/> 1003 Carol/);
    r.stdin.write('k');
    await tick();
    expect(r.lastFrame()).toMatch(/> \+15550100/);
    r.stdin.write('\r');
    await tick();
    const detail = r.lastFrame()!;
    expect(detail).toContain('Call-ID ivr-1');
    expect(detail).toContain('Timeline');
    expect(detail).toContain('ivr:main ivr=main');
    r.stdin.write(ESC);
    await tick();
    expect(r.lastFrame()).toContain('CALLER');
  });

  it('filters with / and clears with Esc', async () => {
    const r = start();
    r.stdin.write('/');
    await tick();
    for (const ch of 'sales') {
      r.stdin.write(ch);
      await tick();
    }
    r.stdin.write('\r');
    await tick();
    let frame = r.lastFrame()!;
    expect(frame).toContain('1003 Carol');
    expect(frame).not.toContain('1001 Alice');
    expect(frame).toContain('filter: sales');
    r.stdin.write(ESC);
    await tick();
    frame = r.lastFrame()!;
    expect(frame).toContain('1001 Alice');
  });

  it('handles keys that arrive in one chunk (fast typing, paste, tmux send-keys)', async () => {
    const r = start();
    r.stdin.write('/carol\r');
    await tick();
    const frame = r.lastFrame()!;
    expect(frame).toContain('filter: carol');
    expect(frame).toContain('1003 Carol');
    expect(frame).not.toContain('1001 Alice');
  });

  it('changes the sort order with s', async () => {
    const r = start();
    r.stdin.write('s');
    await tick();
    const frame = r.lastFrame()!;
    expect(frame).toContain('sort: newest');
    expect(frame.indexOf('1003 Carol')).toBeLessThan(frame.indexOf('1001 Alice'));
  });

  it('hangs up the selected call only after confirmation', async () => {
    const hangup = vi.fn(async (c: CallView) => `hung up ${c.callId}`);
    const r = start({ hangup });
    r.stdin.write('h');
    await tick();
    expect(r.lastFrame()).toContain('Hang up 1001 -> 1002 (ext-1)? y/N');
    r.stdin.write('n');
    await tick();
    expect(hangup).not.toHaveBeenCalled();
    r.stdin.write('j');
    await tick();
    r.stdin.write('h');
    await tick();
    r.stdin.write('y');
    await tick();
    expect(hangup).toHaveBeenCalledTimes(1);
    expect(hangup.mock.calls[0]![0].callId).toBe('ivr-1');
    expect(r.lastFrame()).toContain('hung up ivr-1');
  });

  it('shows a failed hang-up', async () => {
    const r = start({ hangup: async () => Promise.reject(new Error('no such dialog')) });
    r.stdin.write('h');
    await tick();
    r.stdin.write('y');
    await tick();
    expect(r.lastFrame()).toContain('hang-up failed: no such dialog');
  });

  it('shows the keys with ? and reconnecting from the store, and follows live updates', async () => {
    const store = fixedStore(model());
    const r = start({ store });
    r.stdin.write('?');
    await tick();
    expect(r.lastFrame()).toContain('hang up the selected call');
    r.stdin.write('?');
    await tick();
    store.set({ ...store.get(), connection: 'reconnecting' });
    await tick();
    expect(r.lastFrame()).toContain('RECONNECTING');
    store.set(applyEvent(store.get(), { type: 'call.ended', callId: 'ext-1', state: 'completed', durationMs: 1, billableMs: 1, seq: 99, at: T0 }));
    await tick();
    expect(r.lastFrame()).not.toContain('1001 Alice');
    expect(r.lastFrame()).toContain('calls 2');
  });
});
