/**
 * Renders node entries into the files of a release directory (docs/node-data.md): db_text tables
 * for the htables, the permissions address table and the uac registrations table (uacreg),
 * dispatcher.list, and the feature daemon's daemon/features.json. Says which reload makes the
 * node pick up each file. Pure.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { HTABLE_COLUMNS, renderDbTextTable, type DbTextColumn, type DbTextRow } from './db-text.js';
import type { FeatureConfig } from '../daemon/config-types.js';
import { DAEMON_SECRETS_PATH } from '../daemon/secrets-types.js';
import { FEATURE_CONFIG_FILE } from './feature-entries.js';
import { HTABLES, type HtableName, type NodeEntry, type UacRegRow } from './node-data.js';

/** Table versions the Kamailio 5.6 modules check (kamctl dbtext `version` file: address 6, uacreg 5). */
export const TABLE_VERSIONS: Record<string, number> = { address: 6, uacreg: 5 };

/** The uac module's `uacreg` table, version 5 (Kamailio 5.6 kamctl dbtext schema); empty = NULL. */
const UACREG_COLUMNS: readonly DbTextColumn[] = [
  { name: 'id', type: 'int' },
  { name: 'l_uuid', type: 'str' },
  { name: 'l_username', type: 'str' },
  { name: 'l_domain', type: 'str', nullable: true },
  { name: 'r_username', type: 'str' },
  { name: 'r_domain', type: 'str' },
  { name: 'realm', type: 'str', nullable: true },
  { name: 'auth_username', type: 'str' },
  { name: 'auth_password', type: 'str' },
  { name: 'auth_ha1', type: 'str', nullable: true },
  { name: 'auth_proxy', type: 'str', nullable: true },
  { name: 'expires', type: 'int' },
  { name: 'flags', type: 'int' },
  { name: 'reg_delay', type: 'int' },
  { name: 'contact_addr', type: 'str', nullable: true },
  { name: 'socket', type: 'str', nullable: true },
];

const ADDRESS_COLUMNS: readonly DbTextColumn[] = [
  { name: 'id', type: 'int' },
  { name: 'grp', type: 'int' },
  { name: 'ip_addr', type: 'str' },
  { name: 'mask', type: 'int' },
  { name: 'port', type: 'int' },
  { name: 'tag', type: 'str', nullable: true },
];

/** A release file: path relative to the release directory, its content, and its mode when not the default 0640. */
export interface ReleaseFile {
  path: string;
  content: string;
  /** File mode; 0600 for files holding secrets in clear (db/uacreg: trunk passwords). */
  mode?: number;
}

/**
 * Which reload a file needs when its content changes: a Kamailio RPC, or `daemon.reload` (the
 * feature daemon's POST /v1/config/reload, done after the Kamailio reloads: Kamailio must already
 * route to what the new config serves).
 */
export type ReloadAction =
  | { rpc: 'htable.reload'; table: string }
  | { rpc: 'dispatcher.reload' }
  | { rpc: 'permissions.addressReload' }
  | { rpc: 'uac.reg_reload' }
  | { rpc: 'daemon.reload' };

/**
 * The reload that makes the node pick up `path`, or undefined for files nothing reloads (db/version,
 * inventory.json, prompts/<id>: prompt ids are content hashes, so a changed prompt is a new id in a
 * changed daemon/features.json, which is what reloads the daemon).
 */
export function reloadFor(path: string): ReloadAction | undefined {
  const ht = Object.entries(HTABLES).find(([, table]) => path === `db/${table}`);
  if (ht) return { rpc: 'htable.reload', table: ht[0] };
  if (path === 'dispatcher.list') return { rpc: 'dispatcher.reload' };
  if (path === 'db/address') return { rpc: 'permissions.addressReload' };
  if (path === 'db/uacreg') return { rpc: 'uac.reg_reload' };
  // The secrets document: its salted hash is in features.json too, so a change reloads once either way.
  if (path === FEATURE_CONFIG_FILE || path === DAEMON_SECRETS_PATH) return { rpc: 'daemon.reload' };
  return undefined;
}

/** The release file holding an entry, by its id; undefined for an unknown kind. */
export function fileOfEntry(id: string): string | undefined {
  const [kind, name] = id.split('/');
  if (kind === 'htable') return name && name in HTABLES ? `db/${HTABLES[name as HtableName]}` : undefined;
  if (kind === 'dispatcher') return 'dispatcher.list';
  if (kind === 'address') return 'db/address';
  if (kind === 'uacreg') return 'db/uacreg';
  if (kind === 'feature') return FEATURE_CONFIG_FILE;
  return undefined;
}

