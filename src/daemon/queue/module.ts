/**
 * The queue module as startDaemon wires it: the QueueManager on the durable agent store, the
 * extension-activity tracker (agents busy on other daemon calls), registrations (an agent's phone
 * registering ends its unreachable back-off), the API routes and metrics.
 */
import type { Registry } from 'prom-client';
import type { ApiRoute } from '../api.js';
import type { FeatureQueue } from '../config-types.js';
import type { DialogEventFields, EventBus } from '../events.js';
import type { Db } from '../store/database.js';
import { ExtensionActivity } from './activity.js';
import { SqliteAgentStore } from './agent-store.js';
import { queueRoutes } from './api.js';
import { QueueManager } from './manager.js';
import { registerQueueMetrics } from './metrics.js';
import { SqliteQueueLog } from './queue-log.js';
import { localDayStart } from './stats.js';

/** What the daemon gives the queue module. */
export interface QueueModuleOptions {
  db: Db;
  events: EventBus;
  /** The module pushes its routes here. */
  routes: ApiRoute[];
  registry: Registry;
  /** The queues of the config now current (empty before the first apply). */
  queues: () => Readonly<Record<string, FeatureQueue>>;
  /** Service-level threshold, seconds (default 20). */
  serviceLevelS?: number;
  /** The PBX's IANA time zone (statistics are per local day); default UTC. */
  timezone?: () => string;
  /** Kamailio dialogs in progress at start (the CDR module's restored open calls): agents on them are busy. */
  openDialogs?: () => readonly DialogEventFields[];
}

/** The running module. */
export interface QueueModule {
  manager: QueueManager;
  /** Call after a config reload: agent membership follows the new config. */
  reconfigure(): void;
  stop(): void;
}

/**
 * Starts the module. @throws PbxError DAEMON_DB_MIGRATION when the agent table cannot be migrated
 */
export function startQueues(o: QueueModuleOptions): QueueModule {
  let kick = (): void => undefined;
  // An agent leaving another daemon call may take a waiting caller now.
  const activity = new ExtensionActivity(o.events, () => kick());
  if (o.openDialogs) activity.seed(o.openDialogs());
  const log = new SqliteQueueLog(o.db);
  const manager = new QueueManager({
    store: new SqliteAgentStore(o.db),
    log,
    periodStart: (now) => {
      try {
        return localDayStart(now, o.timezone?.() ?? 'UTC');
      } catch {
        return localDayStart(now, 'UTC'); // a zone this Node does not know: count by UTC day
      }
    },
    publish: (e) => o.events.publish(e),
    isBusyElsewhere: (ext) => activity.isBusy(ext),
    ...(o.serviceLevelS === undefined ? {} : { serviceLevelS: o.serviceLevelS }),
  });
  kick = () => manager.kick();
  manager.configure(o.queues());
  o.routes.push(...queueRoutes(manager));
  const unsubscribeMetrics = registerQueueMetrics(o.registry, o.events, manager);
  // A phone that registers again ends its agent's back-off (CDR module: Kamailio's registration events).
  const unsubscribeRegistrations = o.events.subscribe((e) => {
    if (e.type === 'registration.changed' && (e.change === 'registered' || e.change === 'refreshed')) manager.agentRegistered(e.aor);
  }).unsubscribe;
  const m = manager;
  return {
    manager: m,
    reconfigure: () => m.configure(o.queues()),
    stop: () => {
      m.close();
      log.close();
      activity.close();
      unsubscribeMetrics();
      unsubscribeRegistrations();
    },
  };
}
