/**
 * GitOps end to end with real git and a real lab node (Kamailio, RTPengine and the feature daemon on loopback):
 * push-to-deploy through a bare repo's post-receive hook (`pbxctl hooks install --post-receive`),
 * history with commits and authors, an invalid push that changes nothing and says why, rollback
 * to the first commit, drift after a change made behind pbxctl's back (a data file rewritten and
 * reloaded through RPC), one-shot sync twice (the second a no-op), watch re-planning on a save, and
 * sync/history/drift through the SSH target (Debian's OpenSSH server on loopback) to the same node.
 */
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureConfigVersion, type FeatureConfig } from '../../src/daemon/config-types.js';
import { readLiveEntries } from '../../src/kamailio/live-state.js';
import type { Inventory } from '../../src/plan/types.js';
import { writeLabInfo } from '../../src/targets/lab-registry.js';
import { ROOT, pbxctl } from '../cli/helpers.js';
import { commitFiles, gitIn, initRepo } from '../gitops/git-fixture.js';
import { expectMatchesOutputSchema } from '../support/output-schema.js';
import { TRUNK_IP, startLabNode, type LabNode } from './support/lab-node.js';
import { startSshd, type Sshd } from './support/sshd.js';

const EXAMPLE = new URL('../../examples/small-office/', import.meta.url).pathname;
const ALICE = 'Alice Smith <alice@example.com>';
const BOB = 'Bob Jones <bob@example.com>';

let node: LabNode;
let tmp: string;
let work: string;
let bare: string;
let secretsFile: string;
let labDir: string;
let cacheHome: string;
const sha: Record<string, string> = {};

const env = () => ({ PBXCTL_LAB_DIR: labDir, XDG_CACHE_HOME: cacheHome });
const cli = (args: string[]) => pbxctl(args, { env: env() });

