/**
 * The plan: a value describing what apply would change on a node (DESIGN.md "The plan is data").
 * Every renderer (text, JSON) reads this one shape; its JSON form is schemas/output/plan.schema.json.
 */
import type { Allocation, NodeEntry } from '../compile/node-data.js';

/** The closed set of actions: create `+`, update `~`, delete `-`, replace `±`. */
export type PlanAction = 'create' | 'update' | 'delete' | 'replace';

/** One changed attribute, by dotted path (`forward.noAnswer`); secrets are never shown. */
export interface AttributeChange {
  path: string;
  before?: unknown;
  after?: unknown;
  sensitive?: boolean;
}

/** A node entry whose live value differs from what the deployed release says (made behind pbxctl's back). */
export interface DriftEntry {
  id: string;
  /** What the deployed release wrote; undefined when the entry should not exist. */
  expected?: string;
  /** What the node has now; undefined when it is missing. */
  live?: string;
  sensitive?: boolean;
}

/** A resource as recorded in an inventory: identity, label and flattened, secret-free attributes. */
export interface ResourceSnapshot {
  kind: string;
  identity: string;
  label: string;
  /** Dotted path -> JSON value; secret values are fingerprints (`sensitive:<hex>`). */
  attributes: Record<string, unknown>;
}

/** A change to one resource. */
export interface ResourceChange {
  action: PlanAction;
  kind: string;
  identity: string;
  label: string;
  changes: AttributeChange[];
  drift: DriftEntry[];
  /** Node entries this version of pbxctl renders differently with no attribute changed (an upgrade). */
  rerendered?: number;
}

/**
 * What pbxctl keeps on the node with each release (releases/<id>/inventory.json): what it owns,
 * content hashes, and the deployment facts. Never trusted alone: plan compares it with RPC dumps.
 */
export interface Inventory {
  formatVersion: 1;
  pbx: { name: string; domain: string };
  release: string;
  commit?: string;
  planHash?: string;
  appliedAt: string;
  appliedBy: string;
  /** Random per node; salts secret fingerprints so they cannot be looked up. */
  salt: string;
  allocation: Allocation;
  resources: ResourceSnapshot[];
  entries: NodeEntry[];
  /** Release file path -> sha256. */
  files: Record<string, string>;
}

/** Counts of each action. */
export interface PlanSummary {
  create: number;
  update: number;
  delete: number;
  replace: number;
}

/** The plan for one node. */
export interface Plan {
  formatVersion: 1;
  target: string;
  pbx: { name: string; domain: string };
  /** Release deployed when the plan was computed (undefined on a fresh node). */
  fromRelease?: string;
  /** Hash of the live state the plan was computed from; apply of a saved plan refuses if it changed. */
  liveHash: string;
  /** Hash of the desired state; equal hashes mean the same target state. */
  desiredHash: string;
  commit?: string;
  changes: ResourceChange[];
  /** Live entries in pbxctl's tables that no resource owns (added on the node); apply removes them. */
  unmanaged: DriftEntry[];
  summary: PlanSummary;
}

/** True when applying the plan would change the node. */
export function hasChanges(plan: Plan): boolean {
  return plan.changes.length > 0 || plan.unmanaged.length > 0;
}
