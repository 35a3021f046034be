/**
 * Benchmarks: `npm run bench [-- --sizes 1000,10000 --runs 3 --startup-runs 10 --profile]`.
 *
 * Prints the machine, then measures, each run in a fresh child process:
 * - `node bin/pbxctl --version` wall time (median, p90) and peak RSS;
 * - `node bin/pbxctl validate DIR --format json` wall time (median) and peak RSS (max) on
 *   generated repos (bench/out/repo-N, generated once by bench/generate.ts);
 * - the same validation in-process (bench/validate-inproc.mjs: no oclif), for the split between
 *   CLI start-up and validation proper.
 * Peak RSS comes from `/usr/bin/time -f %M` when present, else from a preloaded hook that reports
 * process.resourceUsage().maxRSS at exit. Results also go to bench/out/results.json.
 * With --profile, the largest repo is validated once more under `node --cpu-prof` and the
 * hottest functions are printed (the profile is kept in bench/out/profiles/).
 * Sections (`--sections startup,validate,plan-apply`; default startup,validate): plan-apply runs
 * plan and apply against a real lab node (bench/plan-apply.ts; needs kamailio and rtpengine), with
 * `--apply-runs N` first applies per size (each on a fresh node); with --profile it also profiles a
 * no-op apply. results.json keeps the previous figures of sections not run this time.
 * daemon (`--sections daemon [--ivr-calls 400] [--cps-calls 2000] [--cps-concurrency 100]
 * [--daemon-parts ivr,cps]`): the feature daemon under sipp load on a lab node of its own: 200
 * concurrent IVR calls, and calls per second with and without the daemon hop (bench/daemon/bench.ts says
 * what each figure means); needs kamailio, rtpengine, sipp, espeak-ng and sox; with --profile the
 * daemon runs under --cpu-prof.
 * webhooks (`--sections webhooks [--webhook-burst 1000] [--webhook-rate 200] [--webhook-seconds 5]`):
 * webhook delivery lag p99 (event published -> receiver got it) under a burst and a steady
 * stream, through the real outbox and sender to a receiver process on loopback (bench/webhooks.ts).
 * cdr (`--sections cdr [--cdr-calls 3000]`): CDR write throughput, calls per second written durably
 * (SQLite WAL, synchronous=FULL) by the store alone and through the event pipeline (bench/cdr.ts).
 * queue (`--sections queue [--queue-callers 50] [--queue-agents 10]`): callers waiting in one
 * queue with music on hold and agents answering them (bench/queue.ts): failed calls and how close
 * to schedule the position / hold-time announcements play.
 * Needs dist/ (`npm run build`); builds it when missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, release, totalmem, type as osType, version as osVersion } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GENERATOR_VERSION, MARKER, generateRepo, type Marker } from './generate.js';
import { PLAN_APPLY_TARGETS, benchPlanApply, planApplyRows, rpcRequestsLine, type PlanApplyResult } from './plan-apply.js';
import { DEFAULT_QUEUE_OPTIONS, QUEUE_TARGETS, benchQueue, queueReport, type QueueBenchResult } from './queue.js';
import { CDR_TARGETS, DEFAULT_CDR_CALLS, benchCdr, cdrReport, type CdrBenchResult } from './cdr.js';
import { DAEMON_TARGETS, DEFAULT_DAEMON_OPTIONS, benchDaemon, daemonReport, type DaemonBenchResult } from './daemon/index.js';
import { DEFAULT_WEBHOOK_OPTIONS, WEBHOOK_TARGETS, benchWebhooks, webhooksReport, type WebhookBenchResult } from './webhooks.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'bench', 'out');
const BIN = join(ROOT, 'bin', 'pbxctl');
const INPROC = join(ROOT, 'bench', 'validate-inproc.mjs');
const RSS_HOOK = join(ROOT, 'bench', 'rss-hook.mjs');
const TIME = '/usr/bin/time';
const SEED = '1';

const TARGETS = {
  versionMs: 300,
  validate10kMs: 1500,
  validate10kRssMB: 400,
};

interface RunSample {
  wallMs: number;
  rssMB: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** Nearest-rank percentile. */
const percentile = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
};
const round = (x: number, digits = 0) => Number(x.toFixed(digits));

