/**
 * The feature daemon section of `npm run bench` (bench/run.ts): see bench.ts for what it measures
 * and how to run it. Modules: types.ts (options, results, targets), node.ts (the node it starts),
 * sipp.ts (sipp drivers), api.ts (the daemon's API, events, metrics), stats.ts (/proc
 * measurements), bench.ts (the runs), report.ts (verdicts and printout).
 */
export { DAEMON_TARGETS, DEFAULT_DAEMON_OPTIONS, SUSTAIN_PDD_P99_MS, type CpsFigures, type CpsRun, type DaemonBenchDeps, type DaemonBenchOptions, type DaemonBenchResult } from './types.js';
export { benchDaemon } from './bench.js';
export { daemonReport, daemonVerdicts } from './report.js';
export { dtmfEndOffsetMs } from './stats.js';
