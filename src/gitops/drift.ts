/**
 * Drift: does the live node still run what its deployed commit says? The deployed release's
 * inventory (current/inventory.json) records every entry apply wrote and the sha256 of every file
 * of the release; drift is any difference between those and the node now:
 * - live entries (Kamailio's RPC dumps, the feature daemon's running config) that differ from,
 *   are missing from or were added to what the inventory recorded (an `htable.sets`, a data file
 *   edited and reloaded);
 * - release files whose content no longer has the recorded hash (edited on disk, not yet reloaded:
 *   the next reload or restart would load them).
 * Like Flux's drift detection it needs neither the repo nor its secrets, so a scheduled CI job can
 * run it with only access to the node. Prompts (binary WAVs) are not re-hashed.
 */
import { contentHash } from '../compile/release-files.js';
import { readInventory, readLiveNodeEntries } from '../apply/prepare.js';
import { PbxError } from '../lib/errors.js';
import { isSecretEntry } from '../plan/diff.js';
import type { Inventory } from '../plan/types.js';
import type { Target } from '../targets/target.js';

/** One drifted entry; values of secret entries are never included. */
export interface EntryDrift {
  id: string;
  /** Owning resource (`Extension/300`), from the inventory; undefined for an entry nobody owns. */
  owner?: string;
  kind: 'changed' | 'missing' | 'added';
  expected?: string;
  live?: string;
  sensitive?: boolean;
}

/** A release file whose content differs from the inventory's hash. */
export interface FileDrift {
  path: string;
  kind: 'changed' | 'missing';
}

/** What `pbxctl drift --json` returns. */
export interface DriftReport {
  target: string;
  release: string;
  /** The deployed commit (with `+dirty` when the release was applied from an uncommitted tree). */
  commit?: string;
  inSync: boolean;
  entries: EntryDrift[];
  files: FileDrift[];
  /** Release files that could not be read (e.g. a service-only file over SSH): not compared. */
  unreadable: string[];
  /**
   * Whether the feature daemon's entries were compared: false when this target has no daemon API
   * (a local node entry without one), so its running config cannot be read.
   */
  daemonCompared: boolean;
}

/**
 * Compares the inventory's entries with the live ones. Pure.
 * @param live entry id -> live value (prepare.ts readLiveNodeEntries)
 */