const haveTime = (() => {
  if (!existsSync(TIME)) return false;
  const r = spawnSync(TIME, ['-f', '%M', 'true'], { encoding: 'utf8' });
  return r.status === 0 && /^\d+\s*$/m.test(r.stderr);
})();
const rssMethod = haveTime ? `${TIME} -f %M` : 'process.resourceUsage().maxRSS at exit (preloaded hook)';

/** Runs `node ...args` in a fresh process; wall time measured around the spawn. */
function runNode(args: readonly string[], env: NodeJS.ProcessEnv = process.env): RunSample {
  const rssFile = join(OUT, `.rss-${process.pid}`);
  rmSync(rssFile, { force: true });
  let cmd: string;
  let argv: string[];
  if (haveTime) {
    cmd = TIME;
    argv = ['-f', '%M', '-o', rssFile, process.execPath, ...args];
  } else {
    cmd = process.execPath;
    argv = ['--import', RSS_HOOK, ...args];
    env = { ...env, PBXCTL_BENCH_RSS_FILE: rssFile };
  }
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  const wallMs = performance.now() - t0;
  if (r.error) throw r.error;
  const kb = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) : NaN;
  rmSync(rssFile, { force: true });
  return { wallMs, rssMB: kb / 1024, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGB: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    os: `${osType()} ${release()} ${arch()} (${osVersion()})`,
    /** 1-minute load average when the bench started: other work on the machine skews the figures. */
    loadAverage: round(loadavg()[0]!, 2),
  };
}

function ensureBuild(): void {
  const built = ['commands/validate.js', 'config/validate.js', 'commands/daemon.js', 'daemon/daemon.js'].every((f) => existsSync(join(ROOT, 'dist', f)));
  if (built && existsSync(join(ROOT, 'oclif.manifest.json'))) return;
  console.log('dist/ missing: running npm run build ...');
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed');
}

/** bench/out/repo-N, (re)generated when missing or made by another generator version/seed. */
function ensureRepo(n: number): string {
  const dir = join(OUT, `repo-${n}`);
  const markerPath = join(dir, MARKER);
  if (existsSync(markerPath)) {
    const m = JSON.parse(readFileSync(markerPath, 'utf8')) as Marker;
    if (m.version === GENERATOR_VERSION && m.extensions === n && m.seed === SEED) return dir;
  }
  const s = generateRepo({ extensions: n, out: dir, seed: SEED, force: true });
  console.log(`generated ${relative(ROOT, dir)}: ${s.files} files, ${(s.bytes / 1048576).toFixed(1)} MiB in ${Math.round(s.ms)} ms`);
  return dir;
}

interface ValidateFigures {
  extensions: number;
  resources: number;
  files: number;
  errors: number;
  warnings: number;
  cli: { wallMs: number[]; medianMs: number; maxRssMB: number };
  inProcess: { wallMs: number[]; medianWallMs: number; medianImportMs: number; medianValidateMs: number; maxRssMB: number; phasesWarm?: Record<string, unknown> };
}

