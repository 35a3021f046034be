// Part of `npm run build`: writes oclif.manifest.json so oclif does not import every command
// module at start-up to learn their flags (what `oclif manifest` does, without that package).
import { writeFileSync } from 'node:fs';
import { Config } from '@oclif/core';

const config = await Config.load({ root: new URL('..', import.meta.url).pathname });
const manifest = config.rootPlugin.manifest;
if (!manifest || Object.keys(manifest.commands).length === 0) throw new Error('oclif found no commands: build dist/ first');
writeFileSync(new URL('../oclif.manifest.json', import.meta.url), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`oclif.manifest.json: ${Object.keys(manifest.commands).length} commands`);
