/**
 * The feature daemon on a lab node, end to end with real Kamailio, RTPengine and `pbxctl daemon`
 * (needs dist/ built: the daemon runs bin/pbxctl): `pbxctl lab up` starts it with a private token,
 * plan reads its running config, apply ships daemon/features.json and the rendered prompts and
 * reloads it, a stopped daemon fails the plan, `lab down` stops it; and through startLabNode
 * ({daemon: true}) a daemon refusing a config sends the node back to the previous release.
 */
import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplyFailedError, applyNode } from '../../src/apply/executor.js';
import { planFor } from '../../src/apply/prepare.js';
import { renderNodePrompts } from '../../src/apply/prompts.js';
import { openRepo } from '../../src/config/open-repo.js';
import { isProcessAlive, stopProcess } from '../../src/lab/process.js';
import { checkPromptWav } from '../../src/media/prompt-render.js';
import type { LabInfo } from '../../src/targets/lab-registry.js';
import { localTarget } from '../../src/targets/local.js';
import { labTarget } from '../../src/targets/resolve.js';
import { pbxctl } from '../cli/helpers.js';
import { choosePorts, requireTools, startLabNode, type LabNode } from './support/lab-node.js';
import { expectMatchesOutputSchema } from '../support/output-schema.js';

const DOMAIN = 'pbx.lab.test';
const REPO: Record<string, string> = {
  'pbx.yaml': `name: e2e\ndomain: ${DOMAIN}\nnumberPlan: {extensions: ["1000-1999"], ringGroups: ["6000-6099"], ivrs: ["7000-7099"]}\nnodes: [{name: lab, type: local}]\n`,
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\npassword: ${secret:EXT_1001}\n',
  'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
  'ring-groups/sales.yaml': 'kind: RingGroup\nid: sales\nnumber: "6000"\nstrategy: simultaneous\nmembers: [{extension: "1001"}, {extension: "1002"}]\n',
  'ivrs/main.yaml': 'kind: IVR\nid: main\nnumber: "7000"\ngreeting: {text: "Welcome. For sales, press 1."}\noptions: {"1": "ring-group:sales"}\n',
  'inbound-routes/main.yaml': 'kind: InboundRoute\nid: main\ndids: ["+15550199"]\ndestination: ivr:main\n',
  '.secrets.yaml': 'EXT_1001: secret-1001\nEXT_1002: secret-1002\n',
};

let tmp: string;
let repo: string;
let labDir: string;
const env = () => ({ PBXCTL_LAB_DIR: labDir, XDG_CACHE_HOME: join(tmp, 'cache') });
const cli = (args: string[]) => pbxctl(args, { env: env() });
const repoArgs = () => [repo, '--target', 'lab', '--secrets', join(repo, '.secrets.yaml')];

