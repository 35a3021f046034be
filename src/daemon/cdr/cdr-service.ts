/**
 * The daemon's CDR module: Kamailio's events in (evapi-client.ts, published on the event bus as
 * `dialog.*` and `registration.changed`), the CDR builder over the bus, durable storage, the API
 * routes, and retention pruning. Constructed by startDaemon after the database and the routes.
 *
 * Durability: after every event, what of the open call a restart could not rebuild is written to
 * SQLite (one transaction, cdr-builder.ts `settle`) before the next event is taken; a finished
 * call's CDR is committed in the same transaction that removes its open state. `cdr.written` is
 * published after the commit.
 */
import type { SipLogger } from '../../sip/transport.js';
import type { ApiRoute } from '../api.js';
import type { DaemonEvent, DialogEventFields, EventBus } from '../events.js';
import type { Db } from '../store/database.js';
import { CdrBuilder, type BuilderResult, type CdrBuilderOptions } from './cdr-builder.js';
import { cdrRoutes } from './cdr-api.js';
import type { CdrStore } from './cdr-types.js';
import { EvapiClient } from './evapi-client.js';
import { BadKamailioEvent, parseKamailioEvent } from './kamailio-events.js';
import { SqliteCdrStore } from './sqlite-cdr-store.js';

/** CDRs are kept this many days unless the feature config says otherwise. */
export const DEFAULT_CDR_RETENTION_DAYS = 365;

/** Options of {@link CdrService}. */
export interface CdrServiceOptions {
  db: Db;
  events: EventBus;
  /** Kamailio's evapi `HOST:PORT`; without it only the daemon's own calls get CDRs. */
  evapi?: { host: string; port: number };
  /** Days to keep CDRs, read at each pruning (so a config reload applies); default 365. */
  retentionDays?: () => number | undefined;
  /** Pruning interval, ms (default 1 h); the first pruning runs at start. */
  pruneEveryMs?: number;
  /** How often open calls are checked for grace/stale completion, ms (default 1000). */
  tickMs?: number;
  builder?: CdrBuilderOptions;
  now?: () => number;
  logger?: SipLogger;
}

/** The running CDR module. */
export class CdrService {
  readonly store: SqliteCdrStore;
  readonly builder: CdrBuilder;
  readonly evapi: EvapiClient | undefined;
  private readonly now: () => number;
  private unsubscribe: (() => void) | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  /** CDRs written since start. */
  written = 0;

  constructor(private readonly o: CdrServiceOptions) {
    this.now = o.now ?? Date.now;
    this.store = new SqliteCdrStore(o.db);
    this.builder = new CdrBuilder(o.builder);
    const { open, broken } = this.store.loadOpen();
    if (broken.length) o.logger?.warn('dropped unreadable open-call rows', { callIds: broken });
    this.builder.load(open);
    if (o.evapi) {
      this.evapi = new EvapiClient({
        host: o.evapi.host,
        port: o.evapi.port,
        ...(o.logger ? { logger: o.logger } : {}),
        onMessage: (text) => {
          try {
            o.events.publish(parseKamailioEvent(text));
          } catch (e) {
            if (e instanceof BadKamailioEvent) throw new Error(`bad Kamailio event: ${e.message}`);
            throw e;
          }
        },
      });
    }
  }

  /** The CDR store the API reads (the SQLite one). */
  get cdrStore(): CdrStore {
    return this.store;
  }

  /** The module's API routes. */
  /** Kamailio dialogs in progress, restored ones included (CdrBuilder.openDialogs). */
  openDialogs(): DialogEventFields[] {
    return this.builder.openDialogs();
  }

  routes(): ApiRoute[] {
    return cdrRoutes(this.store);
  }

  /** Subscribes to the bus, completes calls that were due while the daemon was down, connects to evapi, starts timers. */
  start(): void {
    this.unsubscribe = this.o.events.subscribe((e) => this.onEvent(e)).unsubscribe;
    this.persist(this.builder.tick(this.now()));
    const tick = setInterval(() => this.persist(this.builder.tick(this.now())), this.o.tickMs ?? 1000);
    const prune = setInterval(() => this.prune(), this.o.pruneEveryMs ?? 3600_000);
    tick.unref();
    prune.unref();
    this.timers.push(tick, prune);
    this.prune();
    this.evapi?.start();
  }

  private onEvent(e: DaemonEvent): void {
    if (e.type === 'cdr.written' || e.type === 'registration.changed' || e.type === 'config.loaded') return;
    try {
      this.persist(this.builder.apply(e, this.now()));
    } catch (err) {
      this.o.logger?.error('CDR builder failed on an event', { type: e.type, error: err instanceof Error ? err.stack : String(err) });
    }
  }

  private persist(step: BuilderResult): void {
    if (step.cdrs.length === 0 && step.upsert.length === 0 && step.remove.length === 0) return;
    let fresh;
    try {
      fresh = this.store.commit(step);
    } catch (err) {
      // Disk full or I/O error: the event is lost for the CDR, the daemon keeps taking calls.
      this.o.logger?.error('cannot store CDR state', { error: err instanceof Error ? err.message : String(err), callIds: [...step.cdrs.map((c) => c.callId), ...step.upsert.map((c) => c.callId)] });
      return;
    }
    for (const cdr of fresh) {
      this.written++;
      this.o.events.publish({ type: 'cdr.written', cdr });
    }
  }

  /** Deletes CDRs past the retention; returns how many. */
  prune(): number {
    const days = this.o.retentionDays?.() ?? DEFAULT_CDR_RETENTION_DAYS;
    try {
      const n = this.store.prune(this.now() - days * 86_400_000);
      if (n > 0) this.o.logger?.info('pruned CDRs past retention', { deleted: n, retentionDays: days });
      return n;
    } catch (err) {
      this.o.logger?.error('CDR pruning failed', { error: err instanceof Error ? err.message : String(err) });
      return 0;
    }
  }

  /**
   * Stops timers and evapi, then saves every open call in one transaction (the Kamailio-only ones
   * are not saved per event), so that the next start knows the calls in progress: queue agents on
   * them stay busy. A crash skips this save; those calls are known again at their next event.
   */
  async close(): Promise<void> {
    this.unsubscribe?.();
    for (const t of this.timers) clearInterval(t);
    await this.evapi?.close();
    this.persist({ cdrs: [], upsert: this.builder.openCalls(), remove: [] });
  }
}
