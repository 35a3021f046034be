/**
 * Checks a command's machine-readable output against its published JSON Schema
 * (schemas/output/NAME.schema.json, draft 2020-12). Every output schema is loaded into one ajv
 * instance so the schemas' relative `$ref`s (`call.schema.json#/$defs/party`) resolve the way an
 * editor or a script resolves them against their `$id`s. ajv runs in strict mode: a schema with an
 * unknown keyword, a misspelt `required` property or an ambiguous type fails here, not in a user's
 * validator. Each schema is compiled once per test file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import { expect } from 'vitest';

/** ajv-formats is CommonJS: its default export is the function under NodeNext resolution's `default`. */
const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => Ajv2020;

/** schemas/output/ of this checkout. */
export const OUTPUT_SCHEMA_DIR = new URL('../../schemas/output/', import.meta.url);

/** The `$id` prefix every output schema shares. */
const ID_BASE = 'https://schemas.pbxctl.dev/v1/output/';

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

/** Output schema names (file names without `.schema.json`), sorted. */
export function outputSchemaNames(): string[] {
  return readdirSync(OUTPUT_SCHEMA_DIR)
    .filter((f) => f.endsWith('.schema.json'))
    .map((f) => f.slice(0, -'.schema.json'.length))
    .sort();
}

function instance(): Ajv2020 {
  if (ajv) return ajv;
  // strict: true also turns on strictRequired (a `required` name with no property) and strictTypes;
  // union types (`["number", "null"]`) are plain draft 2020-12 and what nullable fields need.
  const a = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats(a);
  for (const name of outputSchemaNames()) {
    const schema = JSON.parse(readFileSync(new URL(`${name}.schema.json`, OUTPUT_SCHEMA_DIR), 'utf8')) as { $id?: string };
    if (schema.$id !== `${ID_BASE}${name}.schema.json`) throw new Error(`schemas/output/${name}.schema.json: $id ${String(schema.$id)} does not match its file name`);
    a.addSchema(schema);
  }
  return (ajv = a);
}

/**
 * The compiled validator of output schema `name` (e.g. `status`).
 * @throws Error when there is no such schema or it does not compile under strict mode
 */
export function outputValidator(name: string): ValidateFunction {
  let v = compiled.get(name);
  if (!v) {
    const a = instance();
    const got = a.getSchema(`${ID_BASE}${name}.schema.json`);
    if (!got) throw new Error(`no output schema ${name} in schemas/output/`);
    compiled.set(name, (v = got));
  }
  return v;
}

/**
 * The ajv errors of `value` against schema `name` as readable lines (`/path: message`), empty
 * when it matches.
 */
export function outputSchemaErrors(name: string, value: unknown): string[] {
  const validate = outputValidator(name);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`);
}

/**
 * Asserts (vitest `expect`) that `value`, a command's parsed JSON output, matches
 * schemas/output/NAME.schema.json; the failure message lists every error.
 */
export function expectMatchesOutputSchema(name: string, value: unknown): void {
  expect(outputSchemaErrors(name, value), `output does not match schemas/output/${name}.schema.json`).toEqual([]);
}
