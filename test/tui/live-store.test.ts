import { describe, expect, it } from 'vitest';
import { startApi, type DaemonControl, type LiveCall } from '../../src/daemon/api.js';
import { DaemonClient } from '../../src/daemon/daemon-client.js';
import { EventBus } from '../../src/daemon/events.js';
import type { KamailioRpc } from '../../src/kamailio/rpc-client.js';
import type { Target } from '../../src/targets/target.js';
import { startLiveStore } from '../../src/tui/live-store.js';
import { colorWanted } from '../../src/tui/palette.js';
import { hangupCall } from '../../src/tui/source.js';
import { eventMatches } from '../../src/tui/tail.js';
import { applyEvent, emptyModel } from '../../src/tui/model/live-model.js';

/** A fake Kamailio answering the RPCs the operator views use; records every call. */
function fakeRpc(dialogs: unknown[]): KamailioRpc & { calls: [string, unknown[]][] } {
  const calls: [string, unknown[]][] = [];
  const answers: Record<string, unknown> = {
    'core.version': 'kamailio 5.6.3',
    'core.uptime': { uptime: 10 },
    'ul.dump': { Domains: [{ Domain: { Domain: 'location', AoRs: [{ Info: { AoR: '1002', Contacts: [{ Contact: { Address: 'sip:1002@127.0.0.2:5062', Expires: 50 } }] } }] } }] },
    'dispatcher.list': { RECORDS: [] },
    'dlg.end_dlg': null,
  };
  return {
    calls,
    requests: 0,
    close() {},
    async call<T>(method: string, params: (string | number)[] = []): Promise<T> {
      calls.push([method, params]);
      if (method === 'dlg.list') return dialogs as T;
      return answers[method] as T;
    },
  };
}

function fakeTarget(rpc: KamailioRpc, daemon?: DaemonClient): Target {
  return { name: 'test', description: 'fake', rpc, ...(daemon ? { daemon } : {}), readText: async () => undefined } as unknown as Target;
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('live store', () => {
  it('loads the snapshot (daemon calls + Kamailio dialogs), follows events, and re-reads the snapshot after a daemon restart', async () => {
    const bus = new EventBus();
    let live: LiveCall[] = [{ callId: 'd1', caller: { number: '+4930' }, dialed: '+4931', destination: 'ivr:main', state: 'answered', step: 'ivr:main', startedAt: 1000, configVersion: 'v' }];
    const control: DaemonControl = {
      configVersion: () => 'v',
      configInfo: () => ({}),
      reloadConfig: async () => ({ version: 'v', changed: false }),
      liveCalls: () => live,
      hangupCall: async () => false,
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
    };
    let api = await startApi({ port: 0, token: 't', events: bus, control });
    const port = api.port;
    const rpc = fakeRpc([{ h_entry: 1, h_id: 2, 'call-id': 'k1', from_uri: 'sip:1001@x', to_uri: 'sip:1002@x', state: 4, start_ts: 5, init_ts: 4 }]);
    const store = startLiveStore(fakeTarget(rpc, new DaemonClient({ host: '127.0.0.1', port, token: 't' })), { directory: new Map([['1001', 'Alice']]) });
    try {
      await until('snapshot and live', () => store.get().calls.size === 2 && store.get().connection === 'live');
      expect(store.get().calls.get('k1')!.caller).toEqual({ number: '1001', name: 'Alice' });
      expect(store.get().header.registered).toBe(0); // no inventory: nothing configured
      bus.publish({ type: 'call.step', callId: 'd1', step: 'ivr.digits', detail: { ivr: 'main', digits: '1', valid: true } });
      await until('the step', () => store.get().calls.get('d1')!.step === 'ivr.digits');

      await api.close();
      await until('reconnecting', () => store.get().connection === 'reconnecting');
      live = [];
      api = await startApi({ port, token: 't', events: new EventBus(), control });
      await until('live again without d1', () => store.get().connection === 'live' && !store.get().calls.has('d1'), 10_000);
      expect([...store.get().calls.keys()]).toEqual(['k1']);
    } finally {
      store.close();
      await api.close();
    }
  });

  it('hangs up through Kamailio dlg.end_dlg when the daemon does not have the call, and fails with CALL_NOT_FOUND when nobody has it', async () => {
    const rpc = fakeRpc([{ h_entry: 7, h_id: 9, 'call-id': 'k1', from_uri: 'sip:1001@x', to_uri: 'sip:1002@x', state: 4 }]);
    expect(await hangupCall(fakeTarget(rpc), 'k1')).toBe('kamailio');
    expect(rpc.calls.find(([m]) => m === 'dlg.end_dlg')).toEqual(['dlg.end_dlg', [7, 9]]);
    await expect(hangupCall(fakeTarget(rpc), 'nope')).rejects.toMatchObject({ code: 'CALL_NOT_FOUND' });
  });
});

describe('tail helpers', () => {
  it('--filter keeps events of matching calls and events mentioning the text', () => {
    const before = emptyModel('n');
    const started = { type: 'call.started', callId: 'c', caller: { number: '1001' }, dialed: '700', destination: 'queue:sales', seq: 1, at: 1 };
    const after = applyEvent(before, started);
    expect(eventMatches(before, after, started, '1001')).toBe(true);
    expect(eventMatches(before, after, started, '1002')).toBe(false);
    expect(eventMatches(after, after, { type: 'agent.state', extension: '1003', state: 'available' }, '1003')).toBe(true);
    expect(eventMatches(after, after, { type: 'agent.state', extension: '1003', state: 'available' }, '')).toBe(true);
  });

  it('honours NO_COLOR and TERM=dumb', () => {
    expect(colorWanted({})).toBe(true);
    expect(colorWanted({ NO_COLOR: '1' })).toBe(false);
    expect(colorWanted({ NO_COLOR: '' })).toBe(true);
    expect(colorWanted({ TERM: 'dumb' })).toBe(false);
  });
});
