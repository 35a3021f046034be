/**
 * The resource kinds a repo can hold: their schema file, identity field, conventional folder,
 * where they live in DesiredState and which number-plan range their numbers belong to.
 */
import type { DesiredState, ResourceKind } from './types.js';

export interface KindInfo {
  kind: ResourceKind;
  /** Schema file name under schemas/, without `.schema.json`. */
  schema: string;
  /** Folder a repo conventionally keeps this kind in (pbxctl init and docs). */
  folder: string;
  /** The field that identifies a resource of this kind; undefined for singletons. */
  identity?: 'id' | 'number';
  /** Key of the collection in DesiredState; undefined for singletons. */
  collection?: Exclude<keyof DesiredState, 'pbx' | 'voicemailSettings'>;
  /** Key of pbx.yaml numberPlan whose ranges the resource's `number` must fall in. */
  numberRange?: 'extensions' | 'ringGroups' | 'queues' | 'ivrs' | 'conferences';
  /** Human label used in messages ("ring group sales"). */
  label: string;
}

/** Every kind, in the order plans and docs list them. */
export const KINDS: readonly KindInfo[] = [
  { kind: 'Extension', schema: 'extension', folder: 'extensions', identity: 'number', collection: 'extensions', numberRange: 'extensions', label: 'extension' },
  { kind: 'RingGroup', schema: 'ring-group', folder: 'ring-groups', identity: 'id', collection: 'ringGroups', numberRange: 'ringGroups', label: 'ring group' },
  { kind: 'Queue', schema: 'queue', folder: 'queues', identity: 'id', collection: 'queues', numberRange: 'queues', label: 'queue' },
  { kind: 'IVR', schema: 'ivr', folder: 'ivrs', identity: 'id', collection: 'ivrs', numberRange: 'ivrs', label: 'IVR' },
  { kind: 'Conference', schema: 'conference', folder: 'conferences', identity: 'id', collection: 'conferences', numberRange: 'conferences', label: 'conference' },
  { kind: 'Trunk', schema: 'trunk', folder: 'trunks', identity: 'id', collection: 'trunks', label: 'trunk' },
  { kind: 'InboundRoute', schema: 'inbound-route', folder: 'inbound-routes', identity: 'id', collection: 'inboundRoutes', label: 'inbound route' },
  { kind: 'OutboundRoute', schema: 'outbound-route', folder: 'outbound-routes', identity: 'id', collection: 'outboundRoutes', label: 'outbound route' },
  { kind: 'Schedule', schema: 'schedule', folder: 'schedules', identity: 'id', collection: 'schedules', label: 'schedule' },
  { kind: 'MusicOnHold', schema: 'music-on-hold', folder: 'music-on-hold', identity: 'id', collection: 'musicOnHold', label: 'music on hold class' },
  { kind: 'Webhook', schema: 'webhook', folder: 'webhooks', identity: 'id', collection: 'webhooks', label: 'webhook' },
  { kind: 'VoicemailSettings', schema: 'voicemail-settings', folder: 'voicemail', label: 'voicemail settings' },
];

const BY_KIND = new Map(KINDS.map((k) => [k.kind as string, k]));

/** Looks a kind up by its exact name (`Extension`); undefined for unknown kinds. */
export function kindInfo(kind: string): KindInfo | undefined {
  return BY_KIND.get(kind);
}

/** Every schema name, including the root `pbx` and shared `defs`. */
export const SCHEMA_NAMES: readonly string[] = ['defs', 'pbx', ...KINDS.map((k) => k.schema)];
