/**
 * The SSH target: a node on another machine, reached with node-ssh. Files go up by SFTP under a
 * temporary name (written, fsynced, renamed over the old one with the posix-rename@openssh.com
 * extension, which is rename(2)); `current` is switched by creating a temporary symlink and
 * renaming it over the old one. A connection lost at any point therefore leaves the node on a
 * complete release: staging only writes a new release directory nobody points at, and the switch
 * is one rename. Kamailio's JSON-RPC and the feature daemon's API listen on the node's 127.0.0.1
 * and are reached through SSH local port forwarding (ssh-tunnel.ts).
 */
import { homedir } from 'node:os';
import { posix, resolve as resolveLocal } from 'node:path';
import { DaemonClient } from '../daemon/daemon-client.js';
import { kamailioRpc } from '../kamailio/rpc-client.js';
import { PbxError } from '../lib/errors.js';
import type { NodeSpec } from '../model/types.js';
import { isNoSuchFile, SshConnection, sftpCall, shellQuote, type Sftp, type SftpStats } from './ssh-connection.js';
import { NODE_DESCRIPTOR, nodeDir, nodePorts, nodeTokenFile, type NodeDescriptor } from './ssh-node.js';
import { openTunnel, type SshTunnel } from './ssh-tunnel.js';
import type { Target, TargetStat } from './target.js';

/** SFTP write size: below OpenSSH's 256 KiB packet limit, large enough for few round trips. */
const CHUNK = 32 * 1024;

/** Options of {@link sshTarget} and {@link sshConnectionFor}. */
export interface SshTargetOptions {
  /** Accept and record the host key of a node known_hosts does not list (first contact). */
  acceptNewHostKey?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Expands a leading `~/` to the home directory, then makes the path absolute. */
export function expandHome(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (path === '~' || path.startsWith('~/')) return resolveLocal(env.HOME || homedir(), path.slice(2));
  return resolveLocal(path);
}

/**
 * The SSH connection to an ssh node of pbx.yaml (not yet connected).
 * @throws PbxError SSH_NODE_INCOMPLETE when host or user is missing
 */
export function sshConnectionFor(node: NodeSpec, opts: SshTargetOptions = {}): SshConnection {
  const env = opts.env ?? process.env;
  if (!node.host || !node.user) throw new PbxError('SSH_NODE_INCOMPLETE', `node ${node.name} is type ssh but has no ${node.host ? 'user' : 'host'}`, { hint: 'Set host and user on the node in pbx.yaml.' });
  return new SshConnection({
    host: node.host, port: node.port ?? 22, user: node.user,
    ...(node.identityFile ? { identityFile: expandHome(node.identityFile, env) } : {}),
    ...(env.SSH_AUTH_SOCK ? { agent: env.SSH_AUTH_SOCK } : {}),
    knownHosts: expandHome(node.knownHosts ?? '~/.ssh/known_hosts', env),
    ...(opts.acceptNewHostKey ? { acceptNewHostKey: true } : {}),
  });
}

/**
 * Reads DIR/etc/node.json over the connection; undefined on a node bootstrap has not set up.
 * @throws PbxError NODE_DESCRIPTOR_CORRUPT when it is not JSON
 */
export async function readNodeDescriptor(conn: SshConnection, dir: string): Promise<NodeDescriptor | undefined> {
  const file = posix.join(dir, NODE_DESCRIPTOR);
  const text = await conn.run(`reading ${file}`, (sftp) => readRemote(sftp, file));
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as NodeDescriptor;
  } catch {
    throw new PbxError('NODE_DESCRIPTOR_CORRUPT', `${conn.label}:${file} is not valid JSON`, { hint: 'Run pbxctl node bootstrap again: it rewrites it.' });
  }
}

/**
 * uid and gid of the node's service user, when this login may hand files to it (root): files that
 * only their owner may read (mode 0600: trunk passwords in db/uacreg, the inventory) are given to
 * the service user, so Kamailio reads them and nobody else does.
 */