async function writeRepo(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

beforeAll(async () => {
  requireTools(['kamailio', 'rtpengine']);
  tmp = await mkdtemp(join(tmpdir(), 'pbxctl-lab-daemon-'));
  repo = join(tmp, 'repo');
  labDir = join(tmp, 'lab');
  await writeRepo(repo, REPO);
});

afterAll(async () => {
  if (labDir) await cli(['lab', 'down']);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('pbxctl lab up with the feature daemon', () => {
  let info: LabInfo;

  it('starts the daemon after Kamailio and RTPengine, with a token only its owner reads', async () => {
    const base = (await choosePorts()).base;
    const up = await cli(['lab', 'up', '--ports', String(base), '--domain', DOMAIN, '--json']);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    info = JSON.parse(up.stdout) as LabInfo;
    expectMatchesOutputSchema('lab-up', info);
    expect(info.ports).toMatchObject({ daemonSip: base + 3, daemonApi: base + 4 });
    expect(isProcessAlive(info.pids.daemon!)).toBe(true);
    expect((await stat(info.daemonTokenFile!)).mode & 0o777).toBe(0o600);
    expect((await readFile(info.daemonTokenFile!, 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/);
    const status = await cli(['lab', 'status', '--json']);
    expect(status.code, status.stdout).toBe(0);
    expectMatchesOutputSchema('lab-status', JSON.parse(status.stdout));
    expect(JSON.parse(status.stdout).daemon).toMatchObject({ pid: info.pids.daemon, alive: true, healthy: true, configVersion: null });
    // Running it again changes nothing.
    const again = await cli(['lab', 'up', '--json']);
    expect((JSON.parse(again.stdout) as LabInfo).pids).toEqual(info.pids);
  }, 60_000);

  it('plans the feature records, applies them with their prompts and reloads the daemon', async () => {
    const plan = await cli(['plan', ...repoArgs(), '--detailed-exitcode']);
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    expect(plan.stdout).toContain('+ ivr main');
    const apply = await cli(['apply', ...repoArgs(), '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/apply: render done \d+ rendered, 0 cached/);
    expect(apply.stdout).toMatch(/apply: reload start .*htable dial.*daemon\.reload\n/);

    const target = await labTarget(env());
    try {
      const running = await target.daemon!.config();
      const shipped = JSON.parse((await target.readText('current/daemon/features.json'))!) as { version: string; ivrs: Record<string, { greeting: string }> };
      expect(running.version).toBe(shipped.version);
      expect(Object.keys(running.entries ?? {})).toEqual(expect.arrayContaining(['feature/ivr/main', 'feature/ring-group/sales', 'feature/inbound/+15550199']));
      const wav = await readFile(join(info.root, 'current', 'prompts', shipped.ivrs.main!.greeting));
      expect(checkPromptWav(wav)).not.toHaveProperty('error');
    } finally {
      await target.close();
    }
    expect((await cli(['plan', ...repoArgs(), '--detailed-exitcode'])).code).toBe(0);

    // Only the greeting's words change: the IVR is updated and only the daemon reloads.
    await writeFile(join(repo, 'ivrs/main.yaml'), REPO['ivrs/main.yaml']!.replace('For sales, press 1.', 'For our sales team, press 1.'));
    const changed = await cli(['plan', ...repoArgs(), '--detailed-exitcode']);
    expect(changed.stdout).toMatch(/~ ivr main\n\s+~ greeting\.text: "Welcome\. For sales, press 1\." -> "Welcome\. For our sales team, press 1\."/);
    expect(changed.stdout).toContain('Plan: 0 to add, 1 to change, 0 to destroy.');
    const reapply = await cli(['apply', ...repoArgs(), '--auto-approve']);
    expect(reapply.stdout).toMatch(/apply: render done 1 rendered, \d+ cached/);
    expect(reapply.stdout).toContain('apply: reload start daemon.reload\n');
    const status = await cli(['status', '--target', 'lab']);
    expect(status.stdout).toMatch(/Daemon {5}ok, up \d+s, config [0-9a-f]+, 0 calls/);
  }, 60_000);

  it('lab call: extension to extension, and through the IVR by DTMF to the ring group, answered with media both ways', async () => {
    // The answering phone registers while the daemon follows Kamailio's events: it also gets the
    // daemon's unsolicited message-summary NOTIFY, which must not cost the call.
    const call = (extra: string[]) => cli(['lab', 'call', '--repo', repo, '--secrets', join(repo, '.secrets.yaml'), '--from', '1001', '--to', '1002', ...extra]);
    const direct = await call([]);
    expect(direct.code, direct.stdout + direct.stderr).toBe(0);
    expect(direct.stdout).toMatch(/INVITE 1002 from 1001: .*200 \(answered\)/);
    expect(direct.stdout).toContain('test call OK');
    const ivr = await call(['--dial', '7000', '--dtmf', '1']);
    expect(ivr.code, ivr.stdout + ivr.stderr).toBe(0);
    expect(ivr.stdout).toMatch(/INVITE 7000 from 1001: .*200 \(answered\)/);
    expect(ivr.stdout).toContain('test call OK');
  }, 90_000);

  it('fails the plan while the daemon is down, and lab up brings it back on the deployed config', async () => {
    await stopProcess(info.pids.daemon!, { expectCommand: 'pbxctl daemon', group: true });
    const plan = await cli(['plan', ...repoArgs()]);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain('Error [DAEMON_UNREACHABLE]');
    expect(plan.stderr).toContain('hint:');
    expect((await cli(['lab', 'status'])).code).toBe(1);
    const up = await cli(['lab', 'up', '--domain', DOMAIN, '--json']);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect((JSON.parse(up.stdout) as LabInfo).pids.daemon).not.toBe(info.pids.daemon);
    info = JSON.parse(up.stdout) as LabInfo;
    // The restarted daemon loaded the current release: nothing to do.
    const plan2 = await cli(['plan', ...repoArgs(), '--detailed-exitcode']);
    expect(plan2.code, plan2.stdout + plan2.stderr).toBe(0);
  }, 60_000);

  it('lab down stops the daemon with Kamailio and RTPengine', async () => {
    const down = await cli(['lab', 'down']);
    expect(down.stdout).toMatch(/^daemon \d+: stopped$/m);
    for (const pid of [info.pids.daemon!, info.pids.kamailio!, info.pids.rtpengine!]) expect(isProcessAlive(pid)).toBe(false);
  }, 30_000);
});

describe('startLabNode({daemon: true})', () => {
  let node: LabNode;
  beforeAll(async () => {
    node = await startLabNode('lab-daemon', { domain: DOMAIN, empty: true, daemon: true });
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('rolls the node and the daemon back when the daemon refuses the new config', async () => {
    const target = localTarget('lab', node.root, node.ports.rpc, undefined, DOMAIN, { daemon: node.daemon!.client });
    const cacheDir = join(tmp, 'cache', 'pbxctl', 'prompts');
    const deploy = async (onProgress?: Parameters<typeof applyNode>[3]['onProgress']) => {
      const opened = await openRepo(repo, { secretsFile: join(repo, '.secrets.yaml') });
      const { plan, desired } = await planFor(target, opened.state, opened.secrets, { repoDir: repo });
      const prompts = await renderNodePrompts(desired.prompts, { repoDir: repo, cacheDir });
      return applyNode(target, desired, plan, { command: 'e2e', readPrompt: prompts.read, ...(onProgress ? { onProgress } : {}) });
    };
    try {
      const first = await deploy();
      const version = (await node.daemon!.client.config()).version;
      expect(version).toBeDefined();
      await writeFile(join(repo, 'extensions/1002.yaml'), REPO['extensions/1002.yaml']!.replace('Bob', 'Robert'));
      const err = await deploy((step, status) => {
        // The new release's config turns unreadable just before the daemon is asked to load it.
        if (step === 'reload' && status === 'start') writeFileSync(join(node.root, 'current', 'daemon', 'features.json'), '{"broken":');
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplyFailedError);
      expect((err as Error).message).toContain('at step "reload"');
      expect((err as Error).message).toContain(`back on release ${first.release}.`);
      expect(await target.readLink('current')).toBe(`releases/${first.release}`);
      expect((await node.daemon!.client.config()).version).toBe(version);
      // The next apply converges.
      expect((await deploy()).outcome).toBe('applied');
      expect((await node.daemon!.client.config()).version).not.toBe(version);
    } finally {
      await target.close();
    }
  }, 60_000);
});
