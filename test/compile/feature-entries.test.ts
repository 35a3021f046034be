import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { featureEntries, featureEntryHashes } from '../../src/compile/feature-entries.js';
import { promptFiles } from '../../src/compile/prompts.js';
import { validateRepoDir } from '../../src/config/validate.js';
import type { DesiredState } from '../../src/model/types.js';

const SMALL_OFFICE = fileURLToPath(new URL('../../examples/small-office/', import.meta.url));

async function load(): Promise<DesiredState> {
  const r = await validateRepoDir(SMALL_OFFICE, { strict: false, secretsFile: `${SMALL_OFFICE}.secrets.example.yaml` });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.state!;
}

const hashesFor = (state: DesiredState) => Object.fromEntries(promptFiles(state).map((f) => [f, 'a'.repeat(64)]));

describe('feature config as node entries', () => {
  it('gives every IVR, ring group, schedule, DID and dialled number an entry owned by its resource', async () => {
    const state = await load();
    const config = compileFeatureConfig(state, { fileHashes: hashesFor(state) });
    const entries = featureEntries(config);
    const byId = new Map(entries.map((e) => [e.id, e]));
    for (const id of Object.keys(config.ivrs)) expect(byId.get(`feature/ivr/${id}`)?.owner).toBe(`IVR/${id}`);
    for (const id of Object.keys(config.ringGroups)) expect(byId.get(`feature/ring-group/${id}`)?.owner).toBe(`RingGroup/${id}`);
    for (const [did, r] of Object.entries(config.inbound)) expect(byId.get(`feature/inbound/${did}`)?.owner).toBe(`InboundRoute/${r.route}`);
    expect(byId.get('feature/pbx/defaults')?.owner).toBe('Pbx/features');
    for (const e of entries) expect(e.value).toMatch(/^sha:[0-9a-f]{16}$/);
    expect(entries.map((e) => e.id)).toEqual([...entries.map((e) => e.id)].sort());
  });

  it('changes exactly the entry of the record that changed', async () => {
    const state = await load();
    const before = featureEntryHashes(compileFeatureConfig(state, { fileHashes: hashesFor(state) }));
    const [id, ivr] = [...state.ivrs][0]!;
    state.ivrs.set(id, { ...ivr, timeout: (ivr.timeout ?? 5) + 1 });
    const after = featureEntryHashes(compileFeatureConfig(state, { fileHashes: hashesFor(state) }));
    const changed = [...after].filter(([k, v]) => before.get(k) !== v).map(([k]) => k);
    expect(changed).toEqual([`feature/ivr/${id}`]);
  });
});
