/**
 * Turns ajv's raw errors into diagnostics a telephony engineer can act on: one per problem,
 * pointing at the offending key or value, with the schema's own description as the hint.
 */
import type { ErrorObject } from 'ajv';
import { closest } from 'fastest-levenshtein';
import type { Diagnostic } from '../lib/diagnostics.js';
import { locate, type SourceDocument, type ValuePath } from './yaml-source.js';

interface SchemaLike {
  title?: string;
  description?: string;
  properties?: Record<string, SchemaLike>;
  enum?: unknown[];
}

/** JSON pointer (`/a/0/b`) to path segments, per RFC 6901 escaping. */
export function pointerToPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `"${v.length > 60 ? `${v.slice(0, 57)}...` : v}"`;
  return String(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'mapping';
  return typeof v;
}

const TYPE_WORDS: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', integer: 'a whole number', number: 'a number', boolean: 'true or false', null: 'null' };

/**
 * Converts ajv errors of one document into diagnostics.
 * - errors inside a failed `oneOf`/`anyOf` are folded into one diagnostic for that value;
 * - `required` points at the mapping, `additionalProperties` at the unknown key (with a spelling hint);
 * - `pattern`/`type` use the schema's title and description to say what was expected.
 */
export function schemaDiagnostics(sd: SourceDocument, errors: ErrorObject[], label: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const unions = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf');
  const insideUnion = (e: ErrorObject) =>
    unions.some((u) => u !== e && e.schemaPath.startsWith(`${u.schemaPath}/`) && e.instancePath.startsWith(u.instancePath));
  // The failing subschema of a `propertyNames` error (ajv marks it with `propertyName`) describes
  // the key, not the value; the `propertyNames` error itself reports it at the key.
  const aboutKey = (e: ErrorObject) => (e as ErrorObject & { propertyName?: string }).propertyName !== undefined;
  // A missing discriminator tag is also a `required` error at the same place: report it once.
  const tagAlsoRequired = (e: ErrorObject) =>
    e.keyword === 'discriminator' && (e.params as { error: string }).error === 'tag' &&
    errors.some((r) => r.keyword === 'required' && r.instancePath === e.instancePath && (r.params as { missingProperty: string }).missingProperty === (e.params as { tag: string }).tag);
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword === 'if' || insideUnion(e) || aboutKey(e) || tagAlsoRequired(e)) continue;
    const d = one(sd, e, errors, label);
    const key = `${d.line}:${d.col}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

function one(sd: SourceDocument, e: ErrorObject, all: ErrorObject[], label: string): Diagnostic {
  const path: ValuePath = pointerToPath(e.instancePath);
  const where = path.length ? `${label} ${path.join('.')}` : label;
  const parent = (e.parentSchema ?? {}) as SchemaLike;
  const hintFrom = (s: SchemaLike | undefined) => s?.description;
  const base = { severity: 'error' as const };
  switch (e.keyword) {
    case 'required': {
      const prop = (e.params as { missingProperty: string }).missingProperty;
      return { ...base, rule: 'missing-property', ...locate(sd, path), message: `${where} is missing required property "${prop}"`, hint: hintFrom(parent.properties?.[prop]) };
    }
    case 'dependentRequired': {
      const p = e.params as { property: string; missingProperty: string };
      return { ...base, rule: 'missing-property', ...locate(sd, [...path, p.property], { key: true }), message: `${where}: "${p.property}" needs "${p.missingProperty}" too`, hint: hintFrom(parent.properties?.[p.missingProperty]) };
    }
    case 'additionalProperties': {
      const prop = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys(parent.properties ?? {});
      const guess = known.length ? closest(prop, known) : undefined;
      return {
        ...base, rule: 'unknown-property', ...locate(sd, [...path, prop], { key: true }),
        message: `${where} has unknown property "${prop}"`,
        hint: guess ? `Did you mean "${guess}"? Allowed: ${known.join(', ')}.` : undefined,
      };
    }
    case 'propertyNames': {
      const name = (e.params as { propertyName: string }).propertyName;
      return { ...base, rule: 'invalid-value', ...locate(sd, [...path, name], { key: true }), message: `${where} has invalid key "${name}"`, hint: hintFrom(parent) };
    }
    case 'type': {
      const want = String((e.params as { type: string }).type).split(',').map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      return { ...base, rule: 'invalid-type', ...locate(sd, path), message: `${where} must be ${want}, not ${typeName(e.data)}`, hint: hintFrom(parent) };
    }
    case 'enum': {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
      const guess = typeof e.data === 'string' && allowed.length ? closest(e.data, allowed) : undefined;
      return {
        ...base, rule: 'invalid-value', ...locate(sd, path),
        message: `${where} is ${describe(e.data)}; allowed: ${allowed.join(', ')}`,
        hint: guess ? `Did you mean "${guess}"?` : hintFrom(parent),
      };
    }
    case 'const':
      return { ...base, rule: 'invalid-value', ...locate(sd, path), message: `${where} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` };
    case 'pattern':
    case 'format': {
      const what = parent.title ? `a valid ${parent.title}` : e.keyword === 'format' ? `a valid ${(e.params as { format: string }).format}` : 'in the expected form';
      return { ...base, rule: 'invalid-value', ...locate(sd, path), message: `${where} is ${describe(e.data)}, which is not ${what}`, hint: hintFrom(parent) };
    }
    case 'oneOf':
    case 'anyOf':
      return union(sd, e, all, where, path);
    case 'discriminator': {
      const p = e.params as { error: string; tag: string; tagValue?: unknown };
      return { ...base, rule: p.error === 'mapping' ? 'invalid-value' : 'missing-property', ...locate(sd, p.error === 'mapping' ? [...path, p.tag] : path), message: `${where}.${p.tag} ${p.error === 'mapping' ? `is ${describe(p.tagValue)}, not one of the allowed types` : 'is required'}`, hint: hintFrom(parent) };
    }
    default:
      return { ...base, rule: 'invalid-value', ...locate(sd, path), message: `${where} ${e.message ?? 'is invalid'}`, hint: hintFrom(parent) };
  }
}

/** A failed oneOf/anyOf: say which alternatives exist instead of listing every branch's errors. */
function union(sd: SourceDocument, e: ErrorObject, all: ErrorObject[], where: string, path: ValuePath): Diagnostic {
  const parent = (e.parentSchema ?? {}) as SchemaLike & { oneOf?: SchemaLike[]; anyOf?: SchemaLike[] };
  const branches = (parent.oneOf ?? parent.anyOf ?? []) as { required?: string[] }[];
  const requiredOnly = branches.length > 0 && branches.every((b) => Array.isArray(b.required) && Object.keys(b).length === 1);
  if (requiredOnly) {
    const sets = branches.map((b) => b.required!.join(' + '));
    const passing = (e.params as { passingSchemas?: number[] | null }).passingSchemas;
    const tooMany = e.keyword === 'oneOf' && Array.isArray(passing) && passing.length > 1;
    return {
      severity: 'error', rule: tooMany ? 'conflicting-properties' : 'missing-property', ...locate(sd, path),
      message: tooMany ? `${where} sets more than one of: ${sets.join(', ')}` : `${where} needs ${e.keyword === 'oneOf' ? 'exactly ' : ''}one of: ${sets.join(', ')}`,
      hint: parent.description,
    };
  }
  // A union of value shapes (e.g. a number as string or integer): report in the parent's words.
  const inner = all.filter((x) => x !== e && x.instancePath === e.instancePath && x.schemaPath.startsWith(`${e.schemaPath}/`));
  const what = parent.title ? `a valid ${parent.title}` : 'in an allowed form';
  return {
    severity: 'error', rule: inner.some((x) => x.keyword === 'type') && inner.every((x) => x.keyword === 'type') ? 'invalid-type' : 'invalid-value',
    ...locate(sd, path),
    message: `${where} is ${describe(e.data)}, which is not ${what}`,
    hint: parent.description,
  };
}
