/**
 * Renders a plan Terraform-style: one line per resource with its action symbol, the changed
 * attributes under it, drift, and a summary line. Secrets always show as (sensitive). Pure.
 */
import { styleText } from 'node:util';
import { hasChanges, type AttributeChange, type DriftEntry, type Plan, type PlanAction } from '../plan/types.js';

const SYMBOL: Record<PlanAction, string> = { create: '+', update: '~', delete: '-', replace: '±' };
const COLOR: Record<PlanAction, 'green' | 'yellow' | 'red' | 'magenta'> = { create: 'green', update: 'yellow', delete: 'red', replace: 'magenta' };

const KIND_LABEL: Record<string, string> = {
  Pbx: 'pbx', Extension: 'extension', RingGroup: 'ring-group', Queue: 'queue', IVR: 'ivr', Conference: 'conference', Trunk: 'trunk',
  InboundRoute: 'inbound-route', OutboundRoute: 'outbound-route', Schedule: 'schedule', MusicOnHold: 'music-on-hold', Webhook: 'webhook', VoicemailSettings: 'voicemail-settings',
};

function show(v: unknown): string {
  if (v === undefined) return '(none)';
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

function attributeLine(c: AttributeChange, action: PlanAction): string {
  if (c.sensitive) return `${c.path}: (sensitive)`;
  if (action === 'create') return `${c.path}: ${show(c.after)}`;
  if (action === 'delete') return `${c.path}: ${show(c.before)}`;
  return `${c.path}: ${show(c.before)} -> ${show(c.after)}`;
}

function driftLine(d: DriftEntry): string {
  const what = d.id.replace(/\//g, ' ');
  if (d.sensitive) return `${what}: changed on the node (sensitive)`;
  if (d.expected === undefined) return `${what}: ${show(d.live)} was added on the node, will be removed`;
  if (d.live === undefined) return `${what}: missing on the node, will be restored to ${show(d.expected)}`;
  return `${what}: ${show(d.live)} on the node, will be restored to ${show(d.expected)}`;
}

/** Summary line: `Plan: 1 to add, 2 to change, 0 to destroy.` (replace counts as add + destroy). */
export function planSummaryLine(plan: Plan): string {
  if (!hasChanges(plan)) return 'No changes. The node matches the repo.';
  const s = plan.summary;
  const drift = plan.changes.filter((c) => c.drift.length).length + (plan.unmanaged.length ? 1 : 0);
  return `Plan: ${s.create + s.replace} to add, ${s.update} to change, ${s.delete + s.replace} to destroy${drift ? ` (drift corrected in ${drift})` : ''}.`;
}

/**
 * The whole plan as text.
 * @param opts.color ANSI colors (TTY without NO_COLOR)
 */
export function renderPlanText(plan: Plan, opts: { color: boolean }): string {
  const c = (color: Parameters<typeof styleText>[0], t: string) => (opts.color ? styleText(color, t) : t);
  const lines: string[] = [];
  const head = `Node ${plan.target}: ${plan.fromRelease ? `release ${plan.fromRelease}` : 'nothing deployed yet'}${plan.commit ? `; repo at ${plan.commit.slice(0, 12)}` : ''}`;
  lines.push(head);
  if (!hasChanges(plan)) {
    lines.push('', c('green', planSummaryLine(plan)));
    return lines.join('\n');
  }
  lines.push('', 'pbxctl will perform the following actions:', '');
  for (const ch of plan.changes) {
    const sym = SYMBOL[ch.action];
    const tag = ch.changes.length === 0 && ch.drift.length ? c('dim', '  (drift)') : ch.rerendered ? c('dim', `  (node data re-rendered by this pbxctl: ${ch.rerendered} entr${ch.rerendered === 1 ? 'y' : 'ies'})`) : '';
    lines.push(c(COLOR[ch.action], `  ${sym} ${KIND_LABEL[ch.kind] ?? ch.kind} ${ch.label}`) + tag);
    if (ch.action !== 'create' && ch.action !== 'delete') {
      for (const a of ch.changes) lines.push(`      ${c(COLOR[ch.action], '~')} ${attributeLine(a, ch.action)}`);
    }
    for (const d of ch.drift) lines.push(`      ${c('yellow', '!')} ${driftLine(d)}`);
  }
  if (plan.unmanaged.length) {
    lines.push(c('red', `  - node data pbxctl does not own (${plan.unmanaged.length})`));
    for (const d of plan.unmanaged.slice(0, 20)) lines.push(`      ${c('yellow', '!')} ${driftLine(d)}`);
    if (plan.unmanaged.length > 20) lines.push(`      ... and ${plan.unmanaged.length - 20} more`);
  }
  lines.push('', c('bold', planSummaryLine(plan)));
  return lines.join('\n');
}
