// In-process validation for benchmarks and profiling: imports the compiled validator from dist/
// (no oclif, no tsx), validates DIR and prints one JSON line with timings and peak RSS.
//
//   node bench/validate-inproc.mjs DIR [--strict] [--phases]
//   node --cpu-prof --cpu-prof-dir bench/out/profiles bench/validate-inproc.mjs DIR
//
// --phases additionally times read / load (YAML + schema) / each semantic check, using
// validate.ts internals (skipped with a note if their signatures changed).
import { performance } from 'node:perf_hooks';

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith('--'));
if (!dir) {
  process.stderr.write('usage: node bench/validate-inproc.mjs DIR [--strict] [--phases]\n');
  process.exit(2);
}
const strict = args.includes('--strict');

const t0 = performance.now();
const { validateRepoDir } = await import('../dist/config/validate.js');
const t1 = performance.now();
const result = await validateRepoDir(dir, { strict });
const t2 = performance.now();

let errors = 0;
let warnings = 0;
for (const d of result.diagnostics) {
  if (d.severity === 'error') errors++;
  else warnings++;
}
const out = {
  importMs: t1 - t0,
  validateMs: t2 - t1,
  maxRssKB: process.resourceUsage().maxRSS,
  errors,
  warnings,
  files: result.stats.files,
  resources: result.stats.resources,
};

if (args.includes('--phases')) {
  // A second pass (warm: schemas compiled, code optimized), split by phase.
  try {
    const { readRepo } = await import('../dist/config/repo-files.js');
    const { loadRepo } = await import('../dist/config/load.js');
    const { CHECKS, CheckContext } = await import('../dist/config/checks/index.js');
    const phases = {};
    let t = performance.now();
    const lap = (name) => {
      const now = performance.now();
      phases[name] = now - t;
      t = now;
    };
    const { readSecretsFile } = await import('../dist/config/secrets.js');
    const { resolve } = await import('node:path');
    const snapshot = await readRepo(dir);
    lap('readRepo');
    const pbx = loadRepo(snapshot.files.filter((f) => f.path === 'pbx.yaml' || f.path === 'pbx.yml'));
    const secretsFile = pbx.state?.pbx.secrets?.file ?? '.secrets.yaml';
    lap('loadRepo (pbx.yaml only)');
    await readSecretsFile(resolve(dir, secretsFile), { required: false });
    lap(`readSecretsFile (${secretsFile})`);
    const loaded = loadRepo(snapshot.files, snapshot.oversized ?? []);
    lap('loadRepo (YAML parse + schema + normalize)');
    const resolver = { resolve: () => 'x', describe: () => '' };
    const ctx = new CheckContext(loaded.state, loaded.resources, loaded.pbxDoc, loaded.declaredInvalid, snapshot.assets, resolver, { strict });
    lap('CheckContext');
    for (const check of CHECKS) {
      await check(ctx);
      lap(`check ${check.name}`);
    }
    out.phasesWarm = phases;
  } catch (e) {
    out.phasesWarm = { unavailable: String(e?.message ?? e) };
  }
}

process.stdout.write(`${JSON.stringify(out)}\n`);
