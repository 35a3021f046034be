// Part of `npm run build`: writes the ahead-of-time compiled schema validators next to the compiled
// schema registry (see standaloneValidatorsSource in src/config/schema-registry.ts).
import { writeFileSync } from 'node:fs';
import { standaloneValidatorsSource } from '../src/config/schema-registry.js';

writeFileSync(new URL('../dist/config/validators.cjs', import.meta.url), standaloneValidatorsSource());
