/**
 * The one destination type used everywhere a call can go (DESIGN.md "The repo a user writes"):
 * `extension:1001`, `voicemail:1001`, `ring-group:sales`, `queue:support`, `ivr:main`,
 * `conference:all-hands`, `schedule:business-hours`, `external:+15551234567`, `hangup`.
 */
import type { ResourceKind } from './types.js';

export type DestinationType =
  | 'extension'
  | 'voicemail'
  | 'ring-group'
  | 'queue'
  | 'ivr'
  | 'conference'
  | 'schedule'
  | 'external'
  | 'hangup';

/** A parsed destination; `ref` is the number, id or E.164 number after the colon ('' for hangup). */
export interface Destination {
  type: DestinationType;
  ref: string;
}

/** The resource kind each destination type points at (hangup and external point at none). */
export const DESTINATION_KIND: Record<DestinationType, ResourceKind | undefined> = {
  extension: 'Extension',
  voicemail: 'Extension',
  'ring-group': 'RingGroup',
  queue: 'Queue',
  ivr: 'IVR',
  conference: 'Conference',
  schedule: 'Schedule',
  external: undefined,
  hangup: undefined,
};

const TYPES = new Set<string>(Object.keys(DESTINATION_KIND));

/**
 * Parses `TYPE:REF` or `hangup`. Returns undefined for anything else; the schema's pattern has
 * already rejected malformed refs, so this only splits.
 */
export function parseDestination(text: string): Destination | undefined {
  if (text === 'hangup') return { type: 'hangup', ref: '' };
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const type = text.slice(0, colon);
  if (!TYPES.has(type) || type === 'hangup') return undefined;
  return { type: type as DestinationType, ref: text.slice(colon + 1) };
}

/** Formats a destination back to its text form. */
export function formatDestination(d: Destination): string {
  return d.type === 'hangup' ? 'hangup' : `${d.type}:${d.ref}`;
}
