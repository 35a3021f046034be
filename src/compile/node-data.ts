/**
 * Compiles the desired state into the node's data: the entries of the htables, dispatcher sets and
 * permission address rows that the static Kamailio script reads (docs/node-data.md).
 * Pure: secrets come through `secret`, stable ids through `allocation`.
 */
import { createHash } from 'node:crypto';
import { compileDialPattern } from '../model/dial-pattern.js';
import { parseDestination } from '../model/destination.js';
import { routeOrder } from '../model/outbound.js';
import type { DesiredState, Extension, Trunk } from '../model/types.js';
import { DEFAULT_FEATURE_CODES } from '../config/checks/identity.js';

/** Owner key of a resource: `Kind/identity` (`Extension/1001`); `Pbx/...` for repo-wide data. */
export type OwnerKey = string;

/**
 * One fact on the node, comparable with what Kamailio's RPC dumps return.
 * id: `htable/<table>/<key>`, `dispatcher/<set>/<uri>`, `address/<grp>/<ip>/<mask>/<port>`,
 * `uacreg/<trunk id>`.
 * value: canonical text (`str:...`/`int:...` for htables; `prio=..;attrs=..` dispatcher; `tag=..` address;
 * `json:{...}` uacreg, see {@link UacRegRow}).
 */
export interface NodeEntry {
  id: string;
  owner: OwnerKey;
  value: string;
  /** The value must never be printed (HA1 hashes, trunk passwords). */
  sensitive?: boolean;
}

/** Stable numeric ids that must not change between applies: trunk permission groups, route dispatcher sets. */
export interface Allocation {
  trunkGroups: Record<string, number>;
  routeSets: Record<string, number>;
}

/** The htables pbxctl owns (name -> db_text table), in docs/node-data.md. */
export const HTABLES = { auth: 'pbx_auth', ext: 'pbx_ext', dial: 'pbx_dial', did: 'pbx_did', outbound: 'pbx_outbound', trunk: 'pbx_trunk' } as const;
export type HtableName = keyof typeof HTABLES;

/**
 * One row of the uac module's `uacreg` table (a registration trunk), as the value of a
 * `uacreg/<trunk id>` entry: `json:` + JSON.stringify of these fields in this order. l_uuid is the
 * trunk id (the entry id); empty strings are NULL in the table. Holds the password: such entries
 * are always sensitive.
 */
export interface UacRegRow {
  l_username: string;
  l_domain: string;
  r_username: string;
  r_domain: string;
  realm: string;
  auth_username: string;
  auth_password: string;
  auth_proxy: string;
  expires: number;
}

/** The canonical entry value of a uacreg row (field order fixed, so values compare as text). */
export function uacRegValue(r: UacRegRow): string {
  const ordered: UacRegRow = {
    l_username: r.l_username, l_domain: r.l_domain, r_username: r.r_username, r_domain: r.r_domain, realm: r.realm,
    auth_username: r.auth_username, auth_password: r.auth_password, auth_proxy: r.auth_proxy, expires: r.expires,
  };
  return `json:${JSON.stringify(ordered)}`;
}

/** Resolves a secret reference to its value. @throws PbxError SECRET_UNRESOLVED */
export type SecretValue = (ref: string) => string;

/** Digest HA1 = MD5(username ":" realm ":" password), hex (RFC 2617 §3.2.2.2, RFC 3261 §22.4). */
export function ha1(username: string, realm: string, password: string): string {
  return createHash('md5').update(`${username}:${realm}:${password}`).digest('hex');
}

/**
 * Keeps ids of trunks/routes that still exist and gives new ones the lowest free numbers,
 * so a reload never renumbers what is live.
 */
export function allocate(state: DesiredState, previous?: Allocation): Allocation {
  const pick = (ids: string[], prev: Record<string, number> = {}) => {
    const out: Record<string, number> = {};
    const used = new Set<number>();
    for (const id of ids) if (prev[id] !== undefined) { out[id] = prev[id]!; used.add(prev[id]!); }
    let next = 1;
    for (const id of ids) {
      if (out[id] !== undefined) continue;
      while (used.has(next)) next++;
      out[id] = next;
      used.add(next);
    }
    return out;
  };
  return {
    trunkGroups: pick([...state.trunks.keys()].sort(), previous?.trunkGroups),
    routeSets: pick([...state.outboundRoutes.keys()].sort(), previous?.routeSets),
  };
}

/**
 * `a=1;b=2` attribute strings, read by the script with `{param.value,NAME}` — Kamailio's SIP
 * parameter parser (RFC 3261 §25.1 generic-param). So: empty values are left out (an empty one
 * makes every later read empty), and values with anything but token characters are quoted, with
 * `"` and `\` removed (the parser has no escapes inside quotes).
 */
export function attrs(pairs: Record<string, string | number | undefined>): string {
  return Object.entries(pairs)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => {
      const text = String(v);
      return /^[A-Za-z0-9+\-._:!%*~']+$/.test(text) ? `${k}=${text}` : `${k}="${text.replace(/["\\]/g, '')}"`;
    })
    .join(';');
}

