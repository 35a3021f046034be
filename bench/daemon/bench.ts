/**
 * Feature daemon benchmark. Reproduce (3-4 minutes; a fresh `npm run build` first: the daemon
 * runs as the built CLI; needs kamailio, rtpengine, sipp, espeak-ng and sox):
 *
 *   npm run bench -- --sections daemon [--ivr-calls 400] [--cps-calls 2000] [--cps-concurrency 100]
 *                    [--daemon-parts ivr,cps] [--profile]
 *
 * run.ts prints the machine first; results go to bench/out/results.json (key `daemon`). Run it on a
 * quiet machine: it warns when other vitest/sipp processes run, and it reports the CPU time the
 * hypervisor stole (/proc/stat `steal`), which on a shared VM moves every latency figure.
 *
 * Set-up (as test/e2e/daemon-calls.e2e.test.ts, with bigger port ranges): a temporary node root
 * holding the hand-written fixture test/e2e/fixtures/node-basic as release r1 plus a `dial` row
 * 6010 -> ring-group:solo, and a features.json compiled from a small repo written here (DID
 * +15550199 -> ivr:main, whose option 1 goes to ivr:second; ring group `solo`, 6010, whose only
 * member is 1002), prompts rendered with espeak-ng. Kamailio, RTPengine (2,000 RTP ports) and
 * `node bin/pbxctl daemon` (1,000 RTP ports; its own process, so its RSS, CPU and event loop are its
 * own) run on loopback in a block of 4,000 ports at 40000, 42000, 44000 or 46000 (the first whose
 * control ports are free; client, RTPengine and daemon ports someone holds are skipped). Two
 * changes to the lab's Kamailio: pike's flood threshold (30 requests / 2 s per non-trunk address)
 * is raised, because one sipp address stands in for many phones, and it gets 512 MB of shared
 * memory instead of 64 (at ~400 calls/s the lab's 64 MB runs out and Kamailio answers 500).
 * Everything started is stopped by PID at the end (also on failure or Ctrl-C) and the temporary
 * root is removed (PBXCTL_BENCH_KEEP=1 keeps it, with every log).
 *
 * 1. IVR (bench/sipp/uac-ivr-bench.xml: a carrier on 127.0.0.1): --ivr-calls calls at 50/s, at most
 *    200 at once (`-r 50 -l 200`); each waits for the greeting (its length + 1 s), sends RFC 4733
 *    digit 1 (dtmf_2833_1.pcap), talks 4.3 s (G.711 from sipp, relayed to the daemon's RTP socket
 *    as in any IVR) and hangs up. Ten warm-up calls first, not counted. The measured run has no
 *    event-stream subscriber (each event costs the daemon a socket write); the same load runs a
 *    second time while the bench reads GET /v1/events, for the per-call digit timing.
 *    - calls attempted / succeeded / failed: from sipp's per-call log (-trace_logs, µs timestamps):
 *      succeeded = 200 received and the BYE answered 200. sipp's own FailedCall count misses calls
 *      answered with a failure (its scenario ends them normally), so it is shown apart.
 *    - the digit acted: calls seen at step `ivr:second` in GET /v1/calls (polled every second); in
 *      the second run, events `ivr.digits` 1 (valid) then `ivr:second` per call.
 *    - peak concurrent calls: GET /v1/health `calls` every 250 ms (second run: started - ended on
 *      the event stream).
 *    - INVITE->200 p50/p99: at sipp, INVITE sent -> 200 received, per call (retransmissions
 *      included). Target p99 < 200 ms.
 *    - DTMF-to-action: the daemon's `pbx_dtmf_to_action_seconds` (difference over the run): from the
 *      daemon reading the digit's RFC 4733 end packet off its RTP socket (the digit is emitted) to
 *      the IVR having acted on it (gather() returned; the flow moves on). Time the packet waits in
 *      the socket while the event loop is busy is not in it. Prometheus buckets, so p99 is the
 *      bucket bound it falls under (and interpolated). Target p99 < 100 ms. End to end, second run:
 *      sipp sending the end packet (the digit's log timestamp + the end packet's offset in the pcap,
 *      140 ms) -> the `ivr.digits` event's `at` (same clock, ms resolution): sipp's pcap thread,
 *      RTPengine, the socket queue and the daemon together.
 *    - event-loop lag p99: `nodejs_eventloop_lag_p99_seconds` scraped every second (prom-client
 *      resets the histogram at each scrape: each value is the p99 of the second before). The
 *      histogram samples every 10 ms and counts that interval, so an idle loop reads ~10-11 ms:
 *      the target (< 20 ms) is checked on the lateness, the value less those 10 ms (report.ts
 *      `lateness`). Printed: the worst second with the CPU share stolen by the hypervisor in
 *      it, the worst of the seconds with < 5% stolen, the last second, the idle value, and the
 *      longest single delay (`nodejs_eventloop_lag_max_seconds`).
 *    - RTPengine NG round trips by command, as the daemon measures them (its histogram).
 *    - memory per call: (daemon VmRSS at its highest during the run - VmRSS idle after the
 *      warm-up) / peak concurrent calls (/proc/PID/status every 250 ms); uncollected garbage
 *      counts, so an upper bound.
 *    - CPU: the daemon's (utime+stime, % of one core), the machine's busy and stolen shares, and
 *      UDP datagrams the kernel dropped for a full receive buffer, by socket when it is the node's.
 * 2. Calls per second, extension to extension (bench/sipp/uac-ext-bench.xml from 127.0.0.2 as 1001
 *    with digest auth, calls held 100 ms, no RTP; bench/sipp/uas-bench.xml registered as 1002,
 *    answering at once), (a) to 1002 directly (Kamailio only, media anchored by rtpengine_manage)
 *    and (b) to 6010, the one-member ring group (Kamailio -> daemon -> Kamailio -> 1002):
 *    - capacity: --cps-calls calls with at most --cps-concurrency in flight (`-r 1000 -l 100`,
 *      closed loop): calls succeeded / (first INVITE sent -> last BYE answered).
 *    - sustained: open loop (`-r RATE`, 5 s of calls per rate) from half the capacity, up 1.5x while
 *      sustained, then bisecting (at most 6 rates, to within 10%): the highest rate with no failed
 *      call, sipp keeping the rate, and p99 post-dial delay (first INVITE, 407 challenge included,
 *      -> 200) < 200 ms.
 *    - the ratio daemon / direct of both; failures, retransmissions, CPU, dropped datagrams and, for
 *      the daemon path, INVITEs Kamailio gave up on (daemon silent for 3 s: 503) are printed too.
 *
 * With --profile the daemon runs under `node --cpu-prof` (a little slower); run.ts prints where
 * its CPU time went over the whole section (the profile stays in bench/out/profiles/).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DaemonEvent } from '../../src/daemon/events.js';
import { kamailioRpc } from '../../src/kamailio/rpc-client.js';
import { runSipp } from '../../src/lab/sipp.js';
import { CALM_STEAL_PERCENT, type CpsFigures, type CpsRun, DAEMON_TARGETS, type DaemonBenchDeps, type DaemonBenchOptions, type DaemonBenchResult, SUSTAIN_MAX_STEPS, SUSTAIN_PDD_P99_MS, SUSTAIN_PRECISION, SUSTAIN_STEP_S } from './types.js';
import { boundLocalPorts, cpuMeter, dist, dtmfEndOffsetMs, otherActivity, read, round, vmRssKB, waitFor, watchDrops } from './stats.js';
import { type BenchNode, IVR_DID, PHONE_IP, SOLO_NUMBER, SPAN, TRUNK_IP, startNode, stopAll } from './node.js';
import { EventTap, api, histDiff, histQuantile, histogram, labelValues, metric, startSampler } from './api.js';
import { type SippSpec, counts, daemonNoAnswers, describeRun, drained, runUac, sippCommand, spawnSipp, stuck } from './sipp.js';


/**
 * Runs the daemon benchmark on a fresh node; `log` gets progress lines.
 * @throws when the node cannot start or the warm-up calls fail (the node is stopped either way)
 */
