/**
 * Where resources point at destinations, enumerated in one place so that reference checks,
 * loop detection and (later) the compiler agree on what a field means.
 */
import type { Resource } from './types.js';

/**
 * How a reference is followed at call time:
 * - `continuation`: automatically, without the caller doing anything (fallback, overflow,
 *   forwarding, IVR timeout/invalid, schedule branches). A cycle of these loops forever.
 * - `choice`: only when the caller presses a digit (IVR options).
 * - `entry`: where calls from outside enter (inbound routes).
 */
export type ReferenceEdge = 'continuation' | 'choice' | 'entry';

/** One destination field of a resource: its path in the document and its text. */
export interface DestinationField {
  path: (string | number)[];
  destination: string;
  edge: ReferenceEdge;
}

/** Every destination-typed field of `r`, in document order. */
export function destinationFields(r: Resource): DestinationField[] {
  const out: DestinationField[] = [];
  const add = (path: (string | number)[], destination: string | undefined, edge: ReferenceEdge) => {
    if (destination !== undefined) out.push({ path, destination, edge });
  };
  switch (r.kind) {
    case 'Extension':
      for (const k of ['always', 'busy', 'noAnswer', 'unavailable'] as const) add(['forward', k], r.forward?.[k], 'continuation');
      break;
    case 'RingGroup':
      add(['fallback'], r.fallback, 'continuation');
      break;
    case 'Queue':
      add(['overflow'], r.overflow, 'continuation');
      break;
    case 'IVR':
      for (const [digit, dest] of Object.entries(r.options)) add(['options', digit], dest, 'choice');
      add(['timeoutDestination'], r.timeoutDestination, 'continuation');
      add(['invalidDestination'], r.invalidDestination, 'continuation');
      break;
    case 'Schedule':
      add(['open'], r.open, 'continuation');
      add(['closed'], r.closed, 'continuation');
      add(['holiday'], r.holiday, 'continuation');
      break;
    case 'InboundRoute':
      add(['destination'], r.destination, 'entry');
      add(['open'], r.open, 'entry');
      add(['closed'], r.closed, 'entry');
      add(['holiday'], r.holiday, 'entry');
      break;
    default:
      break;
  }
  return out;
}

/** The destination text that reaches `r` itself (`ring-group:sales`), for graph nodes. */
export function selfDestination(r: Resource): string | undefined {
  switch (r.kind) {
    case 'Extension': return `extension:${r.number}`;
    case 'RingGroup': return `ring-group:${r.id}`;
    case 'Queue': return `queue:${r.id}`;
    case 'IVR': return `ivr:${r.id}`;
    case 'Conference': return `conference:${r.id}`;
    case 'Schedule': return `schedule:${r.id}`;
    default: return undefined;
  }
}

/** Every prompt/audio file a resource references: path in the document and repo-relative file. */
export function audioFields(r: Resource): { path: (string | number)[]; file: string }[] {
  const out: { path: (string | number)[]; file: string }[] = [];
  const prompt = (path: (string | number)[], p: { file?: string } | undefined) => {
    if (p?.file) out.push({ path: [...path, 'file'], file: p.file });
  };
  switch (r.kind) {
    case 'IVR':
      prompt(['greeting'], r.greeting);
      prompt(['invalidPrompt'], r.invalidPrompt);
      prompt(['timeoutPrompt'], r.timeoutPrompt);
      break;
    case 'Queue':
      prompt(['announcements', 'join'], r.announcements?.join);
      break;
    case 'VoicemailSettings':
      prompt(['greeting'], r.greeting);
      break;
    case 'MusicOnHold':
      r.files.forEach((f, i) => out.push({ path: ['files', i], file: f }));
      break;
    default:
      break;
  }
  return out;
}

/** Every secret reference a resource holds: path and reference text. */
export function secretFields(r: Resource): { path: (string | number)[]; ref: string }[] {
  const out: { path: (string | number)[]; ref: string }[] = [];
  const add = (path: (string | number)[], ref: string | undefined) => {
    if (ref) out.push({ path, ref });
  };
  switch (r.kind) {
    case 'Extension':
      add(['password'], r.password);
      add(['voicemail', 'pin'], r.voicemail?.pin);
      break;
    case 'Trunk':
      if (r.auth.type === 'registration') add(['auth', 'password'], r.auth.password);
      break;
    case 'Conference':
      add(['pin'], r.pin);
      break;
    case 'Webhook':
      add(['secret'], r.secret);
      add(['previousSecret'], r.previousSecret);
      break;
    case 'VoicemailSettings':
      add(['email', 'smtp', 'password'], r.email?.smtp.password);
      break;
    default:
      break;
  }
  return out;
}
