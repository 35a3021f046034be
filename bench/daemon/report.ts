/** The daemon section's verdicts against its targets and its printout. */
import { CALM_STEAL_PERCENT, type CpsFigures, type CpsRun, type DaemonBenchResult, type Dist, SUSTAIN_PDD_P99_MS, SUSTAIN_STEP_S } from './types.js';
import { SPAN } from './node.js';
import { EVENT_LOOP_SAMPLING_MS } from '../../src/daemon/metrics.js';

/**
 * A histogram value of nodejs_eventloop_lag_* less the sampling interval it includes (measured: an
 * idle loop reads min 10.05 ms with a 10 ms interval, 19.1 ms with 20 ms): how late the loop was.
 */
export const lateness = (rawMs: number | undefined) => (rawMs === undefined ? undefined : Math.max(0, Math.round((rawMs - EVENT_LOOP_SAMPLING_MS) * 100) / 100));

export const ok = (b: boolean) => (b ? 'ok' : 'MISSED');
export const dropsText = (d: Record<string, number>) => (Object.keys(d).length ? ` (${Object.entries(d).map(([k, v]) => `${k} ${v}`).join(', ')})` : '');

/** Whether each target is met (IVR part). */
export function daemonVerdicts(r: DaemonBenchResult): { name: string; target: string; value: string; met: boolean }[] {
  const t = r.targets;
  const i = r.ivr;
  if (!i) return [];
  return [
    { name: 'no failed IVR calls', target: '0 failed', value: `${i.calls.failed} failed of ${i.calls.attempted}`, met: i.calls.failed === 0 && i.calls.attempted === r.options.ivrCalls },
    { name: 'concurrent IVR calls in the daemon', target: `>= ${t.ivrConcurrent}`, value: String(i.peakConcurrent), met: i.peakConcurrent >= t.ivrConcurrent },
    { name: 'p99 INVITE->200', target: `< ${t.inviteTo200P99Ms} ms`, value: `${i.inviteTo200Ms?.p99 ?? '-'} ms`, met: (i.inviteTo200Ms?.p99 ?? Infinity) < t.inviteTo200P99Ms },
    { name: 'DTMF-to-action p99 (daemon histogram)', target: `< ${t.dtmfToActionP99Ms} ms`, value: `<= ${i.dtmfToAction.p99BoundMs ?? '-'} ms`, met: (i.dtmfToAction.p99BoundMs ?? Infinity) <= t.dtmfToActionP99Ms },
    { name: 'event-loop lag p99 (worst second, sampling interval taken out)', target: `< ${t.eventLoopLagP99Ms} ms`, value: `${lateness(i.eventLoopLagP99Ms.maxOverScrapes) ?? '-'} ms`, met: (lateness(i.eventLoopLagP99Ms.maxOverScrapes) ?? Infinity) < t.eventLoopLagP99Ms },
  ];
}

