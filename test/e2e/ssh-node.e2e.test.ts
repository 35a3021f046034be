/**
 * A node reached over SSH, end to end: Debian's OpenSSH server on a loopback port (throw-away host
 * and user keys), `pbxctl node bootstrap` setting up a node directory on this machine through it
 * (services under the supervisor, as the service user, on their own port block), plan/apply/status
 * of examples/small-office over SSH (SFTP, tunnels to Kamailio's RPC and the daemon's API), a
 * phone registering and calling, host key checking, and an SSH connection cut mid-apply leaving
 * the node on a complete release with the next apply converging.
 */
import { chmod, cp, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { applyNode } from '../../src/apply/executor.js';
import { planFor } from '../../src/apply/prepare.js';
import { renderNodePrompts } from '../../src/apply/prompts.js';
import { openRepo } from '../../src/config/open-repo.js';
import type { PortPlan } from '../../src/lab/ports.js';
import { PbxError } from '../../src/lib/errors.js';
import type { NodeSpec } from '../../src/model/types.js';
import { sshTarget } from '../../src/targets/ssh.js';
import { pbxctl } from '../cli/helpers.js';
import { choosePorts, requireTools, type LabNode } from './support/lab-node.js';
import { call, finalStatus, phoneThatAnswers, register } from './support/phones.js';
import { startSshd, type Sshd } from './support/sshd.js';
import { expectMatchesOutputSchema } from '../support/output-schema.js';

const EXAMPLE = new URL('../../examples/small-office/', import.meta.url).pathname;
const run = promisify(execFile);

let tmp: string;
let sshd: Sshd;
let ports: PortPlan;
let repo: string;
let nodeRoot: string;
let secretsFile: string;
let pw: Record<string, string>;
let node: NodeSpec;
/** What the sipp phone helpers need of a node: its SIP address, a work dir and client ports. */
let phones: LabNode;

const cli = (args: string[]) => pbxctl(args, { env: { XDG_CACHE_HOME: join(tmp, 'cache') } });
const common = () => ['--target', 'n1', '--secrets', secretsFile];
const nodeYaml = (n: NodeSpec) => `nodes:\n  - ${Object.entries(n).map(([k, v]) => `${k}: ${v}`).join('\n    ')}\n`;

/** The repo's pbx.yaml with its nodes replaced by `n`. */
async function writePbxYaml(dir: string, n: NodeSpec): Promise<void> {
  const text = await readFile(join(EXAMPLE, 'pbx.yaml'), 'utf8');
  await writeFile(join(dir, 'pbx.yaml'), text.replace(/\nnodes:\n[\s\S]*?(?=\nsecrets:)/, `\n${nodeYaml(n)}`));
}

beforeAll(async () => {
  requireTools();
  tmp = await mkdtemp(join(tmpdir(), 'pbxctl-ssh-e2e-'));
  // The node's services run as the service user: it must reach the node directory below tmp.
  await chmod(tmp, 0o755);
  ports = await choosePorts();
  sshd = await startSshd(tmp, { avoid: (p) => p >= ports.base && p < ports.base + 400 });
  nodeRoot = join(tmp, 'node');
  node = {
    name: 'n1', type: 'ssh', host: '127.0.0.1', port: sshd.port, user: 'root', identityFile: sshd.userKey, knownHosts: sshd.knownHosts,
    dir: nodeRoot, sipAddress: '127.0.0.1', portBase: ports.base,
  };
  repo = join(tmp, 'repo');
  await cp(EXAMPLE, repo, { recursive: true });
  await writePbxYaml(repo, node);
  // The carrier trunk points at a closed loopback port: its registrations go nowhere, no DNS.
  const trunk = join(repo, 'trunks/carrier.yaml');
  await writeFile(trunk, (await readFile(trunk, 'utf8'))
    .replace('host: sip-east.example.net\n    port: 5060', `host: 127.0.0.1\n    port: ${ports.clientMin}`)
    .replace(/\n {2}- host: sip-west\.example\.net\n( {4}.*\n)+?(?=auth:)/, '\n'));
  secretsFile = join(repo, '.secrets.example.yaml');
  pw = parse(await readFile(secretsFile, 'utf8')) as Record<string, string>;
  let next = ports.clientMin + 1;
  await mkdir(join(tmp, 'clients'));
  phones = {
    sipTarget: `127.0.0.1:${ports.sip}`, workDir: join(tmp, 'clients'),
    allocPorts: (count = 1) => {
      const p = next;
      next += count;
      return p;
    },
  } as LabNode;
}, 60_000);

afterAll(async () => {
  // Exactly the services bootstrap started (recorded pidfiles, command lines checked).
  if (nodeRoot) await run(process.execPath, [join(nodeRoot, 'app', 'bin', 'pbxctl'), 'node', 'services', 'stop', '--dir', nodeRoot]).catch(() => undefined);
  await sshd?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
}, 60_000);

describe('a node over SSH', () => {
  it('refuses a host key known_hosts does not list for the node', async () => {
    const wrong = join(tmp, 'repo-wrong-key');
    await cp(repo, wrong, { recursive: true });
    await writePbxYaml(wrong, { ...node, knownHosts: sshd.wrongKnownHosts });
    const r = await cli(['node', 'bootstrap', 'n1', '--dir', wrong, '--dry-run']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SSH_HOST_KEY_MISMATCH.*does not match/);
    expect(r.stderr).toContain('Someone may be intercepting the connection');
    // An unknown host is refused too unless accepting new keys is asked for; then it is recorded.
    const fresh = join(tmp, 'known_hosts.fresh');
    await expect(sshTarget({ ...node, knownHosts: fresh })).rejects.toMatchObject({ code: 'SSH_HOST_KEY_UNKNOWN' });
    const accepted = await sshTarget({ ...node, knownHosts: fresh }, { acceptNewHostKey: true });
    await accepted.close();
    expect(await readFile(fresh, 'utf8')).toContain(`[127.0.0.1]:${sshd.port} ssh-ed25519 `);
    // Accept-new never overrides a changed key.
    await expect(sshTarget({ ...node, knownHosts: sshd.wrongKnownHosts }, { acceptNewHostKey: true })).rejects.toMatchObject({ code: 'SSH_HOST_KEY_MISMATCH' });
  }, 60_000);

  it('reports an unreachable host and a refused login by their codes', async () => {
    const dead = await sshTarget({ ...node, port: ports.clientMax }).catch((e: unknown) => e);
    expect(dead).toBeInstanceOf(PbxError);
    expect((dead as PbxError).code).toBe('SSH_HOST_UNREACHABLE');
    const refused = await sshTarget({ ...node, user: 'nobody' }).catch((e: unknown) => e);
    expect((refused as PbxError).code).toBe('SSH_AUTH_FAILED');
  }, 30_000);

  it('bootstraps the node: shows the steps first, then sets it up and every service answers', async () => {
    const dry = await cli(['node', 'bootstrap', 'n1', '--dir', repo, '--dry-run']);
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^= operating system Debian/m);
    expect(dry.stdout).toMatch(/^\+ create .*\/node\/ \(2750 root:pbxctl\)$/m);
    expect(dry.stdout).toMatch(/^\+ install pbxctl package/m);
    expect(dry.stdout).toMatch(/^\+ start kamailio$/m);
    await expect(stat(nodeRoot)).rejects.toThrow(); // a dry run changes nothing

    const up = await cli(['node', 'bootstrap', 'n1', '--dir', repo, '--yes']);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/bootstrap: \+ create daemon API token .*: done/);
    expect(up.stdout).toMatch(/Health: kamailio ok \(kamailio 5\.6.*\); rtpengine ok \(NG pong\); daemon ok/);

    // Tight permissions: the token and config only for root and the service group; services as the service user.
    expect((await stat(join(nodeRoot, 'etc', 'daemon.token'))).mode & 0o777).toBe(0o640);
    expect((await stat(join(nodeRoot, 'etc', 'kamailio.cfg'))).mode & 0o777).toBe(0o640);
    expect((await stat(nodeRoot)).mode & 0o7777).toBe(0o2750);
    const { stdout: uid } = await run('id', ['-u', 'pbxctl']);
    for (const s of ['rtpengine', 'kamailio', 'daemon']) {
      const pid = (await readFile(join(nodeRoot, 'run', `${s}.pid`), 'utf8')).trim();
      expect(readFileSync(`/proc/${pid}/status`, 'utf8'), s).toMatch(new RegExp(`^Uid:\\s+${uid.trim()}\\s`, 'm'));
    }
    expect(await readlink(join(nodeRoot, 'current'))).toBe('releases/empty');
  }, 180_000);

  it('re-running bootstrap creates nothing and leaves the configuration alone', async () => {
    const again = await cli(['node', 'bootstrap', 'n1', '--dir', repo, '--yes']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/^\+ /m);
    expect(again.stdout).toMatch(/^= system user pbxctl$/m);
    expect(again.stdout).toMatch(/^= .*\/etc\/kamailio\.cfg$/m);
    expect(again.stdout).toMatch(/^= .*\/etc\/rtpengine\.conf$/m);
    expect(again.stdout).toMatch(/^= daemon API token .* \(kept\)$/m);
    expect(again.stdout).toMatch(/^= kamailio running$/m);
    expect(again.stdout).toMatch(/Health: kamailio ok/);
  }, 120_000);

  it('plans and applies examples/small-office over SSH, the daemon included', async () => {
    const plan = await cli(['plan', repo, ...common(), '--detailed-exitcode']);
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    expect(plan.stdout).toContain('+ extension 300 "Reception"');
    const apply = await cli(['apply', repo, ...common(), '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/apply: reload start .*htable auth.*daemon\.reload\n/);
    expect(apply.stdout).toMatch(/Applied release \S+ to n1/);
    const again = await cli(['plan', repo, ...common(), '--detailed-exitcode']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain('No changes.');

    const target = await sshTarget(node);
    try {
      const running = await target.daemon!.config();
      const shipped = JSON.parse((await target.readText('current/daemon/features.json'))!) as { version: string };
      expect(running.version).toBe(shipped.version);
      expect(Object.keys(running.entries ?? {}).some((id) => id.startsWith('feature/ivr/'))).toBe(true);
    } finally {
      await target.close();
    }
    const status = await cli(['status', repo, '--target', 'n1']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Node n1 \(ssh root@127\.0\.0\.1:\d+:/);
    expect(status.stdout).toMatch(/Daemon {5}ok, .*config [0-9a-f]+, \d+ calls, Kamailio events connected/);
    const json = await cli(['status', repo, '--target', 'n1', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expectMatchesOutputSchema('status', JSON.parse(json.stdout));
    expect(JSON.parse(json.stdout)).toMatchObject({ target: 'n1', daemon: { status: 'ok', evapi: 'connected' }, configured: 8 });
  }, 240_000);

  it('lets a phone register and call another through the applied node, and shows its CDR', async () => {
    expect(finalStatus(await register(phones, '300', phones.allocPorts(), { password: pw['ext-300-password'] }))).toBe(200);
    const callee = await phoneThatAnswers(phones, '300', pw['ext-300-password']);
    try {
      const r = await (await call(phones, '300', { from: '320', password: pw['ext-320-password'] })).done;
      expect(r.responses).toContain(200);
      expect(r.successful).toBe(1);
      expect((await callee.uas.done).requests.map((l) => l.split(' ')[0])).toEqual(['INVITE', 'ACK', 'BYE']);
    } finally {
      await callee.unregister();
    }
    // The call's CDR (Kamailio's evapi events to the daemon) read through the API tunnel.
    let cdrs: { from: string; to: string; disposition: string }[] = [];
    for (let i = 0; i < 50 && !cdrs.some((c) => c.from === '320' && c.to === '300'); i++) {
      const r = await cli(['cdr', repo, '--target', 'n1', '--extension', '300', '--format', 'json']);
      expect(r.code, r.stderr).toBe(0);
      cdrs = JSON.parse(r.stdout) as typeof cdrs;
      expectMatchesOutputSchema('cdr', cdrs);
      if (!cdrs.length) await new Promise((res) => setTimeout(res, 200));
    }
    expect(cdrs).toContainEqual(expect.objectContaining({ from: '320', to: '300', disposition: 'answered' }));
  }, 120_000);

  it('a connection cut mid-apply leaves the node on its complete release, and the next apply converges', async () => {
    const ext = join(repo, 'extensions/front-office.yaml');
    await writeFile(ext, (await readFile(ext, 'utf8')).replace('name: Reception', 'name: Front Desk'));
    const before = await readlink(join(nodeRoot, 'current'));
    const opened = await openRepo(repo, { secretsFile });
    const target = await sshTarget(node);
    let cut = 0;
    let stageStarted = false;
    // Every SSH connection drops while the first prompt of the new release is being uploaded.
    const writeBytes = target.writeBytes.bind(target);
    target.writeBytes = (path, data, o) => {
      const pending = writeBytes(path, data, o);
      if (stageStarted && cut === 0) cut = sshd.cutSessions();
      return pending;
    };
    try {
      const { plan, desired } = await planFor(target, opened.state, opened.secrets, { repoDir: repo });
      expect(plan.summary.update).toBeGreaterThan(0);
      const prompts = await renderNodePrompts(desired.prompts, { repoDir: repo });
      const err = await applyNode(target, desired, plan, {
        command: 'e2e cut', readPrompt: prompts.read,
        onProgress: (step, status) => {
          if (step === 'stage' && status === 'start') stageStarted = true;
        },
      }).catch((e: unknown) => e);
      expect(cut).toBeGreaterThan(0);
      expect(err).toBeInstanceOf(PbxError);
      expect((err as PbxError).code).toBe('SSH_CONNECTION_LOST');
      expect((err as PbxError).message).toMatch(/lost during writing .*releases\/.*\/prompts\//);
    } finally {
      await target.close();
    }
    // current never moved, and what it points at is whole: its inventory and data files are there.
    expect(await readlink(join(nodeRoot, 'current'))).toBe(before);
    const inv = JSON.parse(await readFile(join(nodeRoot, 'current', 'inventory.json'), 'utf8')) as { files: Record<string, string> };
    for (const f of Object.keys(inv.files)) await expect(stat(join(nodeRoot, 'current', f)), f).resolves.toBeTruthy();
    // The lock was released over a new connection: the next apply runs and converges.
    await expect(stat(join(nodeRoot, 'state', 'lock.json'))).rejects.toThrow();
    const plan = await cli(['plan', repo, ...common()]);
    expect(plan.stdout).toContain('~ extension 300 "Front Desk"');
    const apply = await cli(['apply', repo, ...common(), '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(await readlink(join(nodeRoot, 'current'))).not.toBe(before);
    const again = await cli(['plan', repo, ...common(), '--detailed-exitcode']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  }, 240_000);

  it('a node that becomes unreachable mid-apply keeps its release and the lock; force-unlock clears it', async () => {
    const ext = join(repo, 'extensions/front-office.yaml');
    await writeFile(ext, (await readFile(ext, 'utf8')).replace('name: Front Desk', 'name: Lobby'));
    const before = await readlink(join(nodeRoot, 'current'));
    const opened = await openRepo(repo, { secretsFile });
    const target = await sshTarget(node);
    let stageStarted = false;
    let killed = false;
    const writeBytes = target.writeBytes.bind(target);
    target.writeBytes = (path, data, o) => {
      const pending = writeBytes(path, data, o);
      if (stageStarted && !killed) {
        killed = true;
        sshd.kill(); // the listener too: nothing can reconnect, not even to release the lock
      }
      return pending;
    };
    try {
      const { plan, desired } = await planFor(target, opened.state, opened.secrets, { repoDir: repo });
      const prompts = await renderNodePrompts(desired.prompts, { repoDir: repo });
      const err = await applyNode(target, desired, plan, {
        command: 'e2e unreachable', readPrompt: prompts.read,
        onProgress: (step, status) => {
          if (step === 'stage' && status === 'start') stageStarted = true;
        },
      }).catch((e: unknown) => e);
      expect(killed).toBe(true);
      // Releasing the lock needed a new connection, which the dead node refused.
      expect(err).toMatchObject({ code: 'SSH_HOST_UNREACHABLE' });
    } finally {
      await target.close();
    }
    expect(await readlink(join(nodeRoot, 'current'))).toBe(before);
    await sshd.restart();
    const locked = await cli(['apply', repo, ...common(), '--auto-approve']);
    expect(locked.code).toBe(75);
    expect(locked.stderr).toMatch(/LOCKED.*e2e unreachable/);
    const id = JSON.parse(await readFile(join(nodeRoot, 'state', 'lock.json'), 'utf8')).id as string;
    expect(locked.stderr).toContain(id);
    const unlock = await cli(['force-unlock', id, '--target', 'n1', '--dir', repo]);
    expect(unlock.code, unlock.stderr).toBe(0);
    const apply = await cli(['apply', repo, ...common(), '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const again = await cli(['plan', repo, ...common(), '--detailed-exitcode']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  }, 240_000);
});
