import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CdrService } from '../../../src/daemon/cdr/cdr-service.js';
import { encodeNetstring } from '../../../src/daemon/cdr/netstring.js';
import { EventBus, type DaemonEvent } from '../../../src/daemon/events.js';
import { openDaemonDb, type Db } from '../../../src/daemon/store/database.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-11-21T10:00:00Z');
const services: CdrService[] = [];
const dbs: Db[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
  for (const d of dbs.splice(0)) d.close();
});

function service(o: Partial<ConstructorParameters<typeof CdrService>[0]> = {}) {
  const db = openDaemonDb(':memory:');
  dbs.push(db);
  const events = new EventBus();
  const seen: DaemonEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const s = new CdrService({ db, events, tickMs: 20, ...o });
  services.push(s);
  return { s, events, seen, db };
}

const base = (callId: string, startedAt: number) => ({ callId, direction: 'internal' as const, from: '1001', dialed: '1002', target: '1002', startedAt });

describe('CdrService', () => {
  it('writes a CDR from Kamailio events and publishes cdr.written after the commit; persists only what a restart could not rebuild', () => {
    const { s, events, seen } = service({ now: () => T0 });
    s.start();
    events.publish({ type: 'dialog.started', ...base('a', T0), occurredAt: T0 });
    // Kamailio's later events carry the whole dialog: nothing to persist for a plain call.
    expect(s.store.loadOpen().open).toEqual([]);
    events.publish({ type: 'call.started', callId: 'd', caller: { number: '1001' }, dialed: '7000', destination: 'ivr:main', configVersion: 'v' });
    expect(s.store.loadOpen().open.map((c) => c.callId)).toEqual(['d']);
    events.publish({ type: 'dialog.ended', ...base('a', T0), occurredAt: T0 + 3000, status: 486, reason: 'failed' });
    const written = seen.filter((e) => e.type === 'cdr.written');
    expect(written).toHaveLength(1);
    expect(s.store.get('a')).toMatchObject({ disposition: 'busy', sipStatus: 486 });
    expect(s.store.loadOpen().open.map((c) => c.callId)).toEqual(['d']);
  });

  it('saves the Kamailio-only calls in progress when it closes, so that the next start knows them', async () => {
    const { s, events, db } = service({ now: () => T0 });
    s.start();
    events.publish({ type: 'dialog.started', ...base('a', T0), occurredAt: T0 });
    events.publish({ type: 'dialog.answered', ...base('a', T0), answeredAt: T0 + 900, occurredAt: T0 + 900 });
    expect(s.store.loadOpen().open).toEqual([]);
    await s.close();
    services.splice(services.indexOf(s), 1);
    const bus = new EventBus();
    const next = new CdrService({ db, events: bus, now: () => T0 + 5000 });
    services.push(next);
    // occurredAt: when the service last saw the call (its clock), what a stale check goes by.
    expect(next.openDialogs()).toEqual([{ ...base('a', T0), answeredAt: T0 + 900, occurredAt: T0 }]);
    next.start();
    expect(next.store.loadOpen().open.map((c) => c.callId)).toEqual(['a']);
    // Its end arrives later: one CDR, and the saved row is gone.
    bus.publish({ type: 'dialog.ended', ...base('a', T0), answeredAt: T0 + 900, occurredAt: T0 + 4000, status: 200, reason: 'bye' });
    expect(next.store.get('a')).toMatchObject({ disposition: 'answered', billableS: 4 });
    expect(next.store.loadOpen().open).toEqual([]);
  });

  it('prunes by the retention the config gives, at start and on its interval', async () => {
    let days = 30;
    const { s, events } = service({ now: () => T0 + 40 * DAY, retentionDays: () => days, pruneEveryMs: 30 });
    s.store.insertMany([
      { callId: 'old', direction: 'internal', from: '1', to: '2', startedAt: T0, endedAt: T0 + 1, durationS: 1, billableS: 0, disposition: 'failed', path: [] },
      { callId: 'mid', direction: 'internal', from: '1', to: '2', startedAt: T0 + 15 * DAY, endedAt: T0 + 15 * DAY + 1, durationS: 1, billableS: 0, disposition: 'failed', path: [] },
    ]);
    s.start();
    expect(s.store.get('old')).toBeUndefined();
    expect(s.store.get('mid')).toBeDefined();
    days = 10;
    await new Promise((r) => setTimeout(r, 100));
    expect(s.store.get('mid')).toBeUndefined();
    void events;
  });

  it('resumes open calls from the database after a restart and completes them on grace', async () => {
    let now = T0;
    const db = openDaemonDb(':memory:');
    dbs.push(db);
    const bus1 = new EventBus();
    const first = new CdrService({ db, events: bus1, now: () => now, builder: { graceMs: 50 } });
    first.start();
    bus1.publish({ type: 'dialog.started', ...base('b', T0), feature: 'ivr:main', occurredAt: T0 });
    bus1.publish({ type: 'dialog.ended', ...base('b', T0), feature: 'ivr:main', occurredAt: T0 + 5000, status: 200, reason: 'bye' });
    await first.close();
    expect(first.store.get('b')).toBeUndefined(); // waiting for the daemon's own end
    const bus2 = new EventBus();
    const second = new CdrService({ db, events: bus2, now: () => now, tickMs: 10, builder: { graceMs: 50 } });
    services.push(second);
    now = T0 + 60_000;
    second.start();
    expect(second.store.get('b')).toMatchObject({ feature: 'ivr:main', endedAt: T0 + 5000 });
  });

  it('reads evapi events, dropping malformed ones without stopping', async () => {
    const clients: Socket[] = [];
    const server = createServer((c) => clients.push(c));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const warnings: string[] = [];
    const { s, seen } = service({ evapi: { host: '127.0.0.1', port }, logger: { debug: () => undefined, info: () => undefined, warn: (m) => warnings.push(m), error: () => undefined } });
    s.start();
    for (let i = 0; i < 200 && clients.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const ev = (o: object) => encodeNetstring(JSON.stringify(o));
    clients[0]!.write(Buffer.concat([
      encodeNetstring('{not json'),
      ev({ event: 'registration.changed', change: 'registered', aor: '1001', contact: 'sip:1001@127.0.0.2:5070', expires: 300, ts: '1795298000.5' }),
      ev({ event: 'dialog.ended', callId: 'c', direction: 'internal', from: '1001', dialed: '1002', target: '1002', startTs: '1795298000.5', ts: '1795298002.5', status: 480, reason: 'failed' }),
    ]));
    for (let i = 0; i < 200 && !seen.some((e) => e.type === 'cdr.written'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen.map((e) => e.type)).toEqual(['registration.changed', 'dialog.ended', 'cdr.written']);
    expect(s.store.get('c')).toMatchObject({ disposition: 'no-answer', durationS: 2, startedAt: 1795298000500 });
    expect(warnings).toContain('evapi event dropped');
    for (const c of clients) c.destroy();
    await s.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
