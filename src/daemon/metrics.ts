/**
 * Prometheus metrics of the feature daemon (prom-client, one registry per daemon so tests can run
 * several). Names follow the Prometheus naming conventions (`_total` counters, base units: seconds).
 * Node's default metrics are included; `nodejs_eventloop_lag_p99_seconds` is the event-loop lag.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventBus } from './events.js';

/** The daemon's metric handles. */
export interface DaemonMetrics {
  registry: Registry;
  /** Calls that ended, by final state. */
  callsTotal: Counter<'state'>;
  /** Flow tasks run, by task (`play`, `gather`, `dial`, `bridge`) and result (`ok`, `aborted`, `error`). */
  tasksTotal: Counter<'task' | 'result'>;
  /** NG request round trips, by command, seconds. */
  ngLatency: Histogram<'command'>;
  /** DTMF digit received -> the flow acted on it, seconds. */
  dtmfToAction: Histogram;
}

/**
 * prom-client's event-loop sampling interval, ms (`eventLoopMonitoringPrecision`). Node's
 * monitorEventLoopDelay records the whole time between two ticks of this timer, so
 * `nodejs_eventloop_lag_*` read this much on an idle loop: a tick's lateness is the value minus it.
 */
export const EVENT_LOOP_SAMPLING_MS = 10;

/**
 * Creates the registry and wires call counters to the event bus.
 * @param liveCalls returns the number of calls in progress (sampled at scrape time)
 */
export function createMetrics(events: EventBus, liveCalls: () => number, configVersion: () => string | undefined): DaemonMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLING_MS });
  const callsTotal = new Counter({ name: 'pbx_calls_total', help: 'Calls handled by the feature daemon that ended, by final state.', labelNames: ['state'] as const, registers: [registry] });
  new Gauge({
    name: 'pbx_calls_active',
    help: 'Calls in progress in the feature daemon.',
    registers: [registry],
    collect() {
      this.set(liveCalls());
    },
  });
  new Gauge({
    name: 'pbx_feature_config_info',
    help: 'The feature configuration version in use for new calls (value is always 1).',
    labelNames: ['version'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const v = configVersion();
      if (v !== undefined) this.labels({ version: v }).set(1);
    },
  });
  const tasksTotal = new Counter({ name: 'pbx_call_tasks_total', help: 'Call flow tasks run, by task and result.', labelNames: ['task', 'result'] as const, registers: [registry] });
  const ngLatency = new Histogram({
    name: 'pbx_rtpengine_ng_request_duration_seconds',
    help: 'RTPengine NG request round-trip time, by command.',
    labelNames: ['command'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const dtmfToAction = new Histogram({
    name: 'pbx_dtmf_to_action_seconds',
    help: 'Time from a DTMF digit reaching the daemon to the call flow acting on it.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
    registers: [registry],
  });
  events.subscribe((e) => {
    if (e.type === 'call.ended') callsTotal.inc({ state: e.state });
  });
  return { registry, callsTotal, tasksTotal, ngLatency, dtmfToAction };
}