/** `git push` as a user would run it (no pbxctl variables: the hook sets its own); code and both streams. */
function push(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('git', ['push', 'node', 'main'], { cwd: work, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp, GIT_CONFIG_NOSYSTEM: '1' }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function inventory(): Promise<Inventory> {
  return JSON.parse(await readFile(join(node.root, 'current', 'inventory.json'), 'utf8')) as Inventory;
}

/** The live `htable/ext/301` value, read from Kamailio. */
async function ext301(): Promise<string | undefined> {
  return (await readLiveEntries(node.rpc)).get('htable/ext/301');
}

async function history(): Promise<{ deployments: { release: string; commit?: string; author?: string; subject?: string; command?: string; current: boolean }[] }> {
  const r = await cli(['history', '--target', 'lab', '--json']);
  expect(r.code, r.stderr).toBe(0);
  const h = JSON.parse(r.stdout);
  expectMatchesOutputSchema('history', h);
  return h;
}

/** Edits a file of the work tree with `edit` and commits it as `author`. */
async function commitEdit(file: string, edit: (text: string) => string, message: string, author = ALICE): Promise<string> {
  const text = await readFile(join(work, file), 'utf8');
  const next = edit(text);
  if (next === text) throw new Error(`test setup: the edit of ${file} changed nothing`);
  return commitFiles(work, { [file]: next }, message, author);
}

beforeAll(async () => {
  node = await startLabNode('gitops', { domain: 'pbx.example.com', empty: true, daemon: true });
  tmp = await mkdtemp(join(tmpdir(), 'pbxctl-gitops-e2e-'));
  labDir = join(tmp, 'lab');
  cacheHome = join(tmp, 'cache');
  await writeLabInfo(labDir, node.labInfo('pbx.example.com'));
  work = join(tmp, 'work');
  await cp(EXAMPLE, work, { recursive: true });
  // The example's carrier on loopback (as in pbxctl-apply.e2e), one host; its registrations off.
  const trunk = join(work, 'trunks/carrier.yaml');
  const text = await readFile(trunk, 'utf8');
  await writeFile(trunk, text
    .replace('host: sip-east.example.net\n    port: 5060', `host: ${TRUNK_IP}\n    port: ${node.carrierPorts[0]}`)
    .replace(/\n {2}- host: sip-west\.example\.net\n( {4}.*\n)+?(?=auth:)/, '\n'));
  await node.rpc.call('uac.reg_active', [0]);
  // Secrets never go into git: they live next to the node, passed with --secrets.
  secretsFile = join(tmp, 'secrets.yaml');
  await rename(join(work, '.secrets.example.yaml'), secretsFile);
  initRepo(work);
  gitIn(work, ['add', '-A']);
  gitIn(work, ['commit', '-q', '-m', 'Small office', '--no-verify'], ALICE);
  sha.first = gitIn(work, ['rev-parse', 'HEAD']);
  bare = join(tmp, 'node.git');
  await mkdir(bare);
  gitIn(bare, ['init', '-q', '--bare']);
  gitIn(work, ['remote', 'add', 'node', bare]);
}, 90_000);

afterAll(async () => {
  await node?.stop();
  if (tmp && !process.env.PBXCTL_E2E_KEEP) await rm(tmp, { recursive: true, force: true });
});

describe('push-to-deploy', () => {
  it('installs the post-receive hook with pbxctl hooks install', async () => {
    const r = await cli(['hooks', 'install', '--post-receive', bare, '--ref', 'main', '--target', 'lab', '--secrets', secretsFile, '--env', `PBXCTL_LAB_DIR=${labDir}`, '--env', `XDG_CACHE_HOME=${cacheHome}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Installed post-receive hook: ${join(bare, 'hooks', 'post-receive')}`);
  });

  it('a push deploys the pushed commit; history shows it with its author', async () => {
    const first = await push();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('remote: pbxctl: deploying refs/heads/main');
    expect(first.stderr).toMatch(/remote:\s+\+ extension 300 "Reception"/);
    expect(first.stderr).toMatch(/remote: apply: verify done/);
    expect(first.stderr).toContain('remote: pbxctl: deploy of refs/heads/main done.');
    // Readable in a terminal and in CI logs: no escape sequences.
    expect(first.stderr).not.toContain('\u001b[');
    expect((await inventory()).commit).toBe(sha.first);
    expect(await ext301()).toContain('maxc=4;');

    sha.second = await commitEdit('extensions/front-office.yaml', (t) => t.replace('maxContacts: 4\n', 'maxContacts: 5\n'), 'Sam gets five phones', BOB);
    const second = await push();
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/remote:\s+~ extension 301 "Sam Whitaker"/);
    expect(second.stderr).toMatch(/remote: Applied release \S+ \(commit [0-9a-f]{12} "Sam gets five phones" \(Bob Jones\)\) to lab/);
    expect((await inventory()).commit).toBe(sha.second);
    expect(await ext301()).toContain('maxc=5;');

    const h = await history();
    expect(h.deployments.slice(0, 2).map((d) => [d.commit, d.author, d.subject, d.current])).toEqual([
      [sha.second, BOB, 'Sam gets five phones', true],
      [sha.first, ALICE, 'Small office', false],
    ]);
    const text = await cli(['history', '--target', 'lab']);
    expect(text.stdout).toMatch(new RegExp(`^\\*\\s+\\S+\\s+${sha.second!.slice(0, 12)}\\s+Bob Jones\\s+.*\\+0 ~1 -0\\s+Sam gets five phones$`, 'm'));
  }, 120_000);

  it('an invalid push changes nothing on the node, and the push output says why', async () => {
    const before = (await inventory()).release;
    sha.bad = await commitEdit('extensions/front-office.yaml', (t) => t.replace('  busy: voicemail:300\n', '  busy: extension:398\n'), 'Forward to nowhere');
    const r = await push();
    // post-receive cannot reject a push; what matters is that the pusher is told.
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/remote:\s+extensions\/front-office\.yaml:\d+:\d+ error unresolved-reference forward\.busy: extension:398/);
    expect(r.stderr).toMatch(/remote: sync: REFUSED [0-9a-f]{12}: commit [0-9a-f]{12} "Forward to nowhere" .*fails validation/);
    expect(r.stderr).toContain('remote: pbxctl: DEPLOY FAILED (exit 1)');
    const inv = await inventory();
    expect(inv.release).toBe(before);
    expect(inv.commit).toBe(sha.second);
    expect(await ext301()).toContain('maxc=5;');
    expect((await history()).deployments).toHaveLength(2);
  }, 60_000);
});

describe('rollback', () => {
  it('refuses a commit the repo does not have', async () => {
    const r = await cli(['rollback', 'deadbeefdeadbeef', '--repo', work, '--target', 'lab', '--yes', '--secrets', secretsFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error [COMMIT_NOT_IN_REPO]');
  });

  it('redeploys the first commit through plan and apply, recorded as a new deployment', async () => {
    const r = await cli(['rollback', sha.first!.slice(0, 10), '--repo', work, '--target', 'lab', '--yes', '--secrets', secretsFile]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`to commit ${sha.first!.slice(0, 12)} "Small office" (Alice Smith), deployed as release`);
    expect(r.stdout).toMatch(/~ extension 301 "Sam Whitaker"\n\s+~ maxContacts: 5 -> 4/);
    expect(r.stdout).toMatch(/Applied release \S+ \(commit/);
    expect(await ext301()).toContain('maxc=4;');
    const h = await history();
    expect(h.deployments[0]).toMatchObject({ commit: sha.first, author: ALICE, current: true, command: expect.stringMatching(/^pbxctl rollback /) });
    expect(h.deployments).toHaveLength(3);
    // Without an argument: back to the deployment before the current one, refused without a terminal.
    const ask = await cli(['rollback', '--repo', work, '--target', 'lab', '--secrets', secretsFile]);
    expect(ask.code).toBe(1);
    expect(ask.stdout).toContain(`to commit ${sha.second!.slice(0, 12)}`);
    expect(ask.stderr).toContain('Error [CONFIRMATION_REQUIRED]');
    expect((await inventory()).commit).toBe(sha.first);
  }, 60_000);
});

describe('drift', () => {
  it('exits 0 while the node matches, and 2 after a data file was rewritten and reloaded behind pbxctl\'s back', async () => {
    const clean = await cli(['drift', '--target', 'lab']);
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stdout).toContain('No drift');
    // The same node as a local node directory in pbx.yaml (pbxctl running on the node itself).
    const office = join(tmp, 'office');
    await mkdir(office, { recursive: true });
    const pbxYaml = await readFile(join(work, 'pbx.yaml'), 'utf8');
    const nodes = `nodes:\n  - name: office\n    type: local\n    dir: ${node.root}\n    rpcPort: ${node.ports.rpc}\n`;
    await writeFile(join(office, 'pbx.yaml'), pbxYaml.replace(/^nodes:\n(?: {2}.*\n)+/m, nodes));
    expect(await readFile(join(office, 'pbx.yaml'), 'utf8')).toContain('name: office');
    const local = await cli(['drift', office, '--target', 'office']);
    expect(local.code, local.stdout + local.stderr).toBe(0);
    expect(local.stdout).toContain('Node office: release');
    // A local node entry without the daemon's API: its running config cannot be compared, and drift says so.
    expect(local.stdout).toContain('the feature daemon\'s running config was not compared: target office has no daemon API');
    expect(clean.stdout).not.toContain('was not compared');
    const localHistory = await cli(['history', office, '--target', 'office', '--json']);
    expect(JSON.parse(localHistory.stdout).deployments).toEqual((await history()).deployments);

    const inv = await inventory();
    const extFile = Object.keys(inv.files).find((f) => /(^|\/)(pbx_)?ext$/.test(f));
    expect(extFile, Object.keys(inv.files).join(', ')).toBeDefined();
    const text = await node.readReleaseFile(extFile!);
    const edited = text.split('\n').map((l) => (/^301[:\s]/.test(l) ? l.replace('maxc=4;', 'maxc=9;') : l)).join('\n');
    expect(edited, text).not.toBe(text);
    await node.writeReleaseFile(extFile!, edited);
    await node.rpc.call('htable.reload', ['ext']);
    expect(await ext301()).toContain('maxc=9;');

    const drifted = await cli(['drift', '--target', 'lab']);
    expect(drifted.code, drifted.stderr).toBe(2);
    expect(drifted.stdout).toMatch(/~ htable ext 301 \[Extension\/301\]: ".*maxc=9.*" on the node, deployed ".*maxc=4.*"/);
    expect(drifted.stdout).toContain(`! file current/${extFile}: edited on the node`);
    const json = await cli(['drift', '--target', 'lab', '--json']);
    expect(json.code).toBe(2);
    const report = JSON.parse(json.stdout);
    expectMatchesOutputSchema('drift', report);
    expect(report).toMatchObject({ inSync: false, commit: sha.first, files: [{ path: extFile, kind: 'changed' }] });
    expect(report.entries.map((e: { id: string }) => e.id)).toEqual(['htable/ext/301']);
  }, 60_000);

  it('exits 1 when the node cannot be read', async () => {
    const r = await pbxctl(['drift', '--target', 'lab'], { env: { PBXCTL_LAB_DIR: join(tmp, 'no-lab'), XDG_CACHE_HOME: cacheHome } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error [LAB_NOT_RUNNING]');
  });
});

describe('sync', () => {
  it('one-shot: deploys a new commit (correcting the drift), then a second run is a no-op', async () => {
    sha.fixed = await commitEdit('extensions/front-office.yaml', (t) => t.replace('  busy: extension:398\n', '  busy: voicemail:300\n'), 'Forward back to voicemail', BOB);
    const args = ['sync', '--repo', work, '--ref', 'main', '--target', 'lab', '--secrets', secretsFile];
    const once = await cli(args);
    expect(once.code, once.stdout + once.stderr).toBe(0);
    expect(once.stdout).toMatch(/~ extension 301 "Sam Whitaker"\n\s+~ maxContacts: 4 -> 5\n\s+! htable ext 301: ".*maxc=9;.*" on the node/);
    expect(once.stdout).toMatch(/Plan: 0 to add, \d+ to change, 0 to destroy \(drift corrected in 1\)\./);
    expect(once.stdout).toMatch(new RegExp(`sync: deployed ${sha.fixed!.slice(0, 12)} to lab as release \\S+$`, 'm'));
    expect(await ext301()).toContain('maxc=5;');
    const again = await cli(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`sync: lab is up to date with main (${sha.fixed!.slice(0, 12)})`);
    expect(again.stdout).not.toMatch(/apply: /);
    const h = await history();
    expect(h.deployments.filter((d) => d.commit === sha.fixed)).toHaveLength(1);
    expect((await cli(['drift', '--target', 'lab'])).code).toBe(0);
  }, 90_000);

  it('two syncs at once (separate processes): one deploys the new commit, the other waits and finds it deployed', async () => {
    sha.six = await commitEdit('extensions/front-office.yaml', (t) => t.replace('maxContacts: 5\n', 'maxContacts: 6\n'), 'Six phones for Sam');
    const args = ['sync', '--repo', work, '--ref', 'main', '--target', 'lab', '--secrets', secretsFile, '--lock-timeout', '60s', '--json'];
    const [a, b] = await Promise.all([cli(args), cli(args)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    for (const r of [a, b]) expectMatchesOutputSchema('sync', JSON.parse(r.stdout));
    const outcomes = [JSON.parse(a.stdout), JSON.parse(b.stdout)].map((r: { outcome: string; commit: string }) => `${r.outcome} ${r.commit}`).sort();
    expect(outcomes).toEqual([`applied ${sha.six}`, `up-to-date ${sha.six}`]);
    expect((await history()).deployments.filter((d) => d.commit === sha.six)).toHaveLength(1);
    expect(await ext301()).toContain('maxc=6;');
  }, 90_000);
});

describe('drift in the feature daemon', () => {
  it('finds a config the daemon was made to load behind pbxctl\'s back; pbxctl apply restores it', async () => {
    const file = 'daemon/features.json';
    const config = JSON.parse(await node.readReleaseFile(file)) as FeatureConfig;
    config.ivrs.main!.retries += 3;
    // Someone who knows the format: the version the daemon checks the content against, recomputed.
    config.version = featureConfigVersion(config);
    await node.writeReleaseFile(file, `${JSON.stringify(config, null, 1)}\n`);
    await node.daemon!.client.reload();
    const drifted = await cli(['drift', '--target', 'lab', '--json']);
    expect(drifted.code, drifted.stderr).toBe(2);
    const report = JSON.parse(drifted.stdout);
    expectMatchesOutputSchema('drift', report);
    expect(report.files).toEqual([{ path: file, kind: 'changed' }]);
    expect(report.entries.map((e: { id: string; owner: string }) => `${e.id} ${e.owner}`)).toEqual(['feature/ivr/main IVR/main']);
    const apply = await cli(['apply', work, '--target', 'lab', '--secrets', secretsFile, '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/~ ivr main "Main menu" {2}\(drift\)/);
    expect((await cli(['drift', '--target', 'lab'])).code).toBe(0);
    // pbxctl apply from a clean work tree records the commit's author and subject, as sync does.
    const [latest] = (await history()).deployments;
    expect([latest?.commit, latest?.author, latest?.subject, latest?.command]).toEqual([
      gitIn(work, ['rev-parse', 'HEAD']),
      gitIn(work, ['log', '-1', '--format=%an <%ae>']),
      gitIn(work, ['log', '-1', '--format=%s']),
      `pbxctl apply ${work}`,
    ]);
  }, 60_000);
});

describe('sync loop', () => {
  it('runs a cycle per interval and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/pbxctl'), 'sync', '--repo', work, '--ref', 'main', '--target', 'lab', '--secrets', secretsFile, '--interval', '500ms'], {
      env: { ...process.env, ...env(), NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const end = Date.now() + 45_000;
    // Two cycles ended (each ends with one timestamped line), whatever the ref's state.
    while ((out.match(/^\d{4}-\d\d-\d\dT\S+ sync: /gm) ?? []).length < 2) {
      if (Date.now() > end) {
        child.kill('SIGKILL');
        throw new Error(`sync --interval did not run two cycles:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('sync: SIGTERM received; stopping after the current cycle');
    expect(out).toMatch(/sync: stopped after \d+ cycles/);
  }, 60_000);
});

describe('watch', () => {
  it('refuses --apply for a target that is not the lab node', async () => {
    const r = await cli(['watch', work, '--target', 'office', '--apply']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('Error [WATCH_APPLY_REFUSED]');
  });

  it('re-validates and re-plans after a save, without applying', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/pbxctl'), 'watch', work, '--target', 'lab', '--secrets', secretsFile, '--debounce', '200ms'], {
      env: { ...process.env, ...env(), NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const waitFor = async (re: RegExp, what: string) => {
      const end = Date.now() + 45_000;
      while (!re.test(out)) {
        if (Date.now() > end) throw new Error(`watch never printed ${what}:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await waitFor(/No changes\. The node matches the repo\.[\s\S]*waiting for changes/, 'the first plan');
      const releaseBefore = (await inventory()).release;
      const file = join(work, 'extensions/front-office.yaml');
      await writeFile(file, (await readFile(file, 'utf8')).replace('name: Sam Whitaker\n', 'name: Samuel Whitaker\n'));
      await waitFor(/#2 \(extensions\/front-office\.yaml\)[\s\S]*~ extension 301 "Samuel Whitaker"[\s\S]*Plan: 0 to add, 1 to change, 0 to destroy/, 'the re-plan');
      expect((await inventory()).release).toBe(releaseBefore);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 90_000);
});

describe('over SSH: the same node through OpenSSH (the SSH target)', () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd(tmp, { avoid: (p) => p >= node.ports.base && p < node.ports.base + 400 });
    // The repo names the node a second time, reached over SSH: its files by SFTP, Kamailio's RPC
    // and the daemon's API through tunnels (a hand-made ssh node: pbx.yaml gives its ports).
    const n1 = [
      '  - name: n1', '    type: ssh', '    host: 127.0.0.1', `    port: ${sshd.port}`, '    user: root', `    identityFile: ${sshd.userKey}`,
      `    knownHosts: ${sshd.knownHosts}`, `    dir: ${node.root}`, '    sipAddress: 127.0.0.1', `    portBase: ${node.ports.base}`, `    daemonApiPort: ${node.ports.daemonApi}`, '',
    ].join('\n');
    sha.ssh = await commitEdit('pbx.yaml', (t) => t.replace(/(\n {4}sipAddress: 192\.0\.2\.10\n)/, `$1${n1}`), 'Reach the node over SSH too');
    sha.ssh = await commitEdit('extensions/front-office.yaml', (t) => t.replace('maxContacts: 6\n', 'maxContacts: 7\n'), 'Seven phones for Sam');
  }, 60_000);
  afterAll(async () => {
    await sshd?.stop();
  });

  it('sync deploys through it; history and drift read the node through it', async () => {
    const r = await cli(['sync', '--repo', work, '--ref', 'main', '--target', 'n1', '--secrets', secretsFile]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/sync: [0-9a-f]{12} is valid; planning against n1 \(ssh /);
    expect(r.stdout).toMatch(new RegExp(`sync: deployed ${sha.ssh!.slice(0, 12)} to n1 as release \\S+$`, 'm'));
    expect(await ext301()).toContain('maxc=7;');
    const overSsh = await cli(['history', work, '--target', 'n1', '--json']);
    expect(overSsh.code, overSsh.stderr).toBe(0);
    const h = JSON.parse(overSsh.stdout) as Awaited<ReturnType<typeof history>>;
    expectMatchesOutputSchema('history', h);
    expect(h.deployments[0]).toMatchObject({ commit: sha.ssh, author: ALICE, subject: 'Seven phones for Sam', current: true });
    const key = (d: { release: string; commit?: string; current: boolean }) => `${d.release} ${d.commit} ${d.current}`;
    expect(h.deployments.map(key)).toEqual((await history()).deployments.map(key));
    // The plain `pbxctl apply` record carries no author; history fills it from the repo given (display only).
    expect(h.deployments.find((d) => d.command?.startsWith('pbxctl apply'))).toMatchObject({ author: ALICE, subject: 'Six phones for Sam' });
    const drift = await cli(['drift', work, '--target', 'n1']);
    expect(drift.code, drift.stdout + drift.stderr).toBe(0);
    expect(drift.stdout).toContain('No drift');
    expect(drift.stdout).not.toContain('was not compared');
    const again = await cli(['sync', '--repo', work, '--ref', 'main', '--target', 'n1', '--secrets', secretsFile]);
    expect(again.stdout).toContain(`sync: n1 is up to date with main (${sha.ssh!.slice(0, 12)})`);
  }, 120_000);
});
