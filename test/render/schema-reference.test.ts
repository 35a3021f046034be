import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSchema } from '../../src/config/schema-registry.js';
import { KINDS } from '../../src/model/kinds.js';
import { renderSchemaReference } from '../../src/render/schema-reference.js';

describe('docs/reference.md', () => {
  const names = ['pbx', ...KINDS.map((k) => k.schema)];
  const md = renderSchemaReference(names, (n) => readSchema(n) as never);

  it('is generated from the current schemas (run `npm run docs` after changing a schema)', () => {
    expect(readFileSync(new URL('../../docs/reference.md', import.meta.url), 'utf8')).toBe(md);
  });

  it('documents every kind and its required properties', () => {
    for (const k of KINDS) expect(md).toContain(`## ${k.kind}`);
    expect(md).toMatch(/\| `password` \| Secret reference \| yes \|/);
    expect(md).toMatch(/\| `members\[\]\.extension` \| Internal number \|/);
  });
});