async function serviceIds(conn: SshConnection, user: string): Promise<{ uid: number; gid: number } | undefined> {
  const r = await conn.exec(`[ "$(id -u)" = 0 ] && id -u ${shellQuote(user)} && id -g ${shellQuote(user)}`);
  const [uid, gid] = r.stdout.trim().split('\n').map(Number);
  return r.code === 0 && Number.isInteger(uid) && Number.isInteger(gid) ? { uid: uid!, gid: gid! } : undefined;
}

async function readRemote(sftp: Sftp, file: string): Promise<string | undefined> {
  try {
    return (await sftpCall<Buffer>((cb) => sftp.readFile(file, cb))).toString('utf8');
  } catch (e) {
    if (isNoSuchFile(e)) return undefined;
    throw e;
  }
}

/**
 * Opens the target of an ssh node: connects (checking the host key), reads the node's descriptor
 * (written by `pbxctl node bootstrap`) for its ports, domain and daemon token file, and opens the
 * tunnels to Kamailio's JSON-RPC and, on a node with a daemon, the daemon's API.
 * @throws PbxError from the connection (SSH_HOST_KEY_MISMATCH, SSH_HOST_UNREACHABLE, SSH_AUTH_FAILED,
 *   ...), SSH_DAEMON_TOKEN when the daemon's token file cannot be read
 */
export async function sshTarget(node: NodeSpec, opts: SshTargetOptions = {}): Promise<Target & { readonly connection: SshConnection }> {
  const conn = sshConnectionFor(node, opts);
  const root = nodeDir(node);
  const tunnels: SshTunnel[] = [];
  try {
    await conn.connect();
    const descriptor = await readNodeDescriptor(conn, root);
    const ports = descriptor?.ports ?? nodePorts(node);
    const rpcTunnel = await openTunnel(conn, ports.rpc);
    tunnels.push(rpcTunnel);
    const rpc = kamailioRpc({ port: rpcTunnel.localPort });
    let daemon: DaemonClient | undefined;
    // A bootstrapped node runs the daemon; a hand-made one only when pbx.yaml names its API port.
    if (descriptor || node.daemonApiPort !== undefined) {
      const tokenFile = descriptor?.daemonTokenFile ?? nodeTokenFile(node);
      const token = await conn.run(`reading ${tokenFile}`, (sftp) => readRemote(sftp, tokenFile)).catch((e: unknown) => {
        if (e instanceof PbxError) throw e;
        throw new PbxError('SSH_DAEMON_TOKEN', `cannot read the feature daemon's token ${conn.label}:${tokenFile}: ${(e as Error).message}`, { hint: `The SSH user needs read access to it (group ${descriptor?.serviceUser ?? 'pbxctl'}).`, cause: e });
      });
      if (token === undefined) throw new PbxError('SSH_DAEMON_TOKEN', `the feature daemon's token file ${conn.label}:${tokenFile} does not exist`, { hint: 'Run pbxctl node bootstrap for this node: it writes the token and starts the daemon with it.' });
      const apiTunnel = await openTunnel(conn, ports.daemonApi);
      tunnels.push(apiTunnel);
      daemon = new DaemonClient({ host: '127.0.0.1', port: apiTunnel.localPort, token: token.trim() });
    }
    const owner = descriptor ? await serviceIds(conn, descriptor.serviceUser) : undefined;
    return remoteFiles(node.name, root, conn, {
      rpc, tunnels, ...(owner ? { owner } : {}),
      description: `ssh ${conn.label}:${root}`,
      ...(descriptor ? { domain: descriptor.domain } : {}),
      ...(daemon ? { daemon } : {}),
    });
  } catch (e) {
    for (const t of tunnels) await t.close();
    conn.close();
    throw e;
  }
}

