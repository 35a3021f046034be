/**
 * The build compiles the schema validators ahead of time (dist/config/validators.cjs); the CLI uses
 * them, the other tests compile at run time. Both must report exactly the same errors.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import jsyaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { validateAgainst } from '../../src/config/schema-registry.js';
import { kindInfo } from '../../src/model/kinds.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GENERATED = join(ROOT, 'dist/config/validators.cjs');

function yamlFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.ya?ml$/.test(f) && !f.split('/').some((p) => p.startsWith('.'))).map((f) => join(dir, f));
}

describe('precompiled schema validators', () => {
  it('exist after npm run build', () => {
    expect(existsSync(GENERATED), 'run `npm run build` before the tests').toBe(true);
  });

  it('report the same errors as validators compiled at run time, for every fixture and example document', () => {
    const pre = createRequire(import.meta.url)(GENERATED) as Record<string, ValidateFunction>;
    const docs: { schema: string; value: unknown }[] = [];
    for (const base of ['test/fixtures/invalid', 'examples']) {
      for (const file of yamlFiles(join(ROOT, base))) {
        let values: unknown[];
        try {
          values = jsyaml.loadAll(readFileSync(file, 'utf8'), undefined, { schema: jsyaml.CORE_SCHEMA });
        } catch {
          continue; // the yaml-syntax fixtures
        }
        for (const v of values) {
          if (!v || typeof v !== 'object') continue;
          const kind = (v as { kind?: unknown }).kind;
          const schema = file.endsWith('/pbx.yaml') ? 'pbx' : typeof kind === 'string' ? kindInfo(kind)?.schema : undefined;
          if (schema) docs.push({ schema, value: v });
        }
      }
    }
    expect(docs.length).toBeGreaterThan(150);
    const strip = (errors: unknown[]) => JSON.parse(JSON.stringify(errors.map((e) => ({ ...(e as object), schema: undefined, parentSchema: (e as { parentSchema?: { description?: string } }).parentSchema?.description }))));
    let withErrors = 0;
    for (const d of docs) {
      const runtime = validateAgainst(d.schema, d.value);
      const v = pre[d.schema]!;
      const ok = v(d.value);
      expect(ok).toBe(runtime.length === 0);
      expect(strip([...(v.errors ?? [])])).toEqual(strip(runtime));
      if (runtime.length) withErrors++;
    }
    expect(withErrors).toBeGreaterThan(5);
  });
});
