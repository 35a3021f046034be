/**
 * The repo format's JSON Schemas (draft 2020-12, schemas/*.schema.json), compiled once with ajv
 * (allErrors) and shared by every validation in the process.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { _ } from 'ajv';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import standaloneModule from 'ajv/dist/standalone/index.js';
import addFormatsModule from 'ajv-formats';
import { SCHEMA_NAMES } from '../model/kinds.js';

// ajv's standalone module and ajv-formats are CommonJS whose module.exports is the function itself;
// TypeScript's NodeNext typing sees the namespace object.
const standaloneCode = standaloneModule as unknown as (ajv: Ajv2020, refs: Record<string, string>) => string;
// ajv-formats is CommonJS with a default export that TypeScript's NodeNext sees as the module.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

/** Directory of the schema files: `<package>/schemas`, the same depth from src/ and dist/. */
export const SCHEMA_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));

/** Reads one schema file by name (`extension`, `pbx`, `defs`, or `output/validate`). */
export function readSchema(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${SCHEMA_DIR}${name}.schema.json`, 'utf8')) as Record<string, unknown>;
}

let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

/** The ajv options every validator is compiled with (at run time, or ahead of time by the build). */
function newAjv(source = false): Ajv2020 {
  const a = new Ajv2020({
    allErrors: true, verbose: true, discriminator: true, strict: true, strictRequired: false, allowUnionTypes: true,
    ...(source ? { code: { source: true, formats: _`require("ajv-formats/dist/formats").fullFormats` } } : {}),
  });
  addFormats(a);
  for (const name of SCHEMA_NAMES) a.addSchema(readSchema(name));
  return a;
}

function instance(): Ajv2020 {
  return (ajv ??= newAjv());
}

/**
 * The validators `npm run build` compiled ahead of time (dist/config/validators.cjs, ajv standalone
 * code): loading them takes ~10 ms where compiling takes ~350 ms on every command. Absent when
 * running from src/ (tests), where validators compile on first use instead.
 */
const precompiled: Record<string, ValidateFunction> | undefined = (() => {
  try {
    return createRequire(import.meta.url)('./validators.cjs') as Record<string, ValidateFunction>;
  } catch {
    return undefined;
  }
})();

/** Source of a CommonJS module exporting one validator per schema name (ajv standalone code). */
export function standaloneValidatorsSource(): string {
  return standaloneCode(newAjv(true), Object.fromEntries(SCHEMA_NAMES.map((n) => [n, String(readSchema(n).$id)])));
}

/** The compiled validator of schema `name` (e.g. `extension`); compiled on first use. */
export function validatorFor(name: string): ValidateFunction {
  let v = validators.get(name) ?? precompiled?.[name];
  if (!v) {
    const schema = readSchema(name);
    v = instance().getSchema(schema.$id as string);
    if (!v) throw new Error(`schema ${name} did not compile`);
  }
  validators.set(name, v);
  return v;
}

/** Validates `value` against schema `name`; returns ajv's errors (empty when valid). */
export function validateAgainst(name: string, value: unknown): ErrorObject[] {
  const v = validatorFor(name);
  return v(value) ? [] : [...(v.errors ?? [])];
}

/**
 * A self-contained copy of schema `name` for editors: the shared definitions of
 * defs.schema.json are copied into its `$defs` and `defs.schema.json#/$defs/X` refs become
 * `#/$defs/X`, so the YAML language server needs no network or sibling files to resolve them.
 * @throws Error when a local definition would shadow a shared one (a bug in the schemas)
 */
export function bundledSchema(name: string): Record<string, unknown> {
  const schema = readSchema(name);
  if (name === 'defs') return schema;
  const shared = (readSchema('defs').$defs ?? {}) as Record<string, unknown>;
  const own = (schema.$defs ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(shared)) if (key in own) throw new Error(`schema ${name}: $defs/${key} collides with defs.schema.json`);
  const text = JSON.stringify({ ...schema, $defs: { ...own, ...shared } }).replaceAll('"defs.schema.json#/$defs/', '"#/$defs/');
  return JSON.parse(text) as Record<string, unknown>;
}
