/**
 * Secret references (`${secret:NAME}`, `${env:NAME}`) and where their values come from.
 * Values never enter the model, plans or output; only whether they resolve is checked here.
 */
import { readFile } from 'node:fs/promises';
import jsyaml from 'js-yaml';
import { PbxError } from '../lib/errors.js';

/** A parsed secret reference. */
export interface SecretReference {
  source: 'secret' | 'env';
  name: string;
}

const REF = /^\$\{(secret|env):([A-Za-z0-9_.-]+)\}$/;

/** Parses `${secret:NAME}` / `${env:NAME}`; undefined for anything else. */
export function parseSecretRef(text: string): SecretReference | undefined {
  const m = REF.exec(text);
  return m ? { source: m[1] as 'secret' | 'env', name: m[2]! } : undefined;
}

/** Looks secret values up. `resolve` returns undefined when the reference has no value. */
export interface SecretResolver {
  resolve(ref: SecretReference): string | undefined;
  /** Where a `${secret:NAME}` is looked for, for error hints. */
  describe(ref: SecretReference): string;
}

/** The environment variable that holds `${secret:NAME}`: prefix + NAME upper-cased, `-`/`.` as `_`. */
export function secretEnvName(prefix: string, name: string): string {
  return prefix + name.toUpperCase().replace(/[-.]/g, '_');
}

/**
 * A resolver over an environment and the parsed secrets file (a flat YAML map NAME: value).
 * `${secret:NAME}`: the environment variable first (CI secrets), then the file.
 */
export function secretResolver(environment: NodeJS.ProcessEnv, fileValues: Record<string, unknown>, opts: { envPrefix: string; file: string }): SecretResolver {
  // process.env is a getter into the C++ environment: read it once, not once per secret (20,000
  // lookups for a 10,000-extension repo).
  const env = new Map(Object.entries(environment));
  return {
    resolve(ref) {
      if (ref.source === 'env') return env.get(ref.name) || undefined;
      const fromEnv = env.get(secretEnvName(opts.envPrefix, ref.name));
      if (fromEnv) return fromEnv;
      const v = fileValues[ref.name];
      return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
    },
    describe(ref) {
      return ref.source === 'env'
        ? `environment variable ${ref.name}`
        : `environment variable ${secretEnvName(opts.envPrefix, ref.name)} or "${ref.name}" in ${opts.file}`;
    },
  };
}

/**
 * Reads a secrets file (a flat YAML map NAME: value). A missing file means no values, unless
 * `required` (a file named on the command line).
 * @throws PbxError SECRETS_FILE_INVALID when it is not a YAML map; SECRETS_FILE_NOT_FOUND when required and absent
 */
export async function readSecretsFile(path: string, opts: { required: boolean }): Promise<Record<string, unknown>> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) {
    if (opts.required) throw new PbxError('SECRETS_FILE_NOT_FOUND', `secrets file ${path} cannot be read`, { hint: 'Check the path given to --secrets.' });
    return {};
  }
  // js-yaml: `yaml` takes ~0.3 s for 20,000 secrets, and its duplicate-key check is quadratic.
  let value: unknown;
  try {
    value = jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA, filename: path });
  } catch (e) {
    throw new PbxError('SECRETS_FILE_INVALID', `${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`, { hint: 'It must be a flat map of NAME: value, each name once.' });
  }
  if (value == null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new PbxError('SECRETS_FILE_INVALID', `${path} must be a map of NAME: value`, { hint: 'Example: ext-1001-password: "s3cret"' });
  }
  return value as Record<string, unknown>;
}
