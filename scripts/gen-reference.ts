// Writes docs/reference.md from the JSON Schemas (`npm run docs`); a test keeps it current.
import { writeFileSync, mkdirSync } from 'node:fs';
import { readSchema } from '../src/config/schema-registry.js';
import { KINDS } from '../src/model/kinds.js';
import { renderSchemaReference } from '../src/render/schema-reference.js';

mkdirSync(new URL('../docs/', import.meta.url), { recursive: true });
const names = ['pbx', ...KINDS.map((k) => k.schema)];
writeFileSync(new URL('../docs/reference.md', import.meta.url), renderSchemaReference(names, (n) => readSchema(n) as never));
console.log('wrote docs/reference.md');
