/**
 * A Target is one node as apply and plan see it: a filesystem rooted at the node's state
 * directory (docs/node-data.md layout), Kamailio's JSON-RPC and, when the node runs one, the
 * feature daemon's HTTP API. The local target and the SSH target implement the same interface, so
 * every command works against both.
 */
import type { DaemonClient } from '../daemon/daemon-client.js';
import type { KamailioRpc } from '../kamailio/rpc-client.js';

/** What plan, apply and status use of a node's feature daemon (daemon-client.ts DaemonClient; fakes in tests). */
export type NodeDaemon = Pick<DaemonClient, 'config' | 'reload' | 'health'>;

/** File metadata the executor needs (mtime for db_text's change detection). */
export interface TargetStat {
  isFile: boolean;
  isDirectory: boolean;
  mtimeMs: number;
}

export interface Target {
  /** The target's name (`lab`, or a node name from pbx.yaml). */
  readonly name: string;
  /** Human description, e.g. `local /root/.local/state/pbxctl/lab`. */
  readonly description: string;
  readonly rpc: KamailioRpc;
  /**
   * The SIP domain (digest realm) the node's static script was rendered with, when known: HA1
   * hashes only work for that realm, so a repo with another domain cannot be applied.
   */
  readonly domain?: string;
  /**
   * The node's feature daemon, when it runs one: plan reads its running config (GET /v1/config
   * entries) as live state, apply reloads it after switching releases. Absent: the node has no
   * daemon, and plans carry no `feature/...` entries (the release still ships daemon/features.json).
   */
  readonly daemon?: NodeDaemon;
  /** Reads a file under the node root; undefined when missing. */
  readText(path: string): Promise<string | undefined>;
  /** Writes a file atomically (temp file + rename), creating parent directories; optional mode and mtime. */
  writeText(path: string, content: string, opts?: { mode?: number; mtimeMs?: number }): Promise<void>;
  /** Writes binary data atomically, like {@link writeText} (prompts: WAV files). */
  writeBytes(path: string, data: Buffer, opts?: { mode?: number; mtimeMs?: number }): Promise<void>;
  /** Creates a file only if it does not exist; false when it does (used for the apply lock). */
  createExclusive(path: string, content: string): Promise<boolean>;
  appendText(path: string, content: string): Promise<void>;
  stat(path: string): Promise<TargetStat | undefined>;
  list(dir: string): Promise<string[]>;
  remove(path: string): Promise<void>;
  setMtime(path: string, mtimeMs: number): Promise<void>;
  readLink(path: string): Promise<string | undefined>;
  /** Points symlink `path` at `target` atomically (a temporary link renamed over it). */
  switchLink(path: string, target: string): Promise<void>;
  close(): Promise<void>;
}