function benchValidate(n: number, runs: number): ValidateFigures {
  const dir = ensureRepo(n);
  const rel = relative(ROOT, dir);
  runNode([BIN, 'validate', rel, '--format', 'json']); // warm the page cache; not counted
  const cli: RunSample[] = [];
  let summary = { errors: NaN, warnings: NaN, files: NaN, resources: NaN };
  for (let i = 0; i < runs; i++) {
    const s = runNode([BIN, 'validate', rel, '--format', 'json']);
    try {
      summary = (JSON.parse(s.stdout) as { summary: typeof summary }).summary;
    } catch {
      throw new Error(`pbxctl validate ${rel} printed no JSON (exit ${s.status}):\n${s.stderr.slice(0, 2000)}`);
    }
    cli.push(s);
    process.stdout.write(`  validate ${n.toLocaleString('en-US')} (CLI) run ${i + 1}: ${Math.round(s.wallMs)} ms, ${round(s.rssMB)} MB\n`);
  }
  const inproc: { wall: number; importMs: number; validateMs: number; rssMB: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const s = runNode([INPROC, rel]);
    if (s.status !== 0) throw new Error(`validate-inproc ${rel} failed (exit ${s.status}):\n${s.stderr.slice(0, 2000)}`);
    const j = JSON.parse(s.stdout) as { importMs: number; validateMs: number; maxRssKB: number };
    inproc.push({ wall: s.wallMs, importMs: j.importMs, validateMs: j.validateMs, rssMB: Math.max(s.rssMB, j.maxRssKB / 1024) });
  }
  // One more run, not counted: a second, warm validation split by phase.
  const ph = runNode([INPROC, rel, '--phases']);
  const rawPhases = ph.status === 0 ? (JSON.parse(ph.stdout) as { phasesWarm?: Record<string, unknown> }).phasesWarm : undefined;
  const phasesWarm = rawPhases && Object.fromEntries(Object.entries(rawPhases).map(([k, x]) => [k, typeof x === 'number' ? round(x, 1) : x]));
  return {
    extensions: n,
    resources: summary.resources,
    files: summary.files,
    errors: summary.errors,
    warnings: summary.warnings,
    cli: { wallMs: cli.map((s) => round(s.wallMs, 1)), medianMs: round(median(cli.map((s) => s.wallMs)), 1), maxRssMB: round(Math.max(...cli.map((s) => s.rssMB)), 1) },
    inProcess: {
      wallMs: inproc.map((s) => round(s.wall, 1)),
      medianWallMs: round(median(inproc.map((s) => s.wall)), 1),
      medianImportMs: round(median(inproc.map((s) => s.importMs)), 1),
      medianValidateMs: round(median(inproc.map((s) => s.validateMs)), 1),
      maxRssMB: round(Math.max(...inproc.map((s) => s.rssMB)), 1),
      ...(phasesWarm ? { phasesWarm } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CPU profile summary (self and inclusive time per function).

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

export function summarizeProfile(file: string, top = 20): { totalMs: number; self: [string, number][]; inclusive: [string, number][] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (id: number) => {
    const f = byId.get(id)!.callFrame;
    const url = f.url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '').replace(/.*\/node_modules\//, 'node_modules/');
    return `${f.functionName || '(anonymous)'}  ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  let totalMs = 0;
  p.samples.forEach((id, i) => {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    totalMs += dt;
    const k = key(id);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    for (let c: number | undefined = id; c !== undefined; c = parent.get(c)) {
      const kc = key(c);
      if (seen.has(kc)) continue;
      seen.add(kc);
      incl.set(kc, (incl.get(kc) ?? 0) + dt);
    }
  });
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round(v)] as [string, number]);
  return {
    totalMs: round(totalMs),
    self: sorted(self).filter(([k]) => !k.startsWith('(root)') && !k.startsWith('(program)') && !k.startsWith('(idle)')).slice(0, top),
    inclusive: sorted(incl).filter(([k]) => / (dist|bench)\//.test(k)).slice(0, top),
  };
}

function profile(n: number) {
  const dir = ensureRepo(n);
  const profDir = join(OUT, 'profiles');
  mkdirSync(profDir, { recursive: true });
  const before = new Set(readdirSync(profDir));
  const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, INPROC, relative(ROOT, dir)], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`profiling failed:\n${r.stderr}`);
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile') && !before.has(f));
  if (!file) throw new Error('no .cpuprofile written');
  return { file: join(profDir, file), ...summarizeProfile(join(profDir, file)) };
}

// ---------------------------------------------------------------------------------------------

const SECTIONS = ['startup', 'validate', 'plan-apply', 'daemon', 'queue', 'cdr', 'webhooks'] as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1000,10000' },
      runs: { type: 'string', default: '3' },
      'startup-runs': { type: 'string', default: '10' },
      sections: { type: 'string', default: 'startup,validate' },
      'apply-runs': { type: 'string', default: '1' },
      'ivr-calls': { type: 'string', default: String(DEFAULT_DAEMON_OPTIONS.ivrCalls) },
      'cps-calls': { type: 'string', default: String(DEFAULT_DAEMON_OPTIONS.cpsCalls) },
      'cps-concurrency': { type: 'string', default: String(DEFAULT_DAEMON_OPTIONS.cpsConcurrency) },
      'daemon-parts': { type: 'string', default: DEFAULT_DAEMON_OPTIONS.parts.join(',') },
      'queue-callers': { type: 'string', default: String(DEFAULT_QUEUE_OPTIONS.callers) },
      'queue-agents': { type: 'string', default: String(DEFAULT_QUEUE_OPTIONS.agents) },
      'cdr-calls': { type: 'string', default: String(DEFAULT_CDR_CALLS) },
      'webhook-burst': { type: 'string', default: String(DEFAULT_WEBHOOK_OPTIONS.burst) },
      'webhook-rate': { type: 'string', default: String(DEFAULT_WEBHOOK_OPTIONS.rate) },
      'webhook-seconds': { type: 'string', default: String(DEFAULT_WEBHOOK_OPTIONS.seconds) },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log('Usage: npm run bench [-- --sizes 1000,10000] [--runs 3] [--startup-runs 10] [--sections startup,validate,plan-apply,daemon,queue,cdr,webhooks] [--apply-runs 1] [--ivr-calls 400] [--cps-calls 2000] [--cps-concurrency 100] [--daemon-parts ivr,cps] [--queue-callers 50] [--queue-agents 10] [--cdr-calls 3000] [--webhook-burst 1000] [--webhook-rate 200] [--webhook-seconds 5] [--profile]');
    return;
  }
  const sizes = values.sizes.split(',').map((s) => Number(s.trim().replace(/_/g, '')));
  const runs = Math.max(1, Number(values.runs));
  const startupRuns = Math.max(1, Number(values['startup-runs']));
  const applyRuns = Math.max(1, Number(values['apply-runs']));
  const ivrCalls = Number(values['ivr-calls']);
  const cpsCalls = Number(values['cps-calls']);
  const cpsConcurrency = Number(values['cps-concurrency']);
  if (![ivrCalls, cpsCalls, cpsConcurrency].every((x) => Number.isInteger(x) && x >= 1)) throw new Error('--ivr-calls, --cps-calls, --cps-concurrency: positive integers');
  const daemonParts = values['daemon-parts'].split(',').map((s) => s.trim());
  if (!daemonParts.length || daemonParts.some((p) => p !== 'ivr' && p !== 'cps')) throw new Error('--daemon-parts: ivr, cps or ivr,cps');
  if (sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new Error('--sizes: comma-separated extension counts');
  const sections = new Set(values.sections === 'all' ? SECTIONS : values.sections.split(',').map((s) => s.trim()));
  const unknown = [...sections].filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length || !sections.size) throw new Error(`--sections: comma-separated, of ${SECTIONS.join(', ')} (or all); not ${unknown.join(', ')}`);

  mkdirSync(OUT, { recursive: true });
  const m = machine();
  console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB RAM, Node ${m.node}, ${m.os}`);
  console.log(`peak RSS: ${rssMethod}`);
  if (m.loadAverage > m.cores / 2) console.log(`note: 1-minute load average is ${m.loadAverage} on ${m.cores} cores; if other processes are still running, the figures will be high`);
  ensureBuild();

  // (a) start-up
  let startup: { runs: number; wallMs: number[]; medianMs: number; p90Ms: number; maxRssMB: number } | undefined;
  if (sections.has('startup')) {
    runNode([BIN, '--version']); // warm-up, not counted
    const version: RunSample[] = [];
    for (let i = 0; i < startupRuns; i++) {
      const s = runNode([BIN, '--version']);
      if (s.status !== 0 || !s.stdout.startsWith('pbxctl/')) throw new Error(`pbxctl --version failed: ${s.stderr}`);
      version.push(s);
    }
    const versionWall = version.map((s) => s.wallMs);
    startup = {
      runs: startupRuns,
      wallMs: versionWall.map((x) => round(x, 1)),
      medianMs: round(median(versionWall), 1),
      p90Ms: round(percentile(versionWall, 90), 1),
      maxRssMB: round(Math.max(...version.map((s) => s.rssMB)), 1),
    };
    console.log(`  --version: median ${startup.medianMs} ms, p90 ${startup.p90Ms} ms over ${startupRuns} runs`);
  }

  // (b) validate
  const validate: ValidateFigures[] = [];
  if (sections.has('validate')) for (const n of sizes) validate.push(benchValidate(n, runs));

  // (c) plan and apply against a lab node
  let planApply: PlanApplyResult | undefined;
  if (sections.has('plan-apply')) {
    const profileDir = values.profile ? join(OUT, 'profiles') : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    planApply = await benchPlanApply(sizes, runs, applyRuns, { root: ROOT, out: OUT, bin: BIN, runNode, ensureRepo, ...(profileDir ? { profileDir } : {}) }, (l) => console.log(l));
  }

  // (d) the feature daemon under sipp load
  let daemon: DaemonBenchResult | undefined;
  if (sections.has('daemon')) {
    const profileDir = values.profile ? join(OUT, 'profiles') : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    daemon = await benchDaemon({ root: ROOT, bin: BIN, ...(profileDir ? { profileDir } : {}) }, { ...DEFAULT_DAEMON_OPTIONS, ivrCalls, cpsCalls, cpsConcurrency, parts: daemonParts as ('ivr' | 'cps')[] }, (l) => console.log(l));
  }

  // (e) a queue: callers waiting with music on hold, agents answering (bench/queue.ts)
  let queue: QueueBenchResult | undefined;
  if (sections.has('queue')) {
    const callers = Number(values['queue-callers']);
    const agents = Number(values['queue-agents']);
    if (![callers, agents].every((x) => Number.isInteger(x) && x >= 1)) throw new Error('--queue-callers, --queue-agents: positive integers');
    queue = await benchQueue(ROOT, { callers, agents }, (l) => console.log(l));
  }

  // (f) CDR write throughput on SQLite with synchronous=FULL (bench/cdr.ts)
  let cdr: CdrBenchResult | undefined;
  if (sections.has('cdr')) {
    const calls = Number(values['cdr-calls']);
    if (!Number.isInteger(calls) || calls < 1) throw new Error('--cdr-calls: a positive integer');
    cdr = await benchCdr(calls, (l) => console.log(l));
  }

  // Webhook delivery lag under a burst and a steady stream (bench/webhooks.ts)
  let webhooks: WebhookBenchResult | undefined;
  if (sections.has('webhooks')) {
    const wo = { burst: Number(values['webhook-burst']), rate: Number(values['webhook-rate']), seconds: Number(values['webhook-seconds']) };
    if (![wo.burst, wo.rate, wo.seconds].every((x) => Number.isInteger(x) && x >= 1)) throw new Error('--webhook-burst, --webhook-rate, --webhook-seconds: positive integers');
    webhooks = await benchWebhooks(wo, (l) => console.log(l));
  }

  // Table
  const rows: string[][] = [['benchmark', 'median ms', 'p90 ms', 'peak RSS MB', 'target', '']];
  const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  if (startup) rows.push(['pbxctl --version', String(startup.medianMs), String(startup.p90Ms), String(startup.maxRssMB), `< ${TARGETS.versionMs} ms`, verdict(startup.medianMs < TARGETS.versionMs)]);
  for (const v of validate) {
    const is10k = v.extensions === 10000;
    const target = is10k ? `< ${TARGETS.validate10kMs} ms, < ${TARGETS.validate10kRssMB} MB` : '';
    const ok = is10k ? verdict(v.cli.medianMs < TARGETS.validate10kMs && v.cli.maxRssMB < TARGETS.validate10kRssMB) : '';
    const label = `validate ${v.extensions.toLocaleString('en-US')} ext (${v.resources.toLocaleString('en-US')} res)`;
    rows.push([label, String(v.cli.medianMs), '', String(v.cli.maxRssMB), target, ok]);
    rows.push([`  in-process (import ${v.inProcess.medianImportMs} ms)`, String(v.inProcess.medianWallMs), '', String(v.inProcess.maxRssMB), '', '']);
    rows.push([`    validateRepoDir() alone`, String(v.inProcess.medianValidateMs), '', '', '', '']);
  }
  if (planApply) rows.push(...planApplyRows(planApply));
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  if (rows.length > 1) {
    console.log('');
    for (const [i, r] of rows.entries()) {
      console.log(r.map((cell, c) => (c === 0 || c >= 4 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd());
      if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    }
    console.log(`(median of ${runs} runs per size after one warm-up; RSS is the max over those runs; --version: ${startupRuns} runs; first apply: ${applyRuns} run(s) per size, each on a fresh node)`);
  }
  if (daemon) {
    console.log('');
    for (const l of daemonReport(daemon)) console.log(l);
  }
  if (queue) {
    console.log('');
    for (const l of queueReport(queue)) console.log(l);
  }
  if (cdr) {
    console.log('');
    for (const l of cdrReport(cdr)) console.log(l);
  }
  if (webhooks) {
    console.log('');
    for (const l of webhooksReport(webhooks)) console.log(l);
  }
  if (planApply) console.log(rpcRequestsLine(planApply));
  const unclean = validate.filter((v) => v.errors !== 0 || v.warnings !== 0);
  for (const v of unclean) console.log(`WARNING: repo-${v.extensions} has ${v.errors} errors and ${v.warnings} warnings; the generator is out of date with the schemas/checks`);
  for (const v of validate) {
    if (!v.inProcess.phasesWarm) continue;
    const ph = Object.entries(v.inProcess.phasesWarm).map(([k, x]) => `${k} ${typeof x === 'number' ? Math.round(x) : String(x)}`).join(', ');
    console.log(`phases (warm, ms), ${v.extensions.toLocaleString('en-US')} ext: ${ph}`);
  }

  const printProfile = (title: string, p: ReturnType<typeof summarizeProfile>) => {
    console.log(`\n${title} (${p.totalMs} ms sampled)`);
    console.log('  self time:');
    for (const [k, v] of p.self) console.log(`  ${String(v).padStart(7)} ms  ${k}`);
    console.log('  inclusive time (pbxctl code in dist/, callees included):');
    for (const [k, v] of p.inclusive) console.log(`  ${String(v).padStart(7)} ms  ${k}`);
  };
  let prof: ReturnType<typeof profile> | undefined;
  if (values.profile && sections.has('validate')) {
    const n = Math.max(...sizes);
    prof = profile(n);
    printProfile(`CPU profile of validate-inproc on repo-${n}: ${relative(ROOT, prof.file)}`, prof);
  }
  let applyProf: ReturnType<typeof summarizeProfile> | undefined;
  if (planApply?.profileFile) {
    applyProf = summarizeProfile(join(ROOT, planApply.profileFile));
    printProfile(`CPU profile of a no-op apply on repo-${Math.max(...sizes)}: ${planApply.profileFile}`, applyProf);
  }
  let daemonProf: ReturnType<typeof summarizeProfile> | undefined;
  if (daemon?.profileFile) {
    daemonProf = summarizeProfile(daemon.profileFile);
    printProfile(`CPU profile of the feature daemon over the whole daemon section: ${relative(ROOT, daemon.profileFile)}`, daemonProf);
  }

  // Sections not run this time keep their previous figures (sectionDates says when each was measured).
  const resultsPath = join(OUT, 'results.json');
  const previous = existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Record<string, unknown>) : {};
  if (validate.length) delete previous.profile; // a section run again drops its older profile
  if (planApply) delete previous.planApplyProfile;
  if (daemon) delete previous.daemonProfile;
  const date = new Date().toISOString();
  const prevDates = (previous.sectionDates ?? {}) as Record<string, string>;
  const dated = (key: string, ran: boolean) => (ran ? date : (prevDates[key] ?? (previous[key] ? (previous.date as string) : undefined)));
  const results = {
    ...previous,
    date,
    machine: m,
    rssMethod,
    targets: { ...TARGETS, ...PLAN_APPLY_TARGETS, daemon: DAEMON_TARGETS, queue: QUEUE_TARGETS, cdr: CDR_TARGETS, webhooks: WEBHOOK_TARGETS },
    sectionDates: { startup: dated('startup', !!startup), validate: dated('validate', validate.length > 0), planApply: dated('planApply', !!planApply), daemon: dated('daemon', !!daemon), queue: dated('queue', !!queue), cdr: dated('cdr', !!cdr), webhooks: dated('webhooks', !!webhooks) },
    ...(startup ? { startup } : {}),
    ...(validate.length ? { validate } : {}),
    ...(prof ? { profile: { file: relative(ROOT, prof.file), totalMs: prof.totalMs, self: prof.self, inclusive: prof.inclusive } } : {}),
    ...(planApply ? { planApply } : {}),
    ...(applyProf && planApply ? { planApplyProfile: { file: planApply.profileFile, ...applyProf } } : {}),
    ...(queue ? { queue } : {}),
    ...(cdr ? { cdr } : {}),
    ...(webhooks ? { webhooks } : {}),
    ...(daemon ? { daemon: { ...daemon, ...(daemon.profileFile ? { profileFile: relative(ROOT, daemon.profileFile) } : {}) } } : {}),
    ...(daemonProf && daemon?.profileFile ? { daemonProfile: { file: relative(ROOT, daemon.profileFile), ...daemonProf } } : {}),
  };
  writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${relative(ROOT, resultsPath)}`);
}

main().catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exitCode = 1;
});
