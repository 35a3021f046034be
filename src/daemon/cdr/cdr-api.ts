/**
 * The CDR routes of the daemon's API (api.ts ApiRoute):
 *
 *   GET /v1/cdrs?from=&to=&extension=&did=&disposition=&limit=&cursor=
 *       200 {cdrs: Cdr[], nextCursor?}: newest first; from/to are ISO 8601 or ms since the epoch
 *       (from inclusive, to exclusive, on the start time); limit 1..10000 (default 100)
 *   GET /v1/cdrs.csv?...same filters  200 text/csv (src/cdr/format.ts columns), every match up to
 *       `limit` (default and cap 1,000,000), paged internally
 * Bad filters answer 422 {error, code: CDR_BAD_QUERY, hint}.
 */
import { PbxError } from '../../lib/errors.js';
import { CDR_CSV_COLUMNS, cdrCsvRow } from '../../cdr/format.js';
import type { ApiRoute } from '../api.js';
import { CDR_DISPOSITIONS, MAX_CDR_PAGE, type CdrDisposition, type CdrQuery, type CdrStore } from './cdr-types.js';

/** The most rows one CSV export returns. */
export const MAX_CSV_ROWS = 1_000_000;

function bad(message: string, hint: string): PbxError {
  return new PbxError('CDR_BAD_QUERY', message, { hint });
}

function time(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (/^\d{1,15}$/.test(v)) return Number(v);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw bad(`${name}=${v} is not a time`, 'Use ISO 8601 (2026-11-21T09:00:00Z) or ms since the epoch.');
  return ms;
}

/**
 * The CdrQuery of a request's query string.
 * @throws PbxError CDR_BAD_QUERY
 */
export function parseCdrQuery(q: URLSearchParams, maxLimit = MAX_CDR_PAGE): CdrQuery {
  const out: CdrQuery = {};
  const from = time(q, 'from');
  const to = time(q, 'to');
  if (from !== undefined) out.from = from;
  if (to !== undefined) out.to = to;
  for (const key of ['extension', 'did', 'cursor'] as const) {
    const v = q.get(key);
    if (v !== null && v !== '') {
      if (v.length > 256) throw bad(`${key} is longer than 256 characters`, 'Pass a phone number or extension.');
      out[key] = v;
    }
  }
  const disposition = q.get('disposition');
  if (disposition !== null && disposition !== '') {
    if (!CDR_DISPOSITIONS.includes(disposition as CdrDisposition)) throw bad(`disposition=${disposition} is not one of ${CDR_DISPOSITIONS.join(', ')}`, 'Pick one of the listed dispositions.');
    out.disposition = disposition as CdrDisposition;
  }
  const limit = q.get('limit');
  if (limit !== null && limit !== '') {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > maxLimit) throw bad(`limit=${limit} is not an integer from 1 to ${maxLimit}`, `Ask for at most ${maxLimit} rows; page with cursor.`);
    out.limit = n;
  }
  return out;
}

/** The routes, over `store`. */
export function cdrRoutes(store: CdrStore): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: /^\/v1\/cdrs$/,
      handle: async ({ query }) => ({ status: 200, body: await store.query(parseCdrQuery(query)) }),
    },
    {
      method: 'GET',
      path: /^\/v1\/cdrs\.csv$/,
      handle: async ({ query }) => {
        const q = parseCdrQuery(query, MAX_CSV_ROWS);
        const want = q.limit ?? MAX_CSV_ROWS;
        const lines: string[] = [CDR_CSV_COLUMNS.join(',')];
        let cursor = q.cursor;
        let rows = 0;
        while (rows < want) {
          const page = await store.query({ ...q, limit: Math.min(MAX_CDR_PAGE, want - rows), ...(cursor ? { cursor } : {}) });
          for (const c of page.cdrs) lines.push(cdrCsvRow(c));
          rows += page.cdrs.length;
          if (!page.nextCursor) break;
          cursor = page.nextCursor;
        }
        return { status: 200, contentType: 'text/csv; charset=utf-8', text: lines.map((l) => `${l}\r\n`).join('') };
      },
    },
  ];
}