/**
 * daemon/features.json of a release: the compiled feature config as pretty JSON with a final
 * newline (readable on the node; the daemon parses it with config-types.ts parseFeatureConfig).
 * No secrets are in it (feature-config.ts), so it keeps the default mode.
 */
export function renderFeatureConfigFile(config: FeatureConfig): ReleaseFile {
  return { path: FEATURE_CONFIG_FILE, content: `${JSON.stringify(config, null, 2)}\n` };
}

/** Parses an entry id into its parts; see NodeEntry. */
export function splitEntryId(id: string): string[] {
  const [kind, a, ...rest] = id.split('/');
  if (kind === 'htable') return [kind, a!, rest.join('/')];
  if (kind === 'dispatcher') return [kind, a!, rest.join('/')];
  if (kind === 'uacreg') return [kind, [a, ...rest].join('/')];
  return [kind!, a!, ...rest];
}

function attrsOf(value: string, key: string): string {
  const m = new RegExp(`(?:^|;)${key}=([^;]*)`).exec(value);
  return m?.[1] ?? '';
}

/**
 * Renders every file of a release from its entries. Rows are sorted by key so that the same
 * state always gives byte-identical files (content hashes decide what to reload).
 */
export function renderReleaseFiles(entries: readonly NodeEntry[]): ReleaseFile[] {
  const htRows = new Map<HtableName, DbTextRow[]>(Object.keys(HTABLES).map((k) => [k as HtableName, []]));
  const dispatcher: string[] = [];
  const address: DbTextRow[] = [];
  const uacreg: DbTextRow[] = [];
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const e of sorted) {
    const [kind, a, b, c, d] = splitEntryId(e.id);
    if (kind === 'htable') {
      const isInt = e.value.startsWith('int:');
      htRows.get(a as HtableName)!.push([b!, 0, isInt ? 1 : 0, e.value.slice(4), 0]);
    } else if (kind === 'dispatcher') {
      // dispatcher.list: setid destination flags priority attrs (dispatcher module docs, "list_file").
      const prio = attrsOf(e.value, 'prio');
      const attrs = e.value.slice(e.value.indexOf('attrs=') + 6);
      // Flag 16: resolve a host name when routing, not when loading the list; otherwise Kamailio
      // drops a destination whose name does not resolve at reload time (dispatcher pack_dest()).
      const host = /^sips?:\[?([^\]]+?)\]?:\d+/.exec(b!)?.[1] ?? '';
      const flags = isIP(host) ? 0 : 16;
      dispatcher.push(`${a} ${b} ${flags} ${prio} ${attrs}`);
    } else if (kind === 'address') {
      address.push([address.length + 1, Number(a), b!, Number(c), Number(d), e.value.slice(4)]);
    } else if (kind === 'uacreg') {
      const r = JSON.parse(e.value.slice('json:'.length)) as UacRegRow;
      const orNull = (v: string) => (v === '' ? null : v);
      uacreg.push([uacreg.length + 1, a!, r.l_username, orNull(r.l_domain), r.r_username, r.r_domain, orNull(r.realm), r.auth_username, r.auth_password, null, orNull(r.auth_proxy), r.expires, 0, 0, null, null]);
    }
  }
  const files: ReleaseFile[] = [];
  for (const [name, table] of Object.entries(HTABLES)) files.push({ path: `db/${table}`, content: renderDbTextTable(HTABLE_COLUMNS, htRows.get(name as HtableName)!) });
  files.push({ path: 'db/address', content: renderDbTextTable(ADDRESS_COLUMNS, address) });
  // Trunk passwords in clear (uac needs them to answer challenges): readable by the owner only.
  files.push({ path: 'db/uacreg', content: renderDbTextTable(UACREG_COLUMNS, uacreg), mode: 0o600 });
  files.push({ path: 'db/version', content: renderDbTextTable([{ name: 'table_name', type: 'str' }, { name: 'table_version', type: 'int' }], Object.entries(TABLE_VERSIONS).map(([t, v]) => [t, v])) });
  files.push({ path: 'dispatcher.list', content: `# Generated by pbxctl: one set per outbound route (docs/node-data.md)\n${dispatcher.join('\n')}${dispatcher.length ? '\n' : ''}` });
  return files;
}

/** sha256 of a file's content, hex; inventories and plans compare files by it. */
export function contentHash(content: string): string {
  return createHash('sha256').update(content).digest('hex');
}
