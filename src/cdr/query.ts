/**
 * `pbxctl cdr`'s work apart from oclif: the daemon API filters from the command's flags, and
 * fetching (paging through GET /v1/cdrs up to the limit, or one GET /v1/cdrs.csv).
 */
import { PbxError } from '../lib/errors.js';
import type { Cdr, CdrPage } from '../daemon/cdr/cdr-types.js';
import { parseDuration, parseTime } from './format.js';

/** The flags that filter. Times: `since` a duration back from `now`; `from`/`to` ISO 8601 or ms. */
export interface CdrFlags {
  since?: string;
  from?: string;
  to?: string;
  extension?: string;
  did?: string;
  disposition?: string;
  /** Most CDRs to show. */
  limit: number;
}

/** What the command needs of the daemon client (daemon-client.ts DaemonClient.cdrs). */
export interface CdrSource {
  cdrs(filters: Record<string, string | number | undefined>, format: 'json'): Promise<CdrPage>;
  cdrs(filters: Record<string, string | number | undefined>, format: 'csv'): Promise<string>;
}

/**
 * The API query parameters of the flags.
 * @param now ms since the epoch
 * @throws PbxError BAD_FLAG for a bad duration or time, or --since together with --from
 */
export function cdrFilters(f: CdrFlags, now: number): Record<string, string | number | undefined> {
  if (f.since !== undefined && f.from !== undefined) throw new PbxError('BAD_FLAG', '--since and --from both set the start of the range', { hint: 'Use one of them.' });
  const from = f.since !== undefined ? now - parseDuration(f.since) : f.from !== undefined ? parseTime(f.from, 'from') : undefined;
  const to = f.to !== undefined ? parseTime(f.to, 'to') : undefined;
  if (from !== undefined && to !== undefined && to <= from) throw new PbxError('BAD_FLAG', 'the time range is empty (--to is not after the start)', { hint: 'Check --since/--from and --to.' });
  return { from, to, extension: f.extension, did: f.did, disposition: f.disposition };
}

/** Fetches up to `limit` CDRs, newest first, paging through the API (10000 per page at most). */
export async function fetchCdrs(source: CdrSource, filters: Record<string, string | number | undefined>, limit: number): Promise<Cdr[]> {
  const out: Cdr[] = [];
  let cursor: string | undefined;
  while (out.length < limit) {
    const page = await source.cdrs({ ...filters, limit: Math.min(10_000, limit - out.length), cursor }, 'json');
    out.push(...page.cdrs);
    if (!page.nextCursor || page.cdrs.length === 0) break;
    cursor = page.nextCursor;
  }
  return out;
}
