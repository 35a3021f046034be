/**
 * plan(desired, live): the pure diff at the heart of pbxctl (DESIGN.md "The plan is data").
 * Resource-level changes come from comparing desired snapshots with the deployed inventory;
 * drift from comparing Kamailio's live data (RPC dumps) with what the inventory says was written.
 */
import { createHash } from 'node:crypto';
import type { NodeEntry } from '../compile/node-data.js';
import { isSensitive } from './snapshot.js';
import type { AttributeChange, DriftEntry, Inventory, Plan, PlanAction, ResourceChange, ResourceSnapshot } from './types.js';

/** What plan needs about the desired state. */
export interface DesiredNode {
  pbx: { name: string; domain: string };
  resources: ResourceSnapshot[];
  entries: NodeEntry[];
  commit?: string;
}

/** What plan needs about the live node: its inventory (if any) and the live entries of pbxctl's tables. */
export interface LiveNode {
  inventory?: Inventory;
  /** Entry id -> live value, in NodeEntry's canonical form. */
  entries: Map<string, string>;
}

const key = (kind: string, identity: string) => `${kind}/${identity}`;

/** Live entries whose value is a secret even when pbxctl does not own them (HA1s, trunk passwords). */
export function isSecretEntry(id: string): boolean {
  return id.startsWith('htable/auth/') || id.startsWith('uacreg/');
}

/**
 * sha256 over a canonical JSON form (object keys sorted at every level; Maps as sorted entries), hex.
 * Maps of strings (live entries: tens of thousands) take a fast path of sorted `key=value` lines.
 */
export function stableHash(value: unknown): string {
  const h = createHash('sha256');
  const canon = (v: unknown): unknown => {
    if (v instanceof Map) return [...v.entries()].map(([k, x]) => `${String(k)}=${JSON.stringify(canon(x))}`).sort();
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]));
    return v;
  };
  h.update(JSON.stringify(canon(value)));
  return h.digest('hex');
}

function attributeChanges(before: Record<string, unknown> = {}, after: Record<string, unknown> = {}): AttributeChange[] {
  const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const out: AttributeChange[] = [];
  for (const path of paths) {
    const b = before[path];
    const a = after[path];
    // Most attributes are primitives: compare them directly, stringify only lists and objects.
    if (b === a || (typeof b === 'object' && typeof a === 'object' && JSON.stringify(b) === JSON.stringify(a))) continue;
    const c: AttributeChange = { path };
    if (isSensitive(b) || isSensitive(a)) c.sensitive = true;
    else {
      if (b !== undefined) c.before = b;
      if (a !== undefined) c.after = a;
    }
    out.push(c);
  }
  return out;
}

/** Changes that cannot be made in place: the resource is deleted and created again. */
function needsReplace(kind: string, changes: AttributeChange[]): boolean {
  return kind === 'Trunk' && changes.some((c) => c.path === 'auth.type');
}

/**
 * Computes the plan for one node.
 * - a resource in desired but not the inventory is created; in the inventory but not desired, deleted;
 * - attribute differences update it (or replace it, see needsReplace);
 * - live entries that differ from what the inventory recorded are drift, attached to their owner
 *   (an update with no attribute changes when that is all); live entries nobody owns are `unmanaged`.
 */
