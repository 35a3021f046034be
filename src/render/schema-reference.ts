/**
 * Renders the repo format reference (docs/reference.md) from the JSON Schemas, so the docs
 * cannot drift from what validation enforces. Pure: schemas in, Markdown out.
 */

type JsonSchema = {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  title?: string;
  description?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  examples?: unknown[];
};

/** Loads a schema by file name (`defs`, `extension`); injected so this stays pure. */
export type SchemaSource = (name: string) => JsonSchema;

interface Row {
  path: string;
  type: string;
  required: boolean;
  text: string;
}

function resolveRef(ref: string, current: string, load: SchemaSource): { schema: JsonSchema; file: string } {
  const [file, pointer = ''] = ref.split('#');
  const name = file ? file.replace(/\.schema\.json$/, '') : current;
  let s: JsonSchema = load(name);
  for (const seg of pointer.split('/').filter(Boolean)) s = (s as Record<string, JsonSchema>)[seg]!;
  return { schema: s, file: name };
}

function typeOf(s: JsonSchema, current: string, load: SchemaSource): string {
  if (s.$ref) {
    const r = resolveRef(s.$ref, current, load);
    return r.schema.title ? r.schema.title : typeOf(r.schema, r.file, load);
  }
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((e) => `\`${String(e)}\``).join(' | ');
  if (s.type === 'array' && s.items) return `list of ${typeOf(s.items, current, load)}`;
  if (s.anyOf || s.oneOf) return s.title ?? 'one of several shapes';
  if (Array.isArray(s.type)) return s.type.join(' or ');
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return `map of ${typeOf(s.additionalProperties, current, load)}`;
  return s.title ?? s.type ?? 'any';
}

function rows(s: JsonSchema, current: string, load: SchemaSource, prefix: string, depth: number, out: Row[]): void {
  for (const [name, raw] of Object.entries(s.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    const target = raw.$ref ? resolveRef(raw.$ref, current, load) : { schema: raw, file: current };
    const desc = raw.description ?? target.schema.description ?? '';
    const def = raw.default ?? target.schema.default;
    const text = [desc, def !== undefined ? `Default: \`${JSON.stringify(def)}\`.` : ''].filter(Boolean).join(' ');
    out.push({ path, type: typeOf(raw, current, load), required: (s.required ?? []).includes(name), text });
    const inner = target.schema.type === 'array' && target.schema.items ? (target.schema.items.$ref ? resolveRef(target.schema.items.$ref, target.file, load) : { schema: target.schema.items, file: target.file }) : target;
    if (depth < 3 && inner.schema.properties && !inner.schema.title?.match(/^Prompt$/)) {
      rows(inner.schema, inner.file, load, target.schema.type === 'array' ? `${path}[]` : path, depth + 1, out);
    }
  }
}

/**
 * Markdown reference of the given schemas, in order: a section per schema with its description
 * and a table of properties (dotted paths for nested objects, `[]` for list items).
 */
export function renderSchemaReference(names: readonly string[], load: SchemaSource): string {
  const esc = (t: string) => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const parts = [
    '# Repo format reference',
    '',
    '<!-- Generated from schemas/*.schema.json by `npm run docs`; do not edit by hand. -->',
    '',
    'Each section is one JSON Schema (draft 2020-12) in `schemas/`. Resource documents carry `kind:`; `pbx.yaml` does not.',
    '',
  ];
  for (const name of names) {
    const s = load(name);
    parts.push(`## ${s.title ?? name}`, '', `Schema: \`schemas/${name}.schema.json\` (\`${(s as { $id?: string }).$id ?? ''}\`)`, '', esc(s.description ?? ''), '');
    const list: Row[] = [];
    rows(s, name, load, '', 0, list);
    parts.push('| property | type | required | description |', '|---|---|---|---|');
    for (const r of list) parts.push(`| \`${r.path}\` | ${esc(r.type)} | ${r.required ? 'yes' : ''} | ${esc(r.text)} |`);
    parts.push('');
  }
  const defs = load('defs').$defs ?? {};
  parts.push('## Shared types', '');
  for (const [key, d] of Object.entries(defs)) {
    if (!d.description) continue;
    const ex = d.examples ? ` Examples: ${d.examples.map((e) => `\`${String(e)}\``).join(', ')}.` : '';
    parts.push(`- **${d.title ?? key}**: ${esc(d.description)}${ex}`);
  }
  parts.push('');
  return parts.join('\n');
}
