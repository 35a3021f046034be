/** `pbxctl node bootstrap` and `pbxctl node services` refusing what they cannot do, before touching any node. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pbxctl } from '../cli/helpers.js';

const run = promisify(execFile);
let dir: string;
let closedPort: number;

async function repoWith(nodes: string): Promise<string> {
  const repo = await mkdtemp(join(dir, 'repo-'));
  await writeFile(join(repo, 'pbx.yaml'), `name: t\ndomain: pbx.example.com\nnumberPlan: {extensions: ["100-199"]}\nnodes:\n${nodes}`);
  return repo;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pbxctl-bootstrap-cli-'));
  closedPort = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('pbxctl node bootstrap', () => {
  it('refuses an unknown node, a local node and a node without a SIP address', async () => {
    const repo = await repoWith('  - {name: lab, type: local}\n  - {name: far, type: ssh, host: 127.0.0.1, user: root}\n');
    const unknown = await pbxctl(['node', 'bootstrap', 'nope', '--dir', repo]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/UNKNOWN_TARGET.*Nodes: lab, far/s);
    const local = await pbxctl(['node', 'bootstrap', 'lab', '--dir', repo]);
    expect(local.stderr).toContain('NODE_NOT_SSH');
    const noAddress = await pbxctl(['node', 'bootstrap', 'far', '--dir', repo]);
    expect(noAddress.stderr).toMatch(/NODE_SIP_ADDRESS.*needs sipAddress/);
  });

  it('reports an unreachable node as a JSON error with its code', async () => {
    const repo = await repoWith(`  - {name: far, type: ssh, host: 127.0.0.1, port: ${closedPort}, user: root, sipAddress: 127.0.0.1, identityFile: ${join(dir, 'key')}, knownHosts: ${join(dir, 'kh')}}\n`);
    await writeFile(join(dir, 'key'), 'not a key\n');
    const r = await pbxctl(['node', 'bootstrap', 'far', '--dir', repo, '--json']);
    expect(r.code).toBe(1);
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    // The key is read first: a broken key file is named before any connection is tried.
    expect(err.code).toBe('SSH_KEY_UNREADABLE');
    await rm(join(dir, 'key'));
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
    const gone = await pbxctl(['node', 'bootstrap', 'far', '--dir', repo, '--json']);
    expect(gone.code).toBe(1);
    const e = (JSON.parse(gone.stdout) as { error: { code: string; message: string; hint: string } }).error;
    expect(e.code).toBe('SSH_HOST_UNREACHABLE');
    expect(e.message).toContain(`root@127.0.0.1:${closedPort}`);
    expect(e.hint).toMatch(/sshd runs/);
  });
});

describe('pbxctl node services', () => {
  it('says when the directory was never bootstrapped', async () => {
    const r = await pbxctl(['node', 'services', 'status', '--dir', join(dir, 'none')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NODE_NOT_BOOTSTRAPPED.*pbxctl node bootstrap/s);
  });
});
