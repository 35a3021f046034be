/**
 * What every semantic check receives: the model, where each resource came from, and a sink
 * for diagnostics. Checks are pure functions of this context (audio checks read through
 * the injected AssetReader, secret checks through the injected SecretResolver).
 */
import type { Diagnostic, Severity, SourcePosition } from '../../lib/diagnostics.js';
import { KINDS } from '../../model/kinds.js';
import type { DesiredState, Resource, ResourceKind } from '../../model/types.js';
import type { AssetReader } from '../repo-files.js';
import { identityKey, identityOf, positionIn, type LoadedResource } from '../load.js';
import type { SourceDocument, ValuePath } from '../yaml-source.js';
import type { SecretResolver } from '../secrets.js';

/** Check options from the command line. */
export interface CheckOptions {
  /** `--strict`: unresolvable secrets are errors. */
  strict: boolean;
}

export class CheckContext {
  readonly diagnostics: Diagnostic[] = [];
  private readonly docs = new Map<Resource, SourceDocument>();

  constructor(
    readonly state: DesiredState,
    /** Every schema-valid resource in repo order, duplicates included. */
    readonly resources: readonly LoadedResource[],
    private readonly pbxDoc: SourceDocument,
    private readonly declaredInvalid: ReadonlySet<string>,
    readonly assets: AssetReader,
    readonly secrets: SecretResolver,
    readonly options: CheckOptions,
  ) {
    for (const lr of resources) this.docs.set(lr.resource, lr.doc);
  }

  /**
   * Position of `path` inside `r` (pbx config when r is 'pbx'); the key itself with `key`.
   * Lazy: line and column are computed when first read, because that builds the file's AST
   * (yaml-source.ts) and a valid repo should never pay for it. Checks can take positions freely.
   */
  at(r: Resource | 'pbx', path: ValuePath = [], key = false): SourcePosition {
    const doc = r === 'pbx' ? this.pbxDoc : this.docs.get(r);
    if (!doc) return r === 'pbx' ? { file: 'pbx.yaml', line: 1, col: 1 } : r.source;
    let pos: SourcePosition | undefined;
    const resolve = () => (pos ??= positionIn({ doc }, path, { key }));
    return {
      file: doc.file,
      get line() {
        return resolve().line;
      },
      get col() {
        return resolve().col;
      },
    };
  }

  report(severity: Severity, rule: string, where: SourcePosition, message: string, hint?: string, related?: SourcePosition[]): void {
    const d: Diagnostic = { severity, rule, file: where.file, line: where.line, col: where.col, message };
    if (hint) d.hint = hint;
    if (related?.length) d.related = related.map((p) => ({ file: p.file, line: p.line, col: p.col }));
    this.diagnostics.push(d);
  }

  error(rule: string, where: SourcePosition, message: string, hint?: string, related?: SourcePosition[]): void {
    this.report('error', rule, where, message, hint, related);
  }

  warn(rule: string, where: SourcePosition, message: string, hint?: string, related?: SourcePosition[]): void {
    this.report('warning', rule, where, message, hint, related);
  }

  /** The resource of `kind` with `identity`, if the model has it. */
  find(kind: ResourceKind, identity: string): Resource | undefined {
    const info = KINDS.find((k) => k.kind === kind);
    if (!info?.collection) return undefined;
    return (this.state[info.collection] as Map<string, Resource>).get(identity);
  }

  /** True when a document declared this identity but failed its schema (already reported). */
  declaredButInvalid(kind: ResourceKind, identity: string): boolean {
    return this.declaredInvalid.has(identityKey(kind, identity));
  }

  /** Identities of a kind, for "did you mean" hints. */
  identities(kind: ResourceKind): string[] {
    return this.resources.filter((lr) => lr.resource.kind === kind).map((lr) => identityOf(lr.resource));
  }

  /** Permission classes in force: pbx.yaml's list or the documented default. */
  get permissionClasses(): string[] {
    return this.state.pbx.permissionClasses ?? ['internal', 'local', 'national', 'international'];
  }
}

/** A semantic check: adds diagnostics to the context. May be async (asset reads). */
export type Check = (ctx: CheckContext) => void | Promise<void>;
