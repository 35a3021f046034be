import { afterEach, describe, expect, it } from 'vitest';
import { startApi, type ApiServer } from '../../../src/daemon/api.js';
import { cdrRoutes, parseCdrQuery } from '../../../src/daemon/cdr/cdr-api.js';
import type { Cdr } from '../../../src/daemon/cdr/cdr-types.js';
import { SqliteCdrStore } from '../../../src/daemon/cdr/sqlite-cdr-store.js';
import { DaemonClient } from '../../../src/daemon/daemon-client.js';
import { EventBus } from '../../../src/daemon/events.js';
import { openDaemonDb } from '../../../src/daemon/store/database.js';
import { cdrCsv } from '../../../src/cdr/format.js';

const T0 = Date.parse('2026-11-21T10:00:00Z');
const cdr = (n: number, over: Partial<Cdr> = {}): Cdr => ({
  callId: `call-${n}`, direction: 'internal', from: '1001', to: '1002', startedAt: T0 + n * 1000, endedAt: T0 + n * 1000 + 5000,
  durationS: 5, billableS: 0, disposition: 'no-answer', path: [], ...over,
});

let api: ApiServer | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function serve(cdrs: Cdr[]): Promise<DaemonClient> {
  const db = openDaemonDb(':memory:');
  const store = new SqliteCdrStore(db);
  store.insertMany(cdrs);
  const control = { configVersion: () => undefined, configInfo: () => ({}), reloadConfig: async () => ({ version: 'x', changed: false }), liveCalls: () => [], hangupCall: async () => false, metrics: async () => ({ contentType: 'text/plain', body: '' }) };
  api = await startApi({ port: 0, token: 'test-token-1234567890', events: new EventBus(), control, routes: cdrRoutes(store) });
  return new DaemonClient({ host: '127.0.0.1', port: api.port, token: 'test-token-1234567890' });
}

describe('parseCdrQuery', () => {
  it('reads ISO and ms times, filters and the limit', () => {
    expect(parseCdrQuery(new URLSearchParams('from=2026-11-21T10:00:00Z&to=1700000000000&extension=1001&did=%2B15550100&disposition=busy&limit=5'))).toEqual({
      from: T0, to: 1700000000000, extension: '1001', did: '+15550100', disposition: 'busy', limit: 5,
    });
  });
  it.each([['from=yesterday', /not a time/], ['disposition=lost', /not one of/], ['limit=0', /integer from 1/], ['limit=20000', /integer from 1/]])('refuses %s', (qs, message) => {
    expect(() => parseCdrQuery(new URLSearchParams(qs))).toThrow(message);
  });
});

describe('GET /v1/cdrs and /v1/cdrs.csv through DaemonClient', () => {
  it('pages JSON and exports every match as CSV', async () => {
    const client = await serve([cdr(1), cdr(2, { disposition: 'busy' }), cdr(3), cdr(4, { from: '=HYPERLINK("x")', fromName: 'Smith, "Jo"' })]);
    const p1 = await client.cdrs({ limit: 2 }, 'json');
    expect(p1.cdrs.map((c) => c.callId)).toEqual(['call-4', 'call-3']);
    const p2 = await client.cdrs({ limit: 2, cursor: p1.nextCursor }, 'json');
    expect(p2.cdrs.map((c) => c.callId)).toEqual(['call-2', 'call-1']);
    expect(p2.nextCursor).toBeUndefined();
    expect((await client.cdrs({ disposition: 'busy' }, 'json')).cdrs.map((c) => c.callId)).toEqual(['call-2']);
    const csv = await client.cdrs({ from: T0 + 2000 }, 'csv');
    expect(csv).toBe(cdrCsv([cdr(4, { from: '=HYPERLINK("x")', fromName: 'Smith, "Jo"' }), cdr(3), cdr(2, { disposition: 'busy' })]));
    expect(csv).toContain(`'=HYPERLINK(""x"")`);
    expect(csv).toContain('"Smith, ""Jo"""');
  });

  it('answers a bad filter with CDR_BAD_QUERY and the daemon\'s reason', async () => {
    const client = await serve([]);
    await expect(client.cdrs({ disposition: 'lost' }, 'json')).rejects.toMatchObject({ code: 'CDR_BAD_QUERY', message: expect.stringMatching(/not one of/) });
  });
});
