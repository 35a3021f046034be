import { describe, expect, it } from 'vitest';
import { startApi, type DaemonControl } from '../../src/daemon/api.js';
import { EventBus } from '../../src/daemon/events.js';
import { SseParser, followEvents, type SseMessage } from '../../src/tui/event-stream.js';
import { queuesTable, registrationsTable, sourceOf, watchLoop } from '../../src/tui/operator-tables.js';
import { DaemonClient } from '../../src/daemon/daemon-client.js';
import type { Target } from '../../src/targets/target.js';

const control: DaemonControl = {
  configVersion: () => 'v1',
  configInfo: () => ({}),
  reloadConfig: async () => ({ version: 'v1', changed: false }),
  liveCalls: () => [],
  hangupCall: async () => false,
  metrics: async () => ({ contentType: 'text/plain', body: '' }),
};

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SseParser', () => {
  it('parses messages split across chunks, CRLF, comments and multi-line data', () => {
    const got: SseMessage[] = [];
    const p = new SseParser((m) => got.push(m));
    p.feed(': hello\n\nid: 1\nevent: call.started\nda');
    p.feed('ta: {"a":1}\r');
    p.feed('\n\r\ndata: x\ndata: y\n\nid: 2\ndata:z\n\n');
    expect(got).toEqual([
      { id: '1', event: 'call.started', data: '{"a":1}' },
      { id: '1', event: 'message', data: 'x\ny' },
      { id: '2', event: 'message', data: 'z' },
    ]);
  });
});

describe('followEvents against the daemon API', () => {
  it('receives events, shows reconnecting when the daemon goes away, and resumes with Last-Event-ID', async () => {
    const bus = new EventBus();
    let api = await startApi({ port: 0, token: 'tok', events: bus, control });
    const port = api.port;
    const events: number[] = [];
    const states: string[] = [];
    const f = followEvents({ endpoint: { host: '127.0.0.1', port, token: 'tok' }, onEvent: (e) => events.push((e as { seq: number }).seq), onState: (s) => states.push(s), retryMs: 50, maxRetryMs: 200 });
    try {
      await until('live', () => states.includes('live'));
      bus.publish({ type: 'config.loaded', version: 'a' });
      bus.publish({ type: 'config.loaded', version: 'b' });
      await until('two events', () => events.length === 2);
      await api.close();
      await until('reconnecting', () => states.includes('reconnecting'));
      // Published while the client is away: replayed from the backlog after the reconnect.
      bus.publish({ type: 'config.loaded', version: 'c' });
      api = await startApi({ port, token: 'tok', events: bus, control });
      await until('the missed event', () => events.length === 3);
      bus.publish({ type: 'config.loaded', version: 'd' });
      await until('a live event', () => events.length === 4);
      expect(events).toEqual([1, 2, 3, 4]);
      expect(f.lastSeq()).toBe(4);
      expect(states.filter((s) => s === 'live').length).toBeGreaterThanOrEqual(2);
    } finally {
      f.stop();
      await api.close();
    }
  });

  it('keeps retrying on a wrong token (401) without throwing', async () => {
    const bus = new EventBus();
    const api = await startApi({ port: 0, token: 'right', events: bus, control });
    const reasons: string[] = [];
    const f = followEvents({ endpoint: { host: '127.0.0.1', port: api.port, token: 'wrong' }, onEvent: () => {}, onState: (s, r) => s === 'reconnecting' && reasons.push(r ?? ''), retryMs: 20 });
    try {
      await until('two retries', () => reasons.length >= 2);
      expect(reasons[0]).toBe('HTTP 401');
    } finally {
      f.stop();
      await api.close();
    }
  });
});

describe('operator tables', () => {
  it('lists registrations with source, expiry and user agent, and configured ones without phones with --all', () => {
    const rows = [
      { extension: '1001', name: 'Alice', configured: true, contacts: [{ address: 'sip:1001@127.0.0.2:5062;ob', expires: 58, userAgent: 'Yealink T54W' }] },
      { extension: '1002', configured: true, contacts: [] },
    ];
    const t = registrationsTable(rows, 160, true);
    expect(t).toMatch(/1001 Alice\s+58s\s+127\.0\.0\.2:5062\s+Yealink T54W\s+sip:1001@127\.0\.0\.2:5062;ob/);
    expect(t).toMatch(/^1002\s+-$/m);
    expect(registrationsTable(rows, 160, false)).not.toContain('1002');
    expect(registrationsTable([], 160, false)).toBe('No registered phones.');
    expect(sourceOf('sip:1@10.0.0.1:5060;transport=udp')).toBe('10.0.0.1:5060');
  });

  it('shows queues with waiting callers and agents', () => {
    const t = queuesTable(
      {
        queues: [{ queue: 'sales', waiting: 1, longestWaitMs: 42_000, agentsLoggedIn: 2, agentsAvailable: 0, joined: 3, answered: 2, abandoned: 0, overflow: { 'max-wait': 0, 'max-callers': 0, 'join-empty': 0, 'leave-empty': 0 }, answeredWithinServiceLevel: 2, serviceLevelS: 20, serviceLevel: 1, averageWaitMs: 3000, averageAbandonMs: null, callers: [{ callId: 'c', caller: { number: '+4930123' }, position: 1, waitMs: 42_000, ringing: ['1003'] }] }],
        agents: [{ extension: '1003', queues: [{ queue: 'sales', paused: false, loggedInAt: 1 }], activity: 'ringing', callsAnswered: 2 }, { extension: '1004', queues: [{ queue: 'sales', paused: true, pauseReason: 'lunch', loggedInAt: 1 }], activity: 'available', callsAnswered: 0 }],
      },
      160,
    );
    expect(t).toMatch(/sales\s+1\s+0:42\s+0\/2 free\s+2\s+0\s+100% in 20s/);
    expect(t).toContain('#1 +4930123  waiting 0:42  ringing 1003');
    expect(t).toMatch(/1003\s+ringing\s+2\s+sales/);
    expect(t).toContain('sales (paused: lunch)');
  });
});

describe('watchLoop', () => {
  it('draws at once and on every daemon event that matters, until stopped', async () => {
    const bus = new EventBus();
    const api = await startApi({ port: 0, token: 't', events: bus, control });
    const target = { name: 'n', daemon: new DaemonClient({ host: '127.0.0.1', port: api.port, token: 't' }) } as unknown as Target;
    let draws = 0;
    const out: string[] = [];
    let stop!: () => void;
    const until = new Promise<void>((r) => (stop = r));
    const loop = watchLoop(target, { draw: async () => `draw ${++draws}`, relevant: (t) => t === 'agent.state', periodMs: 60_000, until, write: (s) => out.push(s) });
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(out[0]).toContain('draw 1');
      bus.publish({ type: 'config.loaded', version: 'x' });
      bus.publish({ type: 'agent.state', extension: '1001', state: 'available' });
      const end = Date.now() + 3000;
      while (draws < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(draws).toBe(2);
      expect(out[1]).toContain('draw 2');
    } finally {
      stop();
      await loop;
      await api.close();
    }
  });
});
