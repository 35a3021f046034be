/**
 * Resource snapshots: a resource's attributes flattened to dotted paths, with secrets replaced by
 * salted fingerprints, so plans can say "password changed" without ever holding the password.
 */
import { createHash } from 'node:crypto';
import { KINDS } from '../model/kinds.js';
import type { DesiredState, Resource } from '../model/types.js';
import type { ResourceSnapshot } from './types.js';

const SECRET_REF = /^\$\{(secret|env):[A-Za-z0-9_.-]+\}$/;

/** Fingerprint of a secret value: `sensitive:` + sha256(salt ":" value), first 16 hex digits. */
export function fingerprint(salt: string, value: string): string {
  return `sensitive:${createHash('sha256').update(`${salt}:${value}`).digest('hex').slice(0, 16)}`;
}

/** True for an attribute value that is a secret fingerprint. */
export function isSensitive(v: unknown): boolean {
  return typeof v === 'string' && v.startsWith('sensitive:');
}

function flatten(value: unknown, prefix: string, out: Record<string, unknown>, secret: (ref: string) => string): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      flatten(v, prefix ? `${prefix}.${k}` : k, out, secret);
    }
    return;
  }
  if (typeof value === 'string' && SECRET_REF.test(value)) {
    out[prefix] = secret(value);
    return;
  }
  out[prefix] = value;
}

/** A human label: `1001 "Alice"` for extensions, `sales "Sales"` or `sales` for others. */
export function labelOf(r: Resource): string {
  if (r.kind === 'Extension') return `${r.number} "${r.name}"`;
  if (r.kind === 'VoicemailSettings') return 'settings';
  const name = (r as { name?: string }).name;
  return name ? `${r.id} "${name}"` : r.id;
}

/**
 * Snapshots every resource of the state (pbx.yaml included as kind `Pbx`).
 * @param secretFingerprint maps a secret reference to its fingerprint (resolving its value)
 */
export function snapshotState(state: DesiredState, secretFingerprint: (ref: string) => string): ResourceSnapshot[] {
  const out: ResourceSnapshot[] = [];
  const { source: _s, nodes: _n, ...pbx } = state.pbx;
  const pbxAttrs: Record<string, unknown> = {};
  flatten(pbx, '', pbxAttrs, secretFingerprint);
  out.push({ kind: 'Pbx', identity: state.pbx.name, label: state.pbx.name, attributes: pbxAttrs });
  for (const info of KINDS) {
    const list: Resource[] = info.collection
      ? [...(state[info.collection] as Map<string, Resource>).values()]
      : state.voicemailSettings ? [state.voicemailSettings] : [];
    for (const r of list) {
      // `source` is a lazy, non-enumerable getter (load.ts): the spread leaves it out without
      // reading it, which would parse the file's YAML AST for nothing.
      const { kind: _k, ...rest } = r;
      const attributes: Record<string, unknown> = {};
      flatten(rest, '', attributes, secretFingerprint);
      out.push({ kind: r.kind, identity: info.identity ? String((r as unknown as Record<string, unknown>)[info.identity]) : r.kind, label: labelOf(r), attributes });
    }
  }
  return out;
}
