/**
 * CDR write throughput (`npm run bench -- --sections cdr [--cdr-calls 5000]`): how many calls per
 * second the daemon can account for durably, on this machine's disk, with the daemon's own
 * database settings (store/database.ts: WAL, synchronous=FULL, so every commit is fsynced).
 *
 * Two figures, each on a fresh database file under bench/out/ (the repo's disk: a tmpfs /tmp would
 * make fsync free and the figure meaningless):
 * - store: `SqliteCdrStore.insert`, one CDR per transaction: the floor of the storage path;
 * - pipeline: CdrService fed through the event bus with the three evapi events of a plain call
 *   (dialog.started, dialog.answered, dialog.ended), as Kamailio sends them: the builder keeps
 *   the open call in memory (Kamailio's end event carries the whole dialog) and commits the CDR
 *   with the last, one fsynced commit per call. This is the rate at which the node can take
 *   calls before CDR writing limits it. (Calls through the daemon also persist their open state
 *   at each of the daemon's events.)
 * Latency percentiles are per commit (store) and per call (pipeline: the three events).
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CdrService } from '../src/daemon/cdr/cdr-service.js';
import type { Cdr } from '../src/daemon/cdr/cdr-types.js';
import { SqliteCdrStore } from '../src/daemon/cdr/sqlite-cdr-store.js';
import { EventBus } from '../src/daemon/events.js';
import { openDaemonDb } from '../src/daemon/store/database.js';

/** What the issue asks the node to sustain; a busy office peaks far below it. */
export const CDR_TARGETS = { pipelineCallsPerS: 100 };

export const DEFAULT_CDR_CALLS = 3000;

/** Where the benchmark databases go (removed after the run). */
const WORK = join(dirname(fileURLToPath(import.meta.url)), 'out');

/** One run's figures. */
export interface CdrBenchResult {
  calls: number;
  /** PRAGMA synchronous as the daemon sets it (2 = FULL). */
  synchronous: number;
  journalMode: string;
  store: { callsPerS: number; p50Ms: number; p99Ms: number };
  pipeline: { callsPerS: number; p50Ms: number; p99Ms: number; commitsPerCall: number; dbMB: number };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? 0;
};
const r2 = (x: number) => Math.round(x * 100) / 100;

function sampleCdr(i: number, t0: number): Cdr {
  return {
    callId: `bench-${i}@127.0.0.2`, direction: 'internal', from: String(1000 + (i % 500)), to: String(1500 + (i % 500)), answeredBy: String(1500 + (i % 500)),
    startedAt: t0 + i * 10, answeredAt: t0 + i * 10 + 3000, endedAt: t0 + i * 10 + 63_000, durationS: 63, billableS: 60, disposition: 'answered', endReason: 'bye', path: [],
  };
}

/** Runs both measurements; `log` gets progress lines. */
export async function benchCdr(calls: number, log: (line: string) => void): Promise<CdrBenchResult> {
  mkdirSync(WORK, { recursive: true });
  const dir = mkdtempSync(join(WORK, 'cdr-'));
  try {
    // (1) the store alone
    const db1 = openDaemonDb(join(dir, 'store.db'));
    const synchronous = db1.pragma('synchronous', { simple: true }) as number;
    const journalMode = db1.pragma('journal_mode', { simple: true }) as string;
    const store = new SqliteCdrStore(db1);
    const t0 = Date.now();
    const lat: number[] = [];
    const s1 = performance.now();
    for (let i = 0; i < calls; i++) {
      const a = performance.now();
      store.insert(sampleCdr(i, t0));
      lat.push(performance.now() - a);
    }
    const storeS = (performance.now() - s1) / 1000;
    db1.close();
    log(`cdr: store ${calls} inserts in ${storeS.toFixed(2)} s`);

    // (2) the pipeline: events -> builder -> open-call state and CDR commits
    const db2 = openDaemonDb(join(dir, 'daemon.db'));
    const events = new EventBus();
    const service = new CdrService({ db: db2, events, tickMs: 60_000, pruneEveryMs: 3600_000 });
    service.start();
    const perCall: number[] = [];
    const s2 = performance.now();
    for (let i = 0; i < calls; i++) {
      const a = performance.now();
      const base = { callId: `pipe-${i}@127.0.0.2`, direction: 'internal' as const, from: String(1000 + (i % 500)), dialed: String(1500 + (i % 500)), target: String(1500 + (i % 500)), startedAt: t0 + i };
      events.publish({ type: 'dialog.started', ...base, occurredAt: t0 + i });
      events.publish({ type: 'dialog.answered', ...base, occurredAt: t0 + i + 3000 });
      events.publish({ type: 'dialog.ended', ...base, occurredAt: t0 + i + 63_000, status: 200, reason: 'bye' });
      perCall.push(performance.now() - a);
    }
    const pipeS = (performance.now() - s2) / 1000;
    const written = service.written;
    await service.close();
    db2.close();
    if (written !== calls) throw new Error(`pipeline wrote ${written} CDRs for ${calls} calls`);
    const dbMB = r2((statSync(join(dir, 'daemon.db')).size + (statSync(join(dir, 'daemon.db-wal'), { throwIfNoEntry: false })?.size ?? 0)) / 1e6);
    log(`cdr: pipeline ${calls} calls in ${pipeS.toFixed(2)} s`);
    return {
      calls, synchronous, journalMode,
      store: { callsPerS: Math.round(calls / storeS), p50Ms: r2(pct(lat, 50)), p99Ms: r2(pct(lat, 99)) },
      pipeline: { callsPerS: Math.round(calls / pipeS), p50Ms: r2(pct(perCall, 50)), p99Ms: r2(pct(perCall, 99)), commitsPerCall: 1, dbMB },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Report lines for the console. */
export function cdrReport(r: CdrBenchResult): string[] {
  const ok = r.pipeline.callsPerS >= CDR_TARGETS.pipelineCallsPerS ? 'ok' : 'MISSED';
  return [
    `CDR write throughput (${r.calls} calls, SQLite journal_mode=${r.journalMode}, synchronous=${r.synchronous === 2 ? 'FULL' : r.synchronous}, files in ${WORK})`,
    `  store insert, one CDR per commit:        ${r.store.callsPerS} calls/s  (p50 ${r.store.p50Ms} ms, p99 ${r.store.p99Ms} ms per commit)`,
    `  event pipeline (3 events, ${r.pipeline.commitsPerCall} commit per call): ${r.pipeline.callsPerS} calls/s  (p50 ${r.pipeline.p50Ms} ms, p99 ${r.pipeline.p99Ms} ms per call)  target >= ${CDR_TARGETS.pipelineCallsPerS} calls/s: ${ok}`,
    `  database after the pipeline run: ${r.pipeline.dbMB} MB`,
  ];
}
