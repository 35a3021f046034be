/**
 * The feature daemon's config as node entries, so plan and apply treat it like Kamailio's data:
 * one entry per feature record, `feature/<section>/<key>` with value `sha:<16 hex>` (sha256 of the
 * record's canonical JSON), owned by the resource it came from. The daemon reports the same hashes
 * of the config it runs (GET /v1/config `entries`), which is the live side: a plan shows exactly
 * which IVRs, ring groups, schedules... change, and a daemon running something else shows as drift.
 * Pure; the daemon computes the hashes with the same function.
 */
import { createHash } from 'node:crypto';
import type { NodeEntry } from './node-data.js';
import { canonicalJson, type FeatureConfig } from '../daemon/config-types.js';

/** The release file every `feature/...` entry lives in. */
export const FEATURE_CONFIG_FILE = 'daemon/features.json';

const hash = (v: unknown) => `sha:${createHash('sha256').update(canonicalJson(v)).digest('hex').slice(0, 16)}`;

/** Sections that are records keyed by identity, and the resource kind owning each record. */
const RECORD_SECTIONS: readonly [keyof FeatureConfig, string, string][] = [
  ['extensions', 'extension', 'Extension'],
  ['ringGroups', 'ring-group', 'RingGroup'],
  ['ivrs', 'ivr', 'IVR'],
  ['schedules', 'schedule', 'Schedule'],
  ['queues', 'queue', 'Queue'],
  ['conferences', 'conference', 'Conference'],
  ['musicOnHold', 'moh', 'MusicOnHold'],
  ['webhooks', 'webhook', 'Webhook'],
];

/**
 * Entry id -> value for every record of the config. Ids: `feature/extension/1001`,
 * `feature/ivr/main`, `feature/inbound/+15550100`, `feature/dial/*97`, `feature/pbx/defaults`...
 */
export function featureEntryHashes(config: FeatureConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const [section, name] of RECORD_SECTIONS) {
    for (const [k, v] of Object.entries((config[section] ?? {}) as Record<string, unknown>)) out.set(`feature/${name}/${k}`, hash(v));
  }
  for (const [did, r] of Object.entries(config.inbound)) out.set(`feature/inbound/${did}`, hash(r));
  for (const [n, d] of Object.entries(config.dial)) out.set(`feature/dial/${n}`, hash(d));
  out.set('feature/pbx/defaults', hash({ pbx: config.pbx, domain: config.domain, defaults: config.defaults, systemPrompts: config.systemPrompts }));
  out.set('feature/pbx/voicemail', hash(config.voicemail));
  // The secrets document's salted hash: a rotated secret or PIN is a change without showing it.
  if (config.secretsVersion !== undefined) out.set('feature/pbx/secrets', hash(config.secretsVersion));
  return out;
}

/** The owner key (`Kind/identity`, node-data.ts OwnerKey) of a feature entry id. */
export function featureEntryOwner(id: string, config: FeatureConfig): string {
  const [, section, ...rest] = id.split('/');
  const key = rest.join('/');
  const kind = RECORD_SECTIONS.find(([, name]) => name === section)?.[2];
  if (kind) return `${kind}/${key}`;
  if (section === 'inbound') return `InboundRoute/${config.inbound[key]?.route ?? key}`;
  // Dialled numbers belong to what they reach; feature codes and defaults to pbx.yaml.
  if (section === 'dial') {
    const d = config.dial[key];
    if (d && d.type !== 'feature' && 'id' in d) {
      const kinds: Record<string, string> = { 'ring-group': 'RingGroup', queue: 'Queue', ivr: 'IVR', conference: 'Conference', schedule: 'Schedule' };
      const owner = kinds[d.type];
      if (owner) return `${owner}/${d.id}`;
    }
  }
  return 'Pbx/features';
}

/** The config's node entries (sorted by id). */
export function featureEntries(config: FeatureConfig): NodeEntry[] {
  return [...featureEntryHashes(config)]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, value]) => ({ id, owner: featureEntryOwner(id, config), value }));
}
