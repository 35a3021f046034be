import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileFeatureConfig } from '../../src/compile/feature-config.js';
import { promptFiles } from '../../src/compile/prompts.js';
import { validateRepoDir } from '../../src/config/validate.js';
import { ConfigStore } from '../../src/daemon/config-store.js';
import type { FeatureConfig } from '../../src/daemon/config-types.js';
import { PbxError } from '../../src/lib/errors.js';

const SMALL_OFFICE = fileURLToPath(new URL('../../examples/small-office/', import.meta.url));
let v1: FeatureConfig;
let v2: FeatureConfig;

beforeAll(async () => {
  const r = await validateRepoDir(SMALL_OFFICE, { strict: false, secretsFile: `${SMALL_OFFICE}.secrets.example.yaml` });
  const hashes = Object.fromEntries(promptFiles(r.state!).map((f) => [f, 'c'.repeat(64)]));
  v1 = compileFeatureConfig(r.state!, { fileHashes: hashes });
  const [id, ivr] = [...r.state!.ivrs][0]!;
  r.state!.ivrs.set(id, { ...ivr, timeout: 9 });
  v2 = compileFeatureConfig(r.state!, { fileHashes: hashes });
});

let root: string | undefined;
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
  root = undefined;
});

async function release(id: string, config: unknown): Promise<void> {
  await mkdir(join(root!, 'releases', id, 'daemon'), { recursive: true });
  await writeFile(join(root!, 'releases', id, 'daemon', 'features.json'), typeof config === 'string' ? config : JSON.stringify(config));
}

/** Points `current` at a release the way apply does: a temporary link renamed over it. */
async function switchTo(id: string): Promise<void> {
  await symlink(`releases/${id}`, join(root!, 'current.tmp'));
  await rename(join(root!, 'current.tmp'), join(root!, 'current'));
}

describe('ConfigStore', () => {
  it('swaps to a new release while a call started earlier keeps its config and prompt directory', async () => {
    root = await mkdtemp(join(tmpdir(), 'pbxctl-config-store-'));
    await release('r1', v1);
    await switchTo('r1');
    const store = new ConfigStore(root);
    expect(await store.reload()).toEqual({ version: v1.version, changed: true });
    const callOnV1 = store.current!;
    await release('r2', v2);
    await switchTo('r2');
    expect(await store.reload()).toEqual({ version: v2.version, changed: true });
    expect(store.current?.release).toBe('r2');
    expect(callOnV1.config.version).toBe(v1.version);
    expect(callOnV1.promptDir).toBe(join(root, 'releases', 'r1', 'prompts'));
    expect(await store.reload()).toEqual({ version: v2.version, changed: false });
  });

  it('keeps the running config when the new one is broken, and says why', async () => {
    root = await mkdtemp(join(tmpdir(), 'pbxctl-config-store-'));
    await release('r1', v1);
    await switchTo('r1');
    const store = new ConfigStore(root);
    await store.reload();
    await release('r2', { ...v2, version: '0000000000000000' });
    await switchTo('r2');
    const err = await store.reload().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PbxError);
    expect((err as PbxError).code).toBe('DAEMON_BAD_CONFIG');
    expect((err as PbxError).message).toMatch(/does not match the content/);
    expect(store.current?.config.version).toBe(v1.version);
    await release('r3', '{"formatVersion": 1,');
    await switchTo('r3');
    await expect(store.reload()).rejects.toMatchObject({ code: 'DAEMON_BAD_CONFIG' });
    expect(store.current?.release).toBe('r1');
  });

  it('reports a node with nothing deployed, or a release without a feature config', async () => {
    root = await mkdtemp(join(tmpdir(), 'pbxctl-config-store-'));
    const store = new ConfigStore(root);
    await expect(store.reload()).rejects.toMatchObject({ code: 'DAEMON_NO_CONFIG' });
    await mkdir(join(root, 'releases', 'old'), { recursive: true });
    await switchTo('old');
    await expect(store.reload()).rejects.toMatchObject({ code: 'DAEMON_NO_CONFIG', message: expect.stringContaining('release old has no feature config') });
    expect(store.current).toBeUndefined();
  });
});