/** The Target's filesystem operations over SFTP, rooted at `root` on the node. */
function remoteFiles(
  name: string,
  root: string,
  conn: SshConnection,
  extra: { rpc: Target['rpc']; tunnels: SshTunnel[]; description: string; domain?: string; daemon?: DaemonClient; owner?: { uid: number; gid: number } },
): Target & { readonly connection: SshConnection } {
  const abs = (p: string) => {
    const full = posix.join(root, p);
    if (full !== root && !full.startsWith(`${root}/`)) throw new Error(`path ${p} escapes the node root`);
    return full;
  };
  let seq = 0;
  const tmpName = (full: string) => `${full}.tmp-${process.pid}-${++seq}`;
  const made = new Set<string>(['/']);
  const mkdirp = async (sftp: Sftp, dir: string): Promise<void> => {
    if (made.has(dir)) return;
    const st = await sftpCall<SftpStats>((cb) => sftp.stat(dir, cb)).catch(() => undefined);
    if (!st) {
      await mkdirp(sftp, posix.dirname(dir));
      await sftpCall((cb) => sftp.mkdir(dir, { mode: 0o750 }, cb)).catch(async (e: unknown) => {
        // Lost a race with another writer: fine if it is a directory now.
        if (!(await sftpCall<SftpStats>((cb) => sftp.stat(dir, cb)).catch(() => undefined))?.isDirectory()) throw e;
      });
    } else if (!st.isDirectory()) {
      throw new PbxError('SSH_NOT_A_DIRECTORY', `${conn.label}:${dir} exists and is not a directory`);
    }
    made.add(dir);
  };
  /** Writes `data` to an open handle in chunks, then fsyncs (the data must be on disk before `current` can point at it). */
  const writeAll = async (sftp: Sftp, handle: Buffer, data: Buffer) => {
    for (let off = 0; off < data.length; off += CHUNK) {
      const len = Math.min(CHUNK, data.length - off);
      await sftpCall((cb) => sftp.write(handle, data, off, len, off, cb));
    }
    await sftpCall((cb) => sftp.ext_openssh_fsync(handle, cb));
  };
  // async: a path that escapes the root rejects like any other failure instead of throwing synchronously.
  const writeAtomic = async (p: string, data: Buffer, o: { mode?: number; mtimeMs?: number }) =>
    conn.run(`writing ${abs(p)}`, async (sftp) => {
      const full = abs(p);
      await mkdirp(sftp, posix.dirname(full));
      const tmp = tmpName(full);
      const handle = await sftpCall<Buffer>((cb) => sftp.open(tmp, 'w', { mode: o.mode ?? 0o640 }, cb));
      try {
        await writeAll(sftp, handle, data);
        // Owner-only files belong to the service user (see serviceIds); group-readable ones reach it through the group.
        if (extra.owner && ((o.mode ?? 0o640) & 0o040) === 0) await sftpCall((cb) => sftp.fchown(handle, extra.owner!.uid, extra.owner!.gid, cb));
      } finally {
        await sftpCall((cb) => sftp.close(handle, cb)).catch(() => undefined);
      }
      if (o.mtimeMs !== undefined) await sftpCall((cb) => sftp.utimes(tmp, o.mtimeMs! / 1000, o.mtimeMs! / 1000, cb));
      await sftpCall((cb) => sftp.ext_openssh_rename(tmp, full, cb));
    });
  return {
    name,
    description: extra.description,
    rpc: extra.rpc,
    connection: conn,
    ...(extra.domain ? { domain: extra.domain } : {}),
    ...(extra.daemon ? { daemon: extra.daemon } : {}),
    readText: async (p) => conn.run(`reading ${abs(p)}`, (sftp) => readRemote(sftp, abs(p))),
    writeText: async (p, content, o = {}) => writeAtomic(p, Buffer.from(content, 'utf8'), o),
    writeBytes: async (p, data, o = {}) => writeAtomic(p, data, o),
    createExclusive: async (p, content) =>
      conn.run(`creating ${abs(p)}`, async (sftp) => {
        const full = abs(p);
        await mkdirp(sftp, posix.dirname(full));
        let handle: Buffer;
        try {
          handle = await sftpCall<Buffer>((cb) => sftp.open(full, 'wx', { mode: 0o640 }, cb));
        } catch (e) {
          // OpenSSH's sftp-server answers EEXIST with a generic failure: look.
          if (await sftpCall<SftpStats>((cb) => sftp.lstat(full, cb)).catch(() => undefined)) return false;
          throw e;
        }
        try {
          await writeAll(sftp, handle, Buffer.from(content, 'utf8'));
        } finally {
          await sftpCall((cb) => sftp.close(handle, cb)).catch(() => undefined);
        }
        return true;
      }),
    appendText: async (p, content) =>
      conn.run(`appending to ${abs(p)}`, async (sftp) => {
        const full = abs(p);
        await mkdirp(sftp, posix.dirname(full));
        // 'a' opens with SSH_FXF_APPEND, which OpenSSH maps to O_APPEND: the offset is ignored.
        const handle = await sftpCall<Buffer>((cb) => sftp.open(full, 'a', { mode: 0o640 }, cb));
        try {
          await writeAll(sftp, handle, Buffer.from(content, 'utf8'));
        } finally {
          await sftpCall((cb) => sftp.close(handle, cb)).catch(() => undefined);
        }
      }),
    stat: async (p) =>
      conn.run(`reading ${abs(p)}`, async (sftp): Promise<TargetStat | undefined> => {
        const s = await sftpCall<SftpStats>((cb) => sftp.stat(abs(p), cb)).catch((e: unknown) => {
          if (isNoSuchFile(e)) return undefined;
          throw e;
        });
        return s ? { isFile: s.isFile(), isDirectory: s.isDirectory(), mtimeMs: s.mtime * 1000 } : undefined;
      }),
    list: async (dir) =>
      conn.run(`listing ${abs(dir)}`, async (sftp) => {
        const entries = await sftpCall<{ filename: string }[]>((cb) => sftp.readdir(abs(dir), cb)).catch((e: unknown) => {
          if (isNoSuchFile(e)) return [];
          throw e;
        });
        return entries.map((e) => e.filename).filter((f) => f !== '.' && f !== '..');
      }),
    remove: async (p) => {
      const full = abs(p);
      if (full === root) throw new Error('refusing to remove the node root');
      const r = await conn.exec(`rm -rf -- ${shellQuote(full)}`);
      if (r.code !== 0) throw new PbxError('SSH_REMOVE_FAILED', `cannot remove ${conn.label}:${full}: ${r.stderr.trim() || `exit ${r.code}`}`);
      made.clear();
      made.add('/');
    },
    setMtime: async (p, mtimeMs) => conn.run(`touching ${abs(p)}`, (sftp) => sftpCall((cb) => sftp.utimes(abs(p), mtimeMs / 1000, mtimeMs / 1000, cb))),
    readLink: async (p) =>
      conn.run(`reading link ${abs(p)}`, async (sftp) => {
        const s = await sftpCall<SftpStats>((cb) => sftp.lstat(abs(p), cb)).catch(() => undefined);
        if (!s?.isSymbolicLink()) return undefined;
        return sftpCall<string>((cb) => sftp.readlink(abs(p), cb));
      }),
    switchLink: async (p, target) =>
      conn.run(`switching ${abs(p)} to ${target}`, async (sftp) => {
        const full = abs(p);
        const tmp = tmpName(full);
        await sftpCall((cb) => sftp.symlink(target, tmp, cb));
        // posix-rename@openssh.com is rename(2): the old link is replaced atomically (plain SFTP
        // rename refuses an existing target).
        await sftpCall((cb) => sftp.ext_openssh_rename(tmp, full, cb));
      }),
    async close() {
      extra.rpc.close();
      for (const t of extra.tunnels) await t.close();
      conn.close();
    },
  };
}
