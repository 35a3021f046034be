import { Args, Flags } from '@oclif/core';
import { closest } from 'fastest-levenshtein';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundledSchema, readSchema } from '../config/schema-registry.js';
import { BaseCommand } from '../lib/base-command.js';
import { PbxError } from '../lib/errors.js';
import { KINDS, SCHEMA_NAMES } from '../model/kinds.js';

interface SchemaEntry {
  kind: string;
  name: string;
  id: string;
  description: string;
}

const ENTRIES = (): SchemaEntry[] => [
  { kind: 'Pbx', name: 'pbx' },
  ...KINDS.map((k) => ({ kind: k.kind as string, name: k.schema })),
  { kind: 'Defs', name: 'defs' },
].map((e) => {
  const s = readSchema(e.name);
  return { ...e, id: String(s.$id), description: String(s.description ?? '') };
});

export default class Schema extends BaseCommand {
  static override summary = 'Print the JSON Schema of a repo kind, or list them.';
  static override description = 'Without KIND, lists every kind with its schema $id. With KIND (Extension, ring-group, pbx, ...), prints that schema. --out DIR writes all schemas to DIR for editors (# yaml-language-server: $schema=...).';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> Extension',
    '<%= config.bin %> <%= command.id %> --out .schemas',
  ];
  static override enableJsonFlag = true;
  static override args = { kind: Args.string({ description: 'Kind (Extension) or schema name (ring-group, pbx, defs).' }) };
  static override flags = { out: Flags.directory({ description: 'Write every schema file into this directory.' }) };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Schema);
    if (flags.out) {
      await mkdir(flags.out, { recursive: true });
      for (const n of SCHEMA_NAMES) await writeFile(join(flags.out, `${n}.schema.json`), `${JSON.stringify(bundledSchema(n), null, 2)}\n`);
      this.log(`Wrote ${SCHEMA_NAMES.length} schemas to ${flags.out}`);
      return { written: SCHEMA_NAMES.map((n) => join(flags.out!, `${n}.schema.json`)) };
    }
    const entries = ENTRIES();
    if (!args.kind) {
      if (!this.jsonEnabled()) {
        const w = Math.max(...entries.map((e) => e.kind.length));
        const wn = Math.max(...entries.map((e) => e.name.length)) + 12;
        for (const e of entries) this.log(`${e.kind.padEnd(w)}  ${`${e.name}.schema.json`.padEnd(wn)}  ${e.description.split('. ')[0]}`);
      }
      return entries;
    }
    const want = args.kind.toLowerCase();
    const entry = entries.find((e) => e.kind.toLowerCase() === want || e.name === want);
    if (!entry) {
      throw new PbxError('UNKNOWN_KIND', `no schema for "${args.kind}"`, { hint: `Did you mean ${closest(args.kind, entries.map((e) => e.kind))}? Run \`pbxctl schema\` for the list.` });
    }
    const schema = readSchema(entry.name);
    if (!this.jsonEnabled()) this.log(JSON.stringify(schema, null, 2));
    return schema;
  }
}
