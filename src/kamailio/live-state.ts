/**
 * Reads the live node data from Kamailio's RPC dumps and maps it to NodeEntry form
 * (docs/node-data.md), in a fixed number of requests however many extensions there are:
 * one `htable.dump` per pbxctl htable, `dispatcher.list`, `permissions.addressDump`,
 * `permissions.subnetDump`, `uac.reg_dump`. Reply shapes as observed on Kamailio 5.6.
 */
import { HTABLES, uacRegValue, type HtableName } from '../compile/node-data.js';
import { KamailioRpcError, type KamailioRpc } from './rpc-client.js';

interface HtableDumpBucket {
  entry: number;
  size: number;
  slot?: { name: string; value: string | number; type: 'str' | 'int' }[];
}

interface DispatcherListResult {
  NRSETS?: number;
  RECORDS?: { SET: { ID: number; TARGETS?: { DEST: { URI: string; FLAGS: string; PRIORITY: number; ATTRS?: { BODY?: string | null } } }[] } }[];
}

interface PermissionsItem {
  group: number;
  item: { ip: string; mask?: number; port: number; tag?: string | null };
}

/** One record of `uac.reg_dump` (5.6; NULL columns come as null; also timers and state flags). */
interface UacRegRecord {
  l_uuid: string;
  l_username: string;
  l_domain: string | null;
  r_username: string;
  r_domain: string;
  realm: string | null;
  auth_username: string;
  auth_password: string;
  auth_proxy: string | null;
  expires: number;
}

/** The live entries of one htable: `htable/<name>/<key>` -> `str:v` / `int:n`. */
export async function readHtable(rpc: KamailioRpc, name: HtableName): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const buckets = await rpc.call<HtableDumpBucket[]>('htable.dump', [name]);
  for (const b of buckets ?? []) {
    for (const s of b.slot ?? []) out.set(`htable/${name}/${s.name}`, s.type === 'int' ? `int:${s.value}` : `str:${s.value}`);
  }
  return out;
}

/** Dispatcher destinations: `dispatcher/<set>/<uri>` -> `prio=P;attrs=BODY`. */
export async function readDispatcher(rpc: KamailioRpc): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let res: DispatcherListResult;
  try {
    res = await rpc.call<DispatcherListResult>('dispatcher.list');
  } catch (e) {
    // An empty list file leaves the dispatcher with no sets; 5.6 answers that with an error.
    if (e instanceof KamailioRpcError && /no destination sets/i.test(e.message)) return out;
    throw e;
  }
  for (const r of res?.RECORDS ?? []) {
    for (const t of r.SET.TARGETS ?? []) {
      out.set(`dispatcher/${r.SET.ID}/${t.DEST.URI}`, `prio=${t.DEST.PRIORITY};attrs=${t.DEST.ATTRS?.BODY ?? ''}`);
    }
  }
  return out;
}

/** Trusted source addresses: `address/<grp>/<ip>/<mask>/<port>` -> `tag=TAG`. */
export async function readAddresses(rpc: KamailioRpc): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const [single, subnets] = await Promise.all([
    rpc.call<PermissionsItem[]>('permissions.addressDump'),
    rpc.call<PermissionsItem[]>('permissions.subnetDump'),
  ]);
  for (const a of single ?? []) {
    const mask = a.item.ip.includes(':') ? 128 : 32;
    out.set(`address/${a.group}/${a.item.ip}/${mask}/${a.item.port}`, `tag=${a.item.tag ?? ''}`);
  }
  for (const a of subnets ?? []) out.set(`address/${a.group}/${a.item.ip}/${a.item.mask ?? 32}/${a.item.port}`, `tag=${a.item.tag ?? ''}`);
  return out;
}

/**
 * Registrations to carriers held by the uac module: `uacreg/<l_uuid>` -> the canonical row value
 * (it holds the trunk password: pbxctl treats these entries as sensitive and never prints them).
 */
export async function readUacReg(rpc: KamailioRpc): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const records = await rpc.call<UacRegRecord[]>('uac.reg_dump');
  for (const r of records ?? []) {
    out.set(`uacreg/${r.l_uuid}`, uacRegValue({
      l_username: r.l_username, l_domain: r.l_domain ?? '', r_username: r.r_username, r_domain: r.r_domain, realm: r.realm ?? '',
      auth_username: r.auth_username, auth_password: r.auth_password, auth_proxy: r.auth_proxy ?? '', expires: r.expires,
    }));
  }
  return out;
}

/** Every live entry of the tables pbxctl owns. */
export async function readLiveEntries(rpc: KamailioRpc): Promise<Map<string, string>> {
  const parts = await Promise.all([
    ...(Object.keys(HTABLES) as HtableName[]).map((n) => readHtable(rpc, n)),
    readDispatcher(rpc),
    readAddresses(rpc),
    readUacReg(rpc),
  ]);
  const out = new Map<string, string>();
  for (const p of parts) for (const [k, v] of p) out.set(k, v);
  return out;
}
