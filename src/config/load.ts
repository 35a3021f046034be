/**
 * Builds the desired state from a repo snapshot: parses every YAML document, dispatches it by
 * `kind`, validates it against its JSON Schema and normalizes it into the typed model.
 * Pure over its input; collects every diagnostic instead of stopping at the first.
 */
import { closest } from 'fastest-levenshtein';
import type { Diagnostic, SourcePosition } from '../lib/diagnostics.js';
import { KINDS, kindInfo, type KindInfo } from '../model/kinds.js';
import type { DesiredState, PbxConfig, Resource, ResourceKind } from '../model/types.js';
import type { RepoFile } from './repo-files.js';
import { schemaDiagnostics } from './schema-errors.js';
import { validateAgainst } from './schema-registry.js';
import { documentPosition, locate, parseYamlFile, type SourceDocument, type ValuePath } from './yaml-source.js';

/** A resource as loaded, with the document it came from (for field-level positions). */
export interface LoadedResource {
  resource: Resource;
  info: KindInfo;
  doc: SourceDocument;
}

/** What loading produced: the model (when pbx.yaml is usable), every resource and diagnostics. */
export interface LoadResult {
  /** Undefined when pbx.yaml is missing or invalid: semantic checks then cannot run. */
  state?: DesiredState;
  pbxDoc?: SourceDocument;
  /** Every schema-valid resource in repo order, including duplicates the maps dropped. */
  resources: LoadedResource[];
  /** Identities (`Kind/identity`) of documents that failed their schema but named a usable identity. */
  declaredInvalid: Set<string>;
  diagnostics: Diagnostic[];
}

/** Names accepted for the root file, in order of preference. */
export const ROOT_FILES = ['pbx.yaml', 'pbx.yml'] as const;

const KIND_NAMES = KINDS.map((k) => k.kind);

/** `Kind/identity` key used for identities across the model. */
export function identityKey(kind: ResourceKind, identity: string): string {
  return `${kind}/${identity}`;
}

/** The identity of a resource (number for extensions, id otherwise, kind for singletons). */
export function identityOf(r: Resource): string {
  const info = kindInfo(r.kind)!;
  if (!info.identity) return r.kind;
  return String((r as unknown as Record<string, unknown>)[info.identity]);
}

/**
 * Loads a repo snapshot.
 * @param files the repo's YAML files, sorted by path
 * @param oversized files skipped for size (reported as `file-too-large`)
 */
export function loadRepo(files: readonly RepoFile[], oversized: readonly { path: string; size: number }[] = []): LoadResult {
  const diagnostics: Diagnostic[] = [];
  const resources: LoadedResource[] = [];
  const declaredInvalid = new Set<string>();
  let pbxDoc: SourceDocument | undefined;
  let pbx: PbxConfig | undefined;

  for (const o of oversized) {
    diagnostics.push({
      severity: 'error', rule: 'file-too-large', file: o.path, line: 1, col: 1,
      message: `file is ${(o.size / 1048576).toFixed(1)} MiB; files over 16 MiB are not read`,
      hint: 'Split it into several files (any number of files per folder is fine).',
    });
  }

  const rootName = ROOT_FILES.find((n) => files.some((f) => f.path === n));
  for (const file of files) {
    const parsed = parseYamlFile(file.path, file.bytes);
    for (const d of parsed.diagnostics) diagnostics.push(d);
    // An empty root file is reported once, as missing-root below (not also as a deletable empty file).
    if (parsed.documents.length === 0 && parsed.diagnostics.length === 0 && file.path !== rootName) {
      diagnostics.push({ severity: 'warning', rule: 'empty-file', file: file.path, line: 1, col: 1, message: 'file holds no YAML documents', hint: 'Delete it, or add resources to it.' });
    }
    if (file.path !== rootName && (ROOT_FILES as readonly string[]).includes(file.path)) {
      diagnostics.push({ severity: 'error', rule: 'duplicate-id', file: file.path, line: 1, col: 1, message: `both ${rootName} and ${file.path} exist; only ${rootName} is read`, hint: `Merge them into ${rootName} and delete ${file.path}.` });
      continue;
    }
    if (file.path === rootName) {
      const docs = parsed.documents.filter((d) => d.value != null);
      if (docs.length > 1) {
        diagnostics.push({ severity: 'error', rule: 'invalid-document', ...documentPosition(docs[1]!), message: `${file.path} must hold one document`, hint: 'Move resources into their own folders (extensions/, queues/, ...).' });
      }
      if (docs[0]) {
        pbxDoc = docs[0];
        pbx = loadRoot(docs[0], diagnostics);
      } else if (parsed.diagnostics.length === 0) {
        diagnostics.push({ severity: 'error', rule: 'missing-root', file: file.path, line: 1, col: 1, message: `${file.path} is empty`, hint: 'Run `pbxctl init` for a starting point.' });
      }
      continue;
    }
    for (const sd of parsed.documents) {
      const loaded = loadResourceDocument(sd, diagnostics, declaredInvalid);
      if (loaded) resources.push(loaded);
    }
  }

  if (!rootName) {
    diagnostics.push({
      severity: 'error', rule: 'missing-root', file: 'pbx.yaml', line: 1, col: 1,
      message: 'pbx.yaml not found at the repo root',
      hint: 'Every repo needs pbx.yaml (name, domain, number plan, nodes). Run `pbxctl init` to create one, or pass the right directory.',
    });
  }

  const state = pbx ? buildState(pbx, resources) : undefined;
  return { state, pbxDoc, resources, declaredInvalid, diagnostics };
}

