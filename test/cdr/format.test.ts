import { describe, expect, it } from 'vitest';
import { cdrCsv, cdrTable, csvField, parseDuration, parseTime, pathText } from '../../src/cdr/format.js';
import { cdrFilters, fetchCdrs, type CdrSource } from '../../src/cdr/query.js';
import type { Cdr, CdrPage } from '../../src/daemon/cdr/cdr-types.js';

const T0 = Date.parse('2026-11-21T10:00:00Z');
const cdr = (n: number, over: Partial<Cdr> = {}): Cdr => ({
  callId: `c${n}`, direction: 'inbound', from: '+12125550123', to: '+15550199', did: '+15550199', startedAt: T0 + n * 1000, answeredAt: T0 + n * 1000 + 500, endedAt: T0 + n * 1000 + 20_500,
  durationS: 21, billableS: 20, disposition: 'answered', answeredBy: '1002', feature: 'ivr:main',
  path: [{ at: T0, step: 'ivr:main', detail: { ivr: 'main' } }, { at: T0, step: 'ivr.digits', detail: { digits: '1' } }, { at: T0, step: 'bridged', detail: { to: '1002', callee: 'x' } }], ...over,
});

describe('CDR rendering', () => {
  it('writes RFC 4180 CSV with CRLF, ISO times and the path, defusing formulas', () => {
    expect(pathText(cdr(1))).toBe('ivr:main > ivr.digits(1) > bridged(1002)');
    const csv = cdrCsv([cdr(1, { fromName: 'Smith, "Jo"', from: '=1+1' })]);
    const [head, row, end] = csv.split('\r\n');
    expect(head).toBe('call_id,direction,from,from_name,to,did,target,answered_by,feature,trunk,started_at,answered_at,ended_at,duration_s,billable_s,disposition,sip_status,end_reason,path');
    expect(row).toBe(`c1,inbound,'=1+1,"Smith, ""Jo""",+15550199,+15550199,,1002,ivr:main,,2026-11-21T10:00:01.000Z,2026-11-21T10:00:01.500Z,2026-11-21T10:00:21.500Z,21,20,answered,,,ivr:main > ivr.digits(1) > bridged(1002)`);
    expect(end).toBe('');
    expect(csvField('-5+A1')).toBe("'-5+A1");
    expect(csvField('+15550100')).toBe('+15550100');
    expect(csvField(-5)).toBe('-5');
    expect(csvField('a\nb')).toBe('"a\nb"');
  });

  it('renders a table with a header and one line per CDR', () => {
    const t = cdrTable([cdr(2), cdr(1, { disposition: 'busy', sipStatus: 486, answeredBy: undefined, answeredAt: undefined, billableS: 0, path: [], target: '1002' })]).split('\n');
    expect(t[0]).toMatch(/^STARTED \(UTC\)\s+DIR\s+FROM\s+TO\s+ANSWERED BY\s+DUR\s+BILL\s+DISPOSITION\s+PATH$/);
    expect(t[1]).toMatch(/^2026-11-21 10:00:02\s+inbound\s+\+12125550123\s+\+15550199\s+1002\s+21s\s+20s\s+answered\s+ivr:main > ivr.digits\(1\) > bridged\(1002\)$/);
    expect(t[2]).toMatch(/\+15550199 -> 1002\s+-\s+21s\s+0s\s+busy \(486\)\s+-$/);
  });
});

describe('pbxctl cdr arguments', () => {
  it('parses durations and times', () => {
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('2w')).toBe(14 * 86_400_000);
    expect(() => parseDuration('1 day')).toThrow(/not a duration/);
    expect(parseTime('2026-11-21', 'from')).toBe(Date.parse('2026-11-21T00:00:00Z'));
    expect(parseTime('2026-11-21T10:00:00', 'from')).toBe(T0);
    expect(parseTime('2026-11-21T11:00:00+01:00', 'from')).toBe(T0);
    expect(parseTime(String(T0), 'to')).toBe(T0);
    expect(() => parseTime('yesterday', 'to')).toThrow(/not a time/);
  });

  it('turns flags into API filters', () => {
    expect(cdrFilters({ since: '1h', extension: '1001', disposition: 'busy', limit: 10 }, T0)).toEqual({ from: T0 - 3600_000, to: undefined, extension: '1001', did: undefined, disposition: 'busy' });
    expect(cdrFilters({ from: '2026-11-21', to: '2026-11-22', limit: 10 }, T0)).toMatchObject({ from: Date.parse('2026-11-21T00:00:00Z'), to: Date.parse('2026-11-22T00:00:00Z') });
    expect(() => cdrFilters({ since: '1h', from: '2026-11-21', limit: 1 }, T0)).toThrow(/both set the start/);
    expect(() => cdrFilters({ from: '2026-11-22', to: '2026-11-21', limit: 1 }, T0)).toThrow(/range is empty/);
  });

  it('pages through the API up to the limit', async () => {
    const all = Array.from({ length: 25 }, (_, i) => cdr(25 - i));
    const asked: Record<string, unknown>[] = [];
    const source = {
      async cdrs(f: Record<string, string | number | undefined>): Promise<CdrPage> {
        asked.push(f);
        const start = f.cursor === undefined ? 0 : Number(f.cursor);
        const end = start + Number(f.limit);
        return { cdrs: all.slice(start, end), ...(end < all.length ? { nextCursor: String(end) } : {}) };
      },
    } as unknown as CdrSource;
    expect((await fetchCdrs(source, {}, 1000)).map((c) => c.callId)).toEqual(all.map((c) => c.callId));
    expect((await fetchCdrs(source, { did: '+15550199' }, 7)).length).toBe(7);
    expect(asked.at(-1)).toMatchObject({ did: '+15550199', limit: 7 });
  });
});
