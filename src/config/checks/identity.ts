/**
 * Identities and numbers: duplicate ids, collisions between anything dialable (extensions,
 * ring groups, queues, IVRs, conferences, feature codes), numbers outside the number plan,
 * and a malformed or overlapping number plan.
 */
import type { SourcePosition } from '../../lib/diagnostics.js';
import { formatPosition } from '../../lib/diagnostics.js';
import { KINDS } from '../../model/kinds.js';
import { inRange, parseRange, rangesOverlap, type NumberRange } from '../../model/number-plan.js';
import { identityOf } from '../load.js';
import type { CheckContext } from './context.js';

/** Default feature codes (pbx.schema.json numberPlan.featureCodes defaults). */
export const DEFAULT_FEATURE_CODES = {
  voicemail: '*97', voicemailAny: '*98', agentLogin: '*72', agentLogout: '*73', agentPause: '*74', dndToggle: '*78', echoTest: '*43',
} as const;

const PLAN_LABEL: Record<string, string> = { extensions: 'extensions', ringGroups: 'ring groups', queues: 'queues', ivrs: 'IVRs', conferences: 'conferences' };

export function checkIdentities(ctx: CheckContext): void {
  // Duplicate identities within a kind.
  const firstSeen = new Map<string, SourcePosition>();
  for (const lr of ctx.resources) {
    const info = lr.info;
    const id = identityOf(lr.resource);
    const key = `${info.kind}/${id}`;
    const here = info.identity ? ctx.at(lr.resource, [info.identity]) : lr.resource.source;
    const prev = firstSeen.get(key);
    if (!prev) {
      firstSeen.set(key, here);
      continue;
    }
    if (!info.identity) {
      ctx.error('duplicate-id', here, `${info.kind} is also defined at ${formatPosition(prev)}`, `A repo holds at most one ${info.kind}; merge them.`, [prev]);
    } else if (info.identity === 'number') {
      ctx.error('duplicate-number', here, `${info.kind} ${id} is also defined at ${formatPosition(prev)}`, 'Each number can be used once; remove or renumber one of them.', [prev]);
    } else {
      ctx.error('duplicate-id', here, `${info.kind} "${id}" is also defined at ${formatPosition(prev)}`, 'Ids must be unique per kind; rename one of them.', [prev]);
    }
  }

  // Node (target) names select targets on the command line.
  const nodeNames = new Map<string, number>();
  ctx.state.pbx.nodes.forEach((n, i) => {
    const prev = nodeNames.get(n.name);
    if (prev === undefined) nodeNames.set(n.name, i);
    else ctx.error('duplicate-id', ctx.at('pbx', ['nodes', i, 'name']), `node "${n.name}" is also defined as nodes[${prev}]`, 'Node names select targets (--target NAME); make them unique.', [ctx.at('pbx', ['nodes', prev, 'name'])]);
  });

  // Number plan ranges.
  const plan = ctx.state.pbx.numberPlan;
  const ranges = new Map<string, NumberRange[]>();
  // Plan keys with a malformed range: whether a number was meant to be inside is unknowable, so
  // the invalid-number-plan error stands alone (no "outside the number plan for extensions ()").
  const malformed = new Set<string>();
  for (const key of Object.keys(PLAN_LABEL)) {
    const list = (plan as Record<string, unknown>)[key] as string[] | undefined;
    const parsed: NumberRange[] = [];
    (list ?? []).forEach((text, i) => {
      const r = parseRange(text);
      if ('error' in r) {
        ctx.error('invalid-number-plan', ctx.at('pbx', ['numberPlan', key, i]), `numberPlan.${key}: ${r.error}`, 'Write ranges as FIRST-LAST with the same digit count, e.g. "1000-1999".');
        malformed.add(key);
      } else parsed.push(r);
    });
    ranges.set(key, parsed);
  }
  const keys = [...ranges.keys()];
  for (let a = 0; a < keys.length; a++) {
    for (let b = a + 1; b < keys.length; b++) {
      for (const ra of ranges.get(keys[a]!)!) {
        for (const rb of ranges.get(keys[b]!)!) {
          if (rangesOverlap(ra, rb)) {
            ctx.warn('number-plan-overlap', ctx.at('pbx', ['numberPlan', keys[b]!]), `numberPlan.${keys[b]} range ${rb.text} overlaps numberPlan.${keys[a]} range ${ra.text}`, 'Give each kind its own block so a number tells what it dials.');
          }
        }
      }
    }
  }

  // Every dialable number: in its range, and unique across kinds.
  const owners = new Map<string, { what: string; at: SourcePosition }>();
  const claim = (number: string, what: string, at: SourcePosition) => {
    const prev = owners.get(number);
    if (prev) {
      ctx.error('duplicate-number', at, `${what} uses number ${number}, already used by ${prev.what} at ${formatPosition(prev.at)}`, 'Every dialable number (extensions, groups, queues, IVRs, conferences, feature codes) must be unique.', [prev.at]);
    } else owners.set(number, { what, at });
  };
  for (const lr of ctx.resources) {
    const info = KINDS.find((k) => k.kind === lr.resource.kind)!;
    const number = (lr.resource as { number?: string }).number;
    if (!info.numberRange || number === undefined) continue;
    const at = ctx.at(lr.resource, ['number']);
    const what = `${info.label} ${identityOf(lr.resource)}`;
    // A second definition of the same resource (same kind and identity) was already reported
    // above as duplicate-number/duplicate-id; claiming its number again would report it twice
    // (e.g. "queue support uses number 7000, already used by queue support").
    if (owners.get(number)?.what !== what) claim(number, what, at);
    const own = ranges.get(info.numberRange)!;
    if (!own.some((r) => inRange(r, number)) && !malformed.has(info.numberRange)) {
      const declared = (plan as Record<string, unknown>)[info.numberRange] !== undefined;
      ctx.error(
        'number-outside-plan', at,
        `${what}: number ${number} is outside the number plan for ${PLAN_LABEL[info.numberRange]}${declared ? ` (${own.map((r) => r.text).join(', ')})` : ''}`,
        declared ? `Renumber it, or widen numberPlan.${info.numberRange} in pbx.yaml.` : `Add numberPlan.${info.numberRange} to pbx.yaml, e.g. ${info.numberRange}: ["6000-6099"].`,
      );
    }
  }
  const codes = { ...DEFAULT_FEATURE_CODES, ...plan.featureCodes };
  for (const [name, code] of Object.entries(codes)) {
    const explicit = plan.featureCodes?.[name as keyof typeof codes] !== undefined;
    claim(code, `feature code ${name}`, explicit ? ctx.at('pbx', ['numberPlan', 'featureCodes', name]) : ctx.at('pbx', ['numberPlan']));
  }
}
