/**
 * The SSH target's file operations, tunnels and failure modes against a real OpenSSH server on
 * loopback (test/e2e/support/sshd.ts); the "node" is a temporary directory on this machine.
 */
import { createServer, type Server } from 'node:http';
import { lstat, mkdtemp, readFile, readlink, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PbxError } from '../../src/lib/errors.js';
import type { NodeSpec } from '../../src/model/types.js';
import { sshConnectionFor, sshTarget } from '../../src/targets/ssh.js';
import { openTunnel } from '../../src/targets/ssh-tunnel.js';
import type { Target } from '../../src/targets/target.js';
import { startSshd, type Sshd } from '../e2e/support/sshd.js';

let dir: string;
let sshd: Sshd;
let node: NodeSpec;
let target: Target;
const root = () => join(dir, 'node');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pbxctl-ssh-target-'));
  sshd = await startSshd(dir);
  node = { name: 'n1', type: 'ssh', host: '127.0.0.1', port: sshd.port, user: 'root', identityFile: sshd.userKey, knownHosts: sshd.knownHosts, dir: root() };
  target = await sshTarget(node);
}, 30_000);

afterAll(async () => {
  await target?.close();
  await sshd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('SSH target files', () => {
  it('writes atomically with mode and mtime, creating directories, and leaves no temp files', async () => {
    await target.writeText('releases/r1/db/pbx_ext', 'id(int,auto) k(str) v(str)\n', { mode: 0o600, mtimeMs: 1_700_000_000_000 });
    const s = await stat(join(root(), 'releases/r1/db/pbx_ext'));
    expect(s.mode & 0o777).toBe(0o600);
    expect(s.mtimeMs).toBe(1_700_000_000_000);
    expect(await target.readText('releases/r1/db/pbx_ext')).toBe('id(int,auto) k(str) v(str)\n');
    expect(await target.stat('releases/r1/db/pbx_ext')).toEqual({ isFile: true, isDirectory: false, mtimeMs: 1_700_000_000_000 });
    const big = Buffer.alloc(300_000, 0x55);
    await target.writeBytes('releases/r1/prompts/greeting.wav', big);
    expect((await readFile(join(root(), 'releases/r1/prompts/greeting.wav'))).equals(big)).toBe(true);
    expect((await readdir(join(root(), 'releases/r1/prompts'))).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(await target.readText('missing')).toBeUndefined();
    expect(await target.stat('missing')).toBeUndefined();
    expect(await target.list('missing')).toEqual([]);
  });

  it('creates a file exclusively once, appends, lists, touches and removes', async () => {
    expect(await target.createExclusive('state/lock.json', '{"id":"a"}')).toBe(true);
    expect(await target.createExclusive('state/lock.json', '{"id":"b"}')).toBe(false);
    expect(await target.readText('state/lock.json')).toBe('{"id":"a"}');
    await target.appendText('state/deployments.jsonl', '{"n":1}\n');
    await target.appendText('state/deployments.jsonl', '{"n":2}\n');
    expect(await target.readText('state/deployments.jsonl')).toBe('{"n":1}\n{"n":2}\n');
    expect((await target.list('state')).sort()).toEqual(['deployments.jsonl', 'lock.json']);
    await target.setMtime('state/lock.json', 1_600_000_000_000);
    expect((await target.stat('state/lock.json'))?.mtimeMs).toBe(1_600_000_000_000);
    await target.remove('state');
    expect(await target.list('state')).toEqual([]);
  });

  it('switches current by renaming a new symlink over the old one', async () => {
    await target.switchLink('current', 'releases/r1');
    await target.switchLink('current', 'releases/r2');
    expect(await readlink(join(root(), 'current'))).toBe('releases/r2');
    expect((await lstat(join(root(), 'current'))).isSymbolicLink()).toBe(true);
    expect(await target.readLink('current')).toBe('releases/r2');
    expect(await target.readLink('releases')).toBeUndefined();
    expect((await readdir(root())).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('refuses paths outside the node directory', async () => {
    await expect(target.readText('../escape')).rejects.toThrow(/escapes the node root/);
    await expect(target.remove('.')).rejects.toThrow(/node root/);
  });
});

describe('SSH target failures', () => {
  it('fails an upload cut mid-way with SSH_CONNECTION_LOST, keeps the old file, then reconnects', async () => {
    const t = await sshTarget(node);
    try {
      await t.writeText('etc/file', 'old');
      const pending = t.writeBytes('etc/file', Buffer.alloc(2_000_000, 1));
      expect(sshd.cutSessions()).toBeGreaterThan(0);
      const err = await pending.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PbxError);
      expect(err).toMatchObject({ code: 'SSH_CONNECTION_LOST' });
      expect((err as PbxError).message).toMatch(/lost during writing .*etc\/file/);
      expect(await readFile(join(root(), 'etc/file'), 'utf8')).toBe('old');
      // The next operation connects again.
      expect(await t.readText('etc/file')).toBe('old');
    } finally {
      await t.close();
    }
  }, 30_000);

  it('names host key, login and reachability problems', async () => {
    await expect(sshTarget({ ...node, knownHosts: sshd.wrongKnownHosts })).rejects.toMatchObject({ code: 'SSH_HOST_KEY_MISMATCH' });
    await expect(sshTarget({ ...node, knownHosts: join(dir, 'nothing') })).rejects.toMatchObject({ code: 'SSH_HOST_KEY_UNKNOWN' });
    await expect(sshTarget({ ...node, user: 'nobody' })).rejects.toMatchObject({ code: 'SSH_AUTH_FAILED' });
    await expect(sshTarget({ ...node, identityFile: join(dir, 'no-such-key') })).rejects.toMatchObject({ code: 'SSH_KEY_UNREADABLE' });
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    await expect(sshTarget({ ...node, port: closed })).rejects.toMatchObject({ code: 'SSH_HOST_UNREACHABLE' });
    const noAgent = sshConnectionFor({ ...node, identityFile: undefined }, { env: {} });
    await expect(noAgent.connect()).rejects.toMatchObject({ code: 'SSH_NO_CREDENTIALS' });
  }, 30_000);
});

describe('SSH tunnels', () => {
  let http: Server;
  let httpPort: number;
  beforeAll(async () => {
    http = createServer((req, res) => res.end(`hello ${req.url}`));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    httpPort = (http.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => http.close(() => r())));

  it('carries connections from a loopback listener to the node\'s 127.0.0.1, across a reconnect', async () => {
    const conn = sshConnectionFor(node);
    const tunnel = await openTunnel(conn, httpPort);
    try {
      expect(tunnel.localPort).not.toBe(httpPort);
      const get = async () => (await fetch(`http://127.0.0.1:${tunnel.localPort}/v1/health`)).text();
      expect(await get()).toBe('hello /v1/health');
      sshd.cutSessions();
      await new Promise((r) => setTimeout(r, 200));
      expect(await get()).toBe('hello /v1/health');
      expect(conn.lost).toBe(1);
    } finally {
      await tunnel.close();
      conn.close();
    }
  }, 30_000);
});