export async function benchDaemon(deps: DaemonBenchDeps, opts: DaemonBenchOptions, log: (line: string) => void): Promise<DaemonBenchResult> {
  const onSignal = (sig: NodeJS.Signals) => {
    void stopAll(log).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let node: BenchNode | undefined;
  let tap: EventTap | undefined;
  const startedAt = Date.now();
  stuck.calls = 0;
  stuck.keepalive = 0;
  try {
    const others = otherActivity(new Set());
    if (others.length) log(`  WARNING: other test activity on the machine (${others.length} vitest/sipp processes); the figures will be high:\n    ${others.slice(0, 5).join('\n    ')}`);
    node = await startNode(deps, log);
    const n = node;
    log(`  node: ports ${n.ports.base}-${n.ports.base + SPAN - 1} (kamailio ${n.ports.sip}, daemon ${n.ports.daemonSip}, RTPengine RTP ${n.ports.rtpMin}-${n.ports.rtpMax}, daemon RTP ${n.ports.daemonRtpMin}-${n.ports.daemonRtpMax}${n.ports.busyInBlock ? `, ${n.ports.busyInBlock} already bound by others` : ''}); daemon pid ${n.daemon.pid}`);
    const scrape = async () => (await api(n.ports.daemonApi, n.token, '/metrics')).body;
    const dtmfPcap = '/usr/share/sip-tester/dtmf_2833_1.pcap';
    const endOffset = dtmfEndOffsetMs(dtmfPcap);
    const digitAfterMs = n.greetingMs + 1000;
    const ivrSpec = (name: string, calls: number, rate: number, limit: number): SippSpec => ({
      name, scenario: 'uac-ivr-bench.xml', target: `127.0.0.1:${n.ports.sip}`, localIp: TRUNK_IP, localPort: n.allocPorts(), mediaPort: n.allocPorts(4),
      args: [
        '-s', IVR_DID, '-key', 'from_user', '+12125550123', '-key', 'dtmf_pcap', dtmfPcap, '-d', String(digitAfterMs),
        '-m', String(calls), '-r', String(rate), '-rp', '1000', '-l', String(limit),
        '-recv_timeout', '30000', '-timeout', `${Math.ceil(calls / rate + 60)}s`, '-timeout_error',
      ],
    });

    // ---- 1. IVR calls
    let ivr: DaemonBenchResult['ivr'];
    if (opts.parts.includes('ivr')) {
      log(`  IVR warm-up: 10 calls (greeting ${n.greetingMs} ms; digit 1 at ${digitAfterMs} ms)`);
      const warm = await runUac(deps, n, ivrSpec('ivr-warmup', 10, 5, 10));
      const wc = counts(warm);
      if (wc.succeeded !== 10) throw new Error(`IVR warm-up: ${wc.succeeded}/10 calls succeeded\n${describeRun(warm)}`);
      await drained(n, 'IVR warm-up', log);
      await sleep(2000);
      const idleRss: number[] = [];
      for (let i = 0; i < 5; i++) {
        idleRss.push(vmRssKB(n.daemon.pid) ?? NaN);
        await sleep(200);
      }
      const idleRssKB = [...idleRss].sort((a, b) => a - b)[2]!;

      /** One IVR run under the sampler; with `events`, the daemon's event stream is read meanwhile. */
      const measured = async (name: string, events: boolean) => {
        const t = events ? await EventTap.open(n.ports.daemonApi, n.token) : undefined;
        tap = t;
        await scrape(); // resets the event-loop histogram
        await sleep(1000);
        const before = await scrape();
        const meter = cpuMeter(n.daemon.pid);
        const watch = watchDrops(n);
        const w0 = performance.now();
        log(`  IVR run${events ? ' with an event-stream subscriber' : ''}: ${opts.ivrCalls} calls, -r ${opts.ivrRate} -l ${opts.ivrConcurrency} ...`);
        const sampler = startSampler(n);
        const run = await runUac(deps, n, ivrSpec(name, opts.ivrCalls, opts.ivrRate, opts.ivrConcurrency));
        const samples = await sampler.stop();
        const wallS = (performance.now() - w0) / 1000;
        const cpuUse = meter();
        const dropped = watch.stop();
        await drained(n, `IVR run ${name}`, log);
        const after = await scrape();
        t?.close();
        tap = undefined;
        const c = counts(run);
        log(`    ${c.succeeded}/${c.attempted} succeeded in ${round(wallS, 1)} s, at most ${samples.peakLive} calls in the daemon`);
        if (c.failed > 0) log(`    IVR failures (sipp):\n${describeRun(run)}`);
        const inviteTo200 = dist([...run.calls.values()].flatMap((x) => (x.inv !== undefined && x.ok !== undefined ? [x.ok - x.inv] : [])));
        const worst = samples.lagP99.indexOf(Math.max(...samples.lagP99));
        const calm = samples.lagP99.filter((_, k) => (samples.steal[k] ?? 100) < CALM_STEAL_PERCENT);
        const lag = {
          ...(samples.lagP99.length ? { maxOverScrapes: round(Math.max(...samples.lagP99), 2), stealInWorstSecond: round(samples.steal[worst] ?? NaN) } : {}),
          ...(calm.length ? { maxInCalmSeconds: round(Math.max(...calm), 2), calmSeconds: calm.length } : {}),
          ...(samples.lagP99.length ? { lastScrape: round(samples.lagP99.at(-1)!, 2) } : {}),
          scrapes: samples.lagP99.length,
        };
        return { run, c, samples, wallS, cpuUse, dropped, before, after, inviteTo200, lag, tap: t };
      };

      // The measured run: no event-stream subscriber (each event costs the daemon a write).
      const m = await measured('ivr', false);
      const dtmfHist = histDiff(histogram(m.before, 'pbx_dtmf_to_action_seconds'), histogram(m.after, 'pbx_dtmf_to_action_seconds'));
      const q50 = histQuantile(dtmfHist, 0.5);
      const q99 = histQuantile(dtmfHist, 0.99);
      const NG = 'pbx_rtpengine_ng_request_duration_seconds';
      const ngLatency: Record<string, { count: number; p50BoundMs?: number; p99BoundMs?: number; meanMs: number }> = {};
      for (const command of labelValues(m.after, NG, 'command')) {
        const label = `command="${command}"`;
        const h = histDiff(histogram(m.before, NG, label), histogram(m.after, NG, label));
        if (h.count <= 0) continue;
        const a = histQuantile(h, 0.5);
        const b = histQuantile(h, 0.99);
        ngLatency[command] = { count: h.count, ...(a ? { p50BoundMs: a.bound * 1000 } : {}), ...(b ? { p99BoundMs: b.bound * 1000 } : {}), meanMs: round((h.sum / h.count) * 1000, 2) };
      }
      const idleLag = metric(m.before, 'nodejs_eventloop_lag_p99_seconds');
      const peakRssKB = Math.max(...m.samples.rss);
      const actionsSeen = [...m.run.calls.keys()].filter((id) => m.samples.reachedSecond.has(id)).length;

      // The same load again with the event stream read: the digit's way from sipp to the daemon's
      // `ivr.digits` event, per call.
      await sleep(2000);
      const e = await measured('ivr-events', true);
      const events = e.tap?.events ?? [];
      const byCall = new Map<string, DaemonEvent[]>();
      for (const ev of events) {
        if (!('callId' in ev)) continue;
        const list = byCall.get(ev.callId) ?? [];
        list.push(ev);
        byCall.set(ev.callId, list);
      }
      const digitToEvent: number[] = [];
      let actionsProven = 0;
      for (const [callId, c] of e.run.calls) {
        const evs = byCall.get(callId) ?? [];
        const digits = evs.find((x) => x.type === 'call.step' && x.step === 'ivr.digits');
        const second = evs.find((x) => x.type === 'call.step' && x.step === 'ivr:second');
        if (digits?.type === 'call.step' && digits.detail.digits === '1' && digits.detail.valid === true && second && second.seq > digits.seq) actionsProven++;
        if (digits && c.dtmf !== undefined) digitToEvent.push(digits.at - (c.dtmf + endOffset));
      }
      const daemonLog = read(n.daemon.logFile);
      ivr = {
        calls: m.c,
        actionsSeen,
        peakConcurrent: m.samples.peakLive,
        ...(m.inviteTo200 ? { inviteTo200Ms: m.inviteTo200 } : {}),
        dtmfToAction: {
          count: dtmfHist.count,
          ...(q50 ? { p50BoundMs: q50.bound * 1000 } : {}),
          ...(q99 ? { p99BoundMs: q99.bound * 1000, p99InterpolatedMs: round(q99.interpolated * 1000, 1) } : {}),
          ...(dtmfHist.count > 0 ? { meanMs: round((dtmfHist.sum / dtmfHist.count) * 1000, 2) } : {}),
        },
        eventLoopLagP99Ms: { ...(idleLag !== undefined ? { idle: round(idleLag * 1000, 2) } : {}), ...m.lag },
        ...(m.samples.lagMax.length ? { eventLoopLagMaxMs: round(Math.max(...m.samples.lagMax), 1) } : {}),
        ngLatency,
        memory: { idleRssMB: round(idleRssKB / 1024, 1), peakRssMB: round(peakRssKB / 1024, 1), perCallKB: round((peakRssKB - idleRssKB) / Math.max(1, m.samples.peakLive)) },
        cpu: m.cpuUse,
        ...m.dropped,
        wallS: round(m.wallS, 1),
        withEventStream: {
          calls: e.c,
          actionsProven,
          peakConcurrent: e.tap?.peak ?? 0,
          ...(e.inviteTo200 ? { inviteTo200Ms: e.inviteTo200 } : {}),
          ...(dist(digitToEvent) ? { sippDigitToEventMs: dist(digitToEvent)! } : {}),
          eventLoopLagP99Ms: e.lag,
          cpu: e.cpuUse,
          events: events.length,
        },
        daemonLogWarnings: daemonLog.split('\n').filter((l) => / (warn|error) /.test(l)).length,
      };
    }

    // ---- 2. Calls per second, extension to extension
    let cps: DaemonBenchResult['cps'];
    if (opts.parts.includes('cps')) {
      const uasPort = n.allocPorts();
      const uas = spawnSipp(sippCommand(deps, n, { name: 'uas-1002', scenario: 'uas-bench.xml', target: `127.0.0.1:${n.ports.sip}`, localIp: PHONE_IP, localPort: uasPort, mediaPort: n.allocPorts(4), args: [] }), n.work);
      await waitFor('the 1002 UAS to bind its port', () => boundLocalPorts().has(uasPort), 5000, 50);
      const reg = await runSipp({
        scenario: 'register.xml', target: `127.0.0.1:${n.ports.sip}`, workDir: n.work, name: 'register-1002', localIp: PHONE_IP, localPort: n.allocPorts(), timeoutSec: 10,
        service: '1002', auth: { user: '1002', password: 'secret-1002' }, keys: { contact_host: PHONE_IP, contact_port: uasPort, expires: 3600 },
      });
      if (reg.responses.filter((c) => c >= 200).at(-1) !== 200) throw new Error(`1002 did not register: responses ${reg.responses.join(' ')}`);
      let runs = 0;
      /** One sipp run of `calls` calls to `number` at `rate` calls/s with at most `limit` in flight. */
      const cpsRun = async (path: CpsFigures['path'], number: string, calls: number, rate: number, limit: number): Promise<CpsRun> => {
        await drained(n, path, log);
        await sleep(2000);
        const completed0 = metric(await scrape(), 'pbx_calls_total', 'state="completed"') ?? 0;
        const noAnswer0 = daemonNoAnswers(n);
        const meter = cpuMeter(n.daemon.pid);
        const watch = watchDrops(n);
        const run = await runUac(deps, n, {
          name: `cps-${path}-${++runs}`, scenario: 'uac-ext-bench.xml', target: `127.0.0.1:${n.ports.sip}`, localIp: PHONE_IP, localPort: n.allocPorts(), mediaPort: n.allocPorts(4),
          args: [
            '-s', number, '-au', '1001', '-ap', 'secret-1001', '-key', 'from_user', '1001',
            '-m', String(calls), '-r', String(rate), '-rp', '1000', '-l', String(limit),
            '-recv_timeout', '30000', '-timeout', `${Math.ceil(calls / Math.min(rate, 20) + 60)}s`, '-timeout_error',
          ],
        });
        const cpuUse = meter();
        const dropped = watch.stop();
        await drained(n, `${path} calls at ${rate} calls/s`, log);
        const completedByDaemon = (metric(await scrape(), 'pbx_calls_total', 'state="completed"') ?? 0) - completed0;
        const c = counts(run);
        const all = [...run.calls.values()];
        const invs = all.flatMap((x) => (x.inv === undefined ? [] : [x.inv]));
        const ends = all.flatMap((x) => (x.end === undefined ? [] : [x.end]));
        const wall = (Math.max(...ends) - Math.min(...invs)) / 1000;
        const pdd = dist(all.flatMap((x) => (x.inv !== undefined && x.ok !== undefined ? [x.ok - x.inv] : [])));
        if (c.failed) log(`    ${c.failed} failed calls:\n${describeRun(run)}`);
        return {
          calls: c, wallS: round(wall, 2), achievedCps: Number.isFinite(wall) && wall > 0 ? round(c.succeeded / wall, 1) : 0,
          startedCps: invs.length > 1 ? round((invs.length - 1) / ((Math.max(...invs) - Math.min(...invs)) / 1000), 1) : 0,
          ...(pdd ? { postDialDelayMs: pdd } : {}),
          ...(path === 'daemon' ? { completedByDaemon, daemonNoAnswer: daemonNoAnswers(n) - noAnswer0 } : {}),
          cpu: cpuUse,
          ...dropped,
        };
      };
      const cpsPath = async (path: CpsFigures['path'], number: string): Promise<CpsFigures> => {
        const warmRun = await cpsRun(path, number, 20, 20, 20);
        if (warmRun.calls.succeeded !== 20) throw new Error(`${path} warm-up: ${warmRun.calls.succeeded}/20 calls succeeded`);
        log(`  calls per second, ${path} (${number}): capacity, ${opts.cpsCalls} calls, -r ${opts.cpsRate} -l ${opts.cpsConcurrency}, held ${opts.cpsHoldMs} ms ...`);
        const capacity = await cpsRun(path, number, opts.cpsCalls, opts.cpsRate, opts.cpsConcurrency);
        log(`    ${capacity.calls.succeeded}/${capacity.calls.attempted} succeeded, ${capacity.achievedCps} calls/s, post-dial delay p99 ${capacity.postDialDelayMs?.p99 ?? '-'} ms`);
        // The overload leaves work behind (garbage, transactions in their wait timers): let it
        // settle, and warm up again, before the open-loop rates.
        await sleep(5000);
        await cpsRun(path, number, 20, 20, 20);
        // Open loop: a search for the highest rate sustained, from half the capacity, up 1.5x while it
        // holds, then bisecting between the best rate sustained and the lowest one not sustained.
        const steps: CpsFigures['steps'] = [];
        let lo = 0;
        let hi = Infinity;
        let rate = Math.max(5, Math.round(capacity.achievedCps / 2));
        for (let i = 0; i < SUSTAIN_MAX_STEPS && rate > lo && rate < hi; i++) {
          const r = await cpsRun(path, number, Math.max(100, rate * SUSTAIN_STEP_S), rate, 5000);
          const pass = r.calls.failed === 0 && r.startedCps >= 0.9 * rate && (r.postDialDelayMs?.p99 ?? Infinity) < SUSTAIN_PDD_P99_MS;
          steps.push({ ...r, offeredCps: rate, pass });
          log(`    open loop at ${rate} calls/s: ${r.calls.succeeded}/${r.calls.attempted} succeeded, post-dial delay p99 ${r.postDialDelayMs?.p99 ?? '-'} ms, sipp retransmissions ${r.calls.sippRetransmissions ?? '-'} -> ${pass ? 'sustained' : 'not sustained'}`);
          if (pass) lo = rate;
          else hi = rate;
          if (Number.isFinite(hi) && (hi - lo) / hi <= SUSTAIN_PRECISION) break;
          rate = Math.round(Number.isFinite(hi) ? (lo + hi) / 2 : rate * 1.5);
        }
        return { path, number, capacity, steps, sustainableCps: lo };
      };
      const direct = await cpsPath('direct', '1002');
      const viaDaemon = await cpsPath('daemon', SOLO_NUMBER);
      uas.child.kill('SIGTERM');
      await uas.done;
      const ratio = (a: number, b: number) => (b > 0 ? round(a / b, 2) : 0);
      cps = {
        direct,
        daemon: viaDaemon,
        capacityRatio: ratio(viaDaemon.capacity.achievedCps, direct.capacity.achievedCps),
        sustainableRatio: ratio(viaDaemon.sustainableCps, direct.sustainableCps),
      };
    }

    const rpc = kamailioRpc({ port: n.ports.rpc, timeoutMs: 2000 });
    const shm = await rpc.call<{ total?: number; max_used?: number }>('core.shmmem', ['m']).catch(() => undefined);
    rpc.close();
    const kamailioShm = typeof shm?.total === 'number' && typeof shm.max_used === 'number' ? { totalMB: shm.total, maxUsedMB: shm.max_used } : undefined;
    const kamailioShmErrors = read(join(n.root, 'log', 'kamailio.log')).split('\n').filter((l) => /could not allocate shared memory|cannot allocate shmem|no more (shm|shared)|out of shm/i.test(l)).length;

    await n.stop();
    node = undefined;
    let profileFile: string | undefined;
    if (deps.profileDir) {
      const dir = deps.profileDir;
      profileFile = readdirSync(dir).map((f) => join(dir, f)).filter((f) => f.endsWith('.cpuprofile') && statSync(f).mtimeMs >= startedAt).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
      if (!profileFile) log('  no daemon CPU profile was written (did it exit cleanly on SIGTERM?)');
    }
    return {
      date: new Date().toISOString(),
      targets: DAEMON_TARGETS,
      options: opts,
      portBase: n.ports.base,
      daemonCommand: n.daemonCommand.map((a) => (a.startsWith(n.root) ? a.replace(n.root, 'ROOT') : a)).join(' '),
      greetingMs: n.greetingMs,
      digitAfterMs,
      otherActivity: others,
      ...(ivr ? { ivr } : {}),
      ...(cps ? { cps } : {}),
      stuckCalls: stuck.calls,
      keepaliveEndedCalls: stuck.keepalive,
      ...(kamailioShm ? { kamailioShm } : {}),
      kamailioShmErrors,
      ...(profileFile ? { profileFile } : {}),
    };
  } finally {
    tap?.close();
    if (node) await node.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