/** The section's printout. */
export function daemonReport(r: DaemonBenchResult): string[] {
  const i = r.ivr;
  const d = (x: Dist | undefined) => (x ? `p50 ${x.p50} ms, p90 ${x.p90} ms, p99 ${x.p99} ms, max ${x.max} ms (n=${x.n})` : 'no samples');
  const lines = [`Feature daemon (node bin/pbxctl daemon; ports ${r.portBase}-${r.portBase + SPAN - 1}):`];
  if (i) {
    const w = i.withEventStream;
    const ng = Object.entries(i.ngLatency).map(([k, v]) => `${k} ${v.count}x p50 <= ${v.p50BoundMs ?? '-'} ms, p99 <= ${v.p99BoundMs ?? '-'} ms`).join('; ');
    lines.push(
      `  IVR: ${r.options.ivrCalls} calls, sipp -r ${r.options.ivrRate} -l ${r.options.ivrConcurrency}; greeting ${r.greetingMs} ms, digit 1 at ${r.digitAfterMs} ms, then 4.3 s of talk; ${i.wallS} s; nothing reads the event stream`,
      `    calls: ${i.calls.attempted} attempted, ${i.calls.succeeded} succeeded, ${i.calls.failed} failed (sipp: FailedCall ${i.calls.sippFailed ?? '-'}, ${i.calls.sippRetransmissions ?? '-'} retransmissions, exit ${i.calls.sippExitCode}); ${i.actionsSeen} seen at ivr:second in GET /v1/calls (the digit acted)`,
      `    peak concurrent calls in the daemon: ${i.peakConcurrent} (GET /v1/health every 250 ms)`,
      `    INVITE->200 at sipp: ${d(i.inviteTo200Ms)}`,
      `    DTMF-to-action (pbx_dtmf_to_action_seconds: the digit's end packet at the daemon -> the IVR acted on it): p50 <= ${i.dtmfToAction.p50BoundMs ?? '-'} ms, p99 <= ${i.dtmfToAction.p99BoundMs ?? '-'} ms (interpolated ${i.dtmfToAction.p99InterpolatedMs ?? '-'} ms), mean ${i.dtmfToAction.meanMs ?? '-'} ms, n=${i.dtmfToAction.count}`,
      `    event-loop lag p99, lateness beyond the ${EVENT_LOOP_SAMPLING_MS} ms sampling tick: worst second ${lateness(i.eventLoopLagP99Ms.maxOverScrapes) ?? '-'} ms, idle ${lateness(i.eventLoopLagP99Ms.idle) ?? '-'} ms`,
      `    event-loop lag p99 as scraped (nodejs_eventloop_lag_p99_seconds, per 1 s scrape, the ${EVENT_LOOP_SAMPLING_MS} ms sampling interval included): worst ${i.eventLoopLagP99Ms.maxOverScrapes ?? '-'} ms (${i.eventLoopLagP99Ms.stealInWorstSecond ?? '-'}% stolen that second), worst of the ${i.eventLoopLagP99Ms.calmSeconds ?? 0} seconds with < ${CALM_STEAL_PERCENT}% stolen ${i.eventLoopLagP99Ms.maxInCalmSeconds ?? '-'} ms, last ${i.eventLoopLagP99Ms.lastScrape ?? '-'} ms, idle ${i.eventLoopLagP99Ms.idle ?? '-'} ms (${i.eventLoopLagP99Ms.scrapes} scrapes); longest single delay ${i.eventLoopLagMaxMs ?? '-'} ms`,
      `    RTPengine NG round trips seen by the daemon: ${ng || '-'}`,
      `    daemon RSS: ${i.memory.idleRssMB} MB idle, ${i.memory.peakRssMB} MB at most -> ${i.memory.perCallKB} KB per call (upper bound: uncollected garbage counts)`,
      `    CPU over the run: daemon ${i.cpu.daemonPercentOfCore}% of one core; machine ${i.cpu.machineBusyPercent}% busy (sipp, Kamailio, RTPengine and the daemon share the cores), ${i.cpu.stealPercent}% stolen by the hypervisor; UDP datagrams dropped: ${i.udpDrops}${dropsText(i.udpDropsBySocket)}${i.daemonLogWarnings ? `; ${i.daemonLogWarnings} warn/error lines in the daemon log` : ''}`,
      `  IVR again, the bench reading GET /v1/events (${w.events} events): ${w.calls.succeeded}/${w.calls.attempted} succeeded; digit acted on (ivr.digits 1 -> ivr:second) in ${w.actionsProven}; peak ${w.peakConcurrent} calls (started - ended)`,
      `    digit's end packet sent by sipp -> ivr.digits event: ${d(w.sippDigitToEventMs)}`,
      `    INVITE->200 ${d(w.inviteTo200Ms)}; event-loop lag p99 worst ${lateness(w.eventLoopLagP99Ms.maxOverScrapes) ?? '-'} ms beyond the sampling tick (${w.eventLoopLagP99Ms.maxOverScrapes ?? '-'} ms as scraped; ${w.eventLoopLagP99Ms.stealInWorstSecond ?? '-'}% stolen that second); daemon ${w.cpu.daemonPercentOfCore}% of one core, ${w.cpu.stealPercent}% stolen`,
    );
  }
  const run = (x: CpsRun) =>
    `${x.calls.succeeded}/${x.calls.attempted} succeeded, ${x.calls.failed} failed (sipp: FailedCall ${x.calls.sippFailed ?? '-'}, ${x.calls.sippRetransmissions ?? '-'} retransmissions); post-dial delay p50 ${x.postDialDelayMs?.p50 ?? '-'} ms, p99 ${x.postDialDelayMs?.p99 ?? '-'} ms; CPU: daemon ${x.cpu.daemonPercentOfCore}% of one core, machine ${x.cpu.machineBusyPercent}% busy, ${x.cpu.stealPercent}% stolen; UDP dropped ${x.udpDrops}${dropsText(x.udpDropsBySocket)}${x.completedByDaemon !== undefined ? `; ${x.completedByDaemon} completed by the daemon` : ''}${x.daemonNoAnswer ? `; ${x.daemonNoAnswer} INVITEs the daemon did not answer within 3 s (Kamailio: 503)` : ''}`;
  const path = (f: CpsFigures) => {
    const title = f.path === 'direct' ? '1001 -> 1002 directly (Kamailio only)' : `1001 -> ${f.number}, ring group -> 1002 (Kamailio -> daemon -> Kamailio)`;
    const sustained = f.steps.find((s) => s.pass && s.offeredCps === f.sustainableCps);
    const failedStep = f.steps.filter((s) => !s.pass).sort((a, b) => a.offeredCps - b.offeredCps)[0];
    return [
      `    ${title}:`,
      `      capacity ${f.capacity.achievedCps} calls/s (closed loop, ${r.options.cpsConcurrency} in flight, ${f.capacity.wallS} s): ${run(f.capacity)}`,
      `      sustained ${failedStep ? '' : 'at least '}${f.sustainableCps} calls/s (open loop, ${SUSTAIN_STEP_S} s per rate; tried ${f.steps.map((s) => `${s.offeredCps}${s.pass ? '' : ' (not sustained)'}`).join(', ')})${sustained ? `: ${run(sustained)}` : ''}`,
      ...(failedStep ? [`      not sustained at ${failedStep.offeredCps} calls/s: ${run(failedStep)}`] : []),
    ];
  };
  const c = r.cps;
  if (c) {
    lines.push(
      `  Calls per second, extension to extension (digest auth, no RTP, calls held ${r.options.cpsHoldMs} ms; sustained = no failed call and p99 post-dial delay < ${SUSTAIN_PDD_P99_MS} ms):`,
      ...path(c.direct),
      ...path(c.daemon),
      `    ratio daemon hop / direct: ${c.sustainableRatio} sustained (${c.daemon.sustainableCps} vs ${c.direct.sustainableCps} calls/s), ${c.capacityRatio} at capacity (${c.daemon.capacity.achievedCps} vs ${c.direct.capacity.achievedCps} calls/s)`,
    );
  }
  lines.push(
    `  Kamailio shared memory: ${r.kamailioShm ? `${r.kamailioShm.maxUsedMB} MB used at most of ${r.kamailioShm.totalMB} MB` : 'unknown'}${r.kamailioShmErrors ? `; WARNING: ${r.kamailioShmErrors} log lines about running out of it` : ''}${r.keepaliveEndedCalls ? `; ${r.keepaliveEndedCalls} calls whose BYE was lost were ended by the daemon's OPTIONS keepalive` : ''}${r.stuckCalls ? `; WARNING: ${r.stuckCalls} daemon calls never ended (BYE lost) and were hung up through the API` : ''}`,
    ...(i ? ['  Targets:', ...daemonVerdicts(r).map((v) => `    ${v.name}: ${v.value} (target ${v.target}) ${ok(v.met)}`)] : []),
  );
  if (r.otherActivity.length) lines.push(`  NOTE: ${r.otherActivity.length} other vitest/sipp processes were running when the section started; the figures are skewed.`);
  return lines;
}
