/**
 * Deployment history: the records apply appends to the node's `state/deployments.jsonl` (one JSON
 * object per line, apply/executor.ts DeploymentRecord), which release is current, and finding the
 * deployment a rollback goes back to. Parsing and rendering are pure; {@link readHistory} reads
 * through a Target, so it works on the local, lab and SSH targets alike.
 */
import { readInventory } from '../apply/prepare.js';
import type { DeploymentRecord } from '../apply/executor.js';
import { PbxError } from '../lib/errors.js';
import type { Target } from '../targets/target.js';

export const DEPLOYMENTS_PATH = 'state/deployments.jsonl';

/** One deployment as history shows it (newest first). */
export interface HistoryEntry extends DeploymentRecord {
  /** Whether this release is the one `current` points at now. */
  current: boolean;
}

/** What `pbxctl history --json` returns. */
export interface History {
  target: string;
  /** The release `current` points at (the inventory's), undefined on a node pbxctl never applied to. */
  currentRelease?: string;
  /** Lines of deployments.jsonl that were not readable records (a torn write, a hand edit), 1-based. */
  skippedLines: number[];
  deployments: HistoryEntry[];
}

/**
 * A deployments.jsonl line as a record: the fields the apply writes, each of its type, and nothing
 * else (a hand-edited line keeps `history --json` to its schema, schemas/output/history.schema.json).
 * Undefined when a required field is missing or of another type.
 */
function toRecord(v: unknown): DeploymentRecord | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const r = v as Record<string, unknown>;
  const str = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : undefined);
  const s = r.summary as Record<string, unknown> | null | undefined;
  const count = (k: string) => (s && typeof s === 'object' && Number.isInteger(s[k]) && (s[k] as number) >= 0 ? (s[k] as number) : undefined);
  const [release, time, user, planHash] = [str('release'), str('time'), str('user'), str('planHash')];
  const [create, update, del, replace] = [count('create'), count('update'), count('delete'), count('replace')];
  if (release === undefined || time === undefined || user === undefined || planHash === undefined) return undefined;
  if (create === undefined || update === undefined || del === undefined || replace === undefined) return undefined;
  const optional: Partial<DeploymentRecord> = {};
  for (const k of ['previous', 'commit', 'author', 'subject', 'command'] as const) {
    const x = str(k);
    if (x !== undefined) optional[k] = x;
  }
  return { release, time, user, planHash, summary: { create, update, delete: del, replace }, ...optional };
}

/**
 * Parses deployments.jsonl, oldest first. A line that is not a record is skipped and reported
 * (an apply killed mid-append leaves a torn last line; history must still show the rest). Pure.
 */
export function parseDeployments(text: string): { records: DeploymentRecord[]; skippedLines: number[] } {
  const records: DeploymentRecord[] = [];
  const skippedLines: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const r = toRecord(JSON.parse(line));
      if (r) records.push(r);
      else skippedLines.push(i + 1);
    } catch {
      skippedLines.push(i + 1);
    }
  });
  return { records, skippedLines };
}

/**
 * Builds the history: newest first, the current release marked, at most `limit` entries. Pure.
 * @param limit entries to keep (all when undefined)
 */
export function buildHistory(target: string, records: DeploymentRecord[], currentRelease: string | undefined, skippedLines: number[] = [], limit?: number): History {
  const newest = [...records].reverse().map((r) => ({ ...r, current: r.release === currentRelease }));
  return { target, ...(currentRelease ? { currentRelease } : {}), skippedLines, deployments: limit === undefined ? newest : newest.slice(0, limit) };
}

/**
 * Reads the node's history through the target.
 * @throws PbxError INVENTORY_CORRUPT (prepare.ts) when the current inventory is unreadable
 */
export async function readHistory(target: Target, limit?: number): Promise<History> {
  const [text, inventory] = await Promise.all([target.readText(DEPLOYMENTS_PATH), readInventory(target)]);
  const { records, skippedLines } = parseDeployments(text ?? '');
  return buildHistory(target.name, records, inventory?.release, skippedLines, limit);
}

/** The commit without a `+dirty` mark, and whether it had one. Pure. */
export function splitCommit(commit: string): { sha: string; dirty: boolean } {
  return commit.endsWith('+dirty') ? { sha: commit.slice(0, -'+dirty'.length), dirty: true } : { sha: commit, dirty: false };
}