function loadRoot(sd: SourceDocument, diagnostics: Diagnostic[]): PbxConfig | undefined {
  const errors = validateAgainst('pbx', sd.value);
  if (errors.length) {
    for (const d of schemaDiagnostics(sd, errors, 'pbx.yaml')) diagnostics.push(d);
    return undefined;
  }
  return { ...(sd.value as Omit<PbxConfig, 'source'>), source: documentPosition(sd) };
}

function loadResourceDocument(sd: SourceDocument, diagnostics: Diagnostic[], declaredInvalid: Set<string>): LoadedResource | undefined {
  const value = sd.value;
  if (value == null) return undefined; // an empty document between `---` markers
  if (typeof value !== 'object' || Array.isArray(value)) {
    diagnostics.push({
      severity: 'error', rule: 'invalid-document', ...documentPosition(sd),
      message: `document is ${Array.isArray(value) ? 'a list' : `a ${typeof value}`}, not a resource`,
      hint: 'Each YAML document is one resource: a mapping with `kind:` (e.g. kind: Extension). Separate documents with ---.',
    });
    return undefined;
  }
  const obj = value as Record<string, unknown>;
  if (!('kind' in obj)) {
    diagnostics.push({ severity: 'error', rule: 'missing-kind', ...documentPosition(sd), message: 'resource has no "kind"', hint: `Add kind: one of ${KIND_NAMES.join(', ')}.` });
    return undefined;
  }
  const kind = obj.kind;
  const info = typeof kind === 'string' ? kindInfo(kind) : undefined;
  if (!info) {
    const guess = typeof kind === 'string' ? closest(kind, KIND_NAMES as string[]) : undefined;
    diagnostics.push({
      severity: 'error', rule: 'unknown-kind', ...locate(sd, ['kind']),
      message: `unknown kind ${JSON.stringify(kind)}`,
      hint: `${guess ? `Did you mean ${guess}? ` : ''}Known kinds: ${KIND_NAMES.join(', ')}.`,
    });
    return undefined;
  }
  const identity = info.identity ? normalizeNumber(obj[info.identity]) : undefined;
  const label = identity ? `${info.kind} ${identity}` : info.kind;
  const errors = validateAgainst(info.schema, value);
  if (errors.length) {
    for (const d of schemaDiagnostics(sd, errors, label)) diagnostics.push(d);
    if (typeof identity === 'string' && identity !== '') declaredInvalid.add(identityKey(info.kind, identity));
    return undefined;
  }
  const resource = normalize(info, obj, sd);
  return { resource, info, doc: sd };
}

/** Internal numbers may be written as integers; the model keeps them as digit strings. */
function normalizeNumber(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  if (typeof v === 'string') return v;
  return undefined;
}

function normalize(info: KindInfo, obj: Record<string, unknown>, sd: SourceDocument): Resource {
  const r = { ...obj } as Record<string, unknown>;
  // The position is computed only when a diagnostic asks for it: building a file's AST is the
  // slow part of loading (see yaml-source.ts). Not enumerable, so snapshots never carry it.
  let source: SourcePosition | undefined;
  Object.defineProperty(r, 'source', { enumerable: false, configurable: true, get: () => (source ??= documentPosition(sd)) });
  if ('number' in r && r.number !== undefined) r.number = normalizeNumber(r.number);
  if (info.kind === 'RingGroup') {
    r.members = (r.members as Record<string, unknown>[]).map((m) => (m.extension === undefined ? m : { ...m, extension: normalizeNumber(m.extension) }));
  }
  if (info.kind === 'Queue') {
    r.agents = (r.agents as Record<string, unknown>[]).map((a) => ({ ...a, extension: normalizeNumber(a.extension) }));
  }
  return r as unknown as Resource;
}

function buildState(pbx: PbxConfig, resources: readonly LoadedResource[]): DesiredState {
  const state: DesiredState = {
    pbx,
    extensions: new Map(), ringGroups: new Map(), queues: new Map(), ivrs: new Map(), trunks: new Map(),
    inboundRoutes: new Map(), outboundRoutes: new Map(), schedules: new Map(), conferences: new Map(),
    webhooks: new Map(), musicOnHold: new Map(),
  };
  for (const { resource, info } of resources) {
    if (!info.collection) {
      if (resource.kind === 'VoicemailSettings' && !state.voicemailSettings) state.voicemailSettings = resource;
      continue;
    }
    const map = state[info.collection] as Map<string, Resource>;
    const id = identityOf(resource);
    if (!map.has(id)) map.set(id, resource); // first definition wins; duplicates are diagnosed by checks
  }
  return state;
}

/** Position of a path inside a loaded resource's document. */
export function positionIn(lr: { doc: SourceDocument }, path: ValuePath = [], opts: { key?: boolean } = {}): SourcePosition {
  return path.length ? locate(lr.doc, path, opts) : documentPosition(lr.doc);
}

/**
 * Loads just pbx.yaml (or pbx.yml) of a repo: for commands that need the node list or the domain
 * without validating everything. Undefined when it is missing or invalid.
 */
export function loadRootConfig(files: readonly RepoFile[]): PbxConfig | undefined {
  return loadRepo(files.filter((f) => (ROOT_FILES as readonly string[]).includes(f.path))).state?.pbx;
}