export function computePlan(target: string, desired: DesiredNode, live: LiveNode): Plan {
  const inv = live.inventory;
  const deployed = new Map((inv?.resources ?? []).map((r) => [key(r.kind, r.identity), r]));
  const wanted = new Map(desired.resources.map((r) => [key(r.kind, r.identity), r]));
  const changes = new Map<string, ResourceChange>();

  for (const [k, r] of wanted) {
    const before = deployed.get(k);
    const attrs = attributeChanges(before?.attributes, r.attributes);
    if (before && attrs.length === 0) continue;
    const action: PlanAction = !before ? 'create' : needsReplace(r.kind, attrs) ? 'replace' : 'update';
    changes.set(k, { action, kind: r.kind, identity: r.identity, label: r.label, changes: attrs, drift: [] });
  }
  for (const [k, r] of deployed) {
    if (!wanted.has(k)) changes.set(k, { action: 'delete', kind: r.kind, identity: r.identity, label: r.label, changes: attributeChanges(r.attributes, {}), drift: [] });
  }

  // Drift: the node differs from what was deployed. A node without an inventory has nothing
  // deployed: only what it does hold is compared with desired (below); absent entries are creates.
  const expected = new Map((inv?.entries ?? []).map((e) => [e.id, e]));
  const desiredById = new Map(desired.entries.map((e) => [e.id, e]));
  const unmanaged: DriftEntry[] = [];
  const attach = (owner: string, d: DriftEntry) => {
    const slash = owner.indexOf('/');
    const kind = owner.slice(0, slash);
    const identity = owner.slice(slash + 1);
    const k = kind === 'Pbx' ? key('Pbx', desired.pbx.name) : owner;
    let c = changes.get(k);
    if (!c) {
      const r = wanted.get(k) ?? deployed.get(k);
      c = { action: 'update', kind: r?.kind ?? kind, identity: r?.identity ?? identity, label: r?.label ?? identity, changes: [], drift: [] };
      changes.set(k, c);
    }
    c.drift.push(d);
  };
  for (const e of expected.values()) {
    const l = live.entries.get(e.id);
    if (l === e.value) continue;
    const d: DriftEntry = { id: e.id, expected: e.sensitive ? undefined : e.value, live: e.sensitive ? undefined : l };
    if (e.sensitive) d.sensitive = true;
    if (!e.sensitive && l === undefined) delete d.live;
    attach(e.owner, d);
  }
  for (const [id, l] of live.entries) {
    if (expected.has(id)) continue;
    const owner = desiredById.get(id);
    if (owner && owner.value === l) continue; // already what we want (e.g. a lost inventory)
    if (owner) attach(owner.owner, { id, expected: owner.sensitive ? undefined : owner.value, live: owner.sensitive ? undefined : l, ...(owner.sensitive ? { sensitive: true } : {}) });
    else unmanaged.push({ id, live: isSecretEntry(id) ? undefined : l, ...(isSecretEntry(id) ? { sensitive: true } : {}) });
  }

  // Node data that changes although no attribute did (a newer pbxctl renders a resource
  // differently): without this, such a plan would be empty and the node would keep the old data.
  if (inv) {
    const deployedData = new Map(inv.entries.map((e) => [e.id, e]));
    const rerendered = new Map<string, number>();
    const count = (owner: string) => rerendered.set(owner, (rerendered.get(owner) ?? 0) + 1);
    for (const e of desired.entries) if (deployedData.get(e.id)?.value !== e.value) count(e.owner);
    for (const e of inv.entries) if (!desiredById.has(e.id)) count(e.owner);
    for (const [owner, n] of rerendered) {
      const k = owner.startsWith('Pbx/') ? key('Pbx', desired.pbx.name) : owner;
      if (changes.has(k) || !wanted.has(k)) continue; // explained by attribute changes, or deleted
      const r = wanted.get(k)!;
      changes.set(k, { action: 'update', kind: r.kind, identity: r.identity, label: r.label, changes: [], drift: [], rerendered: n });
    }
  }

  const order = ['Pbx', 'Extension', 'RingGroup', 'Queue', 'IVR', 'Conference', 'Trunk', 'InboundRoute', 'OutboundRoute', 'Schedule', 'MusicOnHold', 'Webhook', 'VoicemailSettings'];
  const list = [...changes.values()].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0));
  const summary = { create: 0, update: 0, delete: 0, replace: 0 };
  for (const c of list) summary[c.action]++;
  const plan: Plan = {
    formatVersion: 1,
    target,
    pbx: desired.pbx,
    liveHash: stableHash({ release: inv?.release ?? null, entries: live.entries }),
    desiredHash: stableHash({ resources: desired.resources, entries: desired.entries }),
    changes: list,
    unmanaged: unmanaged.sort((a, b) => (a.id < b.id ? -1 : 1)),
    summary,
  };
  if (inv) plan.fromRelease = inv.release;
  if (desired.commit) plan.commit = desired.commit;
  return plan;
}