/**
 * The deployment a rollback goes back to (pure, over a full history, newest first):
 * - `which` undefined: the deployment before the current one (the current record's `previous`
 *   release, else the next older record);
 * - a release id (exact), or a commit SHA prefix (4+ hex digits; the newest deployment of it).
 * Returns undefined when `which` names no deployment (it may still be a commit of the repo).
 * @throws PbxError NOTHING_TO_ROLL_BACK when there is no earlier deployment; AMBIGUOUS_COMMIT
 */
export function findRollbackTarget(history: History, which?: string): HistoryEntry | undefined {
  const list = history.deployments;
  if (which === undefined) {
    const idx = list.findIndex((d) => d.current);
    if (idx < 0) throw new PbxError('NOTHING_TO_ROLL_BACK', `node ${history.target} has no current deployment in its history`, { hint: 'Name the release or commit to deploy: pbxctl rollback RELEASE|COMMIT.' });
    const cur = list[idx]!;
    const prev = (cur.previous && list.find((d) => d.release === cur.previous)) || list.slice(idx + 1).find((d) => d.release !== cur.release);
    if (!prev) throw new PbxError('NOTHING_TO_ROLL_BACK', `release ${cur.release} is the first deployment on ${history.target}; there is nothing before it`, { hint: 'pbxctl history lists the deployments.' });
    return prev;
  }
  const byRelease = list.find((d) => d.release === which);
  if (byRelease) return byRelease;
  if (!/^[0-9a-f]{4,64}$/i.test(which)) return undefined;
  const matches = list.filter((d) => d.commit && splitCommit(d.commit).sha.toLowerCase().startsWith(which.toLowerCase()));
  const shas = new Set(matches.map((d) => d.commit));
  if (shas.size > 1) throw new PbxError('AMBIGUOUS_COMMIT', `${which} matches ${shas.size} deployed commits`, { hint: 'Give more digits of the SHA, or the release id.' });
  return matches[0];
}

/** `+1 ~2 -0` (replace counts as add and destroy, as in the plan summary line). Pure. */
export function summaryText(s: DeploymentRecord['summary'] | undefined): string {
  if (!s) return '';
  return `+${s.create + s.replace} ~${s.update} -${s.delete + s.replace}`;
}

/** `Alice Smith <alice@example.com>` -> `Alice Smith`. Pure. */
export function authorName(author: string | undefined): string {
  return author ? author.replace(/\s*<[^>]*>\s*$/, '') : '';
}

/**
 * The history as a table (newest first; `*` marks the current release). Pure.
 * Columns: release, commit (12 hex, `+dirty` kept), author, time (UTC, seconds), changes, subject.
 */
export function renderHistoryText(h: History): string {
  if (h.deployments.length === 0) return `No deployments recorded on ${h.target}.`;
  const rows = h.deployments.map((d) => {
    const c = d.commit ? splitCommit(d.commit) : undefined;
    return [
      d.current ? '*' : ' ',
      d.release,
      c ? `${c.sha.slice(0, 12)}${c.dirty ? '+dirty' : ''}` : '(no git)',
      authorName(d.author) || d.user,
      d.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      summaryText(d.summary),
      d.subject ?? (d.command?.startsWith('pbxctl rollback') ? `(${d.command})` : ''),
    ];
  });
  const head = ['', 'RELEASE', 'COMMIT', 'AUTHOR', 'TIME', 'CHANGES', 'SUBJECT'];
  const width = head.map((x, i) => Math.max(x.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(width[i]!))).join('  ').trimEnd();
  const out = [`Deployments on ${h.target} (newest first; * = current):`, '', line(head), ...rows.map(line)];
  if (!h.currentRelease) out.push('', 'No release is current (nothing deployed, or current was removed).');
  else if (!h.deployments.some((d) => d.current)) out.push('', `Current release ${h.currentRelease} is not among these deployments.`);
  if (h.skippedLines.length) out.push('', `Skipped unreadable lines of ${DEPLOYMENTS_PATH}: ${h.skippedLines.join(', ')}.`);
  return out.join('\n');
}
