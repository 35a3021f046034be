import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cdr, CdrDisposition } from '../../../src/daemon/cdr/cdr-types.js';
import { SqliteCdrStore } from '../../../src/daemon/cdr/sqlite-cdr-store.js';
import { openDaemonDb, type Db } from '../../../src/daemon/store/database.js';

const T0 = 1_700_000_000_000;
const cdr = (n: number, over: Partial<Cdr> = {}): Cdr => ({
  callId: `call-${n}`, direction: 'internal', from: '1001', to: '1002', startedAt: T0 + n * 1000, endedAt: T0 + n * 1000 + 5000,
  durationS: 5, billableS: 0, disposition: 'no-answer', path: [], ...over,
});

const dbs: Db[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dbs.splice(0)) d.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function store(file = ':memory:'): SqliteCdrStore {
  const db = openDaemonDb(file);
  dbs.push(db);
  return new SqliteCdrStore(db);
}

describe('SqliteCdrStore', () => {
  it('stores a CDR once per Call-ID and reads it back unchanged', () => {
    const s = store();
    const c = cdr(1, { answeredAt: T0 + 2000, disposition: 'answered', billableS: 4, did: '+15550100', trunk: 'carrier', path: [{ at: T0, step: 'ivr:main', detail: { ivr: 'main' } }] });
    expect(s.insert(c)).toBe(true);
    expect(s.insert({ ...c, disposition: 'failed' })).toBe(false);
    expect(s.get('call-1')).toEqual(c);
    expect(s.insertMany([c, cdr(2), cdr(3)])).toBe(2);
  });

  it('filters by time range, extension (caller, dialled or answering), DID and disposition, newest first', () => {
    const s = store();
    s.insertMany([
      cdr(1, { from: '1001', to: '1002' }),
      cdr(2, { from: '+15551230000', to: '+15550100', did: '+15550100', direction: 'inbound', answeredBy: '1003', disposition: 'answered' }),
      cdr(3, { from: '1003', to: '+12125550143', direction: 'outbound', disposition: 'busy' }),
      cdr(4, { from: '1002', to: '1001', disposition: 'canceled' }),
      cdr(5, { from: '+15551230000', to: '+15550100', did: '+15550100', target: '1004', direction: 'inbound' }),
    ]);
    const ids = (q: Parameters<SqliteCdrStore['query']>[0]) => s.query(q).cdrs.map((c) => c.callId);
    expect(ids({})).toEqual(['call-5', 'call-4', 'call-3', 'call-2', 'call-1']);
    expect(ids({ extension: '1004' })).toEqual(['call-5']);
    expect(ids({ from: T0 + 2000, to: T0 + 4000 })).toEqual(['call-3', 'call-2']);
    expect(ids({ extension: '1003' })).toEqual(['call-3', 'call-2']);
    expect(ids({ extension: '1001' })).toEqual(['call-4', 'call-1']);
    expect(ids({ did: '+15550100' })).toEqual(['call-5', 'call-2']);
    expect(ids({ disposition: 'busy' })).toEqual(['call-3']);
    expect(ids({ extension: '1002', disposition: 'canceled' })).toEqual(['call-4']);
  });

  it('pages with a cursor: every CDR exactly once, in order, for any page size', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 7 }), (starts, pageSize) => {
        const s = store();
        // Equal start times on purpose: the call id breaks the tie.
        s.insertMany(starts.map((t, i) => cdr(i, { startedAt: T0 + t })));
        const seen: string[] = [];
        let cursor: string | undefined;
        for (;;) {
          const page = s.query({ limit: pageSize, ...(cursor ? { cursor } : {}) });
          seen.push(...page.cdrs.map((c) => c.callId));
          if (!page.nextCursor) break;
          cursor = page.nextCursor;
        }
        const all = s.query({ limit: 10_000 }).cdrs.map((c) => c.callId);
        expect(seen).toEqual(all);
        expect(new Set(seen).size).toBe(starts.length);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a cursor it did not issue', () => {
    expect(() => store().query({ cursor: 'bm9wZQ' })).toThrow(/not a CDR cursor/);
  });

  it('prunes by start time', () => {
    const s = store();
    s.insertMany([cdr(1), cdr(2), cdr(3)]);
    expect(s.prune(T0 + 2500)).toBe(2);
    expect(s.query({}).cdrs.map((c) => c.callId)).toEqual(['call-3']);
  });

  it('uses its indexes for the API filters', () => {
    store();
    const db = dbs[0]!;
    const plan = (where: string) => JSON.stringify(db.prepare(`EXPLAIN QUERY PLAN SELECT json FROM cdrs WHERE ${where} ORDER BY started_at DESC LIMIT 10`).all(...Array.from(where.matchAll(/\?/g), () => 'x')));
    expect(plan('did = ?')).toMatch(/cdrs_did/);
    expect(plan('disposition = ?')).toMatch(/cdrs_disposition/);
    expect(plan('(from_number = ? OR to_number = ? OR target = ? OR answered_by = ?)')).toMatch(/MULTI-INDEX|cdrs_from/);
  });

  it('keeps CDRs and open calls across reopening the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdr-store-'));
    dirs.push(dir);
    const file = join(dir, 'daemon.db');
    const a = store(file);
    const fresh = a.commit({ cdrs: [cdr(1)], upsert: [{ callId: 'open-1', kind: 'call', path: [], legs: [], updatedAt: T0 }], remove: [] });
    expect(fresh.map((c) => c.callId)).toEqual(['call-1']);
    dbs.pop()!.close();
    const b = store(file);
    expect(b.get('call-1')).toEqual(cdr(1));
    expect(b.loadOpen().open).toEqual([{ callId: 'open-1', kind: 'call', path: [], legs: [], updatedAt: T0 }]);
    expect(b.commit({ cdrs: [cdr(1)], upsert: [], remove: ['open-1'] })).toEqual([]);
    expect(b.loadOpen().open).toEqual([]);
  });

  it('accepts every disposition', () => {
    const s = store();
    const all: CdrDisposition[] = ['answered', 'no-answer', 'busy', 'failed', 'canceled', 'voicemail'];
    s.insertMany(all.map((d, i) => cdr(i, { disposition: d })));
    for (const d of all) expect(s.query({ disposition: d }).cdrs).toHaveLength(1);
  });
});
