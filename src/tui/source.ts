/**
 * The I/O edge of the operator views: reads a node's snapshot (daemon calls, Kamailio dialogs,
 * registrations, trunks, deployed release and the names of its numbers) and hangs calls up.
 * Everything else (merging, states) is the pure model in ./model.
 */
import { readInventory } from '../apply/prepare.js';
import { loadRepo, loadRootConfig } from '../config/load.js';
import { readRepo } from '../config/repo-files.js';
import { DaemonClient } from '../daemon/daemon-client.js';
import { nodeStatus, type NodeStatus } from '../kamailio/node-status.js';
import { PbxError } from '../lib/errors.js';
import type { PbxConfig } from '../model/types.js';
import type { Inventory } from '../plan/types.js';
import type { Target } from '../targets/target.js';
import { emptyModel, type CallView, type LiveModel } from './model/live-model.js';
import { fromSnapshot, type SnapshotDaemonCall, type SnapshotDialog } from './model/snapshot.js';

/** The full daemon client of a target (the Target type only promises plan/apply's subset). */
export function daemonOf(target: Target): DaemonClient | undefined {
  return target.daemon instanceof DaemonClient ? target.daemon : undefined;
}

/**
 * Number -> name from the node's inventory (what is deployed): extensions (`1001 "Alice"`), and
 * queues, IVRs and ring groups that have a number.
 */
export function directoryFromInventory(inv: Inventory | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of inv?.resources ?? []) {
    if (r.kind === 'Extension') {
      const m = /^(\S+) "(.*)"$/.exec(r.label);
      if (m?.[1] && m[2]) out.set(m[1], m[2]);
      continue;
    }
    const number = r.attributes?.number;
    if (typeof number === 'string' && number) out.set(number, typeof r.attributes?.name === 'string' ? (r.attributes.name as string) : `${r.kind} ${r.identity}`);
  }
  return out;
}

/**
 * The repo a command was pointed at (its pbx.yaml for the node list, and number -> name of its
 * extensions, queues, IVRs and ring groups). Both undefined when `dir` is no readable repo: the
 * commands then work from what is deployed on the node.
 */
export async function readRepoContext(dir: string): Promise<{ pbx?: PbxConfig; directory?: Map<string, string> }> {
  const snap = await readRepo(dir).catch(() => undefined);
  if (!snap) return {};
  const pbx = loadRootConfig(snap.files);
  if (!pbx) return {};
  const directory = new Map<string, string>();
  for (const { resource: r } of loadRepo(snap.files).resources) {
    const x = r as { kind: string; number?: unknown; name?: unknown; id?: unknown };
    if (typeof x.number === 'string' && x.number) directory.set(x.number, typeof x.name === 'string' && x.name ? x.name : `${x.kind} ${String(x.id ?? '')}`.trim());
  }
  return { pbx, directory };
}

/** Header data from `pbxctl status`'s collector. */
function headerFrom(s: NodeStatus): LiveModel['header'] {
  const trunks: Record<string, string> = {};
  for (const t of s.trunks) {
    const id = t.trunk ?? t.uri;
    // A trunk with several hosts is up when any one is active.
    if (trunks[id] !== 'active') trunks[id] = t.state;
  }
  const contacts: Record<string, number> = {};
  for (const e of s.extensions) contacts[e.number] = e.contacts.length;
  return { node: s.target, ...(s.release ? { release: s.release } : {}), ...(s.commit ? { commit: s.commit } : {}), registered: s.registered, configured: s.configured, trunks, contacts };
}

/**
 * Reads a fresh model of `target`: the daemon's calls (when it runs one), Kamailio's `dlg.list`,
 * and the header; names from the node's inventory and `repoDirectory` (readRepoContext). The daemon's `lastSeq` is not known from a snapshot: the caller follows events
 * from "now" (no Last-Event-ID) right after, accepting that an event in between is applied twice
 * at worst (the reducers are idempotent for starts and ends).
 * @throws PbxError KAMAILIO_UNREACHABLE, DAEMON_UNREACHABLE
 */
export async function readSnapshot(target: Target, nowMs: number, repoDirectory?: ReadonlyMap<string, string>): Promise<LiveModel> {
  const daemon = daemonOf(target);
  const [inventory, dialogs, calls] = await Promise.all([
    readInventory(target),
    target.rpc.call<SnapshotDialog[]>('dlg.list').catch((e: unknown) => {
      // A node without active dialogs answers an empty list; an old script without the dialog module an error.
      if (e instanceof PbxError && e.code === 'KAMAILIO_UNREACHABLE') throw e;
      return [] as SnapshotDialog[];
    }),
    daemon ? daemon.calls() : Promise.resolve([] as SnapshotDaemonCall[]),
  ]);
  // Queue positions are not in /v1/calls; a daemon without the queue module answers 404 (no positions then).
  const queues = daemon ? await daemon.queues().catch(() => undefined) : undefined;
  const waiting = (queues?.queues ?? []).flatMap((q) => (q.callers ?? []).map((c) => ({ queue: q.queue, callId: c.callId, position: c.position })));
  const status = await nodeStatus(target.name, target.rpc, inventory);
  // The repo's names win over the deployed ones: the operator is looking at that repo.
  const base = emptyModel(target.name, new Map([...directoryFromInventory(inventory), ...(repoDirectory ?? [])]));
  return fromSnapshot({ ...base, header: headerFrom(status) }, calls, Array.isArray(dialogs) ? dialogs : [], nowMs, waiting);
}

/**
 * Hangs a call up: through the daemon when it runs the call (it sends BYE/CANCEL to every leg and
 * writes the CDR), otherwise through Kamailio `dlg.end_dlg h_entry h_id` (dialog module RPC), which
 * sends BYE both ways. Looks the dialog up in `dlg.list` when the view does not know its keys.
 * @returns how it was ended
 * @throws PbxError CALL_NOT_FOUND when neither knows the Call-ID
 */
export async function hangupCall(target: Target, callId: string, known?: CallView): Promise<'daemon' | 'kamailio'> {
  const daemon = daemonOf(target);
  const viaDaemonFirst = daemon !== undefined && (known === undefined || known.sources.daemon);
  if (viaDaemonFirst && (await daemon.hangup(callId))) return 'daemon';
  let key = known?.dialogKey;
  if (!key) {
    const dialogs = await target.rpc.call<SnapshotDialog[]>('dlg.list').catch(() => [] as SnapshotDialog[]);
    const d = (Array.isArray(dialogs) ? dialogs : []).find((x) => x['call-id'] === callId && x.state !== 5);
    if (d && typeof d.h_entry === 'number' && typeof d.h_id === 'number') key = { hEntry: d.h_entry, hId: d.h_id };
  }
  if (key) {
    await target.rpc.call('dlg.end_dlg', [key.hEntry, key.hId]);
    return 'kamailio';
  }
  if (daemon && !viaDaemonFirst && (await daemon.hangup(callId))) return 'daemon';
  throw new PbxError('CALL_NOT_FOUND', `no call ${callId} in progress on ${target.name}`, { hint: 'List the calls with `pbxctl calls list`; the call may have ended already.' });
}
