/** The feature daemon's file in a release: where its entries live and what reloads it (compile/release-files.ts). */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { FEATURE_CONFIG_FILE, featureEntries } from '../../src/compile/feature-entries.js';
import { promptFiles } from '../../src/compile/prompts.js';
import { fileOfEntry, reloadFor, renderFeatureConfigFile } from '../../src/compile/release-files.js';
import { validateRepoDir } from '../../src/config/validate.js';
import { parseFeatureConfig } from '../../src/daemon/config-types.js';
import { FEATURE_CONFIG_PATH } from '../../src/daemon/config-store.js';

const SMALL_OFFICE = fileURLToPath(new URL('../../examples/small-office/', import.meta.url));

describe('the feature config file', () => {
  it('is where the daemon reads it, and reloading it is the daemon\'s reload', () => {
    expect(FEATURE_CONFIG_FILE).toBe(FEATURE_CONFIG_PATH);
    expect(reloadFor('daemon/features.json')).toEqual({ rpc: 'daemon.reload' });
    // Prompts are content-addressed: a changed one is a new id in features.json, which reloads the daemon.
    expect(reloadFor('prompts/tts-0123456789abcdef.wav')).toBeUndefined();
    expect(reloadFor('inventory.json')).toBeUndefined();
  });

  it('holds every feature entry', () => {
    for (const id of ['feature/ivr/main', 'feature/dial/*97', 'feature/inbound/+15550100', 'feature/pbx/defaults', 'feature/ring-group/sales']) {
      expect(fileOfEntry(id), id).toBe('daemon/features.json');
    }
    expect(fileOfEntry('htable/ext/1001')).toBe('db/pbx_ext');
    expect(fileOfEntry('nonsense/x')).toBeUndefined();
  });

  it('renders as pretty JSON with a final newline that the daemon parses back to the same config', async () => {
    const r = await validateRepoDir(SMALL_OFFICE, { strict: false, secretsFile: `${SMALL_OFFICE}.secrets.example.yaml` });
    const state = r.state!;
    const config = compileFeatureConfig(state, { fileHashes: Object.fromEntries(promptFiles(state).map((f) => [f, 'a'.repeat(64)])) });
    const file = renderFeatureConfigFile(config);
    expect(file.path).toBe('daemon/features.json');
    expect(file.mode).toBeUndefined(); // no secrets: the default 0640
    expect(file.content.endsWith('}\n')).toBe(true);
    expect(file.content.split('\n')[1]).toBe('  "formatVersion": 1,');
    expect(parseFeatureConfig(JSON.parse(file.content))).toEqual(config);
    for (const e of featureEntries(config)) expect(fileOfEntry(e.id)).toBe(file.path);
  });
});
