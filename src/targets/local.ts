/** The local target: a node whose state directory is on this machine (a lab node, or pbxctl on the node). */
import { appendFile, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { kamailioRpc, type KamailioRpc } from '../kamailio/rpc-client.js';
import type { NodeDaemon, Target, TargetStat } from './target.js';

/**
 * A target over `root` with Kamailio JSON-RPC on 127.0.0.1:`rpcPort`.
 * Paths are relative to root and may not escape it.
 * @param opts.daemon the node's feature daemon API, when it runs one (see Target.daemon)
 */
export function localTarget(name: string, root: string, rpcPort: number, rpc: KamailioRpc = kamailioRpc({ port: rpcPort }), domain?: string, opts: { daemon?: NodeDaemon } = {}): Target {
  const abs = (p: string) => {
    const full = join(root, p);
    if (relative(root, full).startsWith('..')) throw new Error(`path ${p} escapes the node root`);
    return full;
  };
  let tmpSeq = 0;
  const tmpName = (p: string) => `${abs(p)}.tmp-${process.pid}-${++tmpSeq}`;
  /** Temp file, fsync, optional mtime, rename: readers see the old file or the whole new one. */
  const writeAtomic = async (p: string, data: string | Buffer, o: { mode?: number; mtimeMs?: number }) => {
    await mkdir(dirname(abs(p)), { recursive: true });
    const tmp = tmpName(p);
    const fh = await open(tmp, 'w', o.mode ?? 0o640);
    try {
      await fh.writeFile(data);
      await fh.sync(); // the file must be on disk before `current` can point at it
    } finally {
      await fh.close();
    }
    if (o.mtimeMs !== undefined) await utimes(tmp, o.mtimeMs / 1000, o.mtimeMs / 1000);
    await rename(tmp, abs(p));
  };
  return {
    name,
    description: `local ${root}`,
    rpc,
    ...(domain ? { domain } : {}),
    ...(opts.daemon ? { daemon: opts.daemon } : {}),
    async readText(p) {
      return readFile(abs(p), 'utf8').catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return undefined;
        throw e;
      });
    },
    async writeText(p, content, o = {}) {
      await writeAtomic(p, content, o);
    },
    async writeBytes(p, data, o = {}) {
      await writeAtomic(p, data, o);
    },
    async createExclusive(p, content) {
      await mkdir(dirname(abs(p)), { recursive: true });
      try {
        await writeFile(abs(p), content, { flag: 'wx', mode: 0o640 });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      }
    },
    async appendText(p, content) {
      await mkdir(dirname(abs(p)), { recursive: true });
      await appendFile(abs(p), content);
    },
    async stat(p): Promise<TargetStat | undefined> {
      const s = await stat(abs(p)).catch(() => undefined);
      return s ? { isFile: s.isFile(), isDirectory: s.isDirectory(), mtimeMs: s.mtimeMs } : undefined;
    },
    async list(dir) {
      return readdir(abs(dir)).catch(() => []);
    },
    async remove(p) {
      await rm(abs(p), { recursive: true, force: true });
    },
    async setMtime(p, mtimeMs) {
      await utimes(abs(p), mtimeMs / 1000, mtimeMs / 1000);
    },
    async readLink(p) {
      const s = await lstat(abs(p)).catch(() => undefined);
      if (!s?.isSymbolicLink()) return undefined;
      return readlink(abs(p));
    },
    async switchLink(p, target) {
      const tmp = tmpName(p);
      await symlink(target, tmp);
      await rename(tmp, abs(p)); // rename(2) replaces the old link atomically
    },
    async close() {
      rpc.close();
    },
  };
}
