/**
 * Plan/apply benchmarks against a real lab node (Kamailio + RTPengine on loopback), run by
 * `npm run bench -- --sections plan-apply` (see run.ts). Per repo size, on a fresh node:
 *
 * - `pbxctl plan DIR --target lab --json` against the empty node (warm-up + `runs`, median);
 * - `pbxctl apply DIR --target lab --auto-approve --json`, the first apply (`applyRuns` fresh nodes:
 *   the node is purged and started again before each one);
 * - `pbxctl plan` again against the node after the first apply (must show no changes);
 * - `pbxctl apply` again, the no-op apply (must answer outcome `noop` with no reloads);
 * - in process, planFor() on a localTarget whose KamailioRpc counts its requests, against the empty
 *   node and after the apply: the count must not grow with the number of extensions.
 *
 * The lab lives in bench/out/lab (PBXCTL_LAB_DIR for the CLI), on the first free block of ports
 * from 29000 in steps of 300, with the repo's SIP domain. It is reset between sizes (labDown with
 * purge, labUp) and stopped with labDown at the end, also on failure or Ctrl-C (its daemons run
 * detached, so nothing else would stop them); the last node's logs stay in bench/out/lab/node/log.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import jsyaml from 'js-yaml';
import { planFor, readLive } from '../src/apply/prepare.js';
import { openRepo } from '../src/config/open-repo.js';
import { kamailioRpc } from '../src/kamailio/rpc-client.js';
import { labDown, labPaths, labUp } from '../src/lab/lab-node.js';
import { findBusyPorts, portPlan, PORT_BLOCK_SIZE } from '../src/lab/ports.js';
import type { LabInfo } from '../src/targets/lab-registry.js';
import { localTarget } from '../src/targets/local.js';
import { labDaemonClient } from '../src/targets/resolve.js';

export const PLAN_APPLY_TARGETS = {
  plan10kMs: 3000,
  firstApply10kMs: 15_000,
  noopApply10kMs: 2000,
  noopApplyReloads: 0,
};

/** What run.ts's runNode returns (wall time around a fresh `node ...` process). */
export interface NodeRun {
  wallMs: number;
  rssMB: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface PlanApplyDeps {
  root: string;
  out: string;
  bin: string;
  runNode(args: readonly string[], env?: NodeJS.ProcessEnv): NodeRun;
  ensureRepo(n: number): string;
  /** CPU-profile one no-op apply of the largest size into this directory. */
  profileDir?: string;
}

interface Series {
  wallMs: number[];
  medianMs: number;
  p90Ms: number;
  maxRssMB: number;
}

export interface PlanApplyFigures {
  extensions: number;
  /** Resources the first plan creates (plan summary). */
  resources: number;
  labPortBase: number;
  planEmptyNode: Series;
  firstApply: Series & { reloads: string[] };
  planAfterApply: Series;
  noopApply: Series & { outcomes: string[]; reloadsPerRun: number[]; reloadLines: number };
  /** In-process planFor(): RPC requests (rpc.requests) and wall time; readLive() alone for the split. */
  inProcess: {
    emptyNode: { rpcRequests: number; planForMs: number; readLiveMs: number };
    afterApply: { rpcRequests: number; planForMs: number; readLiveMs: number };
  };
  /** Lines of the lab's kamailio.log about shared memory running out (should be 0). */
  kamailioShmErrors: string[];
  /** Kamailio's shared memory (`core.shmmem`) at the end: size and high-water mark (reloads included), MB. */
  kamailioShm?: { totalMB: number; maxUsedMB: number };
}

export interface PlanApplyResult {
  date: string;
  targets: typeof PLAN_APPLY_TARGETS;
  sizes: PlanApplyFigures[];
  rpcRequestsConstant: boolean;
  profileFile?: string;
}

const round = (x: number, digits = 0) => Number(x.toFixed(digits));
const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: readonly number[]) => {
  const s = sorted(xs);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const series = (runs: readonly NodeRun[]): Series => {
  const w = runs.map((r) => r.wallMs);
  return {
    wallMs: w.map((x) => round(x, 1)),
    medianMs: round(median(w), 1),
    p90Ms: round(sorted(w)[Math.max(0, Math.ceil(0.9 * w.length) - 1)]!, 1),
    maxRssMB: round(Math.max(...runs.map((r) => r.rssMB)), 1),
  };
};
const fmt = (n: number) => n.toLocaleString('en-US');

interface PlanJson {
  summary: { create: number; update: number; delete: number; replace: number };
  changes: unknown[];
}
interface ApplyJson {
  outcome: 'applied' | 'noop';
  reloads: string[];
}

function parseJson<T>(r: NodeRun, what: string): T {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stderr.slice(-3000)}`);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`${what} printed no JSON:\n${r.stdout.slice(0, 500)}\n${r.stderr.slice(-2000)}`);
  }
}

/** First block of ports from 29000 (steps of 300) whose control ports are all free. */
async function freePortBase(): Promise<number> {
  for (let base = 29_000; base + PORT_BLOCK_SIZE <= 65_535; base += PORT_BLOCK_SIZE) {
    if ((await findBusyPorts(portPlan(base))).length === 0) return base;
  }
  throw new Error('no free block of lab ports from 29000 up');
}

function repoDomain(dir: string): string {
  const pbx = jsyaml.load(readFileSync(join(dir, 'pbx.yaml'), 'utf8')) as { domain?: unknown };
  if (typeof pbx?.domain !== 'string') throw new Error(`${dir}/pbx.yaml has no domain`);
  return pbx.domain;
}

/** core.shmmem of the lab's Kamailio, in MB; undefined when it does not answer. */
async function shmUsage(info: LabInfo): Promise<{ totalMB: number; maxUsedMB: number } | undefined> {
  const rpc = kamailioRpc({ port: info.ports.rpc, timeoutMs: 2000 });
  try {
    const m = await rpc.call<{ total?: number; max_used?: number }>('core.shmmem', ['m']);
    return typeof m?.total === 'number' && typeof m.max_used === 'number' ? { totalMB: m.total, maxUsedMB: m.max_used } : undefined;
  } catch {
    return undefined;
  } finally {
    rpc.close();
  }
}

function shmErrors(labDir: string): string[] {
  const log = labPaths(labDir).kamailioLog;
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8').split('\n').filter((l) => /no more (shm|shared)|out of shm|shm_malloc|not enough shared/i.test(l)).slice(0, 5);
}

/** planFor() in this process with a counting client; readLive() first on another client, for the split. */
async function planInProcess(info: LabInfo, repo: Awaited<ReturnType<typeof openRepo>>, expectChanges: boolean) {
  // The lab's feature daemon is part of the live state, as it is for `pbxctl plan --target lab`.
  const daemon = await labDaemonClient(info);
  const withDaemon = daemon ? { daemon } : {};
  const probe = localTarget('lab', info.root, info.ports.rpc, kamailioRpc({ port: info.ports.rpc }), info.domain, withDaemon);
  let readLiveMs: number;
  try {
    const t0 = performance.now();
    await readLive(probe);
    readLiveMs = performance.now() - t0;
  } finally {
    await probe.close();
  }
  const rpc = kamailioRpc({ port: info.ports.rpc });
  const target = localTarget('lab', info.root, info.ports.rpc, rpc, info.domain, withDaemon);
  try {
    const t0 = performance.now();
    const { plan } = await planFor(target, repo.state, repo.secrets, { repoDir: repo.dir, commit: repo.commit });
    const planForMs = performance.now() - t0;
    if ((plan.changes.length > 0) !== expectChanges) throw new Error(`in-process plan: expected ${expectChanges ? 'changes' : 'no changes'}, got ${plan.changes.length}`);
    return { rpcRequests: rpc.requests, planForMs: round(planForMs, 1), readLiveMs: round(readLiveMs, 1) };
  } finally {
    await target.close();
  }
}

/**
 * Runs the plan/apply benchmarks for each size; `log` gets progress lines.
 * @param runs timed runs of each plan and of the no-op apply (after one warm-up)
 * @param applyRuns first applies per size, each on a freshly purged node
 */
export async function benchPlanApply(sizes: readonly number[], runs: number, applyRuns: number, deps: PlanApplyDeps, log: (line: string) => void): Promise<PlanApplyResult> {
  const labDir = join(deps.out, 'lab');
  const env = { ...process.env, PBXCTL_LAB_DIR: labDir };
  const cli = (args: string[], prefix: string[] = []) => deps.runNode([...prefix, deps.bin, ...args], env);
  let up = false;
  const stop = async (purge: boolean) => {
    if (up) await labDown(labDir, { purge });
    up = false;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    void stop(false).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const figures: PlanApplyFigures[] = [];
  let profileFile: string | undefined;
  try {
    await labDown(labDir, { purge: true }); // a lab left by an earlier, killed run
    for (const [si, n] of sizes.entries()) {
      const abs = deps.ensureRepo(n);
      const dir = relative(deps.root, abs); // the CLI runs in deps.root
      const domain = repoDomain(abs);
      const repo = await openRepo(abs, {});
      const label = `${fmt(n)} ext`;
      const fresh = async () => {
        await stop(true);
        const base = await freePortBase();
        const { info } = await labUp(labDir, { base, domain });
        up = true;
        return info;
      };

      let info = await fresh();
      log(`  lab node for ${label}: ports ${info.ports.sip}.., kamailio ${info.pids.kamailio}, rtpengine ${info.pids.rtpengine}`);
      const planArgs = ['plan', dir, '--target', 'lab', '--json'];
      const applyArgs = ['apply', dir, '--target', 'lab', '--auto-approve', '--json'];
      const timedPlans = (what: string, expectCreate: number | undefined): { runs: NodeRun[]; plan: PlanJson } => {
        let plan = parseJson<PlanJson>(cli(planArgs), `${what} (warm-up)`);
        const out: NodeRun[] = [];
        for (let i = 0; i < runs; i++) {
          const r = cli(planArgs);
          plan = parseJson<PlanJson>(r, what);
          out.push(r);
          log(`  ${what} run ${i + 1}: ${Math.round(r.wallMs)} ms, ${round(r.rssMB)} MB, ${plan.changes.length} changes`);
        }
        if (expectCreate === 0 && plan.changes.length) throw new Error(`${what}: ${plan.changes.length} changes after apply (expected none)`);
        if (expectCreate !== undefined && expectCreate > 0 && plan.summary.create !== expectCreate) throw new Error(`${what}: ${plan.summary.create} to create`);
        return { runs: out, plan };
      };

      const planEmpty = timedPlans(`plan ${label}, empty node`, undefined);
      const inEmpty = await planInProcess(info, repo, true);
      log(`  in-process planFor ${label}, empty node: ${inEmpty.rpcRequests} RPC requests, ${inEmpty.planForMs} ms (readLive ${inEmpty.readLiveMs} ms)`);

      const applies: NodeRun[] = [];
      let reloads: string[] = [];
      for (let i = 0; i < applyRuns; i++) {
        if (i > 0) info = await fresh();
        const r = cli(applyArgs);
        const res = parseJson<ApplyJson>(r, `first apply ${label}`);
        if (res.outcome !== 'applied') throw new Error(`first apply ${label}: outcome ${res.outcome}`);
        reloads = res.reloads;
        applies.push(r);
        log(`  first apply ${label} run ${i + 1}: ${Math.round(r.wallMs)} ms, ${round(r.rssMB)} MB, ${res.reloads.length} reloads`);
      }
      const shm = shmErrors(labDir);
      if (shm.length) log(`  WARNING: kamailio ran out of shared memory (${labPaths(labDir).kamailioLog}):\n    ${shm.join('\n    ')}`);

      const planAfter = timedPlans(`plan ${label}, after apply`, 0);
      const inAfter = await planInProcess(info, repo, false);
      log(`  in-process planFor ${label}, after apply: ${inAfter.rpcRequests} RPC requests, ${inAfter.planForMs} ms (readLive ${inAfter.readLiveMs} ms)`);

      cli(applyArgs); // warm-up, not counted (a no-op changes nothing)
      const noops: NodeRun[] = [];
      const outcomes: string[] = [];
      const reloadsPerRun: number[] = [];
      let reloadLines = 0;
      for (let i = 0; i < runs; i++) {
        const r = cli(applyArgs);
        const res = parseJson<ApplyJson>(r, `no-op apply ${label}`);
        noops.push(r);
        outcomes.push(res.outcome);
        reloadsPerRun.push(res.reloads.length);
        reloadLines += (r.stdout + r.stderr).split('\n').filter((l) => /^apply: reload\b/.test(l.trim())).length;
        log(`  no-op apply ${label} run ${i + 1}: ${Math.round(r.wallMs)} ms, ${round(r.rssMB)} MB, outcome ${res.outcome}, ${res.reloads.length} reloads`);
      }
      const profDir = deps.profileDir;
      if (profDir && si === sizes.length - 1) {
        const before = Date.now();
        const r = cli(applyArgs, ['--cpu-prof', '--cpu-prof-dir', profDir]);
        if (r.status !== 0) throw new Error(`profiled no-op apply failed:\n${r.stderr.slice(-2000)}`);
        profileFile = readdirSync(profDir).map((f) => join(profDir, f)).find((f) => f.endsWith('.cpuprofile') && statSync(f).mtimeMs >= before);
      }

      const shmUse = await shmUsage(info);
      if (shmUse) log(`  kamailio shared memory ${label}: ${shmUse.maxUsedMB} MB used at most of ${shmUse.totalMB} MB`);
      figures.push({
        extensions: n,
        resources: planEmpty.plan.summary.create,
        labPortBase: info.ports.sip,
        planEmptyNode: series(planEmpty.runs),
        firstApply: { ...series(applies), reloads },
        planAfterApply: series(planAfter.runs),
        noopApply: { ...series(noops), outcomes, reloadsPerRun, reloadLines },
        inProcess: { emptyNode: inEmpty, afterApply: inAfter },
        kamailioShmErrors: shm,
        ...(shmUse ? { kamailioShm: shmUse } : {}),
      });
    }
    await stop(false); // keep the last node's logs
  } finally {
    await stop(false).catch((e: unknown) => log(`  could not stop the lab in ${labDir}: ${(e as Error).message}`));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const counts = figures.flatMap((f) => [f.inProcess.emptyNode.rpcRequests, f.inProcess.afterApply.rpcRequests]);
  return {
    date: new Date().toISOString(),
    targets: PLAN_APPLY_TARGETS,
    sizes: figures,
    rpcRequestsConstant: counts.every((c) => c === counts[0]),
    ...(profileFile ? { profileFile: relative(deps.root, profileFile) } : {}),
  };
}

/** Table rows in run.ts's layout: benchmark, median ms, p90 ms, peak RSS MB, target, verdict. */
export function planApplyRows(r: PlanApplyResult): string[][] {
  const rows: string[][] = [];
  const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const row = (label: string, s: Series, target: string, ok: boolean | undefined) => rows.push([label, String(s.medianMs), String(s.p90Ms), String(s.maxRssMB), target, ok === undefined ? '' : verdict(ok)]);
  for (const f of r.sizes) {
    const is10k = f.extensions === 10_000;
    const t = r.targets;
    const label = `${fmt(f.extensions)} ext`;
    row(`plan ${label}, empty node`, f.planEmptyNode, is10k ? `< ${t.plan10kMs} ms` : '', is10k ? f.planEmptyNode.medianMs < t.plan10kMs : undefined);
    row(`first apply ${label} (${fmt(f.resources)} res)`, f.firstApply, is10k ? `< ${t.firstApply10kMs} ms` : '', is10k ? f.firstApply.medianMs < t.firstApply10kMs : undefined);
    row(`plan ${label}, after apply`, f.planAfterApply, is10k ? `< ${t.plan10kMs} ms` : '', is10k ? f.planAfterApply.medianMs < t.plan10kMs : undefined);
    const noopOk = f.noopApply.outcomes.every((o) => o === 'noop') && f.noopApply.reloadsPerRun.every((x) => x === 0) && f.noopApply.reloadLines === 0;
    const reloads = `${Math.max(...f.noopApply.reloadsPerRun)} reloads`;
    row(`no-op apply ${label} (${reloads})`, f.noopApply, is10k ? `< ${t.noopApply10kMs} ms, 0 reloads` : '0 reloads', is10k ? noopOk && f.noopApply.medianMs < t.noopApply10kMs : noopOk);
  }
  return rows;
}

/** The RPC-requests line: counts per size and whether they stay the same. */
export function rpcRequestsLine(r: PlanApplyResult): string {
  const per = r.sizes.map((f) => `${fmt(f.extensions)} ext: ${f.inProcess.emptyNode.rpcRequests} (empty node), ${f.inProcess.afterApply.rpcRequests} (after apply)`).join('; ');
  return `RPC requests per plan (in-process planFor, rpc.requests): ${per}. Target: the same for every size: ${r.rpcRequestsConstant ? 'ok' : 'MISSED'}`;
}
