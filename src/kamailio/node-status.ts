/**
 * Live node status from Kamailio RPC: registered contacts (`ul.dump`, usrloc module) and trunk
 * destination states (`dispatcher.list`), with the deployed release from the node's inventory.
 */
import type { Inventory } from '../plan/types.js';
import type { KamailioRpc } from './rpc-client.js';

/** One registered contact (usrloc), RFC 3261 §10. */
export interface RegisteredContact {
  address: string;
  /**
   * Seconds until the binding expires; `null` for a permanent one (never expires). A binding usrloc
   * already marked expired or deleted, not yet removed by its timer, reads 0 (ul.dump prints the
   * words `permanent`, `expired`, `deleted` instead of a number: usrloc ul_rpc.c).
   */
  expires: number | null;
  userAgent?: string;
  /** Source address when behind NAT (`received`), else undefined. */
  received?: string;
  socket?: string;
}

interface UlDump {
  Domains?: { Domain: { Domain: string; AoRs?: { Info: { AoR: string; Contacts?: { Contact: Record<string, unknown> }[] } }[] } }[];
}

const notSet = (v: unknown) => (typeof v === 'string' && v !== '[not set]' ? v : undefined);

/** ul.dump's `Expires`: seconds left, or `permanent` / `expired` / `deleted`. */
export function contactExpires(v: unknown): number | null {
  if (v === 'permanent') return null;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? Math.round(n) : 0;
}

/** Registered contacts per AOR (extension number) from `ul.dump`. */
export async function readRegistrations(rpc: KamailioRpc): Promise<Map<string, RegisteredContact[]>> {
  const out = new Map<string, RegisteredContact[]>();
  const dump = await rpc.call<UlDump>('ul.dump');
  for (const d of dump?.Domains ?? []) {
    for (const a of d.Domain.AoRs ?? []) {
      const list = (a.Info.Contacts ?? []).map(({ Contact: c }) => {
        const contact: RegisteredContact = { address: String(c.Address), expires: contactExpires(c.Expires) };
        const ua = notSet(c['User-Agent']);
        const received = notSet(c.Received);
        const socket = notSet(c.Socket);
        if (ua) contact.userAgent = ua;
        if (received) contact.received = received;
        if (socket) contact.socket = socket;
        return contact;
      });
      out.set(a.Info.AoR.replace(/@.*$/, ''), list);
    }
  }
  return out;
}

/** A trunk destination and its dispatcher state. */
export interface TrunkDestination {
  set: number;
  uri: string;
  trunk?: string;
  /** dispatcher FLAGS: A active, I inactive, D disabled, T trying, P probing (X: not set). */
  state: 'active' | 'inactive' | 'disabled' | 'trying' | 'unknown';
  flags: string;
}

interface DsList {
  RECORDS?: { SET: { ID: number; TARGETS?: { DEST: { URI: string; FLAGS: string; ATTRS?: { BODY?: string | null } } }[] } }[];
}

/** Trunk destinations from `dispatcher.list` (none when the node has no outbound routes). */
export async function readTrunkDestinations(rpc: KamailioRpc): Promise<TrunkDestination[]> {
  const res = await rpc.call<DsList>('dispatcher.list').catch(() => undefined);
  const out: TrunkDestination[] = [];
  for (const r of res?.RECORDS ?? []) {
    for (const t of r.SET.TARGETS ?? []) {
      const f = t.DEST.FLAGS ?? '';
      const state = f.startsWith('A') ? 'active' : f.startsWith('I') ? 'inactive' : f.startsWith('D') ? 'disabled' : f.startsWith('T') ? 'trying' : 'unknown';
      const trunk = /(?:^|;)trunk=([^;]*)/.exec(t.DEST.ATTRS?.BODY ?? '')?.[1];
      out.push({ set: r.SET.ID, uri: t.DEST.URI, state, flags: f, ...(trunk ? { trunk } : {}) });
    }
  }
  return out;
}

/** What `pbxctl status` reports. */
export interface NodeStatus {
  target: string;
  kamailio: { version: string; uptimeSec?: number };
  release?: string;
  commit?: string;
  appliedAt?: string;
  appliedBy?: string;
  extensions: { number: string; label: string; contacts: RegisteredContact[] }[];
  /** Registered AORs that are not configured extensions (stale or foreign). */
  unknownRegistrations: string[];
  registered: number;
  configured: number;
  trunks: TrunkDestination[];
  /**
   * Call and registration events Kamailio holds for the feature daemon because no evapi client is
   * connected (mqueue `evspool`, docs/cdr.md); absent on a node whose script has no spool.
   */
  eventSpool?: number;
}

/** Collects the node status in five RPC requests plus the inventory read. */
export async function nodeStatus(target: string, rpc: KamailioRpc, inventory: Inventory | undefined): Promise<NodeStatus> {
  const [version, uptime, regs, trunks, spool] = await Promise.all([
    rpc.call<string>('core.version'),
    rpc.call<{ uptime?: number }>('core.uptime').catch(() => undefined),
    readRegistrations(rpc),
    readTrunkDestinations(rpc),
    // mqueue docs "mqueue.get_size": {name, size}; an older script has no spool (RPC error).
    rpc.call<{ size?: number }>('mqueue.get_size', ['evspool']).catch(() => undefined),
  ]);
  const exts = (inventory?.resources ?? []).filter((r) => r.kind === 'Extension');
  const configured = new Set(exts.map((e) => e.identity));
  const status: NodeStatus = {
    target,
    kamailio: { version: String(version).trim(), ...(typeof uptime?.uptime === 'number' ? { uptimeSec: uptime.uptime } : {}) },
    extensions: exts.map((e) => ({ number: e.identity, label: e.label, contacts: regs.get(e.identity) ?? [] })),
    unknownRegistrations: [...regs.keys()].filter((aor) => !configured.has(aor)).sort(),
    registered: exts.filter((e) => (regs.get(e.identity) ?? []).length > 0).length,
    configured: exts.length,
    trunks,
    ...(typeof spool?.size === 'number' ? { eventSpool: spool.size } : {}),
  };
  if (inventory) Object.assign(status, { release: inventory.release, appliedAt: inventory.appliedAt, appliedBy: inventory.appliedBy, ...(inventory.commit ? { commit: inventory.commit } : {}) });
  return status;
}