/**
 * Dispatcher attrs (`trunk=..;cidname=..`): as {@link attrs}, but a value with anything besides
 * token characters is percent-encoded (RFC 3261 §25.1 `escaped`, UTF-8 bytes) instead of quoted.
 * dispatcher's list file ends a destination's attrs at the first whitespace (ds_load_list), and
 * on 5.6 a quoted value cut there fails to parse and drops the whole destination: a trunk whose
 * caller-ID name has a space would lose its hosts. The script decodes such values with
 * `{s.unescape.param}` (docs/node-data.md "dispatcher"); `"` and `\` are removed as in attrs().
 */
export function dispatcherAttrs(pairs: Record<string, string | number | undefined>): string {
  return Object.entries(pairs)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${escapeAttrValue(String(v).replace(/["\\]/g, ''))}`)
    .join(';');
}

/** `%` and every byte outside `A-Za-z0-9 - . ! * _ + ~ ' :` as %XX (uppercase hex). */
function escapeAttrValue(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-.!*_+~':]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A trunk's hosts in failover order: lowest `priority` first (stable for equal priorities). */
export function hostsByPriority(t: Trunk): Trunk['hosts'] {
  return [...t.hosts].sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0));
}

/** The Kamailio SIP URI of a trunk host (RFC 3261 §19.1.1; transport param when not UDP). */
export function hostUri(h: Trunk['hosts'][number]): string {
  const host = h.host.includes(':') && !h.host.startsWith('[') ? `[${h.host}]` : h.host;
  return `sip:${host}:${h.port ?? 5060}${h.transport && h.transport !== 'udp' ? `;transport=${h.transport}` : ''}`;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Compiles the node entries.
 * @throws PbxError SECRET_UNRESOLVED (from `secret`) when a password has no value
 */
export function compileNodeData(state: DesiredState, secret: SecretValue, allocation: Allocation): NodeEntry[] {
  const out: NodeEntry[] = [];
  const ht = (table: HtableName, key: string, value: string | number, owner: OwnerKey, sensitive = false) => {
    // db_text reads an empty field as NULL, which a non-null column rejects (the whole table then
    // fails to load). An empty value is written as no key: the script reads a missing key as empty.
    if (value === '') return;
    const e: NodeEntry = { id: `htable/${table}/${key}`, owner, value: typeof value === 'number' ? `int:${value}` : `str:${value}` };
    if (sensitive) e.sensitive = true;
    out.push(e);
  };
  const pbx = state.pbx;
  const defaults = pbx.defaults ?? {};

  for (const e of state.extensions.values()) {
    const owner = `Extension/${e.number}`;
    ht('auth', e.number, ha1(e.number, pbx.domain, secret(e.password)), owner, true);
    ht('ext', e.number, attrs({
      maxc: e.maxContacts ?? defaults.maxContacts ?? 3,
      class: e.outboundClass ?? defaults.outboundClass ?? '',
      cid: e.callerId?.external?.number ?? '',
      cidname: e.callerId?.external?.name ?? '',
      ...forwardAttrs(e, defaults.ringTimeout ?? DEFAULT_RING_TIMEOUT_S),
    }), owner);
    ht('dial', e.number, attrs({ t: 'ext', ext: e.number }), owner);
  }
  const feature = (number: string | undefined, dest: string, owner: OwnerKey) => {
    if (number !== undefined) ht('dial', number, attrs({ t: 'feature', dest }), owner);
  };
  for (const g of state.ringGroups.values()) feature(g.number, `ring-group:${g.id}`, `RingGroup/${g.id}`);
  for (const q of state.queues.values()) feature(q.number, `queue:${q.id}`, `Queue/${q.id}`);
  for (const i of state.ivrs.values()) feature(i.number, `ivr:${i.id}`, `IVR/${i.id}`);
  for (const c of state.conferences.values()) feature(c.number, `conference:${c.id}`, `Conference/${c.id}`);
  for (const [name, code] of Object.entries({ ...DEFAULT_FEATURE_CODES, ...pbx.numberPlan.featureCodes })) {
    feature(code, `feature:${name}`, 'Pbx/feature-codes');
  }

  for (const r of state.inboundRoutes.values()) {
    const d = r.destination ? parseDestination(r.destination) : undefined;
    const target = d?.type === 'extension' ? { t: 'ext', ext: d.ref } : { t: 'feature', dest: r.destination ?? `route:${r.id}` };
    for (const did of r.dids) ht('did', did, attrs({ ...target, trunk: r.trunk }), `InboundRoute/${r.id}`);
  }

  const routes = routeOrder(state.outboundRoutes.values());
  ht('outbound', 'count', routes.length, 'Pbx/outbound-order');
  routes.forEach((r, n) => {
    const owner = `OutboundRoute/${r.id}`;
    const re = r.patterns.map((p) => `(?:${compileDialPattern(p).regex.source})`).join('|');
    ht('outbound', `${n}.id`, r.id, owner);
    ht('outbound', `${n}.re`, re, owner);
    ht('outbound', `${n}.strip`, r.strip ?? 0, owner);
    ht('outbound', `${n}.prepend`, r.prepend ?? '', owner);
    ht('outbound', `${n}.set`, allocation.routeSets[r.id]!, owner);
    ht('outbound', `${n}.classes`, (r.classes ?? []).join(','), owner);
    ht('outbound', `${n}.emergency`, r.emergency ? 1 : 0, owner);
    // Dispatcher set: the route's trunks' hosts in failover order, highest priority first.
    // Attrs: the trunk (its credentials for a carrier's challenge), how it wants numbers
    // written (fmt/cc/np/ip) and its caller ID (cid/cidname), applied per branch by the script;
    // nothing secret.
    const hosts = r.trunks.flatMap((id) => {
      const t = state.trunks.get(id)!;
      return hostsByPriority(t).map((h) => ({ h, trunk: t }));
    });
    hosts.forEach(({ h, trunk }, i) => {
      out.push({ id: `dispatcher/${allocation.routeSets[r.id]}/${hostUri(h)}`, owner, value: `prio=${hosts.length - i};attrs=${dispatcherAttrs({ trunk: trunk.id, weight: h.weight ?? 100, ...outboundFormat(trunk), cid: trunk.callerId?.number, cidname: trunk.callerId?.name })}` });
    });
  });

  for (const t of state.trunks.values()) {
    const owner = `Trunk/${t.id}`;
    const grp = allocation.trunkGroups[t.id]!;
    const f = t.numberFormat;
    ht('trunk', String(grp), attrs({ id: t.id, in: f?.inbound ?? 'auto', cc: f?.country ?? '', np: f?.nationalPrefix ?? '0', ip: f?.internationalPrefix ?? '00' }), owner);
    const sources = t.auth.type === 'ip' ? t.auth.addresses : t.hosts.map((h) => h.host).filter((h) => IPV4.test(h));
    for (const src of sources) {
      const [ip, maskText] = src.split('/') as [string, string?];
      const mask = maskText !== undefined ? Number(maskText) : ip.includes(':') ? 128 : 32;
      out.push({ id: `address/${grp}/${ip}/${mask}/0`, owner, value: `tag=${t.id}` });
    }
    if (t.auth.type === 'registration') {
      // uac registers to the first host by priority and answers challenges from this row too.
      const registrar = hostsByPriority(t)[0]!;
      const host = registrar.host.includes(':') && !registrar.host.startsWith('[') ? `[${registrar.host}]` : registrar.host;
      const value = uacRegValue({
        l_username: t.auth.username,
        l_domain: '',
        r_username: t.auth.username,
        r_domain: (registrar.port ?? 5060) === 5060 ? host : `${host}:${registrar.port}`,
        realm: t.auth.realm ?? '',
        auth_username: t.auth.username,
        auth_password: secret(t.auth.password),
        auth_proxy: hostUri(registrar),
        expires: t.auth.expiry ?? 3600,
      });
      out.push({ id: `uacreg/${t.id}`, owner, value, sensitive: true });
    }
  }
  return out;
}

/** Seconds an extension rings before its no-answer forward when neither it nor pbx.yaml says (as the daemon's config). */
export const DEFAULT_RING_TIMEOUT_S = 20;

/**
 * The `ext` attrs telling Kamailio when a call it relays to the extension itself goes to the
 * feature daemon instead (docs/node-data.md "Forwards"): `fwd` = the letters of the forwards the
 * extension has (`a` always, `b` busy, `n` no answer, `u` unavailable; any destination: the daemon
 * resolves it), `rto` = seconds of ringing before the no-answer forward (only with `n`), `dnd=1` =
 * do-not-disturb. All absent for an extension without forwards or DND, whose calls stay in Kamailio.
 * @param ringTimeoutS the pbx default no-answer timeout, seconds
 */
export function forwardAttrs(e: Extension, ringTimeoutS: number): Record<string, string | number | undefined> {
  const f = e.forward ?? {};
  const fwd = `${f.always ? 'a' : ''}${f.busy ? 'b' : ''}${f.noAnswer ? 'n' : ''}${f.unavailable ? 'u' : ''}`;
  return { fwd, rto: f.noAnswer ? e.noAnswerTimeout ?? ringTimeoutS : undefined, dnd: e.doNotDisturb ? 1 : undefined };
}

/**
 * The dispatcher attrs saying how a trunk wants called numbers (docs/node-data.md "dispatcher"):
 * `fmt` only when not E.164, with `cc`/`np`/`ip` for `national` (defaults as for inbound: np 0, ip 00).
 */
function outboundFormat(t: Trunk): Record<string, string | undefined> {
  const f = t.numberFormat;
  const fmt = f?.outbound ?? 'e164';
  if (fmt === 'e164') return {};
  if (fmt === 'e164-no-plus') return { fmt };
  return { fmt, cc: f?.country, np: f?.nationalPrefix ?? '0', ip: f?.internationalPrefix ?? '00' };
}
