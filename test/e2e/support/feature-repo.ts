/**
 * What the daemon e2e suites share: writing a repo from a map of files, deploying its feature
 * config and prompts into a lab node's current release the way apply does (without the rest of
 * apply, so a suite can add the Kamailio rows it needs), following the daemon's event stream, and
 * polling until a condition holds.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { compileFeatureConfig } from '../../../src/compile/feature-config.js';
import { promptFiles, releasePrompts } from '../../../src/compile/prompts.js';
import { validateRepoDir } from '../../../src/config/validate.js';
import type { FeatureConfig } from '../../../src/daemon/config-types.js';
import type { DaemonOptions } from '../../../src/daemon/daemon.js';
import type { DaemonEvent } from '../../../src/daemon/events.js';
import type { DesiredState } from '../../../src/model/types.js';
import { renderPrompts } from '../../../src/media/prompt-render.js';
import type { LabNode } from './lab-node.js';

/** Polls `check` every `intervalMs` until it returns without throwing; rethrows its last error after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/** Writes `files` (repo-relative path -> text) into a new temporary directory; returns it. */
export async function writeRepo(files: Record<string, string>, prefix = 'pbxctl-e2e-repo-'): Promise<string> {
  const repo = await mkdtemp(join(tmpdir(), prefix));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(repo, path, '..'), { recursive: true });
    await writeFile(join(repo, path), text);
  }
  return repo;
}

/** A repo deployed into a lab node's current release. */
export interface DeployedFeatures {
  repo: string;
  state: DesiredState;
  config: FeatureConfig;
  /** Rendered prompt durations by prompt id, ms. */
  promptMs: Map<string, number>;
}

/**
 * Validates `repo` (no errors allowed), compiles its feature config (with the real content hashes of
 * its prompt files) and writes `daemon/features.json`, an optional `daemon/secrets.json` and the
 * rendered prompts into `node`'s current release. The daemon still has to (re)load it.
 */
export async function deployFeatureRepo(node: LabNode, repo: string, opts: { secrets?: object } = {}): Promise<DeployedFeatures> {
  const r = await validateRepoDir(repo, { strict: false, secretsFile: join(repo, '.secrets.yaml') });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const state = r.state!;
  const hashes: Record<string, string> = {};
  for (const f of promptFiles(state)) hashes[f] = createHash('sha256').update(await readFile(join(repo, f))).digest('hex');
  const config = compileFeatureConfig(state, { fileHashes: hashes });
  await mkdir(join(node.root, 'current', 'daemon'), { recursive: true });
  await node.writeReleaseFile('daemon/features.json', `${JSON.stringify(config, null, 1)}\n`);
  if (opts.secrets) await node.writeReleaseFile('daemon/secrets.json', `${JSON.stringify(opts.secrets)}\n`);
  const rendered = await renderPrompts(releasePrompts(state, config, hashes), { repoDir: repo, cacheDir: join(node.workDir, 'prompt-cache') });
  await mkdir(join(node.root, 'current', 'prompts'), { recursive: true });
  const promptMs = new Map<string, number>();
  for (const p of rendered) {
    await copyFile(p.path, join(node.root, 'current', 'prompts', p.id));
    promptMs.set(p.id, p.durationMs);
  }
  return { repo, state, config, promptMs };
}

/**
 * Options for an in-process daemon (startDaemon) on `node`'s ports: SIP, NG, API, its RTP range, a
 * state directory under the node's work dir, and Kamailio's evapi unless `withEvapi: false`; `extra` wins.
 */
export function inProcessDaemonOptions(node: LabNode, token: string, extra: Partial<DaemonOptions> & { withEvapi?: boolean } = {}): DaemonOptions {
  const { withEvapi = true, ...rest } = extra;
  return {
    root: node.root,
    sipAddress: '127.0.0.1',
    sipPort: node.ports.daemonSip,
    kamailio: { host: '127.0.0.1', port: node.ports.sip },
    ng: { host: '127.0.0.1', port: node.ports.ng },
    apiPort: node.ports.daemonApi,
    token,
    rtp: { min: node.ports.daemonRtpMin, max: node.ports.daemonRtpMax },
    stateDir: join(node.workDir, 'daemon-state'),
    ...(withEvapi ? { evapi: { host: '127.0.0.1', port: node.ports.evapi } } : {}),
    ...rest,
  };
}

/** Appends db_text rows to a release file and reloads its htable (rows Kamailio needs that the suite adds by hand). */
export async function addHtableRows(node: LabNode, table: 'did' | 'dial', rows: string[]): Promise<void> {
  const file = `db/pbx_${table}`;
  await node.writeReleaseFile(file, `${await node.readReleaseFile(file)}${rows.map((r) => `${r}\n`).join('')}`);
  await node.rpc.call('htable.reload', [table]);
}

/** The daemon's events, collected from GET /v1/events (server-sent events) or an in-process bus. */
export class EventLog {
  readonly events: DaemonEvent[] = [];
  private stream: AbortController | undefined;

  /** Follows the daemon's SSE stream over HTTP until close() (or the daemon goes away). */
  async follow(apiPort: number, token: string): Promise<void> {
    this.stream = new AbortController();
    const res = await fetch(`http://127.0.0.1:${apiPort}/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: this.stream.signal });
    const reader = res.body!.getReader();
    void (async () => {
      let buffer = '';
      const decoder = new TextDecoder();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split('\n').find((l) => l.startsWith('data: '));
            if (data) this.events.push(JSON.parse(data.slice(6)) as DaemonEvent);
          }
        }
      } catch {
        // aborted, or the daemon went away (SIGKILL)
      }
    })();
  }

  /** Stops following. */
  close(): void {
    this.stream?.abort();
  }

  /** The seq of the newest event so far (0 when none). */
  get lastSeq(): number {
    return this.events.at(-1)?.seq ?? 0;
  }

  /** Events of one type after `afterSeq`, narrowed. */
  ofType<T extends DaemonEvent['type']>(type: T, afterSeq = 0): Extract<DaemonEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<DaemonEvent, { type: T }> => e.type === type && e.seq > afterSeq);
  }

  /** The first event of `type` after `afterSeq` matching `pred`, polling until `timeoutMs`. */
  waitEvent<T extends DaemonEvent['type']>(type: T, afterSeq: number, pred: (e: Extract<DaemonEvent, { type: T }>) => boolean = () => true, timeoutMs = 40_000): Promise<Extract<DaemonEvent, { type: T }>> {
    return eventually(() => {
      const e = this.ofType(type, afterSeq).find(pred);
      if (!e) throw new Error(`no ${type} after seq ${afterSeq}; steps: ${this.ofType('call.step', afterSeq).map((x) => x.step).join(' ')}`);
      return e;
    }, timeoutMs);
  }
}
