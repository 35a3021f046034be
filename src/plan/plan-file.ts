/**
 * Saved plans (`pbxctl plan --out FILE`, `pbxctl apply FILE`): the plan plus what is needed to
 * recompute and check it — the repo directory and the salt its secret fingerprints used. No secrets.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { PbxError } from '../lib/errors.js';
import type { Plan } from './types.js';

export interface PlanFile {
  kind: 'pbxctl-plan';
  formatVersion: 1;
  /** Absolute path of the repo the plan was made from. */
  repo: string;
  salt: string;
  createdAt: string;
  plan: Plan;
}

/** Writes a plan file (mode 0600: it names the node's layout). */
export async function writePlanFile(path: string, file: PlanFile): Promise<void> {
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
}

/** True when `path` looks like a saved plan (a JSON file) rather than a repo directory. */
export function looksLikePlanFile(path: string): boolean {
  return /\.json$/i.test(path);
}

/**
 * Reads a plan file.
 * @throws PbxError PLAN_FILE_INVALID when it is missing, not JSON, or not a pbxctl plan
 */
export async function readPlanFile(path: string): Promise<PlanFile> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) throw new PbxError('PLAN_FILE_INVALID', `cannot read plan file ${path}`);
  let v: PlanFile;
  try {
    v = JSON.parse(text) as PlanFile;
  } catch {
    throw new PbxError('PLAN_FILE_INVALID', `${path} is not JSON`);
  }
  if (v?.kind !== 'pbxctl-plan' || v.formatVersion !== 1 || !v.plan) throw new PbxError('PLAN_FILE_INVALID', `${path} is not a pbxctl plan file`, { hint: 'Create one with pbxctl plan --out FILE.' });
  return v;
}
