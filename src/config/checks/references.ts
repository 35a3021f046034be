/**
 * Every reference resolves: destinations, ring-group members, queue agents, trunks, schedules,
 * music-on-hold classes and permission classes. Misspellings get the nearest existing name.
 */
import { closest } from 'fastest-levenshtein';
import { DESTINATION_KIND, parseDestination } from '../../model/destination.js';
import { kindInfo } from '../../model/kinds.js';
import { destinationFields } from '../../model/references.js';
import type { Extension, Resource, ResourceKind } from '../../model/types.js';
import type { CheckContext } from './context.js';

function didYouMean(ctx: CheckContext, kind: ResourceKind, ref: string, prefix = ''): string {
  const known = ctx.identities(kind);
  if (known.length === 0) return `No ${kindInfo(kind)!.label} is defined.`;
  return `Did you mean ${prefix}${closest(ref, known)}?`;
}

/** True when the extension has a voicemail box (its own setting, else defaults.voicemail, else true). */
export function hasVoicemail(ctx: CheckContext, e: Extension): boolean {
  return e.voicemail?.enabled ?? ctx.state.pbx.defaults?.voicemail ?? true;
}

/** Reports `kind ref` as unresolved unless it exists (or was declared by an invalid document). */
function resolve(ctx: CheckContext, owner: Resource | 'pbx', path: (string | number)[], kind: ResourceKind, ref: string, text: string, prefix = ''): Resource | undefined {
  const target = ctx.find(kind, ref);
  if (target || ctx.declaredButInvalid(kind, ref)) return target;
  ctx.error('unresolved-reference', ctx.at(owner, path), `${text} refers to ${kindInfo(kind)!.label} "${ref}", which does not exist`, didYouMean(ctx, kind, ref, prefix));
  return undefined;
}

export function checkReferences(ctx: CheckContext): void {
  const pbx = ctx.state.pbx;
  const classes = ctx.permissionClasses;
  const checkClass = (owner: Resource | 'pbx', path: (string | number)[], name: string | undefined) => {
    if (name !== undefined && !classes.includes(name)) {
      ctx.error('unresolved-reference', ctx.at(owner, path), `permission class "${name}" is not declared`, `Declared: ${classes.join(', ')}. Add it to permissionClasses in pbx.yaml, or did you mean ${closest(name, classes)}?`);
    }
  };
  checkClass('pbx', ['defaults', 'outboundClass'], pbx.defaults?.outboundClass);
  if (pbx.defaults?.musicOnHold) resolve(ctx, 'pbx', ['defaults', 'musicOnHold'], 'MusicOnHold', pbx.defaults.musicOnHold, 'defaults.musicOnHold');

  for (const { resource: r } of ctx.resources) {
    for (const f of destinationFields(r)) {
      const d = parseDestination(f.destination);
      if (!d) continue; // malformed text was rejected by the schema
      const kind = DESTINATION_KIND[d.type];
      if (!kind) continue;
      const label = `${f.path.join('.')}: ${f.destination}`;
      const target = resolve(ctx, r, f.path, kind, d.ref, label, `${d.type}:`);
      if (d.type === 'voicemail' && target?.kind === 'Extension' && !hasVoicemail(ctx, target)) {
        ctx.error('unresolved-reference', ctx.at(r, f.path), `${label}: extension ${d.ref} has no voicemail box`, `Set voicemail.enabled: true on extension ${d.ref}, or send the call elsewhere.`);
      }
      if (d.type === 'schedule' && target?.kind === 'Schedule' && (!target.open || !target.closed)) {
        ctx.error('unresolved-reference', ctx.at(r, f.path), `${label}: schedule ${d.ref} has no open/closed destinations, so it cannot route calls`, `Add open: and closed: to schedule ${d.ref}, or use an InboundRoute with schedule: ${d.ref}.`);
      }
    }
    switch (r.kind) {
      case 'Extension':
        checkClass(r, ['outboundClass'], r.outboundClass);
        break;
      case 'RingGroup':
        r.members.forEach((m, i) => {
          if (m.extension !== undefined) resolve(ctx, r, ['members', i, 'extension'], 'Extension', m.extension, `member ${m.extension}`);
        });
        break;
      case 'Queue':
        r.agents.forEach((a, i) => resolve(ctx, r, ['agents', i, 'extension'], 'Extension', a.extension, `agent ${a.extension}`));
        if (r.musicOnHold) resolve(ctx, r, ['musicOnHold'], 'MusicOnHold', r.musicOnHold, 'musicOnHold');
        break;
      case 'Conference':
        if (r.musicOnHold) resolve(ctx, r, ['musicOnHold'], 'MusicOnHold', r.musicOnHold, 'musicOnHold');
        break;
      case 'InboundRoute':
        if (r.trunk) resolve(ctx, r, ['trunk'], 'Trunk', r.trunk, 'trunk');
        if (r.schedule) resolve(ctx, r, ['schedule'], 'Schedule', r.schedule, 'schedule');
        if (!r.destination && !r.schedule) {
          ctx.error('missing-property', r.source, `inbound route ${r.id} has neither destination nor schedule`, 'Set destination: (e.g. ivr:main), or schedule: with open: and closed:.');
        } else if (r.destination && r.schedule) {
          ctx.error('conflicting-properties', ctx.at(r, ['schedule'], true), `inbound route ${r.id} sets both destination and schedule`, 'Use destination for always, or schedule with open/closed; not both.');
        }
        break;
      case 'OutboundRoute':
        r.trunks.forEach((t, i) => resolve(ctx, r, ['trunks', i], 'Trunk', t, `trunk ${t}`));
        (r.classes ?? []).forEach((c, i) => checkClass(r, ['classes', i], c));
        break;
      default:
        break;
    }
  }
}
