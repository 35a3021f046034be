/**
 * The feature configuration the daemon runs on, loaded from the release `pbxctl apply` deployed
 * (docs/node-data.md: ROOT/current/daemon/features.json, prompts in ROOT/current/prompts/).
 *
 * Swaps are atomic and never disturb calls in progress: a call takes a `LoadedConfig` when it starts
 * and keeps it (config and prompt directory resolved to the real release directory, not through the
 * `current` symlink, so a later switch cannot change what an IVR in progress plays).
 */
import { readFile, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PbxError } from '../lib/errors.js';
import { parseFeatureConfig, type FeatureConfig } from './config-types.js';
import { DAEMON_SECRETS_PATH, emptyDaemonSecrets, parseDaemonSecrets, type DaemonSecrets } from './secrets-types.js';

/** One loaded feature configuration and where its files are. */
export interface LoadedConfig {
  config: FeatureConfig;
  /** Release id (the directory name under ROOT/releases). */
  release: string;
  /** Absolute directory of this release's prompts (WAV files named by prompt id). */
  promptDir: string;
  /** When it was loaded, ms since the epoch. */
  loadedAt: number;
  /** The release's daemon/secrets.json (webhook secrets, voicemail PIN hashes); empty when it has none. */
  secrets: DaemonSecrets;
}

/** The relative path of the feature config inside a release. */
export const FEATURE_CONFIG_PATH = 'daemon/features.json';
/** The relative path of the prompt directory inside a release. */
export const PROMPT_DIR = 'prompts';

/** Holds the config new calls get; reload() swaps it. */
export class ConfigStore {
  private loaded: LoadedConfig | undefined;

  /** @param root the node root (the directory holding `current` and `releases/`) */
  constructor(private readonly root: string) {}

  /** The config for a call starting now (undefined until a release with a feature config exists). */
  get current(): LoadedConfig | undefined {
    return this.loaded;
  }

  /**
   * Loads ROOT/current/daemon/features.json.
   * @returns the version now live and whether it differs from the previous one
   * @throws PbxError DAEMON_NO_CONFIG when the release has no feature config (nothing changes),
   *   DAEMON_BAD_CONFIG when it is unreadable or invalid (the previous config stays live)
   */
  async reload(): Promise<{ version: string; changed: boolean }> {
    // `changed` follows features.json only: secrets.json changes ride with a features.json change
    // (compile puts a hash of the secrets document in it), so the plan shows them without the secrets.
    let releaseDir: string;
    try {
      releaseDir = await realpath(join(this.root, 'current'));
    } catch (e) {
      throw new PbxError('DAEMON_NO_CONFIG', `no release deployed at ${join(this.root, 'current')}`, { hint: 'Run `pbxctl apply` for this node first.', cause: e });
    }
    const file = join(releaseDir, FEATURE_CONFIG_PATH);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new PbxError('DAEMON_NO_CONFIG', `release ${basename(releaseDir)} has no feature config (${file})`, {
        hint: 'Apply the repo with a pbxctl that ships daemon/features.json (this release predates it).',
        cause: e,
      });
    }
    let config: FeatureConfig;
    try {
      config = parseFeatureConfig(JSON.parse(text));
    } catch (e) {
      throw new PbxError('DAEMON_BAD_CONFIG', `${file}: ${e instanceof Error ? e.message : String(e)}`, {
        hint: 'The previous feature config stays in use; re-apply with a matching pbxctl version.',
        cause: e,
      });
    }
    const secrets = await readSecrets(join(releaseDir, DAEMON_SECRETS_PATH));
    const changed = this.loaded?.config.version !== config.version;
    this.loaded = { config, release: basename(releaseDir), promptDir: join(releaseDir, PROMPT_DIR), loadedAt: Date.now(), secrets };
    return { version: config.version, changed };
  }
}

/**
 * Reads a release's secrets document; a release without one has no secrets.
 * @throws PbxError DAEMON_BAD_CONFIG when it exists but is unreadable or invalid (the previous config stays live)
 */
async function readSecrets(file: string): Promise<DaemonSecrets> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyDaemonSecrets();
    throw new PbxError('DAEMON_BAD_CONFIG', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, {
      hint: 'The file must be readable by the daemon user (mode 0600, owned by it). The previous config stays in use.',
      cause: e,
    });
  }
  try {
    return parseDaemonSecrets(JSON.parse(text));
  } catch (e) {
    throw new PbxError('DAEMON_BAD_CONFIG', `${file}: ${e instanceof Error ? e.message : String(e)}`, { hint: 'The previous config stays in use; re-apply with a matching pbxctl version.', cause: e });
  }
}