export function entryDrift(inventory: Pick<Inventory, 'entries'>, live: ReadonlyMap<string, string>): EntryDrift[] {
  const out: EntryDrift[] = [];
  const want = new Map(inventory.entries.map((e) => [e.id, e]));
  for (const [id, e] of want) {
    const v = live.get(id);
    if (v === e.value) continue;
    const sensitive = e.sensitive || isSecretEntry(id);
    const d: EntryDrift = { id, owner: e.owner, kind: v === undefined ? 'missing' : 'changed' };
    if (sensitive) d.sensitive = true;
    else {
      d.expected = e.value;
      if (v !== undefined) d.live = v;
    }
    out.push(d);
  }
  for (const [id, v] of live) {
    if (want.has(id)) continue;
    const d: EntryDrift = { id, kind: 'added' };
    if (isSecretEntry(id)) d.sensitive = true;
    else d.live = v;
    out.push(d);
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Compares release files with the inventory's hashes. Pure.
 * @param contents path -> file content now (undefined when missing); only text files are compared
 */
export function fileDrift(inventory: Pick<Inventory, 'files'>, contents: ReadonlyMap<string, string | undefined>): FileDrift[] {
  const out: FileDrift[] = [];
  for (const [path, hash] of Object.entries(inventory.files)) {
    if (!contents.has(path)) continue;
    const text = contents.get(path);
    if (text === undefined) out.push({ path, kind: 'missing' });
    else if (contentHash(text) !== hash) out.push({ path, kind: 'changed' });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Release files drift compares: everything but the binary prompts. */
const isTextFile = (path: string) => !path.startsWith('prompts/');

/**
 * Reads the node and computes its drift.
 * @throws PbxError NOTHING_DEPLOYED (no inventory: nothing to compare with), INVENTORY_CORRUPT,
 *   DAEMON_UNREACHABLE, KAMAILIO_RPC_ERROR and connection errors of the target
 */
export async function detectDrift(target: Target): Promise<DriftReport> {
  const inventory = await readInventory(target);
  if (!inventory) {
    throw new PbxError('NOTHING_DEPLOYED', `pbxctl has not deployed anything to ${target.name}, so there is nothing to compare it with`, { hint: 'Deploy first: pbxctl apply, or pbxctl sync.' });
  }
  const paths = Object.keys(inventory.files).filter(isTextFile);
  const [live, texts] = await Promise.all([
    readLiveNodeEntries(target),
    Promise.all(paths.map(async (p) => [p, await target.readText(`current/${p}`).then((t) => ({ t }), () => undefined)] as const)),
  ]);
  // Without the daemon's API the live side has no feature entries: comparing them would call
  // every one missing. Like plan (apply/prepare.ts), leave them out and say so.
  const daemonCompared = target.daemon !== undefined;
  const entries = entryDrift(daemonCompared ? inventory : { entries: inventory.entries.filter((e) => !e.id.startsWith('feature/')) }, live);
  const unreadable = texts.filter(([, r]) => r === undefined).map(([p]) => p);
  const files = fileDrift(inventory, new Map(texts.flatMap(([p, r]) => (r ? [[p, r.t] as const] : []))));
  return { target: target.name, release: inventory.release, ...(inventory.commit ? { commit: inventory.commit } : {}), inSync: entries.length === 0 && files.length === 0, entries, files, unreadable, daemonCompared };
}

/** The report as text: a headline, then one line per drifted entry and file (secrets masked). Pure. */
export function renderDriftText(r: DriftReport): string {
  const head = `Node ${r.target}: release ${r.release}${r.commit ? `, commit ${r.commit.slice(0, 12)}${r.commit.endsWith('+dirty') ? '+dirty' : ''}` : ''}`;
  const notes = [
    ...(r.unreadable.length ? [`(not compared, unreadable: ${r.unreadable.map((p) => `current/${p}`).join(', ')})`] : []),
    ...(r.daemonCompared ? [] : [`(the feature daemon's running config was not compared: target ${r.target} has no daemon API)`]),
  ];
  const note = notes.length ? `\n${notes.join('\n')}` : '';
  if (r.inSync) return `${head}\n\nNo drift: the live node matches the deployed release.${note}`;
  const show = (v: string | undefined) => (v === undefined ? '(none)' : JSON.stringify(v.length > 100 ? `${v.slice(0, 97)}...` : v));
  const lines = [head, '', 'Drift (changed on the node behind pbxctl\'s back):'];
  for (const e of r.entries) {
    const who = e.owner ? ` [${e.owner}]` : '';
    const what = e.id.replace(/\//g, ' ');
    if (e.kind === 'added') lines.push(`  + ${what}${who}: added on the node${e.sensitive ? ' (sensitive)' : ` = ${show(e.live)}`}`);
    else if (e.kind === 'missing') lines.push(`  - ${what}${who}: missing on the node${e.sensitive ? ' (sensitive)' : `, deployed ${show(e.expected)}`}`);
    else lines.push(`  ~ ${what}${who}: ${e.sensitive ? 'changed (sensitive)' : `${show(e.live)} on the node, deployed ${show(e.expected)}`}`);
  }
  for (const f of r.files) lines.push(`  ! file current/${f.path}: ${f.kind === 'missing' ? 'removed' : 'edited'} on the node`);
  lines.push(...notes);
  lines.push('', `${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'} and ${r.files.length} file${r.files.length === 1 ? '' : 's'} drifted. \`pbxctl plan\` shows how apply would restore them; \`pbxctl apply\` (or the next sync of a new commit) restores them.`);
  return lines.join('\n');
}
