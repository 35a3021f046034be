/**
 * Prometheus metrics of the queues (prom-client, on the daemon's registry; metrics.ts naming
 * conventions: `_total` counters, seconds). Gauges are sampled from the QueueManager at scrape
 * time; counters and the wait histogram follow the queue.* events.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EventBus } from '../events.js';
import type { QueueManager } from './manager.js';

/** Registers the queue metrics on `registry`; returns the unsubscribe from the event bus. */
export function registerQueueMetrics(registry: Registry, events: EventBus, manager: QueueManager): () => void {
  const sample = (name: string, help: string, value: (s: NonNullable<ReturnType<QueueManager['queueStats']>>) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['queue'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const id of manager.queueIds()) {
          const s = manager.queueStats(id);
          const v = s && value(s);
          if (v !== null && v !== undefined) this.labels({ queue: id }).set(v);
        }
      },
    });
  sample('pbx_queue_callers_waiting', 'Callers waiting in the queue now.', (s) => s.waiting);
  sample('pbx_queue_longest_wait_seconds', 'How long the first caller in the queue has waited.', (s) => s.longestWaitMs / 1000);
  sample('pbx_queue_agents_logged_in', 'Agents logged in to the queue (paused or not).', (s) => s.agentsLoggedIn);
  sample('pbx_queue_agents_available', 'Agents of the queue free to take a call now.', (s) => s.agentsAvailable);
  sample('pbx_queue_service_level_ratio', 'Calls answered within the service-level threshold over calls that ended their wait, today (the PBX time zone).', (s) => s.serviceLevel);
  const answered = new Counter({ name: 'pbx_queue_answered_total', help: 'Queue callers answered by an agent.', labelNames: ['queue'] as const, registers: [registry] });
  const abandoned = new Counter({ name: 'pbx_queue_abandoned_total', help: 'Queue callers who hung up while waiting.', labelNames: ['queue'] as const, registers: [registry] });
  const overflow = new Counter({ name: 'pbx_queue_overflow_total', help: 'Queue callers sent to the overflow destination, by reason.', labelNames: ['queue', 'reason'] as const, registers: [registry] });
  const wait = new Histogram({
    name: 'pbx_queue_wait_seconds',
    help: 'Time answered callers waited in the queue.',
    labelNames: ['queue'] as const,
    buckets: [5, 10, 20, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  return events.subscribe((e) => {
    if (e.type === 'queue.answered') {
      answered.inc({ queue: e.queue });
      wait.observe({ queue: e.queue }, e.waitMs / 1000);
    } else if (e.type === 'queue.abandoned') abandoned.inc({ queue: e.queue });
    else if (e.type === 'queue.overflow') overflow.inc({ queue: e.queue, reason: e.reason });
  }).unsubscribe;
}
